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
  "isic2016": DatasetSpec("isic2016", ("train", "test"), needs_manual_download=True),
  "isic2017": DatasetSpec("isic2017", ("train", "validation", "test"), needs_manual_download=True),
  "isic2018": DatasetSpec("isic2018", ("train", "validation", "test"), needs_manual_download=True),
  # PH2 has no official split; TFDS puts such datasets in `train`.
  "ph2": DatasetSpec("ph2", ("train",), needs_manual_download=True),
}


def get_dataset_spec(name: str) -> DatasetSpec:
  if name not in DATASETS:
    raise KeyError(f"Unknown dataset {name!r}; registered datasets: {sorted(DATASETS)}.")
  return DATASETS[name]


def default_data_dir() -> str:
  return os.environ.get("TFDS_DATA_DIR", os.path.expanduser("~/tensorflow_datasets"))


def open_split(
  name: str,
  split: str,
  builder_config: str | None = None,
  data_dir=None,
  decoders=None,
  *,
  manual_dir: str | os.PathLike | None = None,
  with_original_mask: bool = False,
):
  """Returns a random-access source (len, __getitem__) of decoded numpy examples.

  `decoders` is TFDS's per-feature decoder tree (e.g. `tfds.decode.SkipDecoding()`
  to read ids without decoding images). `original_mask` (downsized configs
  only) stays encoded unless `with_original_mask`.

  A dataset not yet prepared in `data_dir` is prepared first. Those that need
  a manual download (ISIC, PH2) read their archives from `manual_dir`, by
  default TFDS's `<data_dir>/downloads/manual/`; see
  `tfds_builders/<name>/README.md` for what to put there.
  """
  spec = get_dataset_spec(name)
  if split not in spec.splits:
    raise KeyError(f"Dataset {name!r} has no split {split!r}; its splits are {spec.splits}.")
  full_name = spec.tfds_name + (f"/{builder_config}" if builder_config else "")
  data_dir = data_dir or default_data_dir()
  builder = tfds.builder(full_name, data_dir=data_dir)
  if not builder.is_prepared():
    # One writer per shared filesystem; the other processes wait for it.
    if jax.process_index() == 0:
      _prepare(builder, spec, full_name, data_dir, manual_dir)
    multihost_utils.sync_global_devices(f"prepare {full_name}")
  decoders = dict(decoders or {})
  if "original_mask" in builder.info.features and not with_original_mask:
    # Downsized configs carry the full-size mask for evaluation only; training
    # must not pay for decoding it.
    decoders.setdefault("original_mask", tfds.decode.SkipDecoding())
  return builder.as_data_source(split=split, decoders=decoders or None)


def _prepare(builder, spec: DatasetSpec, full_name: str, data_dir, manual_dir) -> None:
  download_config = tfds.download.DownloadConfig(
    manual_dir=os.fspath(manual_dir) if manual_dir else None
  )
  try:
    builder.download_and_prepare(file_format="array_record", download_config=download_config)
  except FileNotFoundError as error:
    if not spec.needs_manual_download:
      raise
    # The builder names the missing files; say how this entry point is told
    # where they are.
    raise FileNotFoundError(
      f"{full_name} is not prepared in {data_dir} and cannot be: {error}\n"
      "Put the files in the manual directory named above, or name the directory that holds "
      "them with --config.dataset.manual_dir (open_split(..., manual_dir=...)). "
      f"See tfds_builders/{spec.tfds_name}/README.md."
    ) from error
