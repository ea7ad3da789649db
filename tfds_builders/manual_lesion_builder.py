"""What the builders of the published lesion datasets share: configs, checks, the build itself.

ISIC 2016, 2017, 2018 and PH2 cannot be downloaded by a program; their
builders read the archives the user put in the TFDS manual directory
(`<data_dir>/downloads/manual/`, so `~/tensorflow_datasets/downloads/manual/`
by default, unless `download_config=tfds.download.DownloadConfig(
manual_dir=...)` says otherwise). A builder subclasses `ManualLesionBuilder` and
says where its examples are (`_find_examples`), or `IsicBuilder`, which finds
them from the names of each split's ISIC archives; this module checks what it
found and builds the examples:

- every required file is in the manual directory, else an error naming each
  missing file and the directory;
- image and mask files are picked out by pattern (stray files such as
  superpixels, metadata CSVs, licences and `__MACOSX` are ignored), each id
  once, every image with exactly one mask and every mask with one image;
- ids are unique across the splits;
- each split has its official number of images, unless the builder was made
  with `allow_count_mismatch=True`;
- images and masks are readable and of equal size (checked while building,
  see `lesion_features.encode_image_and_mask`).

A damaged or inconsistent download is `lesion_features.SourceDataError`, a
missing file FileNotFoundError; either message names the files and the fix.

One module of ~460 lines: the checks above and the build they guard are the
one base every manual builder subclasses; split, each half would be imported
only by the other.

Everything that needs only the archives' listings is checked before the first
example is built, so a wrong download fails in seconds, not after an hour of
decoding.
"""

import collections
import contextlib
import dataclasses
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import ClassVar

import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from tfds_builders import lesion_builder, lesion_features

# ISIC file names, matched against a member's base name, case-insensitively
# (2016 masks end in `_Segmentation.png`, later ones in `_segmentation.png`).
ISIC_ID_PATTERN = re.compile(r"ISIC_\d{7}", re.IGNORECASE)
ISIC_IMAGE_PATTERN = re.compile(r"(?P<id>ISIC_\d{7})\.jpg", re.IGNORECASE)
ISIC_MASK_PATTERN = re.compile(r"(?P<id>ISIC_\d{7})_segmentation\.png", re.IGNORECASE)
# macOS zip tools add `__MACOSX/.../._name` resource forks beside the real files.
_MACOS_METADATA_FOLDER = "__MACOSX"


@dataclasses.dataclass
class LesionConfig(tfds.core.BuilderConfig):
  """The resolution a lesion dataset is stored at.

  Attributes:
    max_size: None stores images and masks as published; a number downsizes
      those whose longer side exceeds it to exactly that (aspect kept) and
      adds the full-resolution mask as `original_mask`.
  """

  max_size: int | None = None

  def __post_init__(self):
    if self.max_size is not None and self.max_size < 1:
      raise ValueError(f"max_size must be None or positive, got {self.max_size}.")


def lesion_configs(published_format: str) -> list[LesionConfig]:
  """The configs every lesion builder offers: `original` and `max512`.

  Args:
    published_format: how the dataset's images are published, for the
      descriptions (e.g. "JPEG bytes as published", "BMP re-encoded as PNG").
  """
  return [
    LesionConfig(
      name="original",
      description=f"Full resolution: images are the {published_format}; masks binarised PNG.",
    ),
    LesionConfig(
      name="max512",
      description=(
        "Longer side at most 512 (aspect kept): images resized with LANCZOS, masks with "
        "nearest neighbour and binarised; the full-resolution mask is kept as `original_mask`."
      ),
      max_size=512,
    ),
  ]


@dataclasses.dataclass(frozen=True)
class ExampleFiles:
  """One example's files and label, as found in the manual directory."""

  id: str
  diagnosis: str
  image: lesion_features.SourceFile
  mask: lesion_features.SourceFile


