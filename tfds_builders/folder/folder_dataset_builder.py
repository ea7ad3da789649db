"""folder: a lesion dataset built from the user's own folder of images and masks.

`tfds.builder("folder/max512", folder=DIR, data_dir=...)` (jaxseg:
`--config.dataset.name=folder --config.dataset.folder=DIR`) reads

  DIR/images/<id>.<jpg|jpeg|png|bmp|tif|tiff>   DIR/masks/<id><mask_suffix>

into the split `train`, or, where DIR has split subfolders instead,
`DIR/<split>/images/` and `DIR/<split>/masks/` into each `<split>`. The
image's file stem is the id; `mask_suffix` (default `_segmentation.png`, PH2's
is `_lesion.bmp`) is matched case-insensitively. The features, configs
(`original`, `max512`) and checks are those of the other lesion builders;
`diagnosis` is always `unknown`. README.md says more.

Where it goes: the folder's real path and the mask suffix pick the config's
name, `<config>-<folder name>-<hash>` (e.g. `max512-my_lesions-3fa2b1c09d`),
so different folders never share a directory in the data dir. The builder
records the folder's file listing (name, size, mtime of every file in its
`images/` and `masks/`) in the prepared dataset's metadata; `check_folder_unchanged`
compares it with the folder as it is now.

One module of ~530 lines: the folder's scan, its naming and its change check
are what the builder records in its metadata and compares on every load, so
they live with the builder.
"""

import collections
import dataclasses
import hashlib
import io
import logging as python_logging
import os
import pathlib
import re
from collections.abc import Mapping

import tensorflow_datasets as tfds
from absl import logging
from PIL import Image

from tfds_builders import lesion_builder, lesion_features, manual_lesion_builder

DIAGNOSES = ("unknown",)
DEFAULT_MASK_SUFFIX = "_segmentation.png"
IMAGES_FOLDER = "images"
MASKS_FOLDER = "masks"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
# JPEG images that must be re-encoded (downsized, or not RGB) stay JPEG; the
# others (PNG, BMP, TIFF) become PNG, so lossless sources stay lossless.
_JPEG_EXTENSIONS = (".jpg", ".jpeg")
# The split a folder without split subfolders holds.
DEFAULT_SPLIT = "train"
# Split subfolder names, as TFDS takes them in split and file names.
_SPLIT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Listed first, in this order; other split subfolders follow alphabetically.
_USUAL_SPLITS = ("train", "validation", "test")
# PIL modes of more than 8 bits a channel, which it clips to 255 when converting to RGB.
_HIGH_DEPTH_MODES = re.compile(r"I(;16.*)?|I;32.*|F")
# How many file names an error lists before "... and N more".
_LISTED_NAMES = 10
_HASH_LENGTH = 10
_README = pathlib.Path(__file__).with_name("README.md")


@dataclasses.dataclass(frozen=True)
class FolderFile(lesion_features.SourceFile):
  """A file in the user's folder; errors name its full path and there is no archive to refetch."""

  def __str__(self) -> str:
    return os.path.join(self.container, self.name)

  @property
  def remedy(self) -> str:
    return "replace it with a good copy, or remove the image and its mask from the folder"


@dataclasses.dataclass
class FolderConfig(manual_lesion_builder.LesionConfig):
  """A `LesionConfig` bound to one folder; made by the builder from `folder=` and `mask_suffix=`.

  Attributes:
    folder: the folder's real path.
    mask_suffix: what follows the id in a mask's file name.
  """

  folder: str = ""
  mask_suffix: str = DEFAULT_MASK_SUFFIX


def folder_config(
  folder: str | os.PathLike, mask_suffix: str, base: manual_lesion_builder.LesionConfig
) -> FolderConfig:
  """`base` (`original`, `max512` or a custom size) for `folder`, named after it."""
  real_path = os.path.realpath(folder)
  # The suffix picks which files are masks, so it is part of what was built.
  key = hashlib.sha256(f"{real_path}\n{mask_suffix.lower()}".encode()).hexdigest()[:_HASH_LENGTH]
  readable = re.sub(r"\W+", "_", os.path.basename(real_path)).strip("_")[:32] or "folder"
  return FolderConfig(
    name=f"{base.name}-{readable}-{key}",
    description=f"{base.description} Built from {real_path} (mask suffix {mask_suffix!r}).",
    max_size=base.max_size,
    folder=real_path,
    mask_suffix=mask_suffix,
  )


