"""isic2017: ISIC 2017 part 1 lesion segmentation, with part 3 diagnoses.

Read from the six published zip archives and three CSVs in the TFDS manual
directory, without extracting anything. The data archives also hold
`*_superpixels.png` maps and a metadata CSV, which are ignored. The part 3
CSVs have the header `image_id,melanoma,seborrheic_keratosis` and 0.0/1.0
values; an image with neither is a nevus.

The stored format is array_record, read without TensorFlow through
`tfds.data_source`; see README.md for the calls.
"""

import csv

import tensorflow_datasets as tfds
from etils import epath

from tfds_builders import manual_lesion_builder

DIAGNOSES = ("nevus", "melanoma", "seborrheic_keratosis")
OFFICIAL_SPLIT_SIZES = {"train": 2000, "validation": 150, "test": 600}
# The published names of each split's files: `ISIC-2017_<part>_...`.
_PUBLISHED_SPLIT_NAMES = {"train": "Training", "validation": "Validation", "test": "Test_v2"}
SPLIT_FILES = {
  split: manual_lesion_builder.IsicSplitFiles(
    images=f"ISIC-2017_{name}_Data.zip",
    masks=f"ISIC-2017_{name}_Part1_GroundTruth.zip",
    labels=f"ISIC-2017_{name}_Part3_GroundTruth.csv",
  )
  for split, name in _PUBLISHED_SPLIT_NAMES.items()
}
_LABEL_COLUMNS = ("image_id", "melanoma", "seborrheic_keratosis")


def read_diagnoses(csv_path: epath.Path) -> dict[str, str]:
  """id -> diagnosis name from a part 3 CSV."""
  diagnoses = {}
  # utf-8-sig: a copy re-saved by a spreadsheet may start with a byte-order mark.
  reader = csv.DictReader(csv_path.read_bytes().decode("utf-8-sig").splitlines())
  missing_columns = set(_LABEL_COLUMNS) - set(reader.fieldnames or ())
  if missing_columns:
    raise ValueError(
      f"{csv_path} has no column {sorted(missing_columns)}; its header must be "
      f"{','.join(_LABEL_COLUMNS)}. Download the CSV again."
    )
  for row in reader:
    file_id = row["image_id"].strip().upper()
    try:
      is_melanoma = float(row["melanoma"]) == 1.0
      is_keratosis = float(row["seborrheic_keratosis"]) == 1.0
    except (TypeError, ValueError):
      raise ValueError(
        f"{csv_path}: the row of {file_id} is not numeric: {row}. Download the CSV again."
      ) from None
    if is_melanoma and is_keratosis:
      raise ValueError(
        f"{csv_path}: {file_id} is marked both melanoma and seborrheic keratosis. "
        "Download the CSV again."
      )
    diagnoses[file_id] = (
      "melanoma" if is_melanoma else "seborrheic_keratosis" if is_keratosis else "nevus"
    )
  return diagnoses


class Builder(manual_lesion_builder.ManualLesionBuilder):
  """DatasetBuilder for isic2017."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download from https://challenge.isic-archive.com/data/#2017 (Part 1 data
  and ground truth, Part 3 ground truth) these nine files and put them as
  they are (do not extract the zips) in the TFDS manual directory,
  `<data_dir>/downloads/manual/` (`~/tensorflow_datasets/downloads/manual/`
  with the default data_dir), or in a directory passed as
  `download_config=tfds.download.DownloadConfig(manual_dir=...)`:

    ISIC-2017_Training_Data.zip
    ISIC-2017_Training_Part1_GroundTruth.zip
    ISIC-2017_Training_Part3_GroundTruth.csv
    ISIC-2017_Validation_Data.zip
    ISIC-2017_Validation_Part1_GroundTruth.zip
    ISIC-2017_Validation_Part3_GroundTruth.csv
    ISIC-2017_Test_v2_Data.zip
    ISIC-2017_Test_v2_Part1_GroundTruth.zip
    ISIC-2017_Test_v2_Part3_GroundTruth.csv
  """
  BUILDER_CONFIGS = manual_lesion_builder.lesion_configs("JPEG bytes as published")
  DEFAULT_CONFIG_NAME = "original"
  DIAGNOSES = DIAGNOSES
  OFFICIAL_SPLIT_SIZES = OFFICIAL_SPLIT_SIZES
  IMAGE_FORMAT = "JPEG"
  HOMEPAGE = "https://challenge.isic-archive.com/landing/2017/"

  def _find_examples(self, manual_dir: epath.Path):
    return manual_lesion_builder.find_isic_examples(
      manual_dir, self.name, SPLIT_FILES, read_labels=read_diagnoses
    )