class ManualLesionBuilder(lesion_builder.LesionBuilder, skip_registration=True):
  """A lesion dataset built from archives in the TFDS manual directory.

  Subclasses set `DIAGNOSES`, `MELANOMA_DIAGNOSIS`, `OFFICIAL_SPLIT_SIZES`,
  `IMAGE_FORMAT`, `HOMEPAGE`, `MANUAL_DOWNLOAD_INSTRUCTIONS`, `BUILDER_CONFIGS`
  and `_find_examples` (`IsicBuilder` sets most of them for ISIC challenge
  data).
  """

  # Number of images of each split as published; also the splits' names and order.
  OFFICIAL_SPLIT_SIZES: ClassVar[dict[str, int]]
  # How images that cannot be stored as published are encoded ("JPEG" or "PNG").
  IMAGE_FORMAT: ClassVar[str]
  HOMEPAGE: ClassVar[str]
  DEFAULT_CONFIG_NAME = "original"

  def __init__(self, *, allow_count_mismatch: bool = False, **kwargs):
    """Builder of one config.

    Args:
      allow_count_mismatch: build even when a split's number of images is not
        the official one (a partial or extended download); by default that is
        an error, because it usually means a wrong or damaged archive.
      **kwargs: as for any TFDS builder (data_dir, config, version, file_format).
    """
    super().__init__(**kwargs)
    self._allow_count_mismatch = allow_count_mismatch
    # TFDS re-creates pickled builders from this; without it the option
    # would be lost in worker processes.
    self._original_state["allow_count_mismatch"] = allow_count_mismatch

  @classmethod
  def split_names(cls) -> tuple[str, ...]:
    return tuple(cls.OFFICIAL_SPLIT_SIZES)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
      features=lesion_features.features(
        self.DIAGNOSES, with_original_mask=self.builder_config.max_size is not None
      ),
      supervised_keys=lesion_features.SUPERVISED_KEYS,
      homepage=self.HOMEPAGE,
    )

  def _find_examples(self, manual_dir: epath.Path) -> dict[str, list[ExampleFiles]]:
    """Every split's examples, found in `manual_dir`; checks files, pairs and labels."""
    raise NotImplementedError

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    examples = self._find_examples(_manual_dir(dl_manager))
    check_unique_ids(examples)
    check_split_sizes(
      f"{self.name}/{self.builder_config.name}",
      examples,
      self.OFFICIAL_SPLIT_SIZES,
      self._allow_count_mismatch,
    )
    return {split: self._generate_examples(found) for split, found in examples.items()}

  def _generate_examples(self, examples: Sequence[ExampleFiles]):
    with SourceFileReader() as reader:
      for example in examples:
        values = lesion_features.encode_image_and_mask(
          reader.read(example.image),
          example.image,
          reader.read(example.mask),
          example.mask,
          max_size=self.builder_config.max_size,
          image_format=self.IMAGE_FORMAT,
        )
        yield example.id, {**values, "id": example.id, "diagnosis": example.diagnosis}


def _manual_dir(dl_manager: tfds.download.DownloadManager) -> epath.Path:
  try:
    return epath.Path(dl_manager.manual_dir)
  except AssertionError:
    # TFDS refuses a missing or empty manual directory with the whole
    # download instructions; return it anyway, so that the check of the
    # files says which ones are missing and where they go.
    return epath.Path(dl_manager._manual_dir)  # pylint: disable=protected-access


def require_files(manual_dir: epath.Path, names: Iterable[str], dataset: str) -> None:
  """Raises FileNotFoundError naming every one of `names` missing from `manual_dir`."""
  missing = [name for name in names if not (manual_dir / name).exists()]
  if missing:
    listed = "\n".join(f"  {name}" for name in missing)
    raise FileNotFoundError(
      f"{dataset}: missing from the manual directory {manual_dir}:\n{listed}\n"
      f"Download them as the {dataset} README says and put them there unextracted, or pass "
      "download_config=tfds.download.DownloadConfig(manual_dir=...) naming the directory "
      "that holds them."
    )


def files_by_id(
  names: Iterable[str], pattern: re.Pattern, container: str
) -> dict[str, lesion_features.SourceFile]:
  """The files among `names` whose base name matches `pattern`, keyed by its `id` group.

  Ids are normalised to the pattern's spelling where it is case-insensitive
  (`isic_0000000` -> `ISIC_0000000`) by upper-casing their letters.

  Raises:
    SourceDataError: two files have the same id.
  """
  found: dict[str, list[str]] = collections.defaultdict(list)
  for name in names:
    parts = name.replace("\\", "/").split("/")
    if _MACOS_METADATA_FOLDER in parts:
      continue
    match = pattern.fullmatch(parts[-1])
    if match:
      found[match.group("id").upper()].append(name)
  duplicated = {file_id: sorted(paths) for file_id, paths in found.items() if len(paths) > 1}
  if duplicated:
    listed = "\n".join(f"  {file_id}: {paths}" for file_id, paths in sorted(duplicated.items()))
    raise lesion_features.SourceDataError(
      f"{container} holds more than one file for these ids:\n{listed}\n"
      f"Each id must appear once; {lesion_features.SourceFile(container, '').remedy}."
    )
  return {
    file_id: lesion_features.SourceFile(container, paths[0])
    for file_id, paths in sorted(found.items())
  }


