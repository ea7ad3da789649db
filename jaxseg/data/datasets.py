"""Dataset registry: config names -> TFDS builders, opened as random-access sources.

The registry is `tfds_builders.BUILDERS`, one line per dataset there; what
jaxseg needs to know of a dataset (its splits, diagnoses, which diagnosis is
melanoma, whether it needs a manual download) is read from its builder class,
without building anything.

Every dataset is read with `tfds.data_source` (array_record), which needs no
TensorFlow. Builders that need no download (synthetic) are prepared on first
use; the ISIC and PH2 builders read archives from the manual directory; the
`folder` dataset reads the user's own folder of images and masks, and its
splits are that folder's (`get_dataset_spec(name, folder)`).
"""

import dataclasses
import logging as python_logging
import os

import jax
import tensorflow_datasets as tfds
from absl import logging

import tfds_builders
from jaxseg import distributed, errors
from tfds_builders import lesion_builder, lesion_features
from tfds_builders.folder import folder_dataset_builder


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
  # Built from a folder of the user's files (tfds_builders/folder), whose
  # subfolders are its splits: `splits` are those of the folder the spec was
  # made for (`get_dataset_spec(name, folder)`), else of one without subfolders.
  reads_folder: bool = False

  @classmethod
  def of_builder(cls, builder: type[lesion_builder.LesionBuilder]) -> "DatasetSpec":
    return cls(
      tfds_name=builder.name,
      splits=builder.split_names(),
      diagnoses=tuple(builder.DIAGNOSES),
      melanoma_diagnosis=builder.MELANOMA_DIAGNOSIS,
      needs_manual_download=bool(builder.MANUAL_DOWNLOAD_INSTRUCTIONS),
      builder_configs=tuple(config.name for config in builder.BUILDER_CONFIGS),
      reads_folder=issubclass(builder, folder_dataset_builder.Builder),
    )


DATASETS: dict[str, DatasetSpec] = {
  name: DatasetSpec.of_builder(builder) for name, builder in tfds_builders.BUILDERS.items()
}


@dataclasses.dataclass(frozen=True)
class OptionNames:
  """How the user of an entry point sets each dataset option: its errors name them so.

  The defaults are `experiments.run`'s config flags; a tool with flags of its
  own (`experiments.dataset_flags`) passes their names.
  """

  name: str = "--config.dataset.name"
  builder_config: str = "--config.dataset.builder_config"
  folder: str = "--config.dataset.folder"
  mask_suffix: str = "--config.dataset.mask_suffix"
  manual_dir: str = "--config.dataset.manual_dir"
  allow_count_mismatch: str = "--config.dataset.allow_count_mismatch"


CONFIG_FLAGS = OptionNames()


def get_dataset_spec(
  name: str, folder: str | os.PathLike = "", option_names: OptionNames = CONFIG_FLAGS
) -> DatasetSpec:
  """What jaxseg knows of dataset `name`; a folder dataset's splits are those of `folder`.

  Raises:
    errors.ConfigError: an unknown dataset.
    errors.DataError: `folder` (folder datasets only) is not a dataset folder;
      the message says what it lacks.
  """
  if name not in DATASETS:
    raise errors.ConfigError(
      f"Unknown dataset {name!r} ({option_names.name}); registered datasets: {sorted(DATASETS)}."
    )
  spec = DATASETS[name]
  if not (spec.reads_folder and folder):
    return spec
  try:
    splits = folder_dataset_builder.split_names_of(folder)
  except (FileNotFoundError, lesion_features.SourceDataError) as error:
    raise errors.DataError(
      f"{error} ({option_names.folder}; tfds_builders/folder/README.md says what the folder holds)"
    ) from error
  return dataclasses.replace(spec, splits=splits)


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
  folder: str | os.PathLike = "",
  mask_suffix: str | None = None,
  allow_count_mismatch: bool = False,
  option_names: OptionNames = CONFIG_FLAGS,
):
  """Returns a random-access source (len, __getitem__) of decoded numpy examples.

  `decoders` is TFDS's per-feature decoder tree (e.g. `tfds.decode.SkipDecoding()`
  to read ids without decoding images). `original_mask` (downsized configs
  only) stays encoded unless `with_original_mask`.

  A dataset not yet prepared in `data_dir` is prepared first. Those that need
  a manual download (ISIC, PH2) read their archives from `manual_dir`, by
  default TFDS's `<data_dir>/downloads/manual/`; see
  `tfds_builders/<name>/README.md` for what to put there. With
  `allow_count_mismatch` they build from splits of unofficial size too (with
  a warning). The `folder` dataset reads `folder`, its masks named
  `<id><mask_suffix>` (default `_segmentation.png`); the first time a process
  opens it, a folder changed since it was prepared is an error
  (tfds_builders/folder/README.md). `builder_config` None or "" is the
  builder's default config (its first: synthetic_lesions' `default`, the
  others' `original`). Errors name the options as `option_names` says.

  Raises:
    errors.ConfigError: an unknown dataset or split, or a folder dataset
      without its folder.
    errors.DataError: the dataset's files are missing, incomplete or damaged,
      so it cannot be prepared, or (folder) changed since it was; the message
      names them and the fix.
  """
  spec = get_dataset_spec(name, option_names=option_names)
  builder_kwargs = _builder_kwargs(spec, folder, mask_suffix, allow_count_mismatch, option_names)
  if spec.reads_folder:
    spec = get_dataset_spec(name, folder, option_names)
  if split not in spec.splits:
    where = ""
    if spec.reads_folder:
      where = f" (those of {folder}: its split subfolders, or 'train' where it has none)"
    raise errors.ConfigError(
      f"Dataset {name!r} has no split {split!r}; its splits are {list(spec.splits)}{where}."
    )
  if builder_config and builder_config not in spec.builder_configs:
    raise errors.ConfigError(
      f"Dataset {name!r} has no builder config {builder_config!r} "
      f"({option_names.builder_config}); its configs are {list(spec.builder_configs)}."
    )
  full_name = spec.tfds_name + (f"/{builder_config}" if builder_config else "")
  data_dir = data_dir or default_data_dir()
  builder = tfds.builder(full_name, data_dir=data_dir, **builder_kwargs)
  if jax.process_count() > 1:
    # One writer per shared filesystem; the others wait for it, then reopen
    # the builder (theirs predates the build). Every process meets the sync,
    # whatever it sees on disk.
    if jax.process_index() == 0 and not builder.is_prepared():
      _prepare(builder, spec, full_name, data_dir, manual_dir, folder, option_names)
    distributed.wait_for_processes(f"prepare {full_name}")
    builder = tfds.builder(full_name, data_dir=data_dir, **builder_kwargs)
  elif not builder.is_prepared():
    _prepare(builder, spec, full_name, data_dir, manual_dir, folder, option_names)
  if spec.reads_folder:
    _check_folder_unchanged(builder)
  decoders = dict(decoders or {})
  if "original_mask" in builder.info.features and not with_original_mask:
    # Downsized configs carry the full-size mask for evaluation only; training
    # must not pay for decoding it.
    decoders.setdefault("original_mask", tfds.decode.SkipDecoding())
  return builder.as_data_source(split=split, decoders=decoders or None)


