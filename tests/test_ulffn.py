"""ULFFN (paper 001): level sizes, full fusion, CAM, Table 4 switches, parameters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg.models import ulffn
from tests.model_testing import abstract_params, count_parameters, numpy_variables, param_shapes

TINY_WIDTH = 4
# Paper widths (base_width 64), ASPP and CAM on; parameters do not depend on the input size.
FULL_SIZE_PARAMETERS = 78_291_594


def test_output_and_decoder_levels_have_the_documented_sizes():
  model = ulffn.ULFFN(base_width=TINY_WIDTH)
  images = jax.random.normal(jax.random.key(1), (2, 32, 48, 3))
  variables = numpy_variables(model, images, train=False)
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
  params = abstract_params(ulffn.ULFFN(base_width=b))
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


def test_mean_variance_channel_attention_matches_numpy():
  x = np.random.default_rng(1).normal(size=(2, 4, 4, 32)).astype(np.float32)
  module = ulffn.MeanVarianceChannelAttention(reduction=16)
  variables = numpy_variables(module, x)
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
  full = abstract_params(ulffn.ULFFN(base_width=TINY_WIDTH))
  ablated = abstract_params(ulffn.ULFFN(base_width=TINY_WIDTH, use_aspp=use_aspp, use_cam=use_cam))
  assert set(full) - set(ablated) == removed
  assert set(ablated) <= set(full)
  for name in ablated:
    assert param_shapes(ablated[name]) == param_shapes(full[name]), name
  assert count_parameters(full) - count_parameters(ablated) == sum(
    count_parameters(full[name]) for name in removed
  )


def test_full_size_parameter_count_is_pinned():
  params = abstract_params(ulffn.ULFFN(), 64)
  assert count_parameters(params) == FULL_SIZE_PARAMETERS
  assert params["decode_4"]["fuse"]["project"]["Conv_0"]["kernel"].shape == (1, 1, 1024 + 960, 1024)
  assert params["aspp"]["projection"]["Conv_0"]["kernel"].shape == (1, 1, 5 * 256, 1024)
  assert params["cam"]["squeeze"]["kernel"].shape == (256, 8)
