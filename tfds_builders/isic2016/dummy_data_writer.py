"""isic2016's dummy data: the six published files, with three training and two test images.

Quirks kept: masks end in `_Segmentation.png` (capital S); the training CSV
writes `benign`/`malignant`, the test CSV `0.0`/`1.0`; a `__MACOSX` entry in
the training images. One image is 400x600, so `max512` resizes it.
"""

from tfds_builders.dummy_lesion_archives import DummyImage, IsicDummyData, IsicSplit

_IMAGES = {
  "train": (
    DummyImage("ISIC_0000000", 40, 60, "benign", label="benign"),
    DummyImage("ISIC_0000001", 400, 600, "malignant", label="malignant"),
    DummyImage("ISIC_0000002", 30, 45, "benign", label="benign"),
  ),
  "test": (
    DummyImage("ISIC_0000003", 45, 30, "benign", label="0.0"),
    DummyImage("ISIC_0000004", 36, 48, "malignant", label="1.0"),
  ),
}
# The published names of each split's files: `ISBI2016_ISIC_<part>_<name>_...`.
_PUBLISHED_SPLIT_NAMES = {"train": "Training", "test": "Test"}
DUMMY_DATA = IsicDummyData(
  splits={
    split: IsicSplit(
      data_zip=f"ISBI2016_ISIC_Part1_{name}_Data",
      mask_zip=f"ISBI2016_ISIC_Part1_{name}_GroundTruth",
      images=_IMAGES[split],
      mask_suffix="_Segmentation.png",
      extra_data_members=("__MACOSX",) if split == "train" else (),
    )
    for split, name in _PUBLISHED_SPLIT_NAMES.items()
  },
  label_files={
    split: f"ISBI2016_ISIC_Part3_{name}_GroundTruth.csv"
    for split, name in _PUBLISHED_SPLIT_NAMES.items()
  },
  seed=2016,
)
