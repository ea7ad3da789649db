"""isic2016's quirks; what every manual builder does: manual_builders_from_dummy_data_test.py."""

from tfds_builders import manual_lesion_builder_testing as testing
from tfds_builders.isic2016 import isic2016_dataset_builder as builder_lib


def test_diagnoses_are_benign_and_malignant_and_malignant_is_melanoma():
  assert builder_lib.Builder.DIAGNOSES == ("benign", "malignant")
  assert builder_lib.Builder.MELANOMA_DIAGNOSIS == "malignant"


def test_the_test_csv_writes_diagnoses_as_numbers():
  csv_path = testing.dummy_data_dir("isic2016") / "ISBI2016_ISIC_Part3_Test_GroundTruth.csv"
  assert csv_path.read_text() == "ISIC_0000003,0.0\nISIC_0000004,1.0\n"  # The quirk is there.
  assert builder_lib.read_isic2016_diagnoses(csv_path) == {
    "ISIC_0000003": "benign",
    "ISIC_0000004": "malignant",
  }


def test_max512_resizes_the_landscape_image_to_512_wide(built_dummy_data):
  resized = built_dummy_data("isic2016").examples["max512"]["train"]["ISIC_0000001"]
  assert resized["image"].shape == (341, 512, 3)