class _CustomConfigNoticeFilter(python_logging.Filter):
  """Drops TFDS's "Using custom data configuration" warning for folder configs.

  Every folder is a config of its own, made by the builder, so TFDS would
  print the whole config each time a folder dataset is opened.
  """

  def filter(self, record: python_logging.LogRecord) -> bool:
    return not (
      str(record.msg).startswith("Using custom data configuration")
      and isinstance(record.args, tuple)
      and record.args
      and isinstance(record.args[0], FolderConfig)
    )


python_logging.getLogger("absl").addFilter(_CustomConfigNoticeFilter())


def split_folders(folder: str | os.PathLike) -> dict[str, pathlib.Path]:
  """split -> the folder holding its `images/` and `masks/`, as found in `folder`.

  Raises:
    FileNotFoundError: `folder` is not a directory, or holds no `images/`, or a
      split's `masks/` is missing.
    SourceDataError: both `images/` and split subfolders, or a split subfolder
      whose name cannot be a split's.
  """
  root = pathlib.Path(folder)
  if not root.is_dir():
    raise FileNotFoundError(
      f"folder: {root} is not a directory. Give the folder that holds {IMAGES_FOLDER}/ and "
      f"{MASKS_FOLDER}/ (or split subfolders such as train/{IMAGES_FOLDER}/)."
    )
  subfolders = {
    path.name: path
    for path in sorted(root.iterdir())
    if path.is_dir() and not path.name.startswith(".") and (path / IMAGES_FOLDER).is_dir()
  }
  if (root / IMAGES_FOLDER).is_dir():
    if subfolders:
      raise lesion_features.SourceDataError(
        f"folder: {root} holds both {IMAGES_FOLDER}/ and split subfolders "
        f"{sorted(subfolders)}; use one layout: all images in {IMAGES_FOLDER}/ (the split "
        f"{DEFAULT_SPLIT!r}), or each split's in <split>/{IMAGES_FOLDER}/."
      )
    found = {DEFAULT_SPLIT: root}
  elif subfolders:
    invalid = [name for name in subfolders if not _SPLIT_NAME.fullmatch(name)]
    if invalid:
      raise lesion_features.SourceDataError(
        f"folder: the subfolders {invalid} of {root} hold {IMAGES_FOLDER}/, so they would be "
        "splits, but a split's name must be a letter followed by letters, digits or '_'; "
        "rename them (e.g. train, validation, test)."
      )
    found = dict(sorted(subfolders.items(), key=lambda item: _split_order(item[0])))
  else:
    held = sorted(path.name for path in root.iterdir())
    raise FileNotFoundError(
      f"folder: {root} holds no {IMAGES_FOLDER}/ folder and no split subfolder with one "
      f"(e.g. train/{IMAGES_FOLDER}/); it holds {_listed(held) or 'nothing'}. Put the images "
      f"in {root / IMAGES_FOLDER}/ and the masks in {root / MASKS_FOLDER}/."
    )
  missing = [
    str(path / MASKS_FOLDER) for path in found.values() if not (path / MASKS_FOLDER).is_dir()
  ]
  if missing:
    raise FileNotFoundError(
      f"folder: no masks folder {missing} beside the images folder; put each image's mask "
      f"<id><mask_suffix> there (see {_README})."
    )
  return found


def split_names_of(folder: str | os.PathLike) -> tuple[str, ...]:
  """The splits of the dataset `folder` makes, in order (see `split_folders`)."""
  return tuple(split_folders(folder))


def _split_order(name: str) -> tuple[int, str]:
  return (_USUAL_SPLITS.index(name) if name in _USUAL_SPLITS else len(_USUAL_SPLITS), name)


def list_files(root: pathlib.Path, splits: Mapping[str, pathlib.Path]) -> dict[str, list[int]]:
  """Path relative to `root` -> [size, mtime_ns], of every file in each split's images and masks.

  Hidden files (`.DS_Store`, editors' files) are left out; links are followed.
  """
  files = {}
  for split_dir in splits.values():
    for kind in (IMAGES_FOLDER, MASKS_FOLDER):
      with os.scandir(split_dir / kind) as entries:
        for entry in entries:
          if entry.name.startswith(".") or not entry.is_file():
            continue
          stat = entry.stat()
          relative = (split_dir / kind / entry.name).relative_to(root).as_posix()
          files[relative] = [stat.st_size, stat.st_mtime_ns]
  return dict(sorted(files.items()))


