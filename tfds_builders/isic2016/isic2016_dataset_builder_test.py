"""Tests for the isic2016 builder: built from dummy_data/, read back, and broken on purpose.

Plain pytest rather than tfds.testing, which needs TensorFlow. Both configs
are built once per module from the dummy archives (whose splits are tiny, so
with allow_count_mismatch=True) and read through `tfds.data_source`.
"""

import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tfds_builders import manual_lesion_builder_testing as testing
from tfds_builders.isic2016 import isic2016_dataset_builder as builder_lib

DUMMY_DATA = testing.dummy_data_dir("isic2016")
CONFIGS = ("original", "max512")
# id -> (diagnosis, height, width) of the dummy images. The test CSV writes
# its labels as 0.0/1.0, the training CSV as benign/malignant.
EXPECTED = {
  "train": {
    "ISIC_0000000": ("benign", 40, 60),
    "ISIC_0000001": ("malignant", 400, 600),
    "ISIC_0000002": ("benign", 30, 45),
  },
  "test": {
    "ISIC_0000003": ("benign", 45, 30),
    "ISIC_0000004": ("malignant", 36, 48),
  },
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("tfds_data")
  for config in CONFIGS:
    testing.build(f"isic2016/{config}", DUMMY_DATA, data_dir, allow_count_mismatch=True)
  return data_dir


@pytest.fixture(scope="module")
def examples(data_dir):
  """config -> split -> id -> decoded example."""
  return {config: testing.read_examples(f"isic2016/{config}", data_dir) for config in CONFIGS}


def test_splits_hold_the_images_of_their_archives(examples):
  for config in CONFIGS:
    assert {split: sorted(found) for split, found in examples[config].items()} == {
      split: sorted(expected) for split, expected in EXPECTED.items()
    }


def test_features_are_the_shared_ones(data_dir):
  for config in CONFIGS:
    builder = tfds.builder(f"isic2016/{config}", data_dir=data_dir)
    testing.check_feature_definition(builder, ["benign", "malignant"])


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
    "isic2016/original", data_dir, decoders={"image": tfds.decode.SkipDecoding()}
  )
  for split, archives in builder_lib.SPLIT_FILES.items():
    top = archives.images.removesuffix(".zip")
    mask_top = archives.masks.removesuffix(".zip")
    for file_id in EXPECTED[split]:
      published = testing.zip_member(DUMMY_DATA / archives.images, f"{top}/{file_id}.jpg")
      assert undecoded[split][file_id]["image"] == published
      # 2016's masks end in _Segmentation.png, with a capital S.
      mask = testing.zip_member(
        DUMMY_DATA / archives.masks, f"{mask_top}/{file_id}_Segmentation.png"
      )
      np.testing.assert_array_equal(
        examples["original"][split][file_id]["mask"], testing.binarised(testing.decoded(mask))
      )


def test_max512_downsizes_only_large_images_and_keeps_the_full_mask(examples):
  resized = examples["max512"]["train"]["ISIC_0000001"]
  assert resized["image"].shape == (341, 512, 3)
  for split, expected in EXPECTED.items():
    for file_id in expected:
      testing.check_downsized_matches_original(
        examples["original"][split][file_id], examples["max512"][split][file_id]
      )


def test_tensorflow_is_never_imported(examples):
  del examples  # Built and read by now.
  assert "tensorflow" not in sys.modules


def test_a_missing_archive_is_named_with_its_directory(tmp_path):
  manual_dir = testing.copy_dummy_data("isic2016", tmp_path / "manual")
  (manual_dir / "ISBI2016_ISIC_Part1_Test_GroundTruth.zip").unlink()
  with pytest.raises(FileNotFoundError) as error:
    testing.build("isic2016/original", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  message = str(error.value)
  assert "ISBI2016_ISIC_Part1_Test_GroundTruth.zip" in message
  assert str(manual_dir) in message
  assert "Training_Data.zip" not in message  # Only what is missing.
  assert "DownloadConfig(manual_dir=" in message


def test_a_missing_manual_directory_names_every_file(tmp_path):
  with pytest.raises(FileNotFoundError) as error:
    testing.build("isic2016/original", tmp_path / "nowhere", tmp_path / "data")
  message = str(error.value)
  for split_files in builder_lib.SPLIT_FILES.values():
    for name in split_files.names:
      assert name in message
  assert str(tmp_path / "nowhere") in message


def test_split_sizes_must_be_the_official_ones_unless_allowed(tmp_path):
  with pytest.raises(ValueError) as error:
    testing.build("isic2016/original", DUMMY_DATA, tmp_path / "data")
  message = str(error.value)
  assert "train: 3 images" in message and "officially 900" in message
  assert "ISBI2016_ISIC_Part1_Training_Data.zip" in message
  assert "allow_count_mismatch=True" in message


def test_a_missing_label_names_the_id_and_the_csv(tmp_path):
  manual_dir = testing.copy_dummy_data("isic2016", tmp_path / "manual")
  csv_path = manual_dir / "ISBI2016_ISIC_Part3_Test_GroundTruth.csv"
  csv_path.write_text(csv_path.read_text().replace("ISIC_0000004,1.0\n", ""))
  with pytest.raises(ValueError) as error:
    testing.build("isic2016/original", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  message = str(error.value)
  assert "ISIC_0000004" in message and str(csv_path) in message
  assert "download it again" in message


def test_a_mask_of_another_size_is_named_with_both_sizes(tmp_path):
  manual_dir = testing.copy_dummy_data("isic2016", tmp_path / "manual")
  member = "ISBI2016_ISIC_Part1_Test_GroundTruth/ISIC_0000003_Segmentation.png"
  testing.rewrite_zip(
    manual_dir / "ISBI2016_ISIC_Part1_Test_GroundTruth.zip",
    {member: testing.png(np.zeros((44, 30), np.uint8))},
  )
  with pytest.raises(ValueError) as error:
    testing.build("isic2016/original", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  message = str(error.value)
  assert member in message and "ISBI2016_ISIC_Part1_Test_GroundTruth.zip" in message
  assert "ISBI2016_ISIC_Part1_Test_Data/ISIC_0000003.jpg" in message
  assert "30x44" in message and "30x45" in message
  assert "download ISBI2016_ISIC_Part1_Test_GroundTruth.zip again" in message
