"""isic2017's dummy data: the nine published files, with three, two and two images.

Quirks kept: the data zips hold `*_superpixels.png` maps and a metadata CSV;
the part 3 CSVs have a header and 0.0/1.0 columns. One validation image is
450x620, so `max512` resizes it.
"""

from tfds_builders.dummy_lesion_archives import DummyImage, IsicDummyData, IsicSplit

# Labels as the Part 3 CSV writes them: "melanoma,seborrheic_keratosis".
_NEVUS, _MELANOMA, _KERATOSIS = "0.0,0.0", "1.0,0.0", "0.0,1.0"
_IMAGES = {
  "train": (
    DummyImage("ISIC_0000000", 40, 60, "nevus", label=_NEVUS),
    DummyImage("ISIC_0000001", 30, 45, "melanoma", label=_MELANOMA),
    DummyImage("ISIC_0000002", 36, 48, "seborrheic_keratosis", label=_KERATOSIS),
  ),
  "validation": (
    DummyImage("ISIC_0001769", 450, 620, "melanoma", label=_MELANOMA),
    DummyImage("ISIC_0001852", 30, 45, "nevus", label=_NEVUS),
  ),
  "test": (
    DummyImage("ISIC_0012086", 40, 60, "seborrheic_keratosis", label=_KERATOSIS),
    DummyImage("ISIC_0012092", 45, 30, "nevus", label=_NEVUS),
  ),
}
# The published names of each split's files: `ISIC-2017_<name>_...`.
_PUBLISHED_SPLIT_NAMES = {"train": "Training", "validation": "Validation", "test": "Test_v2"}
DUMMY_DATA = IsicDummyData(
  splits={
    split: IsicSplit(
      data_zip=f"ISIC-2017_{name}_Data",
      mask_zip=f"ISIC-2017_{name}_Part1_GroundTruth",
      images=_IMAGES[split],
      extra_data_members=(f"ISIC-2017_{name}_Data_metadata.csv",),
      superpixels=True,
    )
    for split, name in _PUBLISHED_SPLIT_NAMES.items()
  },
  label_files={
    split: f"ISIC-2017_{name}_Part3_GroundTruth.csv"
    for split, name in _PUBLISHED_SPLIT_NAMES.items()
  },
  csv_header="image_id,melanoma,seborrheic_keratosis",
  seed=2017,
)
