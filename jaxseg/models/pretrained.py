"""Loads converted ImageNet backbone weights (ResNet, VGG-16) into a model's backbone.

Where the weights come from: docs/papers.md, "Pretrained weights".

Make the `.npz` once from a torchvision checkpoint (needs torch, only then):

  python -m jaxseg.models.convert_torchvision \
    --checkpoint resnet50-0676ba61.pth --depth 50 --out resnet50_imagenet.npz

(VGG-16: `--arch vgg16_bn`, plus `--fc6-fc7` for fcn8s; see that module), then,
after `model.init`:

  variables, loaded = load_pretrained_backbone(variables, "resnet50_imagenet.npz")

The default prefix is the backbone name of the model contract
(`jaxseg.models.registry`); a bare `ResNet` or `VGG` uses `prefix=""`. Loading
is strict: every array in the file must land on a backbone variable of the same
shape and every backbone variable must be covered, so a depth, architecture or
width mismatch is an error rather than a half-initialised network. The
mapping is by prefix only, so one loader serves every backbone.
"""

import os
from collections.abc import Mapping
from typing import Any

import flax
import jax.numpy as jnp
import numpy as np
from absl import logging
from flax import traverse_util

from jaxseg.models.convert_torchvision import describe_source

_COLLECTIONS = ("params", "batch_stats")


def _read_weights(weights: str | os.PathLike | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  if isinstance(weights, Mapping):
    return dict(weights)
  with np.load(weights) as archive:
    return {key: archive[key] for key in archive.files}


def load_pretrained_backbone(
  variables: Mapping[str, Any],
  weights: str | os.PathLike | Mapping[str, np.ndarray],
  prefix: str = "backbone",
) -> tuple[Any, list[str]]:
  """Merges converted backbone weights (ResNet or VGG) into the `prefix` subtree of `variables`.

  Args:
    variables: a model's variables ({"params": ..., "batch_stats": ...}).
    weights: a `.npz` path written by `jaxseg.models.convert_torchvision`, or
      the dict `torchvision_to_flax` or `vgg_to_flax` returns.
    prefix: '/'-separated path of the backbone module inside the model ("" when
      `variables` are a bare ResNet's or VGG's).

  Returns:
    (new variables of the input's container type, the sorted '/'-joined keys
    that were replaced). The input is not modified.

  Raises:
    KeyError: the model has no such backbone, or the keys differ.
    ValueError: an array's shape differs from the model's.
  """
  arrays = _read_weights(weights)
  source = describe_source(arrays)
  arrays = {key: value for key, value in arrays.items() if not key.startswith("meta/")}
  frozen = isinstance(variables, flax.core.FrozenDict)
  flat = traverse_util.flatten_dict(flax.core.unfreeze(variables), sep="/")

  module_prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
  backbone_keys = {
    key
    for key in flat
    if key.split("/", 1)[0] in _COLLECTIONS and key.split("/", 1)[1].startswith(module_prefix)
  }
  if not backbone_keys:
    top_level = sorted({key.split("/")[1] for key in flat if key.startswith("params/")})
    raise KeyError(
      f"The model's variables have no backbone at prefix {prefix!r}; its top-level modules are "
      f"{top_level}. Pass prefix= the backbone submodule's name ('' for a bare backbone)."
    )

  def target_key(key: str) -> str:
    collection, path = key.split("/", 1)
    return f"{collection}/{module_prefix}{path}"

  targets = {target_key(key): key for key in arrays}
  unexpected = sorted(key for target, key in targets.items() if target not in backbone_keys)
  missing = sorted(backbone_keys - set(targets))
  if unexpected or missing:
    raise KeyError(
      f"Pretrained {source} does not match the model's backbone at prefix {prefix!r}: "
      f"{len(unexpected)} file keys have no model variable (first: {unexpected[:3]}), "
      f"{len(missing)} backbone variables are not in the file (first: {missing[:3]}). "
      "Build the backbone with the checkpoint's depth or architecture, or convert the "
      "checkpoint matching the configured one (VGG: fcn8s needs --fc6-fc7, segnet not)."
    )

  for target, key in targets.items():
    expected = flat[target]
    if tuple(arrays[key].shape) != tuple(expected.shape):
      raise ValueError(
        f"Pretrained {source} array {key!r} has shape {tuple(arrays[key].shape)}, but the "
        f"model's {target!r} has shape {tuple(expected.shape)}. ImageNet weights need a "
        "torchvision-layout backbone of the same depth or architecture with base_width=64; "
        "fix the model's depth/base_width or convert the matching checkpoint."
      )
    flat[target] = jnp.asarray(arrays[key], dtype=expected.dtype)

  logging.info("Loaded %d pretrained %s arrays into %r.", len(targets), source, prefix or "/")
  merged = traverse_util.unflatten_dict(flat, sep="/")
  return (flax.core.freeze(merged) if frozen else merged), sorted(targets)


__all__ = ["load_pretrained_backbone"]
