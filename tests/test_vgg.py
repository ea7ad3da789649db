"""VGG-16(-BN) encoder: feature sizes, pinned parameter counts, pooling indices, conversion.

The torchvision parity tests run only where torch and torchvision are installed
(docs/papers.md, "Pretrained weights"); everything else builds
torchvision-shaped state dicts from the known layout with numpy.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg.models.convert_torchvision import infer_vgg_arch, vgg_to_flax
from jaxseg.models.fcn8s import FCN8s
from jaxseg.models.pretrained import load_pretrained_backbone
from jaxseg.models.segnet import SegNet
from jaxseg.models.vgg import VGG, max_pool_2x2_argmax, max_unpool_2x2
from tests.model_testing import (
  abstract_model_variables,
  count_parameters,
  synthetic_state_dict,
  torchvision_parameter_count,
)

# torchvision's cfg "D" written out (not imported), so the synthetic state dicts
# check the model against torchvision's layout rather than against itself.
# Convolution widths per stage; a max pool follows each stage.
TORCHVISION_VGG16 = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def torchvision_vgg_shapes(batch_norm: bool, width: int = 64, fc: int = 4096):
  """torchvision's vgg16(_bn) state-dict keys and shapes at `width` / 64 of its widths."""
  shapes, index, in_channels = {}, 0, 3
  for entry in [w for stage in TORCHVISION_VGG16 for w in (*stage, "M")]:
    if entry == "M":
      index += 1
      continue
    out = entry * width // 64
    shapes[f"features.{index}.weight"] = (out, in_channels, 3, 3)
    shapes[f"features.{index}.bias"] = (out,)
    if batch_norm:
      for field in ("weight", "bias", "running_mean", "running_var"):
        shapes[f"features.{index + 1}.{field}"] = (out,)
      shapes[f"features.{index + 1}.num_batches_tracked"] = ()
    index += 3 if batch_norm else 2
    in_channels = out
  for layer, (out, inputs) in {
    0: (fc, in_channels * 49),
    3: (fc, fc),
    6: (1000, fc),
  }.items():
    shapes[f"classifier.{layer}.weight"] = (out, inputs)
    shapes[f"classifier.{layer}.bias"] = (out,)
  return shapes


def synthetic_vgg_state_dict(batch_norm: bool, width: int = 64, fc: int = 4096, seed: int = 0):
  return synthetic_state_dict(torchvision_vgg_shapes(batch_norm, width, fc), seed)