def zip_files_by_id(
  archive: epath.Path, pattern: re.Pattern
) -> dict[str, lesion_features.SourceFile]:
  """`files_by_id` over the members of a zip archive (its folders are skipped)."""
  try:
    with zipfile.ZipFile(archive) as opened:
      names = [info.filename for info in opened.infolist() if not info.is_dir()]
  except (zipfile.BadZipFile, OSError) as error:
    raise lesion_features.SourceDataError(
      f"Cannot read the zip archive {archive}: {error}. It is damaged or incompletely "
      f"downloaded; download {archive.name} again."
    ) from error
  return files_by_id(names, pattern, str(archive))


def pair_images_and_masks(
  images: Mapping[str, lesion_features.SourceFile],
  masks: Mapping[str, lesion_features.SourceFile],
  images_from: str,
  masks_from: str,
) -> list[tuple[str, lesion_features.SourceFile, lesion_features.SourceFile]]:
  """(id, image, mask) for every id, sorted; every image needs a mask and every mask an image.

  Raises:
    SourceDataError: listing the images without a mask and the masks without an image.
  """
  without_mask = sorted(images.keys() - masks.keys())
  without_image = sorted(masks.keys() - images.keys())
  if without_mask or without_image:
    problems = []
    if without_mask:
      problems.append(f"images in {images_from} without a mask in {masks_from}: {without_mask}")
    if without_image:
      problems.append(f"masks in {masks_from} without an image in {images_from}: {without_image}")
    raise lesion_features.SourceDataError(
      "Every image needs exactly one mask and every mask one image; found "
      + "; ".join(problems)
      + ". The two archives (or folders) belong to different downloads or one is incomplete; "
      "download them again."
    )
  return [(file_id, images[file_id], masks[file_id]) for file_id in sorted(images)]


def label_of(file_id: str, labels: Mapping[str, str], labels_from: str) -> str:
  """The diagnosis of `file_id`; a missing one is an error naming the id and its source."""
  try:
    return labels[file_id]
  except KeyError:
    raise lesion_features.SourceDataError(
      f"No diagnosis for {file_id} in {labels_from}. The label file does not match the "
      "images; download it again (it must be the one published with the images)."
    ) from None


def check_unique_ids(examples: Mapping[str, Sequence[ExampleFiles]]) -> None:
  """Raises SourceDataError if an id is in more than one split (ids key the examples)."""
  splits_of: dict[str, list[str]] = collections.defaultdict(list)
  for split, found in examples.items():
    for example in found:
      splits_of[example.id].append(split)
  repeated = {file_id: splits for file_id, splits in splits_of.items() if len(splits) > 1}
  if repeated:
    listed = "\n".join(f"  {file_id}: {splits}" for file_id, splits in sorted(repeated.items()))
    raise lesion_features.SourceDataError(
      f"These ids are in more than one split:\n{listed}\n"
      "An archive was put under another split's name; check the file names."
    )


def check_split_sizes(
  dataset_and_config: str,
  examples: Mapping[str, Sequence[ExampleFiles]],
  official: Mapping[str, int],
  allow_count_mismatch: bool,
) -> None:
  """Raises SourceDataError (only warns if allowed) when a split's size is not the official one."""
  mismatched = {split: found for split, found in examples.items() if len(found) != official[split]}
  if not mismatched:
    return
  listed = "\n".join(
    f"  {split}: {len(found)} images in {sorted({str(e.image.container) for e in found})}, "
    f"officially {official[split]}"
    for split, found in mismatched.items()
  )
  if allow_count_mismatch:
    logging.warning(
      "%s: splits of unofficial size, built anyway (allow_count_mismatch=True):\n%s",
      dataset_and_config,
      listed,
    )
    return
  raise lesion_features.SourceDataError(
    f"{dataset_and_config}: splits of unofficial size:\n{listed}\n"
    "The archives are incomplete, modified or from another release; download them again. "
    "To build from them anyway, pass allow_count_mismatch=True: "
    f'tfds.builder("{dataset_and_config}", allow_count_mismatch=True, ...) or '
    f'tfds.data_source("{dataset_and_config}", ..., '
    'builder_kwargs={"allow_count_mismatch": True}).'
  )


class SourceFileReader(contextlib.AbstractContextManager):
  """Reads `SourceFile`s, keeping each zip archive open until the reader is closed."""

  def __init__(self):
    self._archives: dict[str, zipfile.ZipFile] = {}

  def read(self, source: lesion_features.SourceFile) -> bytes:
    container = epath.Path(source.container)
    if container.is_dir():
      return (container / source.name).read_bytes()
    if source.container not in self._archives:
      self._archives[source.container] = zipfile.ZipFile(container)
    try:
      return self._archives[source.container].read(source.name)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as error:
      # BadZipFile: a CRC mismatch; zlib.error: a corrupt compressed stream.
      raise lesion_features.SourceDataError(
        f"Cannot read {source}: {error}. It is damaged; {source.remedy}."
      ) from error

  def __exit__(self, *exc_info):
    for archive in self._archives.values():
      archive.close()
    self._archives.clear()


