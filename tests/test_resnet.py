"""ResNet backbone: feature sizes, pinned parameter counts, torchvision conversion.

The torchvision parity tests run only where torch and torchvision are installed
(docs/papers.md, "Pretrained weights"); everything else builds
torchvision-shaped state dicts from the known layout with numpy.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg.models.convert_torchvision import infer_depth, torchvision_to_flax
from jaxseg.models.pretrained import load_pretrained_backbone
from jaxseg.models.resnet import ResNet, resolve_stage_dilations
from tests.model_testing import (
  count_parameters,
  synthetic_torchvision_state_dict,
  torchvision_parameter_count,
  torchvision_shapes,
)


def _init_shapes(model, size=64):
  """Output and variable shapes without compiling or running anything."""
  return jax.eval_shape(
    lambda: model.init_with_output(jax.random.key(0), jnp.zeros((1, size, size, 3)), train=False)
  )


# ResNet.


@pytest.mark.parametrize("depth", [18, 50])
@pytest.mark.parametrize(
  ("output_stride", "layer_dilations", "strides"),
  [
    (32, None, (2, 4, 8, 16, 32)),
    (16, None, (2, 4, 8, 16, 16)),
    (8, None, (2, 4, 8, 8, 8)),
    (8, (1, 1, 2, 2), (2, 4, 8, 8, 8)),  # CCA's f1..f4
  ],
)
def test_feature_sizes(depth, output_stride, layer_dilations, strides):
  model = ResNet(
    depth=depth, output_stride=output_stride, layer_dilations=layer_dilations, base_width=4
  )
  features, _ = _init_shapes(model)
  names = ("stem", "layer1", "layer2", "layer3", "layer4")
  assert set(features) == set(names)
  for name, stride in zip(names, strides, strict=True):
    assert features[name].shape == (1, 64 // stride, 64 // stride, model.feature_channels[name])


def test_feature_channels():
  assert ResNet(depth=34).feature_channels == {
    "stem": 64,
    "layer1": 64,
    "layer2": 128,
    "layer3": 256,
    "layer4": 512,
  }
  assert ResNet(depth=101).feature_channels["layer4"] == 2048


def test_stage_dilations():
  assert resolve_stage_dilations(32) == (1, 1, 1, 1)
  assert resolve_stage_dilations(16) == (1, 1, 1, 2)
  assert resolve_stage_dilations(8) == (1, 1, 2, 4)
  assert resolve_stage_dilations(8, (1, 1, 2, 2)) == (1, 1, 2, 2)
  with pytest.raises(ValueError, match="output stride 8, but output_stride=32"):
    resolve_stage_dilations(32, (1, 1, 2, 2))
  with pytest.raises(ValueError, match="one of"):
    resolve_stage_dilations(4)
  with pytest.raises(ValueError, match="depth must be one of"):
    _init_shapes(ResNet(depth=42, base_width=4))


def test_first_block_of_dilated_stage_uses_previous_dilation():
  """torchvision's `_make_layer`: block 0 of a dilated layer keeps the previous dilation."""
  model = ResNet(depth=50, output_stride=8, base_width=4)
  x = jnp.zeros((1, 64, 64, 3))
  dilations = {}

  def record(next_fun, args, kwargs, context):
    module = context.module
    if isinstance(module, nn.Conv) and tuple(module.kernel_size) == (3, 3):
      dilations["/".join(module.path[-2:])] = tuple(module.kernel_dilation)
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
  assert dilations["layer2_0/conv2"] == (1, 1)
  assert dilations["layer3_0/conv2"] == (1, 1)
  assert dilations["layer3_1/conv2"] == (2, 2)
  assert dilations["layer4_0/conv2"] == (2, 2)
  assert dilations["layer4_2/conv2"] == (4, 4)


@pytest.mark.parametrize(
  ("depth", "torchvision_total", "fc"),
  [
    (18, 11_689_512, 513_000),
    (34, 21_797_672, 513_000),
    (50, 25_557_032, 2_049_000),
    (101, 44_549_160, 2_049_000),
  ],
)
def test_parameter_counts_match_torchvision(depth, torchvision_total, fc):
  expected = torchvision_total - fc
  # The synthetic layout is torchvision's.
  assert torchvision_parameter_count(torchvision_shapes(depth)) == torchvision_total
  _, variables = _init_shapes(ResNet(depth=depth), size=32)
  assert count_parameters(variables["params"]) == expected
  _, dilated = _init_shapes(ResNet(depth=depth, output_stride=8), size=32)
  assert count_parameters(dilated["params"]) == expected


def test_bfloat16_forward():
  model = ResNet(depth=18, base_width=4, dtype=jnp.bfloat16)
  # One compiled program is faster here than a few hundred eagerly compiled ops.
  variables = jax.jit(model.init, static_argnames="train")(
    jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False
  )
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(variables))
  features, updates = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))(
    variables, jnp.ones((2, 32, 32, 3))
  )
  assert features["layer4"].dtype == jnp.bfloat16
  assert np.isfinite(np.asarray(features["layer4"], np.float32)).all()
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(updates))


