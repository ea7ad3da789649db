"""ASPP: output shape, branch structure and parameter count."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg.models.blocks import ASPP
from tests.model_testing import abstract_variables, count_parameters, numpy_variables


def _aspp_parameter_formula(in_channels, features, projection, num_rates):
  """Bias-free convs + BN (scale, bias): 1x1, one 3x3 per rate, pooling 1x1, projection."""
  branch_1x1 = in_channels * features + 2 * features
  branch_atrous = 9 * in_channels * features + 2 * features
  image_pooling = in_channels * features + 2 * features
  projection_conv = (2 + num_rates) * features * projection + 2 * projection
  return branch_1x1 + num_rates * branch_atrous + image_pooling + projection_conv


def test_aspp_shape_and_branches():
  aspp = ASPP(features=8, projection_features=12, atrous_rates=(1, 2, 3))
  x = jax.random.normal(jax.random.key(0), (2, 9, 11, 5))
  variables = numpy_variables(aspp, x, train=False)
  assert set(variables["params"]) == {
    "conv1x1",
    "atrous_0",
    "atrous_1",
    "atrous_2",
    "image_pooling",
    "projection",
  }
  assert count_parameters(variables["params"]) == _aspp_parameter_formula(5, 8, 12, 3)
  out, updates = aspp.apply(variables, x, train=True, mutable=["batch_stats"])
  assert out.shape == (2, 9, 11, 12)
  assert set(updates["batch_stats"]) == set(variables["params"])


@pytest.mark.parametrize(
  ("projection", "expected"),
  [(256, 15_535_104), (1024, 8_917_504)],  # cca / DeepLabv3+ on 2048 channels; ulffn on 1024
)
def test_aspp_full_size_parameter_count(projection, expected):
  in_channels = 2048 if projection == 256 else 1024
  assert _aspp_parameter_formula(in_channels, 256, projection, 3) == expected
  aspp = ASPP(projection_features=projection)
  inputs = jax.ShapeDtypeStruct((1, 8, 8, in_channels), jnp.float32)
  variables = abstract_variables(aspp, inputs, train=False)
  assert count_parameters(variables["params"]) == expected


def test_aspp_bfloat16_and_dropout():
  aspp = ASPP(features=4, projection_features=4, dropout_rate=0.5, dtype=jnp.bfloat16)
  x = jnp.ones((1, 8, 8, 3))
  variables = numpy_variables(aspp, x, train=False)
  out, _ = aspp.apply(
    variables, x, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(1)}
  )
  assert out.dtype == jnp.bfloat16 and np.isfinite(np.asarray(out, np.float32)).all()
