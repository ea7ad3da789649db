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

from tfds_builders import lesion_features, manual_lesion_builder

DIAGNOSES = ("nevus", "melanoma", "seborrheic_keratosis")
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


def read_isic2017_diagnoses(csv_path: epath.Path) -> dict[str, str]:
  """id -> diagnosis name from a part 3 CSV."""
  diagnoses = {}
  # utf-8-sig: a copy re-saved by a spreadsheet may start with a byte-order mark.
  reader = csv.DictReader(csv_path.read_bytes().decode("utf-8-sig").splitlines())
  missing_columns = set(_LABEL_COLUMNS) - set(reader.fieldnames or ())
  if missing_columns:
    raise lesion_features.SourceDataError(
      f"{csv_path} has no column {sorted(missing_columns)}; its header must be "
      f"{','.join(_LABEL_COLUMNS)}. Download the CSV again."
    )
  for row in reader:
    file_id = row["image_id"].strip().upper()
    try:
      is_melanoma = float(row["melanoma"]) == 1.0
      is_keratosis = float(row["seborrheic_keratosis"]) == 1.0
    except (TypeError, ValueError):
      raise lesion_features.SourceDataError(
        f"{csv_path}: the row of {file_id} is not numeric: {row}. Download the CSV again."
      ) from None
    if is_melanoma and is_keratosis:
      raise lesion_features.SourceDataError(
        f"{csv_path}: {file_id} is marked both melanoma and seborrheic keratosis. "
        "Download the CSV again."
      )
    diagnoses[file_id] = (
      "melanoma" if is_melanoma else "seborrheic_keratosis" if is_keratosis else "nevus"
    )
  return diagnoses


class Builder(manual_lesion_builder.IsicBuilder):
  """DatasetBuilder for isic2017."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = manual_lesion_builder.isic_download_instructions(
    "https://challenge.isic-archive.com/data/#2017",
    "Part 1 data and ground truth, Part 3 ground truth",
    SPLIT_FILES,
  )
  SPLIT_FILES = SPLIT_FILES
  DIAGNOSES = DIAGNOSES
  MELANOMA_DIAGNOSIS = "melanoma"
  OFFICIAL_SPLIT_SIZES = {"train": 2000, "validation": 150, "test": 600}
  HOMEPAGE = "https://challenge.isic-archive.com/landing/2017/"

  def _read_diagnoses(self, csv_path: epath.Path) -> dict[str, str]:
    return read_isic2017_diagnoses(csv_path)
