"""Converts a torchvision ResNet checkpoint to a `.npz` the runtime loads without torch.

No weights are downloaded (docs/papers.md, "Pretrained weights"): the ImageNet ResNets come from a
torchvision checkpoint the user already has. Convert it once, on any machine
with torch installed:

  python -m jaxseg.models.convert_torchvision \
    --checkpoint resnet50-0676ba61.pth --depth 50 --out resnet50_imagenet.npz

and point the model config at the `.npz`; `jaxseg.models.pretrained.
load_pretrained_resnet` merges it into a model's backbone. torch is imported
only by this command; `torchvision_to_flax`, the mapping itself, takes numpy
arrays.

The `.npz` holds flat keys `params/<module path>/<name>` and
`batch_stats/<module path>/<name>` relative to the ResNet module (see
`jaxseg.models.resnet` for the naming), plus `meta/depth`. Conv weights go from
torch's OIHW to flax's HWIO; BN weight/bias become scale/bias params and the
running mean/var the batch_stats; `fc.*` (the classifier) and
`num_batches_tracked` are dropped.
"""

import argparse
import re
from collections.abc import Mapping

import numpy as np

from jaxseg.models.resnet import STAGE_BLOCKS

META_DEPTH_KEY = "meta/depth"

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


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--checkpoint", required=True, help="torchvision resnet*.pth file")
  parser.add_argument("--depth", type=int, required=True, choices=sorted(STAGE_BLOCKS))
  parser.add_argument("--out", required=True, help="output .npz path")
  args = parser.parse_args(argv)

  converted = torchvision_to_flax(_load_torch_state_dict(args.checkpoint), depth=args.depth)
  # np.savez appends ".npz" to other names; say the name it really writes.
  out = args.out if args.out.endswith(".npz") else args.out + ".npz"
  np.savez(out, **converted)
  num_values = sum(v.size for k, v in converted.items() if k != META_DEPTH_KEY)
  print(
    f"Wrote {out}: ResNet-{args.depth}, {len(converted) - 1} arrays, "
    f"{num_values:,} values (params and BN running statistics)."
  )


if __name__ == "__main__":
  main()
