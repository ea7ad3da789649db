"""Tests for the isic2017 builder: built from dummy_data/, read back, and broken on purpose.

Plain pytest rather than tfds.testing, which needs TensorFlow. Both configs
are built once per module from the dummy archives (whose splits are tiny, so
with allow_count_mismatch=True) and read through `tfds.data_source`.
"""

import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tfds_builders import manual_lesion_builder_testing as testing
from tfds_builders.isic2017 import isic2017_dataset_builder as builder_lib

DUMMY_DATA = testing.dummy_data_dir("isic2017")
CONFIGS = ("original", "max512")
# id -> (diagnosis, height, width) of the dummy images.
EXPECTED = {
  "train": {
    "ISIC_0000000": ("nevus", 40, 60),
    "ISIC_0000001": ("melanoma", 30, 45),
    "ISIC_0000002": ("seborrheic_keratosis", 36, 48),
  },
  "validation": {
    "ISIC_0001769": ("melanoma", 450, 620),
    "ISIC_0001852": ("nevus", 30, 45),
  },
  "test": {
    "ISIC_0012086": ("seborrheic_keratosis", 40, 60),
    "ISIC_0012092": ("nevus", 45, 30),
  },
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("tfds_data")
  for config in CONFIGS:
    testing.build(f"isic2017/{config}", DUMMY_DATA, data_dir, allow_count_mismatch=True)
  return data_dir


@pytest.fixture(scope="module")
def examples(data_dir):
  """config -> split -> id -> decoded example."""
  return {config: testing.read_examples(f"isic2017/{config}", data_dir) for config in CONFIGS}


def test_splits_hold_the_images_but_not_the_superpixels_or_metadata(examples):
  for config in CONFIGS:
    assert {split: sorted(found) for split, found in examples[config].items()} == {
      split: sorted(expected) for split, expected in EXPECTED.items()
    }


def test_features_are_the_shared_ones(data_dir):
  for config in CONFIGS:
    builder = tfds.builder(f"isic2017/{config}", data_dir=data_dir)
    testing.check_feature_definition(builder, ["nevus", "melanoma", "seborrheic_keratosis"])


def test_diagnoses_and_sizes_are_those_of_the_dummy_images(examples):
  names = builder_lib.DIAGNOSES
  for config in CONFIGS:
    for split, expected in EXPECTED.items():
      for file_id, (diagnosis, height, width) in expected.items():
        example = examples[config][split][file_id]
        assert names[example["diagnosis"]] == diagnosis, (config, file_id)
        assert (example["original_height"], example["original_width"]) == (height, width)
        testing.check_decoded_example(example, downsized=config == "max512")


def test_original_config_stores_the_published_jpegs_and_binarised_masks(data_dir, examples):
  undecoded = testing.read_examples(
    "isic2017/original", data_dir, decoders={"image": tfds.decode.SkipDecoding()}
  )
  for split, archives in builder_lib.SPLIT_FILES.items():
    top = archives.images.removesuffix(".zip")
    mask_top = archives.masks.removesuffix(".zip")
    for file_id in EXPECTED[split]:
      published = testing.zip_member(DUMMY_DATA / archives.images, f"{top}/{file_id}.jpg")
      assert undecoded[split][file_id]["image"] == published
      mask = testing.zip_member(
        DUMMY_DATA / archives.masks, f"{mask_top}/{file_id}_segmentation.png"
      )
      np.testing.assert_array_equal(
        examples["original"][split][file_id]["mask"], testing.binarised(testing.decoded(mask))
      )


def test_max512_downsizes_only_large_images_and_keeps_the_full_mask(examples):
  assert examples["max512"]["validation"]["ISIC_0001769"]["image"].shape == (372, 512, 3)
  for split, expected in EXPECTED.items():
    for file_id in expected:
      testing.check_downsized_matches_original(
        examples["original"][split][file_id], examples["max512"][split][file_id]
      )


def test_tensorflow_is_never_imported(examples):
  del examples  # Built and read by now.
  assert "tensorflow" not in sys.modules


def test_a_missing_archive_is_named_with_its_directory(tmp_path):
  manual_dir = testing.copy_dummy_data("isic2017", tmp_path / "manual")
  (manual_dir / "ISIC-2017_Validation_Data.zip").unlink()
  (manual_dir / "ISIC-2017_Test_v2_Part3_GroundTruth.csv").unlink()
  with pytest.raises(FileNotFoundError) as error:
    testing.build("isic2017/max512", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  message = str(error.value)
  assert "ISIC-2017_Validation_Data.zip" in message
  assert "ISIC-2017_Test_v2_Part3_GroundTruth.csv" in message
  assert str(manual_dir) in message and "DownloadConfig(manual_dir=" in message


def test_split_sizes_must_be_the_official_ones_unless_allowed(tmp_path):
  with pytest.raises(ValueError) as error:
    testing.build("isic2017/max512", DUMMY_DATA, tmp_path / "data")
  message = str(error.value)
  assert "validation: 2 images" in message and "officially 150" in message
  assert "ISIC-2017_Validation_Data.zip" in message
  assert 'tfds.builder("isic2017/max512", allow_count_mismatch=True' in message


def test_an_image_without_a_mask_is_listed(tmp_path):
  manual_dir = testing.copy_dummy_data("isic2017", tmp_path / "manual")
  testing.rewrite_zip(
    manual_dir / "ISIC-2017_Training_Part1_GroundTruth.zip",
    {"ISIC-2017_Training_Part1_GroundTruth/ISIC_0000001_segmentation.png": None},
  )
  with pytest.raises(ValueError) as error:
    testing.build("isic2017/original", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  message = str(error.value)
  assert "without a mask" in message and "['ISIC_0000001']" in message
  assert "ISIC-2017_Training_Data.zip" in message
  assert "ISIC-2017_Training_Part1_GroundTruth.zip" in message
  assert "download them again" in message


@pytest.mark.parametrize("config", CONFIGS)
def test_a_corrupt_jpeg_is_named_with_its_archive(tmp_path, config):
  manual_dir = testing.copy_dummy_data("isic2017", tmp_path / "manual")
  member = "ISIC-2017_Validation_Data/ISIC_0001769.jpg"
  archive = manual_dir / "ISIC-2017_Validation_Data.zip"
  truncated = testing.zip_member(archive, member)[:1500]
  testing.rewrite_zip(archive, {member: truncated})
  with pytest.raises(ValueError) as error:
    testing.build(f"isic2017/{config}", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  message = str(error.value)
  assert member in message and str(archive) in message
  assert "download ISIC-2017_Validation_Data.zip again" in message


def test_a_missing_label_names_the_id_and_the_csv(tmp_path):
  manual_dir = testing.copy_dummy_data("isic2017", tmp_path / "manual")
  csv_path = manual_dir / "ISIC-2017_Validation_Part3_GroundTruth.csv"
  csv_path.write_text(csv_path.read_text().replace("ISIC_0001852,0.0,0.0\n", ""))
  with pytest.raises(ValueError) as error:
    testing.build("isic2017/original", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  message = str(error.value)
  assert "ISIC_0001852" in message and str(csv_path) in message
  assert "download it again" in message
