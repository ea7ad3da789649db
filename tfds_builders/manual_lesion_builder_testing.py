"""Test helpers for the builders of `manual_lesion_builder`: build, read back, break archives.

Plain functions for pytest (tfds.testing needs TensorFlow). The broken
variants of the dummy data are copies in a test's temporary directory; the
committed `dummy_data/` folders are never modified. What every manual builder
must do with its dummy data is tested once, for all of them, in
`manual_builders_from_dummy_data_test.py`; `conftest.py` builds each
dataset's dummy data once a session for that and the datasets' own tests.
"""

import dataclasses
import io
import shutil
import zipfile
from collections.abc import Mapping

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

import tfds_builders
from tfds_builders import (
  dummy_lesion_archives,
  lesion_features,
  make_dummy_data,
  manual_lesion_builder,
)

BUILDERS_DIR = epath.Path(__file__).parent
CONFIGS = ("original", "max512")
# The registered datasets built from a manual directory, and those of them from ISIC archives.
MANUAL_DATASETS = tuple(
  name
  for name, builder in tfds_builders.BUILDERS.items()
  if issubclass(builder, manual_lesion_builder.ManualLesionBuilder)
)
ISIC_DATASETS = tuple(
  name
  for name in MANUAL_DATASETS
  if issubclass(tfds_builders.BUILDERS[name], manual_lesion_builder.IsicBuilder)
)


def dummy_data_dir(dataset: str) -> epath.Path:
  return BUILDERS_DIR / dataset / "dummy_data"


def dummy_data(dataset: str) -> dummy_lesion_archives.DummyManualData:
  """What the dataset's dummy-data writer wrote, and where."""
  found = make_dummy_data.dummy_data_of(dataset)
  assert found is not None, f"tfds_builders/{dataset}/dummy_data_writer.py is missing"
  return found


@dataclasses.dataclass(frozen=True)
class BuiltDummyData:
  """A dataset's configs `CONFIGS`, built from its dummy data."""

  data_dir: epath.Path
  examples: dict[str, dict[str, dict[str, dict]]]  # config -> split -> id -> decoded example


def build_dummy_data(dataset: str, data_dir: epath.Path) -> BuiltDummyData:
  """Builds every config of `CONFIGS` from the dataset's dummy data (tiny splits, so allowed)."""
  for config in CONFIGS:
    build(f"{dataset}/{config}", dummy_data_dir(dataset), data_dir, allow_count_mismatch=True)
  examples = {config: read_examples(f"{dataset}/{config}", data_dir) for config in CONFIGS}
  return BuiltDummyData(data_dir, examples)


def build(
  dataset_and_config: str, manual_dir: epath.PathLike, data_dir: epath.PathLike, **builder_kwargs
) -> tfds.core.DatasetBuilder:
  """Prepares `dataset_and_config` from the archives in `manual_dir`, as a user would."""
  builder = tfds.builder(dataset_and_config, data_dir=data_dir, **builder_kwargs)
  builder.download_and_prepare(
    download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
  )
  return builder


def read_examples(
  dataset_and_config: str, data_dir: epath.PathLike, **data_source_kwargs
) -> dict[str, dict[str, dict]]:
  """split -> id -> decoded example, of a prepared dataset, read with `tfds.data_source`."""
  splits = tfds.builder(dataset_and_config, data_dir=data_dir).info.splits
  examples = {}
  for split in splits:
    source = tfds.data_source(
      dataset_and_config, split=split, data_dir=data_dir, **data_source_kwargs
    )
    examples[split] = {source[i]["id"].decode(): source[i] for i in range(len(source))}
  return examples


def copy_dummy_data(dataset: str, destination: epath.Path) -> epath.Path:
  """A copy of a builder's dummy data, to break in a test."""
  shutil.copytree(dummy_data_dir(dataset), destination)
  return destination


def located(
  manual_dir: epath.Path, source: lesion_features.SourceFile
) -> lesion_features.SourceFile:
  """A dummy file as the builder names it: its container below `manual_dir`."""
  return lesion_features.SourceFile(str(manual_dir / source.container), source.name)


def read_source(manual_dir: epath.Path, source: lesion_features.SourceFile) -> bytes:
  """The bytes of a zip member or of a file in a folder (container relative to `manual_dir`)."""
  container = manual_dir / source.container
  if container.is_dir():
    return (container / source.name).read_bytes()
  return zip_member(container, source.name)


