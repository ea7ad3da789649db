"""Protocol splits that are not official, as id lists (docs/papers.md, "Datasets and splits").

Seeded and deterministic: ids are sorted before the seeded permutation, so the
split depends only on the set of ids and the seed, never on storage order.

  ISIC 2016 train 700 / validation 200 (ulffn)   holdout(ids, num_train=700)
  ISIC 2018 random 80 / 20 (cca)                 holdout(ids, train_fraction=0.8)
  ISIC 2018 2000 / 594 (rmsm)                    holdout(ids, num_train=2000)
  5-fold cross-validation (cdnn, asnet)          kfold(ids, num_folds=5)[fold]

Configs name them as splits: `dataset.train_split = "protocol:train"` and an
evaluator's `split = "protocol:heldout"` subset `dataset.protocol.source_split`.
"""

import os
from collections.abc import Sequence

import numpy as np
import tensorflow_datasets as tfds

from jaxseg import atomic_files, run_layout
from jaxseg.data import datasets, transforms
from jaxseg.errors import ConfigError

PROTOCOL_PREFIX = "protocol:"
PARTS = ("train", "heldout")


def _permuted(ids: Sequence[str], seed: int) -> list[str]:
  ids = sorted(ids)
  if len(set(ids)) != len(ids):
    raise ValueError("Protocol splits need unique ids.")
  return [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]


def holdout(ids, *, num_train: int = 0, train_fraction: float = 0.0, seed: int = 0) -> dict:
  """{"train": ids, "heldout": ids}: `num_train` ids, or round(fraction * n), for training."""
  if bool(num_train) == bool(train_fraction):
    raise ConfigError("Give exactly one of num_train and train_fraction.")
  count = num_train or round(train_fraction * len(ids))
  if not 0 < count < len(ids):
    raise ConfigError(f"Cannot hold out with {count} training ids out of {len(ids)}.")
  order = _permuted(ids, seed)
  return {"train": sorted(order[:count]), "heldout": sorted(order[count:])}


def kfold(ids, *, num_folds: int, seed: int = 0) -> list[dict]:
  """k folds of near-equal size; fold f holds out its part and trains on the rest."""
  if not 2 <= num_folds <= len(ids):
    raise ConfigError(f"Cannot make {num_folds} folds of {len(ids)} ids.")
  parts = np.array_split(np.array(_permuted(ids, seed), dtype=object), num_folds)
  return [
    {
      "train": sorted(str(i) for j, p in enumerate(parts) if j != fold for i in p),
      "heldout": sorted(str(i) for i in parts[fold]),
    }
    for fold in range(num_folds)
  ]


def protocol_ids(all_ids, protocol) -> dict:
  """The protocol config (`dataset.protocol`) applied to the source split's ids."""
  if protocol.name == "holdout":
    return holdout(
      all_ids,
      num_train=protocol.num_train,
      train_fraction=protocol.train_fraction,
      seed=protocol.seed,
    )
  if protocol.name == "kfold":
    if not 0 <= protocol.fold < protocol.num_folds:
      raise ConfigError(f"fold {protocol.fold} is not in [0, {protocol.num_folds}).")
    return kfold(all_ids, num_folds=protocol.num_folds, seed=protocol.seed)[protocol.fold]
  raise ConfigError(
    f"Unknown protocol {protocol.name!r}; choose holdout or kfold (config key dataset.protocol)."
  )


class Subset:
  """Random-access view of the examples of `source` at `indices`."""

  def __init__(self, source, indices: Sequence[int]):
    self._source, self.indices = source, list(indices)
    self.dataset_info = getattr(source, "dataset_info", None)

  def __len__(self):
    return len(self.indices)

  def __getitem__(self, index):
    return self._source[self.indices[index]]


