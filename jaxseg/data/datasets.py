"""Dataset registry: config names -> TFDS builders, opened as random-access sources.

The registry is `tfds_builders.BUILDERS`, one line per dataset there; what
jaxseg needs to know of a dataset (its splits, diagnoses, which diagnosis is
melanoma, whether it needs a manual download) is read from its builder class,
without building anything.

Every dataset is read with `tfds.data_source` (array_record), which needs no
TensorFlow. Builders that need no download (synthetic) are prepared on first
use; the ISIC and PH2 builders read archives from the manual directory.
"""

import dataclasses
import logging as python_logging
import os

import jax
import tensorflow_datasets as tfds
from jax.experimental import multihost_utils

import tfds_builders
from jaxseg import errors
from tfds_builders import lesion_builder, lesion_features


class _OpenCvAdviceFilter(python_logging.Filter):
  """Drops TFDS's "OpenCV is not installed" warning, printed by every run that decodes images.

  Measured on 1024x768 JPEG archives (docs/decisions.md, "Image decoding"):
  OpenCV decodes 5-20% faster than PIL, but the input pipeline delivers
  ~300 images/s either way, far above what training consumes, so jaxseg does
  not depend on it. TFDS uses OpenCV by itself wherever it is installed.
  """

  def filter(self, record: python_logging.LogRecord) -> bool:
    return not str(record.msg).startswith("OpenCV is not installed")


python_logging.getLogger("absl").addFilter(_OpenCvAdviceFilter())


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """What jaxseg knows of a dataset, from its builder class."""

  tfds_name: str
  splits: tuple[str, ...]
  # Class names of the `diagnosis` feature, in label order.
  diagnoses: tuple[str, ...]
  # The diagnosis counted as melanoma (jaxseg.report); None where none is.
  melanoma_diagnosis: str | None
  needs_manual_download: bool
  builder_configs: tuple[str, ...] = ()

  @classmethod
  def of_builder(cls, builder: type[lesion_builder.LesionBuilder]) -> "DatasetSpec":
    return cls(
      tfds_name=builder.name,
      splits=builder.split_names(),
      diagnoses=tuple(builder.DIAGNOSES),
      melanoma_diagnosis=builder.MELANOMA_DIAGNOSIS,
      needs_manual_download=bool(builder.MANUAL_DOWNLOAD_INSTRUCTIONS),
      builder_configs=tuple(config.name for config in builder.BUILDER_CONFIGS),
    )


DATASETS: dict[str, DatasetSpec] = {
  name: DatasetSpec.of_builder(builder) for name, builder in tfds_builders.BUILDERS.items()
}


def get_dataset_spec(name: str) -> DatasetSpec:
  if name not in DATASETS:
    raise errors.ConfigError(
      f"Unknown dataset {name!r} (config key dataset.name); registered datasets: "
      f"{sorted(DATASETS)}."
    )
  return DATASETS[name]


def default_data_dir() -> str:
  return os.environ.get("TFDS_DATA_DIR", os.path.expanduser("~/tensorflow_datasets"))


def open_data_source(
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

  Raises:
    errors.ConfigError: an unknown dataset or split.
    errors.DataError: the dataset's files are missing, incomplete or damaged,
      so it cannot be prepared; the message names them and the fix.
  """
  spec = get_dataset_spec(name)
  if split not in spec.splits:
    raise errors.ConfigError(
      f"Dataset {name!r} has no split {split!r}; its splits are {list(spec.splits)}."
    )
  if builder_config and builder_config not in spec.builder_configs:
    raise errors.ConfigError(
      f"Dataset {name!r} has no builder config {builder_config!r} (config key "
      f"dataset.builder_config); its configs are {list(spec.builder_configs)}."
    )
  full_name = spec.tfds_name + (f"/{builder_config}" if builder_config else "")
  data_dir = data_dir or default_data_dir()
  builder = tfds.builder(full_name, data_dir=data_dir)
  if jax.process_count() > 1:
    # One writer per shared filesystem; the others wait for it, then reopen
    # the builder (theirs predates the build). Every process meets the sync,
    # whatever it sees on disk.
    if jax.process_index() == 0 and not builder.is_prepared():
      _prepare(builder, spec, full_name, data_dir, manual_dir)
    multihost_utils.sync_global_devices(f"prepare {full_name}")
    builder = tfds.builder(full_name, data_dir=data_dir)
  elif not builder.is_prepared():
    _prepare(builder, spec, full_name, data_dir, manual_dir)
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
  except (lesion_features.SourceDataError, FileNotFoundError) as error:
    # A builder that downloads nothing has no user's files to miss: a bug.
    if not spec.needs_manual_download:
      raise
    # The builder names the files and the fix; add how this entry point is
    # told where they are.
    read_from = manual_dir or os.path.join(data_dir, "downloads", "manual")
    raise errors.DataError(
      f"{full_name} is not prepared in {data_dir} and cannot be built from its files: "
      f"{error}\nThey were read from {read_from}; name the directory that holds them with "
      "--config.dataset.manual_dir=DIR (open_data_source(..., manual_dir=DIR)). "
      f"See tfds_builders/{spec.tfds_name}/README.md."
    ) from error
