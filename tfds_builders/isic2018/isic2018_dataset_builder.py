"""isic2018: ISIC 2018 task 1 lesion segmentation (no diagnoses published for it).

Read from the six published zip archives in the TFDS manual directory,
without extracting anything. The archives also hold `LICENSE.txt` and
`ATTRIBUTION.txt`, which are ignored. Task 1 publishes no diagnoses, so
`diagnosis` has the single class `unknown`. The test masks are public.

The stored format is array_record, read without TensorFlow through
`tfds.data_source`; see README.md for the calls.
"""

import tensorflow_datasets as tfds

from tfds_builders import manual_lesion_builder

DIAGNOSES = ("unknown",)
# The published names of each split's files: `ISIC2018_Task1..._<part>_...`.
_PUBLISHED_SPLIT_NAMES = {"train": "Training", "validation": "Validation", "test": "Test"}
SPLIT_FILES = {
  split: manual_lesion_builder.IsicSplitFiles(
    images=f"ISIC2018_Task1-2_{name}_Input.zip",
    masks=f"ISIC2018_Task1_{name}_GroundTruth.zip",
  )
  for split, name in _PUBLISHED_SPLIT_NAMES.items()
}


class Builder(manual_lesion_builder.IsicBuilder):
  """DatasetBuilder for isic2018."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = manual_lesion_builder.isic_download_instructions(
    "https://challenge.isic-archive.com/data/#2018",
    "Task 1 training, validation and test inputs and ground truth",
    SPLIT_FILES,
  )
  SPLIT_FILES = SPLIT_FILES
  DIAGNOSES = DIAGNOSES
  MELANOMA_DIAGNOSIS = None  # Task 1 publishes no diagnoses.
  UNLABELLED_DIAGNOSIS = "unknown"
  OFFICIAL_SPLIT_SIZES = {"train": 2594, "validation": 100, "test": 1000}
  HOMEPAGE = "https://challenge.isic-archive.com/landing/2018/"
