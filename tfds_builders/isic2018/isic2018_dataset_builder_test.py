"""Tests for the isic2018 builder: built from dummy_data/, read back, and broken on purpose.

Plain pytest rather than tfds.testing, which needs TensorFlow. Both configs
are built once per module from the dummy archives (whose splits are tiny, so
with allow_count_mismatch=True) and read through `tfds.data_source`.
"""

import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tfds_builders import manual_lesion_builder_testing as testing
from tfds_builders.isic2018 import isic2018_dataset_builder as builder_lib

DUMMY_DATA = testing.dummy_data_dir("isic2018")
CONFIGS = ("original", "max512")
# id -> (height, width) of the dummy images; task 1 has no diagnoses.
EXPECTED = {
  "train": {"ISIC_0000000": (40, 60), "ISIC_0000001": (30, 45), "ISIC_0000003": (36, 48)},
  "validation": {"ISIC_0012255": (30, 45), "ISIC_0012346": (40, 60)},
  "test": {"ISIC_0012236": (600, 400), "ISIC_0036309": (30, 45)},
}
# Dummy masks whose border holds values between 0 and 255.
SOFT_MASKS = {"train": "ISIC_0000001", "test": "ISIC_0012236"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("tfds_data")
  for config in CONFIGS:
    testing.build(f"isic2018/{config}", DUMMY_DATA, data_dir, allow_count_mismatch=True)
  return data_dir


@pytest.fixture(scope="module")
def examples(data_dir):
  """config -> split -> id -> decoded example."""
  return {config: testing.read_examples(f"isic2018/{config}", data_dir) for config in CONFIGS}


def test_splits_hold_the_images_but_not_the_licence_files(examples):
  for config in CONFIGS:
    assert {split: sorted(found) for split, found in examples[config].items()} == {
      split: sorted(expected) for split, expected in EXPECTED.items()
    }


def test_features_are_the_shared_ones(data_dir):
  for config in CONFIGS:
    builder = tfds.builder(f"isic2018/{config}", data_dir=data_dir)
    testing.check_feature_definition(builder, ["unknown"])


def test_every_diagnosis_is_unknown_and_sizes_are_the_dummy_ones(examples):
  for config in CONFIGS:
    for split, expected in EXPECTED.items():
      for file_id, (height, width) in expected.items():
        example = examples[config][split][file_id]
        assert example["diagnosis"] == 0
        assert (example["original_height"], example["original_width"]) == (height, width)
        testing.check_decoded_example(example, downsized=config == "max512")


def test_masks_are_binarised_above_127(examples):
  for split, file_id in SOFT_MASKS.items():
    archives = builder_lib.SPLIT_FILES[split]
    member = f"{archives.masks.removesuffix('.zip')}/{file_id}_segmentation.png"
    published = testing.decoded(testing.zip_member(DUMMY_DATA / archives.masks, member))
    assert set(np.unique(published)) > {0, 255}  # The dummy mask has soft values.
    np.testing.assert_array_equal(
      examples["original"][split][file_id]["mask"], testing.binarised(published)
    )


def test_max512_downsizes_portrait_images_along_their_height(examples):
  resized = examples["max512"]["test"]["ISIC_0012236"]
  assert resized["image"].shape == (512, 341, 3)
  for split, expected in EXPECTED.items():
    for file_id in expected:
      testing.check_downsized_matches_original(
        examples["original"][split][file_id], examples["max512"][split][file_id]
      )


def test_data_source_alone_builds_with_the_documented_arguments(tmp_path):
  source = tfds.data_source(
    "isic2018/max512",
    split="validation",
    data_dir=tmp_path,
    builder_kwargs={"allow_count_mismatch": True},
    download_and_prepare_kwargs={
      "download_config": tfds.download.DownloadConfig(manual_dir=str(DUMMY_DATA))
    },
  )
  assert sorted(source[i]["id"].decode() for i in range(len(source))) == sorted(
    EXPECTED["validation"]
  )


def test_tensorflow_is_never_imported(examples):
  del examples  # Built and read by now.
  assert "tensorflow" not in sys.modules


def test_a_missing_archive_is_named_with_its_directory(tmp_path):
  manual_dir = testing.copy_dummy_data("isic2018", tmp_path / "manual")
  (manual_dir / "ISIC2018_Task1_Test_GroundTruth.zip").unlink()
  with pytest.raises(FileNotFoundError) as error:
    testing.build("isic2018/original", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  message = str(error.value)
  assert "ISIC2018_Task1_Test_GroundTruth.zip" in message
  assert str(manual_dir) in message and "DownloadConfig(manual_dir=" in message


def test_split_sizes_must_be_the_official_ones_unless_allowed(tmp_path):
  with pytest.raises(ValueError) as error:
    testing.build("isic2018/original", DUMMY_DATA, tmp_path / "data")
  message = str(error.value)
  assert "train: 3 images" in message and "officially 2594" in message
  assert "ISIC2018_Task1-2_Training_Input.zip" in message
  assert "allow_count_mismatch=True" in message


def test_a_mask_of_another_size_is_named_with_both_sizes(tmp_path):
  manual_dir = testing.copy_dummy_data("isic2018", tmp_path / "manual")
  member = "ISIC2018_Task1_Validation_GroundTruth/ISIC_0012346_segmentation.png"
  testing.rewrite_zip(
    manual_dir / "ISIC2018_Task1_Validation_GroundTruth.zip",
    {member: testing.png(np.zeros((60, 40), np.uint8))},  # Transposed.
  )
  with pytest.raises(ValueError) as error:
    testing.build("isic2018/max512", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  message = str(error.value)
  assert member in message and "ISIC2018_Task1_Validation_GroundTruth.zip" in message
  assert "40x60" in message and "60x40" in message
  assert "download ISIC2018_Task1_Validation_GroundTruth.zip again" in message


def test_a_corrupt_jpeg_is_named_with_its_archive(tmp_path):
  manual_dir = testing.copy_dummy_data("isic2018", tmp_path / "manual")
  member = "ISIC2018_Task1-2_Training_Input/ISIC_0000003.jpg"
  archive = manual_dir / "ISIC2018_Task1-2_Training_Input.zip"
  testing.rewrite_zip(archive, {member: b"<html>Service unavailable</html>"})
  with pytest.raises(ValueError) as error:
    testing.build("isic2018/original", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  message = str(error.value)
  assert member in message and str(archive) in message
  assert "download ISIC2018_Task1-2_Training_Input.zip again" in message
