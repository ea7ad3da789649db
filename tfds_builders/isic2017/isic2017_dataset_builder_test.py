"""isic2017's quirks; what every manual builder does: manual_builders_from_dummy_data_test.py."""

from tfds_builders.isic2017 import isic2017_dataset_builder as builder_lib


def test_diagnoses_and_the_melanoma_class():
  assert builder_lib.Builder.DIAGNOSES == ("nevus", "melanoma", "seborrheic_keratosis")
  assert builder_lib.Builder.MELANOMA_DIAGNOSIS == "melanoma"


def test_max512_resizes_the_large_validation_image(built_dummy_data):
  resized = built_dummy_data("isic2017").examples["max512"]["validation"]["ISIC_0001769"]
  assert resized["image"].shape == (372, 512, 3)
