"""RMSM dual-attention U-Net (paper 002): attention modules, RMSM block, Table II switches."""

import jax
import numpy as np
import pytest

from jaxseg.models import create_model, rmsm
from tests.model_testing import abstract_params, count_parameters, numpy_variables, param_shapes

TINY = {"base_width": 8}  # widths 8, 16, 32, bridge 64: every C/16 is at least 1


# numpy references, float64 throughout.


def _conv(x, kernel, bias):
  """'SAME' stride-1 convolution, NHWC x, HWIO kernel of odd size."""
  k = kernel.shape[0]
  pad = k // 2
  padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  height, width = x.shape[1:3]
  out = np.zeros((*x.shape[:3], kernel.shape[-1]))
  for i in range(k):
    for j in range(k):
      out += padded[:, i : i + height, j : j + width] @ kernel[i, j]
  return out + bias


def _upsample2x(x):
  """Bilinear x2, half-pixel centres, edges clamped (PyTorch align_corners=False)."""

  def along(x, axis):
    size = x.shape[axis]
    source = (np.arange(2 * size) + 0.5) / 2 - 0.5
    low = np.floor(source).astype(int)
    frac = source - low
    shape = [1] * x.ndim
    shape[axis] = -1
    frac = frac.reshape(shape)
    take = lambda idx: np.take(x, np.clip(idx, 0, size - 1), axis=axis)
    return take(low) * (1 - frac) + take(low + 1) * frac

  return along(along(x, 1), 2)


def _sigmoid(x):
  return 1 / (1 + np.exp(-x))


def _channel_attention(x, params, pooling="avg"):
  pooled = x.mean(axis=(1, 2)) if pooling == "avg" else x.max(axis=(1, 2))
  hidden = np.maximum(pooled @ params["hidden"]["kernel"] + params["hidden"]["bias"], 0)
  return _sigmoid(hidden @ params["out"]["kernel"] + params["out"]["bias"])[:, None, None, :]


def _spatial_attention(x, params):
  total = sum(
    _conv(x, params[f"conv_{k}x{k}"]["kernel"], params[f"conv_{k}x{k}"]["bias"])
    for k in (3, 5, 7, 9)
  )
  return _sigmoid(total)


def _as_numpy(tree):
  return jax.tree.map(lambda x: np.asarray(x, np.float64), tree)


def _random(shape, seed):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_df_ram_matches_numpy_reference(pooling):
  skip, decoder = _random((2, 8, 8, 32), 0), _random((2, 4, 4, 48), 1)
  module = rmsm.DFRAM(pooling)
  variables = numpy_variables(module, skip, decoder)
  got = jax.jit(module.apply)(variables, skip, decoder)

  p = _as_numpy(variables["params"])
  assert p["reduce_skip"]["kernel"].shape[-1] == 2  # C_S / 16
  assert p["reduce_decoder"]["kernel"].shape[-1] == 3  # C_D / 16
  assert p["channel"]["hidden"]["kernel"].shape == (48, 3)  # C_D -> C_D / 16
  s, d = skip.astype(np.float64), decoder.astype(np.float64)
  channel = _channel_attention(d, p["channel"], pooling)
  skip_reduced = _conv(s, p["reduce_skip"]["kernel"], p["reduce_skip"]["bias"])
  decoder_reduced = _upsample2x(
    _conv(d, p["reduce_decoder"]["kernel"], p["reduce_decoder"]["bias"])
  )
  spatial = _spatial_attention(
    np.concatenate([skip_reduced, decoder_reduced], axis=-1), p["spatial"]
  )
  np.testing.assert_allclose(got, s * channel * spatial, rtol=1e-4, atol=1e-5)


def test_ef_ram_matches_numpy_reference():
  x = _random((2, 8, 8, 32), 2)
  module = rmsm.EFRAM()
  variables = numpy_variables(module, x)
  got = jax.jit(module.apply)(variables, x)

  p = _as_numpy(variables["params"])
  s = x.astype(np.float64)
  channel = _channel_attention(s, p["channel"])
  reduced = _conv(s, p["reduce"]["kernel"], p["reduce"]["bias"])
  np.testing.assert_allclose(
    got, s * channel * _spatial_attention(reduced, p["spatial"]), rtol=1e-4, atol=1e-5
  )


def test_rmsm_block_downsamples_in_fuse_and_projection_only():
  x = _random((1, 8, 8, 4), 3)
  block = rmsm.RMSMBlock(16, strides=2)
  variables = numpy_variables(block, x, train=False)
  out = jax.jit(block.apply, static_argnames="train")(variables, x, train=False)
  assert out.shape == (1, 4, 4, 16)
  assert float(out.min()) >= 0.0  # ReLU after the residual sum
  params = variables["params"]
  assert set(params) == {"branch_1x1", "branch_3x3", "branch_5x5", "fuse", "projection"}
  assert params["branch_5x5"]["Conv_0"]["kernel"].shape == (5, 5, 4, 16)
  assert params["fuse"]["kernel"].shape == (1, 1, 48, 16)
  identity = rmsm.RMSMBlock(4)  # same width and stride: identity shortcut
  assert "projection" not in numpy_variables(identity, x, train=False)["params"]


def _without(params, prefix):
  return {name: tree for name, tree in params.items() if not name.startswith(prefix)}


@pytest.mark.parametrize("switch,prefix", [("use_df_ram", "df_ram_"), ("use_ef_ram", "ef_ram_")])
def test_each_attention_switch_removes_exactly_its_modules(switch, prefix):
  full = abstract_params(create_model("rmsm", **TINY))
  ablated = abstract_params(create_model("rmsm", **TINY, **{switch: False}))
  assert sorted(name for name in full if name.startswith(prefix)) == [
    f"{prefix}{i}" for i in range(3)
  ]
  assert param_shapes(ablated) == param_shapes(_without(full, prefix))
  assert count_parameters(full) - count_parameters(ablated) == count_parameters(
    {k: full[k] for k in full if k.startswith(prefix)}
  )


def test_block_switch_swaps_only_the_blocks():
  rmsm_params = abstract_params(create_model("rmsm", **TINY))
  unet_params = abstract_params(create_model("rmsm", **TINY, block="unet"))
  assert set(rmsm_params) == set(unet_params)
  for name in rmsm_params:
    if name.startswith(("encoder_", "decoder_", "bridge")):
      assert "fuse" in rmsm_params[name] and set(unet_params[name]) == {"double_conv"}
    else:  # attention modules and head see the same widths either way
      assert param_shapes(rmsm_params[name]) == param_shapes(unet_params[name])


def test_full_size_parameter_counts():
  rows = {
    "proposed": {},
    "rmsm_unet": {"use_df_ram": False, "use_ef_ram": False},
    "unet": {"block": "unet", "use_df_ram": False, "use_ef_ram": False},
  }
  counts = {
    row: count_parameters(abstract_params(create_model("rmsm", **kw), 224))
    for row, kw in rows.items()
  }
  # The paper gives no parameter count; these pin ours (224x224 input, base_width 64).
  assert counts == {"proposed": 16_898_397, "rmsm_unet": 16_803_649, "unet": 7_785_729}
