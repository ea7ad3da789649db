"""isic2018: ISIC 2018 task 1 lesion segmentation (no diagnoses published for it).

Read from the six published zip archives in the TFDS manual directory,
without extracting anything. The archives also hold `LICENSE.txt` and
`ATTRIBUTION.txt`, which are ignored. Task 1 publishes no diagnoses, so
`diagnosis` has the single class `unknown`. The test masks are public.

The stored format is array_record, read without TensorFlow through
`tfds.data_source`; see README.md for the calls.
"""

import tensorflow_datasets as tfds
from etils import epath

from tfds_builders import manual_lesion_builder

DIAGNOSES = ("unknown",)
OFFICIAL_SPLIT_SIZES = {"train": 2594, "validation": 100, "test": 1000}
# The published names of each split's files: `ISIC2018_Task1..._<part>_...`.
_PUBLISHED_SPLIT_NAMES = {"train": "Training", "validation": "Validation", "test": "Test"}
SPLIT_FILES = {
  split: manual_lesion_builder.IsicSplitFiles(
    images=f"ISIC2018_Task1-2_{name}_Input.zip",
    masks=f"ISIC2018_Task1_{name}_GroundTruth.zip",
  )
  for split, name in _PUBLISHED_SPLIT_NAMES.items()
}


class Builder(manual_lesion_builder.ManualLesionBuilder):
  """DatasetBuilder for isic2018."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download from https://challenge.isic-archive.com/data/#2018 (Task 1
  training, validation and test inputs and ground truth) these six files and
  put them as they are (do not extract them) in the TFDS manual directory,
  `<data_dir>/downloads/manual/` (`~/tensorflow_datasets/downloads/manual/`
  with the default data_dir), or in a directory passed as
  `download_config=tfds.download.DownloadConfig(manual_dir=...)`:

    ISIC2018_Task1-2_Training_Input.zip
    ISIC2018_Task1_Training_GroundTruth.zip
    ISIC2018_Task1-2_Validation_Input.zip
    ISIC2018_Task1_Validation_GroundTruth.zip
    ISIC2018_Task1-2_Test_Input.zip
    ISIC2018_Task1_Test_GroundTruth.zip
  """
  BUILDER_CONFIGS = manual_lesion_builder.lesion_configs("JPEG bytes as published")
  DEFAULT_CONFIG_NAME = "original"
  DIAGNOSES = DIAGNOSES
  OFFICIAL_SPLIT_SIZES = OFFICIAL_SPLIT_SIZES
  IMAGE_FORMAT = "JPEG"
  HOMEPAGE = "https://challenge.isic-archive.com/landing/2018/"

  def _find_examples(self, manual_dir: epath.Path):
    return manual_lesion_builder.find_isic_examples(
      manual_dir, self.name, SPLIT_FILES, unlabelled_diagnosis="unknown"
    )