def test_feature_sizes():
  model = VGG(base_width=4, fc_width=8)
  features = jax.eval_shape(
    lambda: model.init_with_output(jax.random.key(0), jnp.zeros((1, 64, 96, 3)))[0]
  )
  assert set(features) == set(model.feature_channels)
  for stage in range(1, 6):
    channels = model.feature_channels[f"conv{stage}"]
    size = (64 // 2 ** (stage - 1), 96 // 2 ** (stage - 1))
    assert features[f"conv{stage}"].shape == (1, *size, channels)
    assert features[f"pool{stage}"].shape == (1, size[0] // 2, size[1] // 2, channels)
  assert features["fc7"].shape == (1, 2, 3, 8)
  assert model.feature_channels["pool5"] == 32 and VGG().feature_channels["pool3"] == 256


@pytest.mark.parametrize(
  ("batch_norm", "torchvision_total"), [(False, 138_357_544), (True, 138_365_992)]
)
def test_parameter_counts_match_torchvision(batch_norm, torchvision_total):
  shapes = torchvision_vgg_shapes(batch_norm)
  # The synthetic layout is torchvision's.
  assert torchvision_parameter_count(shapes) == torchvision_total
  classifier = sum(int(np.prod(s)) for k, s in shapes.items() if k.startswith("classifier."))
  last_layer = 1000 * 4096 + 1000
  with_fc = abstract_model_variables(VGG(batch_norm=batch_norm, fc_width=4096))
  assert count_parameters(with_fc["params"]) == torchvision_total - last_layer
  features_only = abstract_model_variables(VGG(batch_norm=batch_norm))
  assert count_parameters(features_only["params"]) == torchvision_total - classifier


def test_pooling_mask_and_unpooling():
  # Ties (the zero window) go to the first position, as PyTorch's indices.
  x = np.array([[1, 3, 0, 0], [2, 3, 0, 0], [5, 1, 7, 8], [1, 6, 9, 2]], np.float32)
  x = jnp.asarray(x)[None, :, :, None]
  pooled, mask = max_pool_2x2_argmax(x)
  np.testing.assert_array_equal(pooled[0, :, :, 0], [[3, 0], [6, 9]])
  np.testing.assert_array_equal(
    mask[0, :, :, 0], [[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 1, 0]]
  )
  np.testing.assert_array_equal(pooled, nn.max_pool(x, (2, 2), strides=(2, 2)))
  unpooled = max_unpool_2x2(jnp.asarray([[10.0, 20.0], [30.0, 40.0]])[None, :, :, None], mask)
  np.testing.assert_array_equal(
    unpooled[0, :, :, 0], [[0, 10, 20, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 30, 40, 0]]
  )

  torch = pytest.importorskip("torch")
  values = np.random.default_rng(0).integers(0, 3, (2, 4, 8, 6)).astype(np.float32)  # many ties
  updates = np.random.default_rng(1).standard_normal((2, 2, 4, 6)).astype(np.float32)
  nchw = torch.from_numpy(values.transpose(0, 3, 1, 2))
  torch_pooled, indices = torch.nn.functional.max_pool2d(nchw, 2, 2, return_indices=True)
  expected = torch.nn.functional.max_unpool2d(
    torch.from_numpy(updates.transpose(0, 3, 1, 2)), indices, 2, 2, output_size=nchw.shape[2:]
  )
  ours_pooled, ours_mask = max_pool_2x2_argmax(jnp.asarray(values))
  np.testing.assert_array_equal(ours_pooled, torch_pooled.numpy().transpose(0, 2, 3, 1))
  np.testing.assert_array_equal(
    max_unpool_2x2(jnp.asarray(updates), ours_mask), expected.numpy().transpose(0, 2, 3, 1)
  )


def test_mapping_and_fc_convolutionalisation():
  state = synthetic_vgg_state_dict(batch_norm=True, width=8, fc=16)
  assert infer_vgg_arch(state) == "vgg16_bn"
  assert infer_vgg_arch(synthetic_vgg_state_dict(batch_norm=False, width=8)) == "vgg16"
  features_only = vgg_to_flax(state)
  assert str(features_only.pop("meta/arch")) == "vgg16_bn"
  assert not any("fc" in key or "num_batches" in key for key in features_only)
  np.testing.assert_array_equal(
    features_only["params/stage5/conv5_3/kernel"], state["features.40.weight"].transpose(2, 3, 1, 0)
  )
  np.testing.assert_array_equal(
    features_only["params/stage3/bn3_1/scale"], state["features.15.weight"]
  )
  np.testing.assert_array_equal(
    features_only["batch_stats/stage1/bn1_2/var"], state["features.4.running_var"]
  )
  plain = vgg_to_flax(synthetic_vgg_state_dict(batch_norm=False, width=8), arch="vgg16")
  assert "params/stage5/conv5_3/bias" in plain and not any("batch_stats" in k for k in plain)

  converted = vgg_to_flax(state, fc6_fc7=True)
  assert str(converted["meta/arch"]) == "vgg16_bn+fc6_fc7"
  fc6, fc7 = converted["params/fc6/kernel"], converted["params/fc7/kernel"]
  assert fc6.shape == (7, 7, 64, 16) and fc7.shape == (1, 1, 16, 16)
  # fc6 on a 7x7 map (the 224-pixel case) is torchvision's Linear on its NCHW flattening.
  pool5 = np.random.default_rng(2).standard_normal((64, 7, 7)).astype(np.float32)
  np.testing.assert_allclose(
    np.einsum("hwc,hwco->o", pool5.transpose(1, 2, 0), fc6),
    state["classifier.0.weight"] @ pool5.reshape(-1),
    rtol=1e-4,
    atol=1e-3,
  )
  np.testing.assert_array_equal(fc7[0, 0], state["classifier.3.weight"].T)

  with pytest.raises(ValueError, match="is a vgg16_bn, but vgg16 was asked for"):
    vgg_to_flax(state, arch="vgg16")
  with pytest.raises(ValueError, match="not torchvision vgg16_bn"):  # e.g. a VGG-19
    vgg_to_flax(state | {"features.46.weight": np.zeros((8, 8, 3, 3), np.float32)})
  with pytest.raises(KeyError, match="'module.features.0.weight'"):
    vgg_to_flax({f"module.{k}": v for k, v in state.items()} | state)
  with pytest.raises(KeyError, match="'head.0.weight'"):
    vgg_to_flax(state | {"head.0.weight": np.zeros(1)})


def test_loads_into_segnet_and_fcn8s_backbones():
  segnet = abstract_model_variables(SegNet(base_width=8))
  state = synthetic_vgg_state_dict(batch_norm=True, width=8, fc=16)
  merged, loaded = load_pretrained_backbone(segnet, vgg_to_flax(state))
  assert len(loaded) == sum(len(jax.tree.leaves(segnet[c]["backbone"])) for c in segnet)
  np.testing.assert_array_equal(
    merged["params"]["backbone"]["stage2"]["conv2_1"]["kernel"],
    state["features.7.weight"].transpose(2, 3, 1, 0),
  )
  assert isinstance(merged["params"]["classifier"]["kernel"], jax.ShapeDtypeStruct)

  fcn = abstract_model_variables(FCN8s(base_width=8, fc_width=16))
  _, loaded = load_pretrained_backbone(fcn, vgg_to_flax(state, fc6_fc7=True))
  assert "params/backbone/fc6/kernel" in loaded
  with pytest.raises(KeyError, match=r"vgg16_bn does not match.*--fc6-fc7"):
    load_pretrained_backbone(fcn, vgg_to_flax(state))
  with pytest.raises(KeyError, match="vgg16_bn\\+fc6_fc7 does not match"):
    load_pretrained_backbone(segnet, vgg_to_flax(state, fc6_fc7=True))


def test_command_line_converts_a_vgg_checkpoint(tmp_path, capsys):
  torch = pytest.importorskip("torch")
  from jaxseg.models import convert_torchvision

  state = synthetic_vgg_state_dict(batch_norm=True, width=4, fc=8)
  checkpoint = tmp_path / "vgg16_bn-small.pth"
  torch.save({key: torch.from_numpy(np.asarray(value)) for key, value in state.items()}, checkpoint)
  out = tmp_path / "vgg.npz"
  convert_torchvision.main(
    ["--checkpoint", str(checkpoint), "--arch", "vgg16_bn", "--fc6-fc7", "--out", str(out)]
  )
  assert "vgg16_bn+fc6_fc7" in capsys.readouterr().out
  with np.load(out) as archive:
    written = {key: archive[key] for key in archive.files}
  expected = vgg_to_flax(state, fc6_fc7=True)
  assert set(written) == set(expected)
  for key, value in expected.items():
    np.testing.assert_array_equal(written[key], value, err_msg=key)
  with pytest.raises(ValueError, match="is a vgg16_bn, but vgg16 was asked for"):
    convert_torchvision.main(
      ["--checkpoint", str(checkpoint), "--arch", "vgg16", "--out", str(out)]
    )
  for args, message in [
    ([], "give --arch"),
    (["--depth", "18", "--fc6-fc7"], "--fc6-fc7 applies to VGG checkpoints only"),
    (["--depth", "18", "--arch", "vgg16"], "--depth 18 contradicts --arch vgg16"),
  ]:
    with pytest.raises(SystemExit):
      convert_torchvision.main(["--checkpoint", str(checkpoint), "--out", str(out), *args])
    assert message in capsys.readouterr().err


# Parity with torchvision (runs only where torch and torchvision are installed).


@pytest.mark.parametrize("arch", ["vgg16", "vgg16_bn"])
def test_parity_with_torchvision(arch):
  torch = pytest.importorskip("torch")
  torchvision = pytest.importorskip("torchvision")
  torch.manual_seed(0)
  torch_model = getattr(torchvision.models, arch)(weights=None).eval()
  generator = torch.Generator().manual_seed(0)
  with torch.no_grad():
    # Random BN statistics and affine parameters, so eval-mode BN is not an identity.
    for module in torch_model.modules():
      if isinstance(module, torch.nn.BatchNorm2d):
        channels = module.num_features
        module.running_mean.copy_(0.1 * torch.randn(channels, generator=generator))
        module.running_var.copy_(0.5 + torch.rand(channels, generator=generator))
        module.weight.data.copy_(0.5 + torch.rand(channels, generator=generator))
        module.bias.data.copy_(0.1 * torch.randn(channels, generator=generator))
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    expected, x, stage = {}, images, 1
    for layer in torch_model.features:
      if isinstance(layer, torch.nn.MaxPool2d):
        expected[f"conv{stage}"] = x.permute(0, 2, 3, 1).numpy()
      x = layer(x)
      if isinstance(layer, torch.nn.MaxPool2d):
        expected[f"pool{stage}"] = x.permute(0, 2, 3, 1).numpy()
        stage += 1
    state = {key: value.numpy() for key, value in torch_model.state_dict().items()}

  model = VGG(batch_norm=arch == "vgg16_bn")
  target = abstract_model_variables(model)
  variables, _ = load_pretrained_backbone(target, vgg_to_flax(state, arch), prefix="")
  features = jax.jit(model.apply)(variables, jnp.asarray(images.permute(0, 2, 3, 1).numpy()))
  for name, value in expected.items():
    ours = np.asarray(features[name])
    assert ours.shape == value.shape, name
    max_diff = float(np.abs(ours - value).max())
    scale = float(np.abs(value).max())
    print(f"{arch} {name}: max |diff| {max_diff:.2e}, max |value| {scale:.2e}")
    assert max_diff < 1e-5 * max(1.0, scale), (name, max_diff, scale)