def find_folder_examples(
  root: pathlib.Path,
  splits: Mapping[str, pathlib.Path],
  files: Mapping[str, list[int]],
  mask_suffix: str,
) -> dict[str, list[manual_lesion_builder.ExampleFiles]]:
  """Every split's examples, from the listing `files` of `root` (`list_files`).

  Raises:
    SourceDataError: a split without images, two images of one id, an image
      without a mask or a mask without an image, an id in two splits.
  """
  examples = {}
  for split, split_dir in splits.items():
    relative = split_dir.relative_to(root).as_posix()
    prefix = "" if relative == "." else f"{relative}/"
    image_names = _names_in(files, f"{prefix}{IMAGES_FOLDER}/")
    mask_names = _names_in(files, f"{prefix}{MASKS_FOLDER}/")
    images = _images_by_id(image_names, split_dir / IMAGES_FOLDER)
    masks = _masks_by_id(mask_names, split_dir / MASKS_FOLDER, mask_suffix)
    _check_pairs(images, masks, mask_names, split_dir, mask_suffix)
    examples[split] = [
      manual_lesion_builder.ExampleFiles(
        id=file_id,
        diagnosis="unknown",
        image=FolderFile(str(split_dir / IMAGES_FOLDER), images[file_id]),
        mask=FolderFile(str(split_dir / MASKS_FOLDER), masks[file_id]),
      )
      for file_id in sorted(images)
    ]
  _check_ids_in_one_split(examples)
  return examples


def _names_in(files: Mapping[str, list[int]], prefix: str) -> list[str]:
  return [path.removeprefix(prefix) for path in files if path.startswith(prefix)]


def _images_by_id(names: list[str], images_dir: pathlib.Path) -> dict[str, str]:
  found = collections.defaultdict(list)
  ignored = []
  for name in names:
    stem, extension = os.path.splitext(name)
    if extension.lower() in IMAGE_EXTENSIONS:
      found[stem].append(name)
    else:
      ignored.append(name)
  if ignored:
    logging.warning(
      "folder: ignoring %d files in %s that are not images (%s): %s",
      len(ignored),
      images_dir,
      ", ".join(IMAGE_EXTENSIONS),
      _listed(ignored),
    )
  if not found:
    raise lesion_features.SourceDataError(
      f"folder: {images_dir} holds no images (files ending in {', '.join(IMAGE_EXTENSIONS)}); "
      "put the images there, or remove the folder."
    )
  _check_one_file_per_id(found, images_dir, "images")
  return {file_id: names[0] for file_id, names in found.items()}


def _masks_by_id(names: list[str], masks_dir: pathlib.Path, mask_suffix: str) -> dict[str, str]:
  found = collections.defaultdict(list)
  for name in names:
    if name.lower().endswith(mask_suffix.lower()) and len(name) > len(mask_suffix):
      found[name[: -len(mask_suffix)]].append(name)
  _check_one_file_per_id(found, masks_dir, "masks")
  return {file_id: names[0] for file_id, names in found.items()}


def _check_one_file_per_id(found: Mapping[str, list[str]], folder: pathlib.Path, kind: str):
  repeated = {file_id: names for file_id, names in found.items() if len(names) > 1}
  if repeated:
    listed = "\n".join(f"  {file_id}: {names}" for file_id, names in sorted(repeated.items()))
    raise lesion_features.SourceDataError(
      f"folder: {folder} holds more than one of the {kind} of these ids:\n{listed}\n"
      "An id is a file's name without its extension (masks: without the mask suffix) and must "
      "be unique; remove or rename the extra files."
    )


def _check_pairs(
  images: Mapping[str, str],
  masks: Mapping[str, str],
  mask_names: list[str],
  split_dir: pathlib.Path,
  mask_suffix: str,
) -> None:
  """Every image has its mask and every mask its image; else an error naming the files."""
  without_mask = sorted(images.keys() - masks.keys())
  without_image = sorted(masks.keys() - images.keys())
  problems = []
  if without_mask:
    expected = [f"{file_id}{mask_suffix} (for {images[file_id]})" for file_id in without_mask]
    problems.append(
      f"{len(without_mask)} images in {split_dir / IMAGES_FOLDER} have no mask in "
      f"{split_dir / MASKS_FOLDER}; missing: {_listed(expected)}."
      + _suffix_hint(without_mask, mask_names, mask_suffix)
    )
  if without_image:
    named = [masks[file_id] for file_id in without_image]
    problems.append(
      f"{len(without_image)} masks in {split_dir / MASKS_FOLDER} have no image "
      f"<id>.<{'|'.join(ext[1:] for ext in IMAGE_EXTENSIONS)}> in "
      f"{split_dir / IMAGES_FOLDER}: {_listed(named)}."
    )
  if problems:
    raise lesion_features.SourceDataError(
      "folder: every image needs its mask, <id><mask_suffix> with mask_suffix "
      f"{mask_suffix!r}, and every mask its image. "
      + " ".join(problems)
      + " Add the missing files or remove the unpaired ones."
    )