# Conversion and loading.


def test_mapping_drops_fc_and_counters_and_transposes():
  state = synthetic_torchvision_state_dict(18, width=8)
  converted = torchvision_to_flax(state)
  assert int(converted.pop("meta/depth")) == 18
  assert not any("fc" in key or "num_batches" in key for key in converted)
  np.testing.assert_array_equal(
    converted["params/layer2_0/downsample_conv/kernel"],
    state["layer2.0.downsample.0.weight"].transpose(2, 3, 1, 0),
  )
  np.testing.assert_array_equal(
    converted["batch_stats/layer2_0/downsample_bn/var"], state["layer2.0.downsample.1.running_var"]
  )
  np.testing.assert_array_equal(converted["params/bn1/scale"], state["bn1.weight"])
  assert converted["params/conv1/kernel"].shape == (7, 7, 3, 8)


def test_mapping_errors():
  state = synthetic_torchvision_state_dict(18, width=4)
  assert infer_depth(state) == 18
  assert infer_depth(synthetic_torchvision_state_dict(50, width=4)) == 50
  with pytest.raises(ValueError, match="ResNet-18, but depth 34"):
    torchvision_to_flax(state, depth=34)
  with pytest.raises(KeyError, match="module.conv1.weight"):
    torchvision_to_flax({f"module.{k}": v for k, v in state.items()} | state)


class _Segmenter(nn.Module):
  """A stand-in for a model that holds its ResNet as `backbone`."""

  depth: int
  base_width: int

  @nn.compact
  def __call__(self, images, train: bool = False):
    features = ResNet(depth=self.depth, base_width=self.base_width, name="backbone")(images, train)
    return nn.Conv(1, (1, 1), name="head")(features["layer4"])


def _check_loaded(variables, converted, prefix):
  flat = {
    "/".join(str(p.key) for p in path): leaf
    for path, leaf in jax.tree_util.tree_leaves_with_path(variables)
  }
  for key, value in converted.items():
    collection, rest = key.split("/", 1)
    if collection == "meta":
      continue
    target = "/".join(filter(None, (collection, prefix, rest)))
    np.testing.assert_array_equal(np.asarray(flat[target]), value, err_msg=key)


def test_round_trip_full_resnet18_through_npz(tmp_path):
  state = synthetic_torchvision_state_dict(18)
  path = tmp_path / "resnet18.npz"
  np.savez(path, **torchvision_to_flax(state, depth=18))
  # Loading needs only the target shapes, so the full-size model stays abstract.
  _, target = _init_shapes(ResNet(depth=18), size=32)
  variables, loaded = load_pretrained_backbone(target, path, prefix="")
  assert len(loaded) == sum(
    not k.endswith("num_batches_tracked") and not k.startswith("fc.") for k in state
  )
  assert jax.tree.structure(variables) == jax.tree.structure(target)
  _check_loaded(variables, torchvision_to_flax(state), prefix="")
  np.testing.assert_array_equal(
    variables["params"]["layer4_1"]["conv2"]["kernel"],
    state["layer4.1.conv2.weight"].transpose(2, 3, 1, 0),
  )