def replace_source(
  manual_dir: epath.Path, source: lesion_features.SourceFile, data: bytes | None
) -> None:
  """Overwrites a zip member or a file in a folder with `data`; None deletes it."""
  container = manual_dir / source.container
  if not container.is_dir():
    rewrite_zip(container, {source.name: data})
  elif data is None:
    (container / source.name).unlink()
  else:
    (container / source.name).write_bytes(data)


def zip_member(archive: epath.PathLike, member: str) -> bytes:
  with zipfile.ZipFile(archive) as opened:
    return opened.read(member)


def rewrite_zip(archive: epath.PathLike, changes: Mapping[str, bytes | None]) -> None:
  """Replaces members of `archive` in place (None removes one); members not named are kept."""
  with zipfile.ZipFile(archive) as opened:
    members = [(info, opened.read(info)) for info in opened.infolist()]
  with zipfile.ZipFile(archive, "w") as rewritten:
    for info, data in members:
      if info.filename not in changes:
        rewritten.writestr(info, data)
      elif changes[info.filename] is not None:
        rewritten.writestr(info, changes[info.filename])


def image_format(data: bytes) -> str:
  """The format of an image file as PIL names it ("JPEG", "PNG", "BMP")."""
  with Image.open(io.BytesIO(data)) as image:
    return image.format


def encoded_like(published: bytes, pixels: np.ndarray) -> bytes:
  """`pixels` as a file of the format `published` is in (PNG, BMP, ...)."""
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format=image_format(published))
  return buffer.getvalue()


def decoded(data: bytes, mode: str | None = None) -> np.ndarray:
  """The pixels of an image file, converted to `mode` if given (e.g. a 1-bit mask to "L")."""
  with Image.open(io.BytesIO(data)) as image:
    return np.asarray(image.convert(mode) if mode else image)


def binarised(mask: np.ndarray) -> np.ndarray:
  """A published mask as the builders store it: one channel, 0 or 255."""
  grey = mask if mask.ndim == 2 else mask[..., 0]
  return np.where(grey > lesion_features.MASK_THRESHOLD, 255, 0).astype(np.uint8)[..., None]


def check_feature_definition(builder: tfds.core.DatasetBuilder, diagnoses: list[str]) -> None:
  """The builder's features are the shared ones, `original_mask` only where downsized."""
  downsized = builder.builder_config.max_size is not None
  expected = lesion_features.features(diagnoses, with_original_mask=downsized)
  assert repr(builder.info.features) == repr(expected)
  assert builder.info.features["diagnosis"].names == diagnoses
  assert ("original_mask" in builder.info.features) == downsized
  assert builder.info.supervised_keys == lesion_features.SUPERVISED_KEYS
  assert builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD


def check_decoded_example(example: dict, *, downsized: bool) -> None:
  """dtypes, shapes, mask values and sizes of one example, whatever the dataset."""
  image, mask = example["image"], example["mask"]
  assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3
  assert mask.dtype == np.uint8 and mask.shape == (*image.shape[:2], 1)
  assert set(np.unique(mask)) <= {0, 255}
  original_size = (int(example["original_height"]), int(example["original_width"]))
  if downsized:
    assert max(image.shape[:2]) <= 512
    assert example["original_mask"].shape == (*original_size, 1)
    assert set(np.unique(example["original_mask"])) <= {0, 255}
    if max(original_size) <= 512:
      assert image.shape[:2] == original_size
    else:
      # Longer side exactly 512, aspect kept to the pixel.
      assert max(image.shape[:2]) == 512
      scale = 512 / max(original_size)
      assert image.shape[:2] == tuple(max(1, round(side * scale)) for side in original_size)
  else:
    assert "original_mask" not in example
    assert image.shape[:2] == original_size


def check_downsized_matches_original(original: dict, downsized: dict) -> None:
  """A `max512` example against the same `original` one: same mask, similar pixels."""
  np.testing.assert_array_equal(downsized["original_mask"], original["mask"])
  assert downsized["original_height"] == original["original_height"]
  assert downsized["original_width"] == original["original_width"]
  height, width = downsized["image"].shape[:2]
  reference = np.asarray(
    Image.fromarray(original["image"]).resize((width, height), Image.Resampling.LANCZOS)
  )
  # JPEG at quality 95 and draft decoding move pixels by a few levels only.
  difference = np.abs(reference.astype(np.int16) - downsized["image"].astype(np.int16))
  assert difference.mean() < 3.0
  nearest = np.asarray(
    Image.fromarray(original["mask"][..., 0]).resize((width, height), Image.Resampling.NEAREST)
  )
  np.testing.assert_array_equal(downsized["mask"][..., 0], nearest)
