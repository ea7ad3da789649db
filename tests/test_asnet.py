"""ASNet (paper 004): shared-kernel ASM, scale-aware fusion, Table 2 switches, backbone."""

import flax
import jax
import numpy as np
import pytest

from jaxseg.models import asnet
from jaxseg.models.asnet import ASNet
from jaxseg.models.blocks import BN_EPSILON
from jaxseg.models.convert_torchvision import torchvision_to_flax
from jaxseg.models.pretrained import load_pretrained_backbone
from tests.model_testing import (
  abstract_model_variables,
  abstract_params,
  abstract_variables,
  count_parameters,
  numpy_variables,
  param_shapes,
  synthetic_torchvision_state_dict,
)

TINY = {"resnet_depth": 18, "resnet_width": 8}  # c5 has 64 channels, SAM's C/2 is 32


def _variables(module, *inputs, seed=0, **kwargs):
  """numpy-filled variables with beta 0.4 (at its init, 0, the ASM ignores its branches)."""
  return numpy_variables(module, *inputs, seed=seed, constants={"beta": 0.4}, **kwargs)


def _random(shape, seed):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# numpy references, float64 throughout.


def _conv(x, kernel, bias=0.0, dilation=1):
  """Stride-1 'same' convolution with dilation; NHWC x, HWIO kernel of odd size."""
  k = kernel.shape[0]
  pad = dilation * (k // 2)
  padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  height, width = x.shape[1:3]
  out = np.zeros((*x.shape[:3], kernel.shape[-1]))
  for i in range(k):
    for j in range(k):
      di, dj = i * dilation, j * dilation
      out += padded[:, di : di + height, dj : dj + width] @ kernel[i, j]
  return out + bias


def _bn(x, params, stats):
  return (x - stats["mean"]) / np.sqrt(stats["var"] + BN_EPSILON) * params["scale"] + params["bias"]


def _relu(x):
  return np.maximum(x, 0.0)


def _sam(a, b, p):
  y = _relu(_conv(np.concatenate([a, b], -1), p["conv1x1"]["kernel"], p["conv1x1"]["bias"]))
  y = _relu(_conv(y, p["conv3x3_1"]["kernel"], p["conv3x3_1"]["bias"]))
  scores = _conv(y, p["conv3x3_2"]["kernel"], p["conv3x3_2"]["bias"])
  weights = np.exp(scores - scores.max(-1, keepdims=True))
  weights /= weights.sum(-1, keepdims=True)
  return weights[..., :1] * a + weights[..., 1:] * b


def _asm(x, params, stats, dilations=(1, 2, 4), share=False):
  kernel = params["shared_conv"]["kernel"]
  branches = [
    _relu(_bn(_conv(x, kernel, dilation=d), params[f"bn_{i}"], stats[f"bn_{i}"]))
    for i, d in enumerate(dilations)
  ]
  second = params["sam_1" if share else "sam_2"]
  fused = _sam(_sam(branches[0], branches[1], params["sam_1"]), branches[2], second)
  beta = params["beta"]
  y = _relu(beta * fused + (1 - beta) * x)
  project = params["project"]
  y = _conv(y, project["Conv_0"]["kernel"])
  return _relu(_bn(y, project["BatchNorm_0"], stats["project"]["BatchNorm_0"]))


def _as_numpy(tree):
  return jax.tree.map(lambda x: np.asarray(x, np.float64), tree)


@pytest.mark.parametrize("share", [False, True])
def test_asm_shares_one_kernel_across_dilations_and_matches_numpy(share):
  x = _random((2, 9, 9, 8), 0)
  module = asnet.AdaptiveScaleModule(share_sam_weights=share)
  variables = _variables(module, x, train=False)
  params = variables["params"]

  # Exactly one (3, 3, C, C) kernel, and no other 3x3 outside the SAMs.
  shapes = param_shapes(params)
  square = [path for path, shape in shapes.items() if shape == (3, 3, 8, 8)]
  assert square == [("shared_conv", "kernel")]
  assert [
    p for p, s in shapes.items() if len(s) == 4 and s[:2] == (3, 3) and "sam" not in p[0]
  ] == [("shared_conv", "kernel")]
  assert set(params) == {"shared_conv", "bn_0", "bn_1", "bn_2", "sam_1", "project", "beta"} | (
    set() if share else {"sam_2"}
  )
  assert set(variables["batch_stats"]) == {"bn_0", "bn_1", "bn_2", "project"}

  out, state = module.apply(
    variables, x, train=False, capture_intermediates=True, mutable=["intermediates"]
  )
  convs = state["intermediates"]["shared_conv"]["__call__"][0]
  kernel = np.asarray(params["shared_conv"]["kernel"], np.float64)
  assert len(convs) == 3
  for conv, dilation in zip(convs, (1, 2, 4), strict=True):
    np.testing.assert_allclose(conv, _conv(x, kernel, dilation=dilation), rtol=1e-4, atol=1e-4)
  assert not np.allclose(convs[0], convs[1])  # the dilations really differ

  expected = _asm(
    x.astype(np.float64),
    _as_numpy(params),
    _as_numpy(variables["batch_stats"]),
    share=share,
  )
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
  attention = state["intermediates"]["sam_1"]["attention"]
  assert len(attention) == (2 if share else 1)  # a shared SAM runs twice


def test_scale_aware_weights_sum_to_one_per_pixel():
  a, b = _random((2, 6, 5, 8), 1), _random((2, 6, 5, 8), 2)
  module = asnet.ScaleAwareModule()
  variables = _variables(module, a, b)
  out, state = module.apply(variables, a, b, mutable=["intermediates"])
  (attention,) = state["intermediates"]["attention"]
  assert attention.shape == (2, 6, 5, 2)
  np.testing.assert_allclose(attention.sum(-1), 1.0, rtol=1e-6)
  assert float(attention.min()) > 0.0 and float(attention.std()) > 0.01  # per pixel, not fixed
  np.testing.assert_allclose(
    out, attention[..., :1] * a + attention[..., 1:] * b, rtol=1e-5, atol=1e-6
  )


def _without(params, *paths):
  flat = flax.traverse_util.flatten_dict(params)
  return {p: leaf.shape for p, leaf in flat.items() if not any(p[: len(q)] == q for q in paths)}


def test_each_table2_switch_removes_exactly_its_part():
  full = abstract_params(ASNet(**TINY))
  assert set(full["asm"]) == {"shared_conv", "bn_0", "bn_1", "bn_2", "sam_1", "sam_2"} | {
    "project",
    "beta",
  }
  baseline = abstract_params(ASNet(**TINY, use_asm=False))
  assert param_shapes(baseline) == _without(full, ("asm",))
  no_sa = abstract_params(ASNet(**TINY, scale_aware_fusion=False))
  assert param_shapes(no_sa) == _without(full, ("asm", "sam_1"), ("asm", "sam_2"))
  shared = abstract_params(ASNet(**TINY, share_sam_weights=True))
  assert param_shapes(shared) == _without(full, ("asm", "sam_2"))
  assert count_parameters(full["asm"]["sam_2"]) == count_parameters(full["asm"]["sam_1"])
  no_di = abstract_params(ASNet(**TINY, asm_dilations=(1, 1, 1)))
  assert param_shapes(no_di) == param_shapes(full)

  # Extra decoder blocks: one BasicBlock at each level's input width, nothing else.
  wide = abstract_params(ASNet(**TINY, use_asm=False, decoder_extra_blocks=2))
  extra = {p: s for p, s in param_shapes(wide).items() if "extra" in "/".join(p)}
  assert {p: s for p, s in param_shapes(wide).items() if p not in extra} == param_shapes(baseline)
  widths = {"decoder_4": 64, "decoder_3": 32, "decoder_2": 16, "decoder_1": 8}
  assert {(p[0], p[1]) for p in extra} == {(d, f"extra_{i}") for d in widths for i in range(2)}
  assert count_parameters(wide) - count_parameters(baseline) == sum(
    2 * (18 * c * c + 4 * c) for c in widths.values()
  )


def test_asm_without_dilation_changes_outputs_not_parameters():
  x = _random((2, 6, 6, 8), 3)
  dilated = asnet.AdaptiveScaleModule()
  plain = asnet.AdaptiveScaleModule(dilations=(1, 1, 1))
  variables = _variables(dilated, x, train=False)
  assert param_shapes(variables) == param_shapes(abstract_variables(plain, x, train=False))
  out_dilated = dilated.apply(variables, x, train=False)
  out_plain, state = plain.apply(
    variables, x, train=False, capture_intermediates=True, mutable=["intermediates"]
  )
  assert not np.allclose(out_dilated, out_plain, atol=1e-3)
  convs = state["intermediates"]["shared_conv"]["__call__"][0]
  np.testing.assert_array_equal(convs[0], convs[2])  # all branches see the same conv
  expected = _asm(
    x.astype(np.float64),
    _as_numpy(variables["params"]),
    _as_numpy(variables["batch_stats"]),
    dilations=(1, 1, 1),
  )
  np.testing.assert_allclose(out_plain, expected, rtol=1e-4, atol=1e-4)


def test_asm_without_scale_aware_fusion_averages_the_branches():
  x = _random((1, 5, 5, 4), 4)
  module = asnet.AdaptiveScaleModule(scale_aware_fusion=False)
  variables = _variables(module, x, train=False)
  p, s = _as_numpy(variables["params"]), _as_numpy(variables["batch_stats"])
  kernel = p["shared_conv"]["kernel"]
  xf = x.astype(np.float64)
  branches = [
    _relu(_bn(_conv(xf, kernel, dilation=d), p[f"bn_{i}"], s[f"bn_{i}"]))
    for i, d in enumerate((1, 2, 4))
  ]
  y = _relu(p["beta"] * sum(branches) / 3 + (1 - p["beta"]) * xf)
  y = _conv(y, p["project"]["Conv_0"]["kernel"])
  expected = _relu(_bn(y, p["project"]["BatchNorm_0"], s["project"]["BatchNorm_0"]))
  np.testing.assert_allclose(
    module.apply(variables, x, train=False), expected, rtol=1e-4, atol=1e-4
  )


def test_paper_width_parameter_counts_and_baseline_wide_within_two_percent():
  def count(**kwargs):
    return count_parameters(abstract_params(ASNet(**kwargs), 192, 256))

  counts = {
    "asnet": count(),
    "baseline": count(use_asm=False),
    "baseline_wide": count(use_asm=False, decoder_extra_blocks=asnet.BASELINE_WIDE_EXTRA_BLOCKS),
  }
  # The paper gives no counts; these pin ours (ResNet34 backbone: 21,284,672).
  assert counts["asnet"] == 28_292_454
  assert counts["baseline"] == 22_248_289
  assert counts["baseline_wide"] == 28_519_009
  assert abs(counts["baseline_wide"] / counts["asnet"] - 1) < 0.02, counts


def test_input_size_must_be_a_multiple_of_32():
  with pytest.raises(ValueError, match="ASNet needs H and W divisible by 32; got 48x64"):
    abstract_params(ASNet(**TINY), 48, 64)


def test_pretrained_backbone_round_trips(tmp_path):
  model = ASNet(resnet_width=8)
  abstract = abstract_model_variables(model, 64)
  filled = _variables(model, np.zeros((1, 64, 64, 3), np.float32), train=False, seed=7)
  # A fake converted checkpoint made from the model's own backbone subtree.
  own = {
    f"{collection}/{'/'.join(path)}": np.asarray(leaf)
    for collection in ("params", "batch_stats")
    for path, leaf in flax.traverse_util.flatten_dict(filled[collection]["backbone"]).items()
  }
  path = tmp_path / "backbone.npz"
  np.savez(path, **own)
  merged, loaded = load_pretrained_backbone(abstract, path)
  assert len(loaded) == len(own)
  assert all(key.split("/")[1] == "backbone" for key in loaded)
  for collection in ("params", "batch_stats"):
    for key, leaf in flax.traverse_util.flatten_dict(merged[collection]).items():
      if key[0] == "backbone":
        np.testing.assert_array_equal(leaf, own[f"{collection}/{'/'.join(key[1:])}"])
      else:  # the decoder and ASM are untouched
        assert isinstance(leaf, jax.ShapeDtypeStruct), key

  # A converted torchvision ResNet34 of the same width fits the backbone exactly.
  converted = torchvision_to_flax(synthetic_torchvision_state_dict(34, width=8))
  _, loaded = load_pretrained_backbone(abstract, converted)
  assert len(loaded) == len(own)
  with pytest.raises(KeyError):  # a ResNet-18 checkpoint does not fit ResNet34
    load_pretrained_backbone(
      abstract, torchvision_to_flax(synthetic_torchvision_state_dict(18, width=8))
    )
