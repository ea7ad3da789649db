"""U-Net shapes, parameter count, dtype handling and the output helper."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg.models import create_model, foreground_probability


def _param_count(variables):
  return sum(x.size for x in jax.tree.leaves(variables["params"]))


def test_unet_output_shape_and_batch_stats():
  model = create_model("unet", base_width=4, depth=3)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 48, 3)), train=False)
  outputs, updates = model.apply(
    variables, jnp.ones((2, 32, 48, 3)), train=True, mutable=["batch_stats"]
  )
  assert outputs["logits"].shape == (2, 32, 48, 1)
  assert jax.tree.structure(updates["batch_stats"]) == jax.tree.structure(variables["batch_stats"])


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
  model = create_model("unet")
  shapes = jax.eval_shape(
    lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)
  )
  assert _param_count(shapes) == 31_037_633


def test_unet_rejects_indivisible_input():
  model = create_model("unet", base_width=4, depth=3)
  with pytest.raises(ValueError, match="divisible by 8"):
    model.init(jax.random.key(0), jnp.zeros((1, 30, 32, 3)), train=False)


def test_unet_bfloat16_forward():
  model = create_model("unet", base_width=4, depth=2, dtype=jnp.bfloat16)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)), train=False)
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(variables["params"]))
  logits = model.apply(variables, jnp.ones((1, 16, 16, 3)), train=False)["logits"]
  assert logits.dtype == jnp.float32 and np.isfinite(logits).all()


def test_foreground_probability():
  logits = jnp.array([[[[0.0], [100.0]]]])
  np.testing.assert_allclose(foreground_probability(logits), [[[0.5, 1.0]]])
  two_class = jnp.array([[[[0.0, 0.0], [0.0, 50.0]]]])
  np.testing.assert_allclose(foreground_probability(two_class), [[[0.5, 1.0]]])
  with pytest.raises(ValueError, match="1 or 2"):
    foreground_probability(jnp.zeros((1, 2, 2, 3)))
