"""Converts a torchvision ResNet or VGG-16 checkpoint to a `.npz` the runtime loads without torch.

No weights are downloaded (docs/papers.md, "Pretrained weights"): the ImageNet
backbones come from a torchvision checkpoint the user already has. Convert it
once, on any machine with torch installed:

  python -m jaxseg.models.convert_torchvision \
    --checkpoint resnet50-0676ba61.pth --depth 50 --out resnet50_imagenet.npz
  python -m jaxseg.models.convert_torchvision \
    --checkpoint vgg16_bn-6c64b313.pth --arch vgg16_bn --out vgg16_bn_imagenet.npz
  python -m jaxseg.models.convert_torchvision \
    --checkpoint vgg16_bn-6c64b313.pth --arch vgg16_bn --fc6-fc7 --out vgg16_bn_fc_imagenet.npz

(`--depth N` is short for `--arch resnetN`) and point the model config's
`pretrained_backbone` at the `.npz`; `jaxseg.models.pretrained.
load_pretrained_backbone` merges it into a model's backbone. torch is imported
only by this command; `torchvision_to_flax` (ResNet) and `vgg_to_flax`, the
mappings themselves, take numpy arrays.

The `.npz` holds flat keys `params/<module path>/<name>` and
`batch_stats/<module path>/<name>` relative to the backbone module, plus
`meta/depth` (ResNet) or `meta/arch` (VGG). Conv weights go from torch's OIHW to
flax's HWIO; BN weight/bias become scale/bias params and the running mean/var
the batch_stats; `num_batches_tracked` is dropped.

ResNet (names: `jaxseg.models.resnet`): the classifier `fc.*` is dropped.

VGG-16 / VGG-16-BN (names: `jaxseg.models.vgg`): `features.N` map to
`stageS/convS_I` and `stageS/bnS_I`. The classifier is dropped (segnet), unless
`--fc6-fc7` (fcn8s): then, as FCN (Long et al. 2015) "convolutionalised" the
ImageNet VGG, the Linear `classifier.0` (25088 -> 4096, a flattened 512x7x7
input) becomes fc6's 7x7x512x4096 kernel and `classifier.3` fc7's 1x1x4096x4096
kernel; the 1000-class `classifier.6` is dropped. The FCN backbone has fc6/fc7
and the SegNet one has not, and loading is strict, so each needs its own file.
"""

import argparse
import re
from collections.abc import Mapping

import numpy as np

from jaxseg.models.resnet import STAGE_BLOCKS
from jaxseg.models.vgg import torchvision_feature_indices

META_DEPTH_KEY = "meta/depth"  # ResNet files
META_ARCH_KEY = "meta/arch"  # VGG files: "vgg16" or "vgg16_bn", "+fc6_fc7" when converted

_BN_FIELDS = {
  "weight": ("params", "scale"),
  "bias": ("params", "bias"),
  "running_mean": ("batch_stats", "mean"),
  "running_var": ("batch_stats", "var"),
}
# conv1 | bn1 | layer3.1.conv2 | layer3.0.downsample.0 | layer3.0.downsample.1, then the field.
_KEY_PATTERN = re.compile(
  r"^(?:(?P<block>layer[1-4]\.\d+)\.)?"
  r"(?P<layer>conv[1-3]|bn[1-3]|downsample\.[01])\."
  r"(?P<field>weight|bias|running_mean|running_var|num_batches_tracked)$"
)


def _flax_key(torch_key: str) -> tuple[str, str] | None:
  """(collection, path) for a torchvision key, or None for keys that carry no weights here."""
  if torch_key.startswith("fc.") or torch_key.endswith(".num_batches_tracked"):
    return None
  match = _KEY_PATTERN.match(torch_key)
  if match is None:
    raise KeyError(
      f"Unrecognised torchvision ResNet key {torch_key!r}. Expected keys like 'conv1.weight', "
      "'layer1.0.bn1.running_mean' or 'layer2.0.downsample.0.weight' from a plain "
      "torchvision resnet state_dict (strip wrappers such as a 'module.' prefix first)."
    )
  layer = {"downsample.0": "downsample_conv", "downsample.1": "downsample_bn"}.get(
    match["layer"], match["layer"]
  )
  is_conv = layer.startswith("conv") or layer == "downsample_conv"
  if is_conv:
    if match["field"] != "weight":
      raise KeyError(f"torchvision ResNet convolutions have no bias; unexpected key {torch_key!r}.")
    collection, name = "params", "kernel"
  else:
    collection, name = _BN_FIELDS[match["field"]]
  module = f"{match['block'].replace('.', '_')}/{layer}" if match["block"] else layer
  return collection, f"{module}/{name}"