def _suffix_hint(without_mask: list[str], mask_names: list[str], mask_suffix: str) -> str:
  """Names another mask suffix when the masks folder holds `<id><that suffix>` files."""
  ids = set(without_mask)
  suffixes = collections.Counter(
    name[len(file_id) :]
    for name in mask_names
    for file_id in (_longest_prefix_id(name, ids),)
    if file_id
  )
  if not suffixes:
    return ""
  suffix, _ = suffixes.most_common(1)[0]
  return (
    f" The masks folder holds {suffix!r}-suffixed masks of these ids; if that is your masks' "
    f"suffix, set mask_suffix={suffix!r} (jaxseg: --config.dataset.mask_suffix={suffix})."
  )


def _longest_prefix_id(name: str, ids: set[str]) -> str:
  # A file `IMD002_lesion.bmp` may suggest the id `IMD002`; ids that are
  # prefixes of each other (IMD00, IMD002) resolve to the longest.
  matches = [file_id for file_id in ids if name.startswith(file_id) and len(name) > len(file_id)]
  return max(matches, key=len, default="")


def _check_ids_in_one_split(examples: Mapping[str, list[manual_lesion_builder.ExampleFiles]]):
  splits_of = collections.defaultdict(list)
  for split, found in examples.items():
    for example in found:
      splits_of[example.id].append(split)
  repeated = {file_id: splits for file_id, splits in splits_of.items() if len(splits) > 1}
  if repeated:
    listed = _listed([f"{file_id} ({', '.join(splits)})" for file_id, splits in repeated.items()])
    raise lesion_features.SourceDataError(
      f"folder: these ids are in more than one split: {listed}. An image in two splits would "
      "be trained on and scored; keep each in one split's folder."
    )


def _listed(names: list[str]) -> str:
  shown = ", ".join(names[:_LISTED_NAMES])
  more = len(names) - _LISTED_NAMES
  return shown + (f" ... and {more} more" if more > 0 else "")


def check_image_values(
  image_bytes: bytes, image_file: FolderFile, mask_bytes: bytes, mask_file: FolderFile
) -> None:
  """Rejects what would be stored wrongly without an error: images of over 8 bits, 0/1 masks.

  Files PIL cannot read pass; `lesion_features.encode_image_and_mask` names them.
  """
  try:
    with Image.open(io.BytesIO(image_bytes)) as image:
      image_mode = image.mode
    with Image.open(io.BytesIO(mask_bytes)) as mask:
      _, mask_max = (mask if mask.mode == "L" else mask.convert("L")).getextrema()
  except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
    return
  if _HIGH_DEPTH_MODES.fullmatch(image_mode):
    raise lesion_features.SourceDataError(
      f"The image {image_file} has PIL mode {image_mode!r} (more than 8 bits per channel), "
      "which would be clipped; save it as 8-bit RGB (or grey)."
    )
  if mask_max == 1:
    raise lesion_features.SourceDataError(
      f"The mask {mask_file} holds the values 0 and 1; lesion pixels must be above "
      f"{lesion_features.MASK_THRESHOLD} (e.g. 255), or the mask would be read as empty. "
      "Save the masks as 0 and 255 (multiply them by 255)."
    )