def test_round_trip_into_model_backbone_and_errors():
  model = _Segmenter(depth=50, base_width=4)
  variables = jax.jit(model.init)(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  converted = torchvision_to_flax(synthetic_torchvision_state_dict(50, width=4))
  merged, loaded = load_pretrained_backbone(variables, converted)
  assert all(key.split("/")[1] == "backbone" for key in loaded)
  _check_loaded(merged, converted, prefix="backbone")
  np.testing.assert_array_equal(
    merged["params"]["head"]["kernel"], variables["params"]["head"]["kernel"]
  )
  assert np.isfinite(jax.jit(model.apply)(merged, jnp.ones((1, 32, 32, 3)))).all()

  # Width mismatch: full-size weights into a tiny backbone name the key and both shapes.
  full = torchvision_to_flax(synthetic_torchvision_state_dict(50, width=8))
  with pytest.raises(
    ValueError,
    match=r"'params/conv1/kernel' has shape \(7, 7, 3, 8\).*"
    r"'params/backbone/conv1/kernel' has shape \(7, 7, 3, 4\).*base_width",
  ):
    load_pretrained_backbone(variables, full)
  # Depth mismatch: keys differ.
  with pytest.raises(KeyError, match="ResNet-101 does not match"):
    load_pretrained_backbone(
      variables, torchvision_to_flax(synthetic_torchvision_state_dict(101, width=4))
    )
  with pytest.raises(KeyError, match="no backbone at prefix 'encoder'.*'backbone'"):
    load_pretrained_backbone(variables, converted, prefix="encoder")


# Parity with torchvision (runs only where torch and torchvision are installed).


def _randomise_batch_norm(torch_model, torch):
  """Random BN statistics and affine parameters, so eval-mode BN is not an identity.

  The BN closing each residual branch gets small scales, as in trained ResNets;
  otherwise random-init activations grow to hundreds by layer3 and float32
  rounding alone exceeds the absolute tolerance.
  """
  generator = torch.Generator().manual_seed(0)
  closing = {
    id(block.bn3 if hasattr(block, "bn3") else block.bn2)
    for layer in (torch_model.layer1, torch_model.layer2, torch_model.layer3, torch_model.layer4)
    for block in layer
  }
  for module in torch_model.modules():
    if isinstance(module, torch.nn.BatchNorm2d):
      channels = module.num_features
      scale = 0.2 if id(module) in closing else 1.0
      module.running_mean.copy_(0.1 * torch.randn(channels, generator=generator))
      module.running_var.copy_(0.5 + torch.rand(channels, generator=generator))
      module.weight.data.copy_(scale * (0.5 + torch.rand(channels, generator=generator)))
      module.bias.data.copy_(0.1 * torch.randn(channels, generator=generator))


def _torchvision_features(torch_model, images):
  x = torch_model.relu(torch_model.bn1(torch_model.conv1(images)))
  features = {"stem": x}
  x = torch_model.maxpool(x)
  for name in ("layer1", "layer2", "layer3", "layer4"):
    x = getattr(torch_model, name)(x)
    features[name] = x
  return {name: value.permute(0, 2, 3, 1).numpy() for name, value in features.items()}


@pytest.mark.parametrize(
  ("depth", "output_stride", "layer_dilations"),
  [(18, 32, None), (50, 32, None), (50, 8, None), (50, 8, (1, 1, 2, 2))],
)
def test_parity_with_torchvision(depth, output_stride, layer_dilations):
  torch = pytest.importorskip("torch")
  torchvision = pytest.importorskip("torchvision")
  torch.manual_seed(depth)
  dilate = [False, output_stride == 8, output_stride <= 16]
  torch_model = getattr(torchvision.models, f"resnet{depth}")(
    weights=None, replace_stride_with_dilation=dilate if depth >= 50 else None
  ).eval()
  if layer_dilations == (1, 1, 2, 2):
    # CCA's backbone has no torchvision switch: keep layer4 at dilation 2.
    for block in list(torch_model.layer4)[1:]:
      block.conv2.dilation, block.conv2.padding = (2, 2), (2, 2)
  with torch.no_grad():
    _randomise_batch_norm(torch_model, torch)
    # Odd sizes check that paddings and pooling windows line up with torchvision's.
    images = torch.randn(2, 3, 67, 53, generator=torch.Generator().manual_seed(1))
    expected = _torchvision_features(torch_model, images)
    state = {key: value.numpy() for key, value in torch_model.state_dict().items()}

  model = ResNet(depth=depth, output_stride=output_stride, layer_dilations=layer_dilations)
  target = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))
  variables, _ = load_pretrained_backbone(target, torchvision_to_flax(state, depth), prefix="")
  features = model.apply(variables, jnp.asarray(images.permute(0, 2, 3, 1).numpy()))
  for name, value in expected.items():
    ours = np.asarray(features[name])
    assert ours.shape == value.shape, name
    max_diff = float(np.abs(ours - value).max())
    print(
      f"resnet{depth} os{output_stride} {layer_dilations} {name}: max |diff| {max_diff:.2e}, "
      f"max |value| {np.abs(value).max():.2e}"
    )
    assert max_diff < 1e-4, (name, max_diff)


def test_command_line_converts_a_torch_checkpoint(tmp_path, capsys):
  torch = pytest.importorskip("torch")
  torchvision = pytest.importorskip("torchvision")
  from jaxseg.models import convert_torchvision

  torch_model = torchvision.models.resnet18(weights=None)
  checkpoint = tmp_path / "resnet18-test.pth"
  torch.save(torch_model.state_dict(), checkpoint)
  out = tmp_path / "resnet18_imagenet.npz"
  convert_torchvision.main(["--checkpoint", str(checkpoint), "--depth", "18", "--out", str(out)])
  assert "ResNet-18" in capsys.readouterr().out
  state = {key: value.numpy() for key, value in torch_model.state_dict().items()}
  with np.load(out) as archive:
    written = {key: archive[key] for key in archive.files}
  expected = torchvision_to_flax(state, depth=18)
  assert set(written) == set(expected)
  for key, value in expected.items():
    np.testing.assert_array_equal(written[key], value, err_msg=key)
  with pytest.raises(ValueError, match="ResNet-18, but depth 50"):
    convert_torchvision.main(["--checkpoint", str(checkpoint), "--depth", "50", "--out", str(out)])
