"""CDNN-29 (paper 003): Table I layers, parameter count, input size, dropout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg.models.cdnn import CDNN
from tests.model_testing import (
  abstract_model_variables,
  abstract_params,
  count_parameters,
  numpy_variables,
)

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


def test_paper_size_parameter_count():
  variables = abstract_model_variables(CDNN(), 192, 256, channels=7)
  kernels = sum(
    k * k * c_in * c_out
    for (_, k, c_out), c_in in zip(TABLE_I, [7] + [c for _, _, c in TABLE_I[:-1]], strict=True)
  )
  widths = sum(c for _, _, c in TABLE_I)
  assert kernels == 5_031_920 and widths == 2_464
  # Conv kernels (no bias) + BN scale and offset + 1x1 output with bias; the
  # paper's Lasagne count is 5,042,589 (module docstring explains the gap).
  assert count_parameters(variables["params"]) == kernels + 2 * widths + 16 + 1 == 5_036_865
  assert count_parameters(variables["batch_stats"]) == 2 * widths
  # Every width is a multiple of 16, so any reading of Table I counts 0 or 1
  # (mod 16); the paper's 5,042,589 is 13 (mod 16) and cannot be reproduced.
  assert 5_042_589 % 16 == 13 and count_parameters(variables["params"]) % 16 == 1
  # RGB ablation: only conv_1_1 changes, by 4 input channels x 3x3 x 16.
  rgb = abstract_model_variables(CDNN(), 192, 256, channels=3)
  assert count_parameters(variables["params"]) - count_parameters(rgb["params"]) == 4 * 9 * 16
  assert count_parameters(rgb["params"]) == 5_036_289


def test_layers_match_table_i():
  params = abstract_params(CDNN(), channels=7)
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


def test_input_size_must_divide_by_16():
  with pytest.raises(ValueError, match="divisible by 16"):
    abstract_params(CDNN(**CDNN.smoke_fields), 40, 32, channels=7)


def test_dropout_only_in_train_mode():
  model = CDNN(**CDNN.smoke_fields)
  shape = (2, 32, 32, 3)
  images = jnp.asarray(np.random.default_rng(1).uniform(size=shape), jnp.float32)
  variables = numpy_variables(model, images, train=False)

  no_dropout = CDNN(**CDNN.smoke_fields, dropout_rate=0.0)

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
