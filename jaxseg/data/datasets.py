"""Dataset registry: config names -> TFDS builders, opened as random-access sources.

Every dataset is read with `tfds.data_source` (array_record), which needs no
TensorFlow. Builders that need no download (synthetic) are prepared on first
use; the ISIC and PH2 builders read archives from the manual directory.
"""

import dataclasses
import os

import jax
import tensorflow_datasets as tfds
from jax.experimental import multihost_utils

import tfds_builders  # noqa: F401  (registers the project's builders with TFDS)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  tfds_name: str
  splits: tuple[str, ...]
  needs_manual_download: bool = False


DATASETS: dict[str, DatasetSpec] = {
  "synthetic_lesions": DatasetSpec("synthetic_lesions", ("train", "validation", "test")),
}


def get_dataset_spec(name: str) -> DatasetSpec:
  if name not in DATASETS:
    raise KeyError(f"Unknown dataset {name!r}; registered datasets: {sorted(DATASETS)}.")
  return DATASETS[name]


def default_data_dir() -> str:
  return os.environ.get("TFDS_DATA_DIR", os.path.expanduser("~/tensorflow_datasets"))


def open_split(
  name: str, split: str, builder_config: str | None = None, data_dir=None, decoders=None
):
  """Returns a random-access source (len, __getitem__) of decoded numpy examples.

  `decoders` is TFDS's per-feature decoder tree (e.g. `tfds.decode.SkipDecoding()`
  to read ids without decoding images).
  """
  spec = get_dataset_spec(name)
  if split not in spec.splits:
    raise KeyError(f"Dataset {name!r} has no split {split!r}; its splits are {spec.splits}.")
  full_name = spec.tfds_name + (f"/{builder_config}" if builder_config else "")
  builder = tfds.builder(full_name, data_dir=data_dir or default_data_dir())
  if not builder.is_prepared():
    # One writer per shared filesystem; the other processes wait for it.
    if jax.process_index() == 0:
      builder.download_and_prepare(file_format="array_record")
    multihost_utils.sync_global_devices(f"prepare {full_name}")
  return builder.as_data_source(split=split, decoders=decoders)
