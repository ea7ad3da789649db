"""The model contract (jaxseg.models.registry) for every registered model; U-Net specifics.

`test_registered_model_follows_the_contract` runs once per name in `MODELS`, on
the model its config `experiments/configs/<name>_synthetic.py` trains at smoke
size (the model class's `smoke_fields`), with that config's loss and input
channels: a registered model with its synthetic config is covered.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import configs
from jaxseg.data import pipeline
from jaxseg.errors import ConfigError
from jaxseg.models import MODELS, create_model, foreground_probability
from jaxseg.models.base import SegmentationModel
from jaxseg.models.convert_torchvision import torchvision_to_flax
from jaxseg.models.pretrained import load_pretrained_backbone
from tests.model_testing import (
  abstract_params,
  abstract_variables,
  count_parameters,
  lesion_batch,
  numpy_variables,
  param_shapes,
  synthetic_torchvision_state_dict,
  train_steps,
)

# Parameters of each contract-test model (the one `smoke_setup` describes), counted
# by this test when the smoke and test sizes became one set. Regression guards: a
# changed parameter tree shows here.
# The contract covers a new model without an entry; pin it once its tree is settled.
# Full-size counts, against the reference implementations, are in tests/test_<name>.py.
SMOKE_PARAMETER_COUNTS = {
  "asnet": 113_064,
  "attention_unet": 137_271,
  "cca": 55_966,
  "cdnn": 79_353,
  "cenet": 75_692,
  "deeplabv3plus": 54_117,
  "fcn8s": 109_991,
  "multiresunet": 109_013,
  "r2unet": 153_665,
  "rmsm": 68_778,
  "segnet": 116_545,
  "ulffn": 309_059,
  "unet": 122_093,
}
# Mean |bfloat16 - float32| of the trained logits, as a fraction of their mean size;
# bfloat16's 8-bit mantissa moves these logits by up to ~2% on average.
BFLOAT16_TOLERANCE = 0.05
WIDER_BFLOAT16_TOLERANCES = {
  # Its decoder puts each value where the encoder's 2x2 max was: bfloat16 rounds near-equal
  # window values to ties, argmax then picks another pixel, and ~6% of logits move by >20%.
  "segnet": 0.1,
}
# Divisible by every model's total stride (asnet's 32); not square, so H and W cannot swap.
BATCH, HEIGHT, WIDTH = 2, 32, 64


class SmokeSetup(NamedTuple):
  fields: dict  # the model's fields: tiny widths, a fast compile on CPU
  channels: int  # input channels
  loss: str  # the paper's loss


def smoke_setup(name: str) -> SmokeSetup:
  """What `<name>_synthetic:smoke` trains: its model fields, input channels and loss."""
  config = configs.get_config(f"{name}_synthetic:smoke")
  assert config.model_name == name
  return SmokeSetup(config.model.to_dict(), pipeline.input_channels(config.input), config.loss)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_registered_model_is_a_segmentation_model_with_its_smoke_size(name):
  model_class = MODELS[name]
  assert issubclass(model_class, SegmentationModel)
  assert "smoke_fields" in vars(model_class), f"{model_class.__name__} sets no smoke_fields"
  assert set(model_class.smoke_fields) <= set(model_class.__dataclass_fields__)


def test_pinned_parameter_counts_are_of_registered_models():
  assert set(SMOKE_PARAMETER_COUNTS) <= set(MODELS)


def _check_outputs(outputs, where: str):
  heads = set(outputs)
  assert "logits" in heads and all(h == "logits" or h.startswith("aux_") for h in heads), where
  channels = outputs["logits"].shape[-1]
  assert channels in (1, 2), where
  for head, logits in outputs.items():
    assert logits.shape == (BATCH, HEIGHT, WIDTH, channels), (where, head)
    assert logits.dtype == jnp.float32, (where, head)
    assert np.all(np.isfinite(logits)), (where, head)


def _float32_leaves(tree) -> bool:
  return all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(tree))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_registered_model_follows_the_contract(name):
  setup = smoke_setup(name)
  model = create_model(name, **setup.fields)
  bfloat16_model = create_model(name, **setup.fields, dtype=jnp.bfloat16)
  images, masks = lesion_batch(BATCH, HEIGHT, WIDTH, setup.channels)

  # Init: float32 params and BatchNorm statistics, the pinned count; bfloat16 changes neither.
  declared = abstract_variables(model, images, train=False)
  assert set(declared) == {"params", "batch_stats"}
  assert _float32_leaves(declared)
  if name in SMOKE_PARAMETER_COUNTS:
    assert count_parameters(declared["params"]) == SMOKE_PARAMETER_COUNTS[name]
  declared_bfloat16 = abstract_variables(bfloat16_model, images, train=False)
  assert jax.tree.map(lambda x: x.shape, declared_bfloat16) == jax.tree.map(
    lambda x: x.shape, declared
  )
  assert _float32_leaves(declared_bfloat16)
  with pytest.raises(ValueError, match="divisible by"):
    abstract_variables(model, jnp.zeros((1, HEIGHT + 4, WIDTH, setup.channels)), train=False)

  # An ImageNet ResNet encoder is the "backbone" submodule that pretrained weights fill.
  if "resnet_depth" in MODELS[name].__dataclass_fields__:
    weights = synthetic_torchvision_state_dict(model.resnet_depth, model.resnet_width)
    _, loaded = load_pretrained_backbone(declared, torchvision_to_flax(weights))
    backbone_leaves = sum(len(jax.tree.leaves(declared[c]["backbone"])) for c in declared)
    assert len(loaded) == backbone_leaves

  # Training mode: outputs, running statistics updated, the paper's loss falls.
  variables = numpy_variables(model, images, train=False)
  run = train_steps(model, variables, images, masks, setup.loss, steps=10, learning_rate=2e-2)
  _check_outputs(run.first_outputs, "train")
  assert np.all(np.isfinite(run.losses)) and run.losses[-1] < 0.95 * run.losses[0], run.losses
  assert jax.tree.structure(run.batch_stats) == jax.tree.structure(variables["batch_stats"])
  assert _float32_leaves(run.batch_stats) and _float32_leaves(run.params)
  moved = jax.tree.map(
    lambda before, after: not np.allclose(before, after), variables["batch_stats"], run.batch_stats
  )
  unchanged = [
    jax.tree_util.keystr(p) for p, m in jax.tree_util.tree_leaves_with_path(moved) if not m
  ]
  assert not unchanged, f"BatchNorm statistics not updated by training: {unchanged}"

  # Inference with the same float32 variables, computed in float32 and in bfloat16.
  trained = {"params": run.params, "batch_stats": run.batch_stats}
  float32_outputs, bfloat16_outputs = jax.jit(
    lambda v: (model.apply(v, images, train=False), bfloat16_model.apply(v, images, train=False))
  )(trained)
  _check_outputs(float32_outputs, "float32 inference")
  _check_outputs(bfloat16_outputs, "bfloat16 inference")
  difference = np.abs(bfloat16_outputs["logits"] - float32_outputs["logits"])
  scale = np.abs(float32_outputs["logits"]).mean()
  tolerance = WIDER_BFLOAT16_TOLERANCES.get(name, BFLOAT16_TOLERANCE)
  # Above 0: bfloat16 did compute.
  assert 0 < difference.mean() < tolerance * scale, (difference.mean(), scale)


def _unet_parameter_formula(widths=(64, 128, 256, 512, 1024)):
  """Bias-free 3x3 convs + BN (scale, bias) pairs, biased 2x2 transposed convs, 1x1 head."""

  def double_conv(c_in, c):
    return 9 * c_in * c + 9 * c * c + 2 * 2 * c

  total = double_conv(3, widths[0])
  total += sum(double_conv(widths[i - 1], widths[i]) for i in range(1, len(widths)))
  for i in range(len(widths) - 1):
    total += 4 * widths[i + 1] * widths[i] + widths[i] + double_conv(2 * widths[i], widths[i])
  return total + widths[0] + 1


def test_unet_parameter_count_pinned():
  assert _unet_parameter_formula() == 31_037_633
  assert count_parameters(abstract_params(create_model("unet"))) == 31_037_633


def test_foreground_probability():
  logits = jnp.array([[[[0.0], [100.0]]]])
  np.testing.assert_allclose(foreground_probability(logits), [[[0.5, 1.0]]])
  two_class = jnp.array([[[[0.0, 0.0], [0.0, 50.0]]]])
  np.testing.assert_allclose(foreground_probability(two_class), [[[0.5, 1.0]]])
  with pytest.raises(ValueError, match="1 or 2"):
    foreground_probability(jnp.zeros((1, 2, 2, 3)))


def _training_loss(model, variables, images, masks):
  def loss(params):
    outputs, _ = model.apply(
      {"params": params, "batch_stats": variables["batch_stats"]},
      images,
      train=True,
      mutable=["batch_stats"],
      rngs={"dropout": jax.random.key(0)},
    )
    return jnp.mean(jnp.square(outputs["logits"] - masks[..., None]))

  return loss


def _loss_and_gradients(model, variables, images, masks):
  loss = _training_loss(model, variables, images, masks)
  return jax.jit(jax.value_and_grad(loss))(variables["params"])


def _plain_and_remat_models(name: str):
  """The contract test's model without and with `remat`, and a batch for it."""
  setup = smoke_setup(name)
  plain = create_model(name, **setup.fields)
  remat = create_model(name, **setup.fields, remat="nothing_saveable")
  return plain, remat, lesion_batch(BATCH, HEIGHT, WIDTH, setup.channels)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_remat_checkpoints_blocks_and_keeps_the_parameters(name):
  """Every network honours `remat`: its traced gradient has checkpoints; same parameters."""
  plain, remat, (images, masks) = _plain_and_remat_models(name)
  declared = abstract_variables(plain, images, train=False)
  # Same names and shapes: a checkpoint trained either way restores into the other.
  assert param_shapes(abstract_variables(remat, images, train=False)) == param_shapes(declared)
  # Traced, not compiled: what remat computes is jax.checkpoint's business (next test).
  zeros = jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), declared)
  gradient = jax.grad(_training_loss(remat, zeros, images, masks))
  assert "remat2[" in str(jax.make_jaxpr(gradient)(zeros["params"]))


