"""isic2018's dummy data: the six published zips, with three, two and two images.

Quirks kept: every zip holds `LICENSE.txt` and `ATTRIBUTION.txt`, a training
zip a `__MACOSX` entry; no label files (task 1 has no diagnoses); two masks
have soft borders (values between 0 and 255). One test image is 600x400
(portrait), so `max512` resizes it along its height.
"""

from tfds_builders.dummy_lesion_archives import DummyImage, IsicDummyData, IsicSplit

_IMAGES = {
  "train": (
    DummyImage("ISIC_0000000", 40, 60, "unknown"),
    DummyImage("ISIC_0000001", 30, 45, "unknown", soft_mask_border=True),
    DummyImage("ISIC_0000003", 36, 48, "unknown"),
  ),
  "validation": (
    DummyImage("ISIC_0012255", 30, 45, "unknown"),
    DummyImage("ISIC_0012346", 40, 60, "unknown"),
  ),
  "test": (
    DummyImage("ISIC_0012236", 600, 400, "unknown", soft_mask_border=True),
    DummyImage("ISIC_0036309", 30, 45, "unknown"),
  ),
}
_STRAYS = ("LICENSE.txt", "ATTRIBUTION.txt")
# The published names of each split's files: `ISIC2018_Task1..._<name>_...`.
_PUBLISHED_SPLIT_NAMES = {"train": "Training", "validation": "Validation", "test": "Test"}
DUMMY_DATA = IsicDummyData(
  splits={
    split: IsicSplit(
      data_zip=f"ISIC2018_Task1-2_{name}_Input",
      mask_zip=f"ISIC2018_Task1_{name}_GroundTruth",
      images=_IMAGES[split],
      extra_data_members=_STRAYS,
      extra_mask_members=(*_STRAYS, "__MACOSX") if split == "train" else _STRAYS,
    )
    for split, name in _PUBLISHED_SPLIT_NAMES.items()
  },
  seed=2018,
)
