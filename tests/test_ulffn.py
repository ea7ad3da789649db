"""ULFFN (paper 001): level sizes, full fusion, CAM, Table 4 switches, training."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxseg.losses import get_loss
from jaxseg.models import create_model, ulffn

TINY_WIDTH = 4
# Paper widths (base_width 64), ASPP and CAM on; parameters do not depend on the input size.
FULL_SIZE_PARAMETERS = 78_291_594


def _init(model, images):
  # One compiled init rather than op-by-op dispatch, which dominates test time.
  return jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))(images)


@pytest.fixture(scope="module")
def tiny_variables():
  """Variables of the tiny model, shared: parameters do not depend on the input size."""
  return _init(ulffn.ULFFN(base_width=TINY_WIDTH), jnp.zeros((1, 16, 16, 3)))


def _params(model, size=32):
  variables = jax.eval_shape(
    lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3)), train=False)
  )
  return variables["params"]


def _count(tree) -> int:
  return sum(x.size for x in jax.tree.leaves(tree))


def _shapes(tree):
  return jax.tree.map(lambda x: x.shape, tree)


def test_registered_and_checks_the_input_size():
  model = create_model("ulffn", base_width=TINY_WIDTH)
  assert isinstance(model, ulffn.ULFFN)
  with pytest.raises(ValueError, match="divisible by 8"):
    model.init(jax.random.key(0), jnp.zeros((1, 36, 32, 3)))


def test_output_and_decoder_levels_have_the_documented_sizes(tiny_variables):
  model = ulffn.ULFFN(base_width=TINY_WIDTH)
  images = jax.random.normal(jax.random.key(1), (2, 32, 48, 3))
  variables = tiny_variables
  outputs, state = jax.jit(
    lambda v, x: model.apply(
      v,
      x,
      capture_intermediates=lambda module, _: isinstance(module, ulffn.DecodeUnit | ulffn.CodeUnit),
      mutable=["intermediates"],
    )
  )(variables, images)
  assert outputs["logits"].shape == (2, 32, 48, 2)
  assert outputs["logits"].dtype == jnp.float32
  got = {name: v["__call__"][0].shape[1:] for name, v in state["intermediates"].items()}
  b = TINY_WIDTH
  assert got == {
    "code_1": (16, 24, 2 * b),
    "code_2": (8, 12, 4 * b),
    "code_3": (4, 6, 8 * b),
    "code_4": (4, 6, 16 * b),
    "decode_4": (4, 6, 16 * b),
    "decode_3": (8, 12, 8 * b),
    "decode_2": (16, 24, 4 * b),
    "decode_1": (32, 48, 2 * b),
  }


def test_each_decode_unit_fuses_every_shallower_code_unit_and_the_input_conv():
  b = TINY_WIDTH
  params = _params(ulffn.ULFFN(base_width=b))
  encoder_widths = [b, 2 * b, 4 * b, 8 * b]  # input conv, code_1, code_2, code_3
  decoder_input_widths = {4: 16 * b, 3: 16 * b, 2: 8 * b, 1: 4 * b}
  for level, decoder_width in decoder_input_widths.items():
    kernel = params[f"decode_{level}"]["fuse"]["project"]["Conv_0"]["kernel"]
    assert kernel.shape[2] == decoder_width + sum(encoder_widths[:level]), level


def test_variance_pooling_matches_numpy():
  x = np.random.default_rng(0).normal(size=(2, 5, 3, 4)).astype(np.float32) * 3 + 1
  np.testing.assert_allclose(
    ulffn.global_variance_pool(jnp.asarray(x)), x.var(axis=(1, 2)), rtol=1e-5
  )


def test_channel_attention_matches_numpy():
  x = np.random.default_rng(1).normal(size=(2, 4, 4, 32)).astype(np.float32)
  module = ulffn.ChannelAttention(reduction=16)
  variables = module.init(jax.random.key(0), jnp.asarray(x))
  p = jax.tree.map(np.asarray, variables["params"])
  assert p["squeeze"]["kernel"].shape == (64, 2)  # [GAP, GVP] of 32 channels -> 32 // 16
  z = np.concatenate([x.mean(axis=(1, 2)), x.var(axis=(1, 2))], axis=-1)
  hidden = np.maximum(z @ p["squeeze"]["kernel"] + p["squeeze"]["bias"], 0)
  w = 1 / (1 + np.exp(-(hidden @ p["excite"]["kernel"] + p["excite"]["bias"])))
  expected = x + x * w[:, None, None, :]
  np.testing.assert_allclose(module.apply(variables, jnp.asarray(x)), expected, rtol=1e-5)


@pytest.mark.parametrize(
  ("use_aspp", "use_cam", "removed"),
  [(False, True, {"aspp"}), (True, False, {"cam"}), (False, False, {"aspp", "cam"})],
)
def test_table4_switches_remove_exactly_their_module(use_aspp, use_cam, removed):
  full = _params(ulffn.ULFFN(base_width=TINY_WIDTH))
  ablated = _params(ulffn.ULFFN(base_width=TINY_WIDTH, use_aspp=use_aspp, use_cam=use_cam))
  assert set(full) - set(ablated) == removed
  assert set(ablated) <= set(full)
  for name in ablated:
    assert _shapes(ablated[name]) == _shapes(full[name]), name
  assert _count(full) - _count(ablated) == sum(_count(full[name]) for name in removed)


def test_full_size_parameter_count_is_pinned():
  params = _params(ulffn.ULFFN(), size=64)
  assert _count(params) == FULL_SIZE_PARAMETERS
  assert params["decode_4"]["fuse"]["project"]["Conv_0"]["kernel"].shape == (1, 1, 1024 + 960, 1024)
  assert params["aspp"]["projection"]["Conv_0"]["kernel"].shape == (1, 1, 5 * 256, 1024)
  assert params["cam"]["squeeze"]["kernel"].shape == (256, 8)


def test_bfloat16_forward_keeps_float32_parameters(tiny_variables):
  model = ulffn.ULFFN(base_width=TINY_WIDTH, dtype=jnp.bfloat16)
  images = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
  declared = jax.eval_shape(lambda: model.init(jax.random.key(0), images))
  assert {x.dtype for x in jax.tree.leaves(declared)} == {jnp.dtype(jnp.float32)}
  variables = tiny_variables
  logits, _ = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))(
    variables, images
  )
  assert logits["logits"].shape == (2, 32, 32, 2)
  assert bool(jnp.all(jnp.isfinite(logits["logits"])))


def test_a_few_adam_steps_lower_the_cross_entropy(tiny_variables):
  model = ulffn.ULFFN(base_width=TINY_WIDTH)
  loss_fn = get_loss("cross_entropy")
  images = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
  yy, xx = np.mgrid[:32, :32]
  disc = ((yy - 16) ** 2 + (xx - 12) ** 2 < 64).astype(np.float32)
  labels = jnp.asarray(np.stack([disc, disc.T])[..., None])
  images = images + 2.0 * labels  # a lesion brighter than the skin around it
  variables = tiny_variables
  optimizer = optax.adam(1e-2)

  def loss(params, batch_stats):
    outputs, state = model.apply(
      {"params": params, "batch_stats": batch_stats}, images, train=True, mutable=["batch_stats"]
    )
    return loss_fn(outputs["logits"], labels), state["batch_stats"]

  @jax.jit
  def step(params, batch_stats, opt_state):
    (value, batch_stats), grads = jax.value_and_grad(loss, has_aux=True)(params, batch_stats)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), batch_stats, opt_state, value

  params, batch_stats = variables["params"], variables["batch_stats"]
  opt_state = optimizer.init(params)
  values = []
  for _ in range(4):
    params, batch_stats, opt_state, value = step(params, batch_stats, opt_state)
    values.append(float(value))
  assert all(np.isfinite(values))
  assert values[-1] < values[0], values