def _builder_kwargs(
  spec: DatasetSpec,
  folder,
  mask_suffix: str | None,
  allow_count_mismatch: bool,
  option_names: OptionNames,
) -> dict:
  """What the dataset's builder takes of the dataset options (the others do not apply to it)."""
  if spec.reads_folder:
    if not folder:
      raise errors.ConfigError(
        f"Dataset {spec.tfds_name!r} reads your own images and masks from a folder; name it "
        f"with {option_names.folder}=DIR (open_data_source(..., folder=DIR)), DIR holding "
        "images/ and masks/ (see tfds_builders/folder/README.md)."
      )
    if mask_suffix == "":
      raise errors.ConfigError(
        f"{option_names.mask_suffix} is empty; set what follows the image's id in its mask's "
        f"file name, e.g. {option_names.mask_suffix}=_segmentation.png."
      )
    return {
      "folder": os.fspath(folder),
      "mask_suffix": mask_suffix or folder_dataset_builder.DEFAULT_MASK_SUFFIX,
    }
  if folder:
    logging.warning(
      "%s=%s is read only by the folder dataset (%s=folder); %s ignores it.",
      option_names.folder,
      folder,
      option_names.name,
      spec.tfds_name,
    )
  if allow_count_mismatch and spec.needs_manual_download:
    return {"allow_count_mismatch": True}
  return {}


# Data dirs of the folder datasets this process found unchanged: a run reads
# the copy it started with even if the folder changes while it runs.
_UNCHANGED_FOLDER_DATASETS: set[str] = set()


def _check_folder_unchanged(builder) -> None:
  if builder.data_dir in _UNCHANGED_FOLDER_DATASETS:
    return
  try:
    builder.check_folder_unchanged()
  except lesion_features.SourceDataError as error:
    raise errors.DataError(str(error)) from error
  _UNCHANGED_FOLDER_DATASETS.add(builder.data_dir)


def _prepare(
  builder,
  spec: DatasetSpec,
  full_name: str,
  data_dir,
  manual_dir,
  folder,
  option_names: OptionNames,
) -> None:
  download_config = tfds.download.DownloadConfig(
    manual_dir=os.fspath(manual_dir) if manual_dir else None
  )
  try:
    builder.download_and_prepare(file_format="array_record", download_config=download_config)
  except (lesion_features.SourceDataError, FileNotFoundError) as error:
    if spec.reads_folder:
      raise errors.DataError(
        f"{full_name} is not prepared in {data_dir} and cannot be built from the folder "
        f"{folder}: {error}\nFix the files named and run again; see "
        "tfds_builders/folder/README.md."
      ) from error
    # A builder that downloads nothing has no user's files to miss: a bug.
    if not spec.needs_manual_download:
      raise
    # The builder names the files and the fix; add how this entry point is
    # told where they are.
    read_from = manual_dir or os.path.join(data_dir, "downloads", "manual")
    count_option = ""
    if "allow_count_mismatch" in str(error):
      count_option = (
        " To build from archives of unofficial size anyway (a warning in the log), pass "
        f"{option_names.allow_count_mismatch}=true (open_data_source(..., "
        "allow_count_mismatch=True))."
      )
    raise errors.DataError(
      f"{full_name} is not prepared in {data_dir} and cannot be built from its files: "
      f"{error}\nThey were read from {read_from}; name the directory that holds them with "
      f"{option_names.manual_dir}=DIR (open_data_source(..., manual_dir=DIR))."
      f"{count_option} See tfds_builders/{spec.tfds_name}/README.md."
    ) from error