class Builder(lesion_builder.LesionBuilder):
  """DatasetBuilder for folder: the user's images and masks, from a folder."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = manual_lesion_builder.lesion_configs(
    "JPEG and PNG bytes as they are (BMP and TIFF stored as PNG)"
  )
  DIAGNOSES = DIAGNOSES
  MELANOMA_DIAGNOSIS = None  # The user's folder has no diagnoses.

  def __init__(
    self,
    *,
    folder: str | os.PathLike = "",
    mask_suffix: str = DEFAULT_MASK_SUFFIX,
    config: str | tfds.core.BuilderConfig | None = None,
    **kwargs,
  ):
    """Builder of one config of one folder.

    Args:
      folder: the folder holding `images/` and `masks/` (or split subfolders);
        without it the builder can be made (TFDS lists it) but not built.
      mask_suffix: what follows the id in a mask's file name.
      config: `original`, `max512` or a `LesionConfig` of another size; the
        builder turns it into a `FolderConfig` named after the folder.
      **kwargs: as for any TFDS builder (data_dir, version, file_format).
    """
    requested_config = config
    if folder and not isinstance(config, FolderConfig):
      config = folder_config(folder, mask_suffix, self._base_config(config))
    super().__init__(config=config, **kwargs)
    # TFDS re-creates pickled builders from this; keep what the caller gave.
    self._original_state.update(config=requested_config, folder=folder, mask_suffix=mask_suffix)

  @classmethod
  def _base_config(cls, config) -> manual_lesion_builder.LesionConfig:
    if config is None:
      return cls.BUILDER_CONFIGS[0]
    if isinstance(config, str):
      if config not in cls.builder_configs:
        raise ValueError(
          f"folder has no config {config!r}; its configs are {list(cls.builder_configs)}, or "
          "pass a tfds_builders.manual_lesion_builder.LesionConfig of another size."
        )
      return cls.builder_configs[config]
    return config

  @classmethod
  def split_names(cls) -> tuple[str, ...]:
    """The split of a folder without split subfolders; `split_names_of(folder)` for a folder."""
    return (DEFAULT_SPLIT,)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
      features=lesion_features.features(
        DIAGNOSES, with_original_mask=self.builder_config.max_size is not None
      ),
      supervised_keys=lesion_features.SUPERVISED_KEYS,
      # What the folder held when it was built: `check_folder_unchanged` reads it.
      metadata=tfds.core.MetadataDict(),
    )

  def _folder_config(self) -> FolderConfig:
    if not isinstance(self.builder_config, FolderConfig):
      raise ValueError(
        "folder: no folder given. Pass the folder holding images/ and masks/: "
        'tfds.builder("folder/max512", folder=DIR, ...) (jaxseg: --config.dataset.folder=DIR).'
      )
    return self.builder_config

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Nothing to download: the files are in the folder.
    config = self._folder_config()
    root = pathlib.Path(config.folder)
    splits = split_folders(root)
    # Listed before any file is read, so a change made while building is a
    # change `check_folder_unchanged` sees afterwards.
    files = list_files(root, splits)
    examples = find_folder_examples(root, splits, files, config.mask_suffix)
    self.info.metadata.update(
      folder=config.folder, mask_suffix=config.mask_suffix, splits=list(splits), files=files
    )
    return {split: self._generate_examples(found) for split, found in examples.items()}

  def _generate_examples(self, examples: list[manual_lesion_builder.ExampleFiles]):
    with manual_lesion_builder.SourceFileReader() as reader:
      for example in examples:
        image_bytes, mask_bytes = reader.read(example.image), reader.read(example.mask)
        check_image_values(image_bytes, example.image, mask_bytes, example.mask)
        is_jpeg = example.image.name.lower().endswith(_JPEG_EXTENSIONS)
        values = lesion_features.encode_image_and_mask(
          image_bytes,
          example.image,
          mask_bytes,
          example.mask,
          max_size=self.builder_config.max_size,
          image_format="JPEG" if is_jpeg else "PNG",
        )
        yield example.id, {**values, "id": example.id, "diagnosis": example.diagnosis}

  def check_folder_unchanged(self) -> None:
    """Raises SourceDataError if the folder's files are not those this dataset was built from.

    Compares names, sizes and modification times of the files in the
    folder's `images/` and `masks/` folders (and its splits) with those
    recorded when it was built.
    """
    config = self._folder_config()
    root = pathlib.Path(config.folder)
    try:
      found = split_folders(root)
      splits, now = tuple(found), list_files(root, found)
    except (FileNotFoundError, lesion_features.SourceDataError) as error:
      raise lesion_features.SourceDataError(
        f"folder: {root} changed since it was prepared in {self.data_dir}: {error}"
      ) from error
    recorded = self.info.metadata
    built = {name: list(value) for name, value in recorded["files"].items()}
    if list(splits) == list(recorded["splits"]) and now == built:
      return
    added = sorted(now.keys() - built.keys())
    removed = sorted(built.keys() - now.keys())
    modified = sorted(name for name in now.keys() & built.keys() if now[name] != built[name])
    changes = [
      f"{label} {_listed(names)}"
      for label, names in (("added:", added), ("removed:", removed), ("modified:", modified))
      if names
    ]
    if list(splits) != list(recorded["splits"]):
      changes.append(f"splits {list(recorded['splits'])} -> {list(splits)}")
    raise lesion_features.SourceDataError(
      f"folder: {root} changed since it was prepared in {self.data_dir} ({'; '.join(changes)}). "
      "The prepared dataset is a copy of the folder as it was; to use the folder as it is "
      f"now, delete that copy and run again, which rebuilds it: rm -r '{self.data_dir}'. "
      "(Or restore the folder's files.)"
    )