def infer_depth(state_dict: Mapping[str, np.ndarray]) -> int:
  """The ResNet depth whose block counts and block type match a state dict's keys."""
  blocks = []
  for stage in range(1, 5):
    indices = {int(k.split(".")[1]) for k in state_dict if k.startswith(f"layer{stage}.")}
    blocks.append(len(indices))
  bottleneck = any(k.endswith(".conv3.weight") for k in state_dict)
  for depth, stage_blocks in STAGE_BLOCKS.items():
    if tuple(blocks) == stage_blocks and bottleneck == (depth >= 50):
      return depth
  raise ValueError(
    f"State dict has {blocks} blocks per stage ({'Bottleneck' if bottleneck else 'BasicBlock'}), "
    f"which is none of ResNet-{sorted(STAGE_BLOCKS)}."
  )


def torchvision_to_flax(
  state_dict: Mapping[str, np.ndarray], depth: int | None = None
) -> dict[str, np.ndarray]:
  """Maps a torchvision ResNet state dict {torch_key: array} to flat flax keys.

  Args:
    state_dict: torchvision key -> numpy array (e.g. `{k: v.numpy() for k, v in
      torch.load(...).items()}`).
    depth: the depth the caller expects; a checkpoint of another depth is an
      error. None accepts whatever depth the keys describe.

  Returns:
    {"params/conv1/kernel": HWIO array, "batch_stats/bn1/mean": ..., ...,
    "meta/depth": int array}, float32, relative to the ResNet module.
  """
  found_depth = infer_depth(state_dict)
  if depth is not None and depth != found_depth:
    raise ValueError(
      f"Checkpoint is a ResNet-{found_depth}, but depth {depth} was asked for; "
      f"pass --depth {found_depth} or the matching checkpoint."
    )
  converted = {}
  for torch_key, value in state_dict.items():
    target = _flax_key(torch_key)
    if target is None:
      continue
    collection, path = target
    value = np.asarray(value, dtype=np.float32)
    if path.endswith("/kernel"):
      if value.ndim != 4:
        raise ValueError(f"{torch_key!r}: expected a 4-D OIHW conv weight, got {value.shape}.")
      value = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    converted[f"{collection}/{path}"] = value
  converted[META_DEPTH_KEY] = np.asarray(found_depth, dtype=np.int32)
  return converted


# VGG-16 / VGG-16-BN.

VGG_ARCHS = ("vgg16", "vgg16_bn")
# classifier index -> (FCN layer, kernel size): the hidden Linear layers; .6 is the 1000 classes.
_FCN_CLASSIFIER_LAYERS = {"0": ("fc6", 7), "3": ("fc7", 1)}


def infer_vgg_arch(state_dict: Mapping[str, np.ndarray]) -> str:
  """Which torchvision VGG-16 ("vgg16" or "vgg16_bn") a state dict's `features.*` keys describe."""
  indices = {int(key.split(".")[1]) for key in state_dict if key.startswith("features.")}
  has_batch_norm = any(
    key.startswith("features.") and key.endswith(".running_mean") for key in state_dict
  )
  arch = "vgg16_bn" if has_batch_norm else "vgg16"
  expected = set(torchvision_feature_indices(has_batch_norm).values())
  if indices != expected:
    raise ValueError(
      f"State dict's 'features.N' layers {sorted(indices)} are not torchvision {arch}'s "
      f"{sorted(expected)}. Only VGG-16 (cfg 'D', with or without BN) is supported; strip "
      "wrappers such as a 'module.' prefix first."
    )
  return arch


def vgg_to_flax(
  state_dict: Mapping[str, np.ndarray], arch: str | None = None, fc6_fc7: bool = False
) -> dict[str, np.ndarray]:
  """Maps a torchvision vgg16 / vgg16_bn state dict {torch_key: array} to flat flax keys.

  Args:
    state_dict: torchvision key -> numpy array.
    arch: "vgg16" or "vgg16_bn", the architecture the caller expects; another
      is an error. None accepts whichever the keys describe.
    fc6_fc7: also convert `classifier.0` / `classifier.3` into FCN's fc6 (7x7)
      and fc7 (1x1) convolution kernels (`jaxseg.models.vgg.VGG` with
      `fc_width`); otherwise the classifier is dropped.

  Returns:
    {"params/stage1/conv1_1/kernel": HWIO array, ..., "meta/arch": str array},
    float32, relative to the VGG module.
  """
  found = infer_vgg_arch(state_dict)
  if arch is not None and arch != found:
    raise ValueError(
      f"Checkpoint is a {found}, but {arch} was asked for; pass --arch {found} or the "
      "matching checkpoint."
    )
  modules = {
    index: name for name, index in torchvision_feature_indices(found == "vgg16_bn").items()
  }
  converted = {}
  for torch_key, value in state_dict.items():
    parts = torch_key.split(".")
    if len(parts) != 3 or parts[0] not in ("features", "classifier"):
      raise KeyError(
        f"Unrecognised torchvision VGG key {torch_key!r}. Expected keys like "
        "'features.0.weight' or 'classifier.0.bias' from a plain torchvision vgg16(_bn) "
        "state_dict (strip wrappers such as a 'module.' prefix first)."
      )
    group, index, field = parts
    if field == "num_batches_tracked":
      continue
    value = np.asarray(value, dtype=np.float32)
    if group == "features":
      module = modules[int(index)]
      if "/bn" in module:
        collection, name = _BN_FIELDS[field]
      else:
        collection, name = "params", {"weight": "kernel", "bias": "bias"}[field]
        if name == "kernel":
          value = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    else:
      if not fc6_fc7 or index not in _FCN_CLASSIFIER_LAYERS:
        continue
      module, kernel = _FCN_CLASSIFIER_LAYERS[index]
      collection, name = "params", {"weight": "kernel", "bias": "bias"}[field]
      if name == "kernel":
        # Linear (out, in) with in = C * k * k flattened from NCHW: an OIHW kernel.
        out_features, in_features = value.shape
        if in_features % (kernel * kernel):
          raise ValueError(
            f"{torch_key!r} has {in_features} inputs, not a multiple of {kernel}x{kernel}."
          )
        value = value.reshape(out_features, -1, kernel, kernel).transpose(2, 3, 1, 0)
    converted[f"{collection}/{module}/{name}"] = value
  converted[META_ARCH_KEY] = np.asarray(found + ("+fc6_fc7" if fc6_fc7 else ""))
  return converted