def _ids_of(dataset_config, split: str) -> list[str]:
  """Ids in storage order, read without decoding any image."""
  skip = {"image": tfds.decode.SkipDecoding(), "mask": tfds.decode.SkipDecoding()}
  source = _open_official(dataset_config, split, decoders=skip)
  return [transforms.id_text(source[i]["id"]) for i in range(len(source))]


def source_ids(dataset_config) -> list[str]:
  """Ids of `dataset.protocol.source_split`, the ids its protocol splits divide."""
  return _ids_of(dataset_config, dataset_config.protocol.source_split)


def _open_official(dataset_config, split: str, decoders=None, with_original_mask=False):
  return datasets.open_data_source(
    dataset_config.name,
    split,
    dataset_config.builder_config,
    dataset_config.data_dir,
    decoders=decoders,
    manual_dir=dataset_config.manual_dir,
    with_original_mask=with_original_mask,
    # Keys added after configs were first written (a run's saved config.json may lack them).
    folder=dataset_config.get("folder", ""),
    mask_suffix=dataset_config.get("mask_suffix"),
    allow_count_mismatch=dataset_config.get("allow_count_mismatch", False),
  )


def open_train_split(dataset_config, workdir: str | None = None):
  """`dataset.train_split`, cut to `dataset.train_size` examples when that is > 0.

  The kept ids are the first `train_size` of the seeded permutation of the
  split's ids (cca Table 8's training-set-size sweep), written to
  `<workdir>/train_ids.json`.
  """
  source = open_split(dataset_config, dataset_config.train_split, workdir)
  size = dataset_config.get("train_size", 0)
  if not size:
    return source
  if size > len(source):
    raise ConfigError(
      f"dataset.train_size {size} exceeds the {len(source)} examples of "
      f"{dataset_config.train_split!r}."
    )
  if isinstance(source, Subset):  # a protocol split: ids of its source split, by position
    source_ids = _ids_of(dataset_config, dataset_config.protocol.source_split)
    ids = [source_ids[i] for i in source.indices]
  else:
    ids = _ids_of(dataset_config, dataset_config.train_split)
  kept = set(_permuted(ids, dataset_config.protocol.seed)[:size])
  if workdir is not None:
    atomic_files.write_json(
      os.path.join(workdir, run_layout.TRAIN_IDS_FILE), {"train_size": size, "train": sorted(kept)}
    )
  return Subset(source, [i for i, example_id in enumerate(ids) if example_id in kept])


def open_split(
  dataset_config, split: str, workdir: str | None = None, ground_truth_only: bool = False
):
  """An official split, or `protocol:train` / `protocol:heldout` of the configured protocol.

  A protocol split's id lists are written to `<workdir>/splits.json`. With
  `ground_truth_only`, examples hold the original-resolution mask (as
  `original_mask` where the config is downsized, else `mask`) and no decoded image.
  """
  decoders = {"image": tfds.decode.SkipDecoding()} if ground_truth_only else None
  if not split.startswith(PROTOCOL_PREFIX):
    return _open_official(dataset_config, split, decoders, ground_truth_only)
  part = split.removeprefix(PROTOCOL_PREFIX)
  if part not in PARTS:
    raise ConfigError(f"Unknown protocol split {split!r}; use protocol:train or protocol:heldout.")
  protocol = dataset_config.protocol
  source_ids = _ids_of(dataset_config, protocol.source_split)
  parts = protocol_ids(source_ids, protocol)
  if workdir is not None:
    _write_split_ids(workdir, dataset_config, parts)
  position = {example_id: i for i, example_id in enumerate(source_ids)}
  source = _open_official(dataset_config, protocol.source_split, decoders, ground_truth_only)
  return Subset(source, [position[i] for i in parts[part]])


def _write_split_ids(workdir: str, dataset_config, parts: dict):
  record = {
    "dataset": dataset_config.name,
    "builder_config": dataset_config.builder_config,
    "protocol": dataset_config.protocol.to_dict(),
    **parts,
  }
  atomic_files.write_json(os.path.join(workdir, run_layout.SPLITS_FILE), record)
