"""isic2016: ISIC 2016 (ISBI 2016) part 1 lesion segmentation, with part 3 diagnoses.

Read from the four published zip archives and two CSVs in the TFDS manual
directory, without extracting anything. Masks are named
`ISIC_xxxxxxx_Segmentation.png` (capital S, unlike later years). The part 3
CSVs have no header; the training CSV writes `benign`/`malignant`, the test
CSV `0.0`/`1.0` (1.0 malignant).

The stored format is array_record, read without TensorFlow through
`tfds.data_source`; see README.md for the calls.
"""

import csv

import tensorflow_datasets as tfds
from etils import epath

from tfds_builders import lesion_features, manual_lesion_builder

DIAGNOSES = ("benign", "malignant")
SPLIT_FILES = {
  "train": manual_lesion_builder.IsicSplitFiles(
    images="ISBI2016_ISIC_Part1_Training_Data.zip",
    masks="ISBI2016_ISIC_Part1_Training_GroundTruth.zip",
    labels="ISBI2016_ISIC_Part3_Training_GroundTruth.csv",
  ),
  "test": manual_lesion_builder.IsicSplitFiles(
    images="ISBI2016_ISIC_Part1_Test_Data.zip",
    masks="ISBI2016_ISIC_Part1_Test_GroundTruth.zip",
    labels="ISBI2016_ISIC_Part3_Test_GroundTruth.csv",
  ),
}
# The test CSV's spelling of the diagnoses.
_DIAGNOSIS_OF_NUMBER = {0.0: "benign", 1.0: "malignant"}


def read_isic2016_diagnoses(csv_path: epath.Path) -> dict[str, str]:
  """id -> diagnosis name from a part 3 CSV, in either of its two spellings."""
  diagnoses = {}
  # utf-8-sig: a copy re-saved by a spreadsheet may start with a byte-order mark.
  for row in csv.reader(csv_path.read_bytes().decode("utf-8-sig").splitlines()):
    if not row or not manual_lesion_builder.ISIC_ID_PATTERN.fullmatch(row[0].strip()):
      continue  # A blank line, or a header should a re-saved copy have one.
    file_id = row[0].strip().upper()
    value = row[1].strip().lower() if len(row) > 1 else ""
    if value in DIAGNOSES:
      diagnoses[file_id] = value
      continue
    try:
      diagnoses[file_id] = _DIAGNOSIS_OF_NUMBER[float(value)]
    except (KeyError, ValueError):
      raise lesion_features.SourceDataError(
        f"{csv_path}: the diagnosis of {file_id} is {value!r}; expected benign, malignant, "
        "0.0 or 1.0. Download the CSV again."
      ) from None
  return diagnoses


class Builder(manual_lesion_builder.IsicBuilder):
  """DatasetBuilder for isic2016."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = manual_lesion_builder.isic_download_instructions(
    "https://challenge.isic-archive.com/data/#2016", "Part 1 and Part 3", SPLIT_FILES
  )
  SPLIT_FILES = SPLIT_FILES
  DIAGNOSES = DIAGNOSES
  # All of ISIC 2016's malignant lesions are melanomas.
  MELANOMA_DIAGNOSIS = "malignant"
  OFFICIAL_SPLIT_SIZES = {"train": 900, "test": 379}
  HOMEPAGE = "https://challenge.isic-archive.com/landing/2016/"

  def _read_diagnoses(self, csv_path: epath.Path) -> dict[str, str]:
    return read_isic2016_diagnoses(csv_path)