def describe_source(arrays: Mapping[str, np.ndarray]) -> str:
  """'ResNet-50', 'vgg16_bn' etc. from a converted file's meta keys, for messages."""
  if META_DEPTH_KEY in arrays:
    return f"ResNet-{int(arrays[META_DEPTH_KEY])}"
  if META_ARCH_KEY in arrays:
    return str(arrays[META_ARCH_KEY])
  return "the checkpoint"


def _load_torch_state_dict(path: str) -> dict[str, np.ndarray]:
  try:
    import torch  # Only the one-time conversion needs torch.
  except ImportError as error:
    raise SystemExit(
      "Converting a .pth checkpoint needs torch (`pip install torch`), on any machine; "
      "the .npz it writes then loads here without torch."
    ) from error

  checkpoint = torch.load(path, map_location="cpu", weights_only=True)
  # Training scripts often save {"state_dict": ...} or {"model": ...}; torchvision's
  # published files are the bare state dict.
  for wrapper in ("state_dict", "model"):
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get(wrapper), dict):
      checkpoint = checkpoint[wrapper]
  return {key: value.detach().cpu().numpy() for key, value in checkpoint.items()}


RESNET_ARCHS = {f"resnet{depth}": depth for depth in STAGE_BLOCKS}


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--checkpoint", required=True, help="torchvision resnet*/vgg16*.pth file")
  parser.add_argument(
    "--arch", choices=[*RESNET_ARCHS, *VGG_ARCHS], help="the checkpoint's architecture"
  )
  parser.add_argument(
    "--depth", type=int, choices=sorted(STAGE_BLOCKS), help="ResNet depth (same as --arch resnetN)"
  )
  parser.add_argument(
    "--fc6-fc7",
    action="store_true",
    help="VGG only: also convert classifier.0/.3 into FCN's fc6/fc7 convolutions (for fcn8s, "
    "not segnet)",
  )
  parser.add_argument("--out", required=True, help="output .npz path")
  args = parser.parse_args(argv)

  arch = args.arch
  if args.depth is not None:
    if arch is not None and arch != f"resnet{args.depth}":
      parser.error(f"--depth {args.depth} contradicts --arch {arch}; give one of them.")
    arch = f"resnet{args.depth}"
  if arch is None:
    parser.error(f"give --arch (one of {[*RESNET_ARCHS, *VGG_ARCHS]}) or --depth for a ResNet.")
  if args.fc6_fc7 and arch not in VGG_ARCHS:
    parser.error(f"--fc6-fc7 applies to VGG checkpoints only, not {arch}.")

  state_dict = _load_torch_state_dict(args.checkpoint)
  if arch in VGG_ARCHS:
    converted = vgg_to_flax(state_dict, arch=arch, fc6_fc7=args.fc6_fc7)
    described = converted[META_ARCH_KEY]
  else:
    converted = torchvision_to_flax(state_dict, depth=RESNET_ARCHS[arch])
    described = f"ResNet-{RESNET_ARCHS[arch]}"
  # np.savez appends ".npz" to other names; say the name it really writes.
  out = args.out if args.out.endswith(".npz") else args.out + ".npz"
  np.savez(out, **converted)
  arrays = {k: v for k, v in converted.items() if not k.startswith("meta/")}
  num_values = sum(v.size for v in arrays.values())
  print(
    f"Wrote {out}: {described}, {len(arrays)} arrays, "
    f"{num_values:,} values (params and BN running statistics)."
  )


if __name__ == "__main__":
  main()