# A ResNet encoder, and plain convolution blocks with a transposed-convolution decoder.
@pytest.mark.slow
@pytest.mark.parametrize("name", ["asnet", "unet"])
def test_remat_changes_no_gradient(name):
  plain, remat, (images, masks) = _plain_and_remat_models(name)
  variables = numpy_variables(plain, images, train=False)
  loss, grads = _loss_and_gradients(plain, variables, images, masks)
  remat_loss, remat_grads = _loss_and_gradients(remat, variables, images, masks)
  np.testing.assert_allclose(remat_loss, loss, rtol=1e-5)
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), remat_grads, grads
  )


def test_remat_wraps_each_block_in_a_checkpoint():
  """One `remat2` (jax.checkpoint) per U-Net DoubleConv in the traced gradient, none without.

  How much memory that saves is the compiler's business: XLA's GPU and TPU
  backends recompute in the backward pass, its CPU backend schedules the
  recomputation early and keeps the peak (docs/decisions.md, "Memory").
  """
  images, masks = lesion_batch(2, 32, 32)
  counts = {}
  for remat in ("none", "nothing_saveable"):
    model = create_model("unet", base_width=4, depth=2, remat=remat)
    variables = numpy_variables(model, images, train=False)
    counts[remat] = str(
      jax.make_jaxpr(jax.grad(_training_loss(model, variables, images, masks)))(variables["params"])
    ).count("remat2[")
  assert counts == {"none": 0, "nothing_saveable": 5}, counts


def test_unknown_remat_policy_is_a_config_error():
  with pytest.raises(ConfigError, match="config key remat"):
    abstract_params(create_model("unet", base_width=4, depth=2, remat="everything"))