@dataclasses.dataclass(frozen=True)
class IsicSplitFiles:
  """The published names of one ISIC split's files in the manual directory."""

  images: str  # A zip archive.
  masks: str  # A zip archive.
  labels: str | None = None  # A CSV of diagnoses, where the year has one.

  @property
  def names(self) -> tuple[str, ...]:
    return tuple(name for name in (self.images, self.masks, self.labels) if name)


def find_isic_examples(
  manual_dir: epath.Path,
  dataset: str,
  splits: Mapping[str, IsicSplitFiles],
  read_labels: Callable[[epath.Path], dict[str, str]] | None = None,
  unlabelled_diagnosis: str | None = None,
) -> dict[str, list[ExampleFiles]]:
  """Every split's examples, read from its zip archives as they are (nothing is extracted).

  Args:
    manual_dir: the directory holding the files.
    dataset: the dataset's name, for errors.
    splits: each split's files.
    read_labels: reads a split's label CSV into id -> diagnosis name.
    unlabelled_diagnosis: the diagnosis of every example, where there are no
      label CSVs.

  Raises:
    FileNotFoundError: naming every missing file.
    SourceDataError: a damaged archive, a duplicated id, an image without a mask
      or the reverse, or an id without a label.
  """
  require_files(manual_dir, [name for files in splits.values() for name in files.names], dataset)
  examples = {}
  for split, files in splits.items():
    images = zip_files_by_id(manual_dir / files.images, ISIC_IMAGE_PATTERN)
    masks = zip_files_by_id(manual_dir / files.masks, ISIC_MASK_PATTERN)
    pairs = pair_images_and_masks(images, masks, files.images, files.masks)
    if files.labels:
      labels_path = manual_dir / files.labels
      labels = read_labels(labels_path)
      diagnoses = [label_of(file_id, labels, str(labels_path)) for file_id, _, _ in pairs]
    else:
      diagnoses = [unlabelled_diagnosis] * len(pairs)
    examples[split] = [
      ExampleFiles(id=file_id, diagnosis=diagnosis, image=image, mask=mask)
      for (file_id, image, mask), diagnosis in zip(pairs, diagnoses, strict=True)
    ]
  return examples


def isic_download_instructions(
  download_page: str, parts: str, splits: Mapping[str, IsicSplitFiles]
) -> str:
  """`MANUAL_DOWNLOAD_INSTRUCTIONS` of an ISIC builder: where to get which files, where to put them.

  Args:
    download_page: the challenge's data page.
    parts: which of the challenge's parts (tasks) the files are, as the page names them.
    splits: each split's files.
  """
  names = [name for files in splits.values() for name in files.names]
  listed = "\n".join(f"    {name}" for name in names)
  return f"""
  Download from {download_page} ({parts}) these {len(names)} files
  and put them as they are (do not extract the zips) in the TFDS manual
  directory, `<data_dir>/downloads/manual/` (`~/tensorflow_datasets/downloads/manual/`
  with the default data_dir), or in a directory passed as
  `download_config=tfds.download.DownloadConfig(manual_dir=...)`:

{listed}
  """


class IsicBuilder(ManualLesionBuilder, skip_registration=True):
  """An ISIC challenge dataset: per split, a zip of JPEG images, a zip of PNG masks, maybe a CSV.

  Subclasses set `SPLIT_FILES` (whose keys are `OFFICIAL_SPLIT_SIZES`'s),
  `DIAGNOSES`, `MELANOMA_DIAGNOSIS`, `OFFICIAL_SPLIT_SIZES`, `HOMEPAGE`,
  `MANUAL_DOWNLOAD_INSTRUCTIONS` (see `isic_download_instructions`), and
  either `_read_diagnoses` (years with label CSVs) or `UNLABELLED_DIAGNOSIS`.
  """

  SPLIT_FILES: ClassVar[Mapping[str, IsicSplitFiles]]
  # The diagnosis of every example, in years that publish no label CSVs.
  UNLABELLED_DIAGNOSIS: ClassVar[str | None] = None
  BUILDER_CONFIGS = lesion_configs("JPEG bytes as published")
  IMAGE_FORMAT = "JPEG"

  def _read_diagnoses(self, csv_path: epath.Path) -> dict[str, str]:
    """id -> diagnosis name, from one split's label CSV."""
    raise NotImplementedError

  def _find_examples(self, manual_dir: epath.Path) -> dict[str, list[ExampleFiles]]:
    return find_isic_examples(
      manual_dir,
      self.name,
      self.SPLIT_FILES,
      read_labels=self._read_diagnoses,
      unlabelled_diagnosis=self.UNLABELLED_DIAGNOSIS,
    )
