"""CDNN-29 (paper 003): Table I layers, parameter count, shapes, dropout, training."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxseg.losses import get_loss
from jaxseg.models.cdnn import CDNN

TINY = {"base_width": 2}  # widths 2..64: a fast forward pass on CPU

# Table I: (layer, kernel, output features) at the paper's size.
TABLE_I = [
  ("conv_1_1", 3, 16),
  ("conv_1_2", 3, 32),
  ("conv_2_1", 3, 64),
  ("conv_2_2", 3, 64),
  ("conv_3_1", 3, 128),
  ("conv_3_2", 4, 128),
  ("conv_4_1", 3, 256),
  ("conv_4_2", 3, 256),
  ("conv_5", 3, 512),
  ("decv_1", 3, 256),
  ("decv_2_1", 3, 256),
  ("decv_2_2", 3, 128),
  ("decv_3_1", 4, 128),
  ("decv_3_2", 3, 128),
  ("decv_4_1", 3, 64),
  ("decv_4_2", 3, 32),
  ("decv_5_1", 3, 16),
]


def _abstract(model, shape=(1, 32, 32, 7)):
  return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(shape), train=False))


def _count(tree) -> int:
  return sum(x.size for x in jax.tree.leaves(tree))


def _variables(model, shape, seed=0):
  """Variables filled from numpy (lecun-normal kernels); cheaper than `init` on CPU."""
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    name = path[-1].key
    if name == "kernel":
      fan_in = int(np.prod(leaf.shape[:-1]))
      return rng.normal(size=leaf.shape).astype(np.float32) / np.sqrt(fan_in)
    if name in ("scale", "var"):
      return np.ones(leaf.shape, np.float32)
    return np.zeros(leaf.shape, np.float32)

  return jax.tree_util.tree_map_with_path(fill, _abstract(model, shape))


def test_paper_size_parameter_count():
  variables = _abstract(CDNN(), (1, 192, 256, 7))
  kernels = sum(
    k * k * c_in * c_out
    for (_, k, c_out), c_in in zip(TABLE_I, [7] + [c for _, _, c in TABLE_I[:-1]], strict=True)
  )
  widths = sum(c for _, _, c in TABLE_I)
  assert kernels == 5_031_920 and widths == 2_464
  # Conv kernels (no bias) + BN scale and offset + 1x1 output with bias; the
  # paper's Lasagne count is 5,042,589 (module docstring explains the gap).
  assert _count(variables["params"]) == kernels + 2 * widths + 16 + 1 == 5_036_865
  assert _count(variables["batch_stats"]) == 2 * widths
  # Every width is a multiple of 16, so any reading of Table I counts 0 or 1
  # (mod 16); the paper's 5,042,589 is 13 (mod 16) and cannot be reproduced.
  assert 5_042_589 % 16 == 13 and _count(variables["params"]) % 16 == 1
  # RGB ablation: only conv_1_1 changes, by 4 input channels x 3x3 x 16.
  rgb = _abstract(CDNN(), (1, 192, 256, 3))
  assert _count(variables["params"]) - _count(rgb["params"]) == 4 * 9 * 16
  assert _count(rgb["params"]) == 5_036_289


def test_layers_match_table_i():
  params = _abstract(CDNN())["params"]
  assert list(params) == [name for name, _, _ in TABLE_I] + ["output"]
  c_in = 7
  for name, kernel, features in TABLE_I:
    layer = params[name]
    assert layer["Conv_0"]["kernel"].shape == (kernel, kernel, c_in, features), name
    assert set(layer["Conv_0"]) == {"kernel"}, name  # no conv bias: BN follows
    assert layer["BatchNorm_0"]["scale"].shape == (features,), name
    c_in = features
  assert params["output"]["kernel"].shape == (1, 1, 16, 1)
  assert params["output"]["bias"].shape == (1,)
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(params))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_output_shapes_and_dtypes(dtype):
  model = CDNN(**TINY, dtype=dtype)
  forward = jax.jit(model.apply, static_argnames="train")
  for shape in [(2, 32, 32, 7), (1, 64, 96, 3)]:
    images = jnp.asarray(np.random.default_rng(0).uniform(size=shape), jnp.float32)
    variables = _variables(model, shape)
    outputs = forward(variables, images, train=False)
    assert outputs["logits"].shape == shape[:3] + (1,)
    assert outputs["logits"].dtype == jnp.float32
    assert np.all(np.isfinite(outputs["logits"]))


def test_input_size_must_divide_by_16():
  with pytest.raises(ValueError, match="divisible by 16"):
    _abstract(CDNN(**TINY), (1, 40, 32, 7))


def test_dropout_only_in_train_mode():
  model = CDNN(**TINY)
  shape = (2, 32, 32, 3)
  images = jnp.asarray(np.random.default_rng(1).uniform(size=shape), jnp.float32)
  variables = _variables(model, shape)

  no_dropout = CDNN(**TINY, dropout_rate=0.0)

  @jax.jit
  def forward(key_a, key_b):
    def run(module, key, train):
      kwargs = {"mutable": ["batch_stats"]} if train else {}
      out = module.apply(variables, images, train=train, rngs={"dropout": key}, **kwargs)
      return (out[0] if train else out)["logits"]

    return [
      run(m, k, t)
      for m, t in [(model, True), (model, False), (no_dropout, True)]
      for k in (key_a, key_b)
    ]

  train_a, train_b, eval_a, eval_b, plain_a, plain_b = forward(jax.random.key(0), jax.random.key(1))
  assert not np.allclose(train_a, train_b)
  np.testing.assert_array_equal(eval_a, eval_b)
  # With rate 0 the train-mode outputs agree: the difference above is dropout's.
  np.testing.assert_array_equal(plain_a, plain_b)


def test_a_few_adam_steps_lower_the_jaccard_distance():
  model = CDNN(**TINY)
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.uniform(size=(2, 32, 32, 7)), jnp.float32)
  yy, xx = np.mgrid[:32, :32]
  labels = jnp.asarray(
    np.stack([(yy - 12) ** 2 + (xx - 16) ** 2 < 64, (yy - 20) ** 2 + (xx - 14) ** 2 < 100]),
    jnp.float32,
  )
  variables = _variables(model, images.shape)
  params, batch_stats = variables["params"], variables["batch_stats"]
  tx = optax.adam(1e-2)
  opt_state = tx.init(params)
  loss_fn = get_loss("jaccard_distance")

  @jax.jit
  def step(params, batch_stats, opt_state, key):
    def compute(params):
      outputs, updates = model.apply(
        {"params": params, "batch_stats": batch_stats},
        images,
        train=True,
        rngs={"dropout": key},
        mutable=["batch_stats"],
      )
      return loss_fn(outputs["logits"], labels), updates["batch_stats"]

    (loss, batch_stats), grads = jax.value_and_grad(compute, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), batch_stats, opt_state, loss

  losses_seen = []
  for key in jax.random.split(jax.random.key(0), 10):
    params, batch_stats, opt_state, loss = step(params, batch_stats, opt_state, key)
    losses_seen.append(float(loss))
  assert losses_seen[-1] < 0.9 * losses_seen[0], losses_seen
  assert flax.traverse_util.flatten_dict(batch_stats)  # BN statistics were updated
