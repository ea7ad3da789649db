"""Tests for manual_lesion_builder's shared checks, configs and builder options."""

import pickle

import pytest
import tensorflow_datasets as tfds

from tfds_builders import lesion_features
from tfds_builders import manual_lesion_builder as builder_lib
from tfds_builders import manual_lesion_builder_testing as testing


def test_files_are_picked_by_pattern_and_strays_ignored():
  names = [
    "ISIC-2017_Training_Data/ISIC_0000000.jpg",
    "ISIC-2017_Training_Data/ISIC_0000000_superpixels.png",
    "ISIC-2017_Training_Data/ISIC-2017_Training_Data_metadata.csv",
    "ISIC-2017_Training_Data/LICENSE.txt",
    "__MACOSX/ISIC-2017_Training_Data/._ISIC_0000001.jpg",
    "__MACOSX/ISIC_0000002.jpg",
    "ISIC-2017_Training_Data/isic_0000003.JPG",
    "ISIC-2017_Training_Data/ISIC_00000004.jpg",  # Eight digits.
  ]
  found = builder_lib.files_by_id(names, builder_lib.ISIC_IMAGE_PATTERN, "Data.zip")
  assert found == {
    "ISIC_0000000": lesion_features.SourceFile("Data.zip", names[0]),
    "ISIC_0000003": lesion_features.SourceFile("Data.zip", names[6]),
  }


def test_mask_suffixes_of_every_year_match():
  names = ["a/ISIC_0000000_Segmentation.png", "b/ISIC_0000001_segmentation.png"]
  found = builder_lib.files_by_id(names, builder_lib.ISIC_MASK_PATTERN, "Masks.zip")
  assert sorted(found) == ["ISIC_0000000", "ISIC_0000001"]


def test_an_id_twice_in_one_archive_is_an_error():
  names = ["Data/ISIC_0000000.jpg", "Data/copy/ISIC_0000000.jpg"]
  with pytest.raises(lesion_features.SourceDataError) as error:
    builder_lib.files_by_id(names, builder_lib.ISIC_IMAGE_PATTERN, "/manual/Data.zip")
  message = str(error.value)
  assert "/manual/Data.zip holds more than one file" in message
  assert f"ISIC_0000000: {names}" in message and "download Data.zip again" in message


def test_unpaired_images_and_masks_are_both_listed():
  def files(*ids):
    return {file_id: lesion_features.SourceFile("x", file_id) for file_id in ids}

  with pytest.raises(lesion_features.SourceDataError) as error:
    builder_lib.pair_images_and_masks(files("A", "B"), files("B", "C"), "Data.zip", "Masks.zip")
  message = str(error.value)
  assert "images in Data.zip without a mask in Masks.zip: ['A']" in message
  assert "masks in Masks.zip without an image in Data.zip: ['C']" in message


def test_an_id_in_two_splits_is_an_error():
  def example(file_id):
    source = lesion_features.SourceFile("x", file_id)
    return builder_lib.ExampleFiles(file_id, "unknown", source, source)

  with pytest.raises(lesion_features.SourceDataError, match=r"ISIC_0000001: \['train', 'test'\]"):
    builder_lib.check_unique_ids(
      {"train": [example("ISIC_0000001")], "test": [example("ISIC_0000001")]}
    )


def test_a_damaged_zip_is_named(tmp_path):
  archive = tmp_path / "ISIC2018_Task1-2_Training_Input.zip"
  archive.write_bytes(b"<html>Not found</html>")
  with pytest.raises(lesion_features.SourceDataError) as error:
    builder_lib.zip_files_by_id(archive, builder_lib.ISIC_IMAGE_PATTERN)
  assert str(archive) in str(error.value)
  assert "download ISIC2018_Task1-2_Training_Input.zip again" in str(error.value)


def test_the_count_option_survives_pickling(tmp_path):
  # TFDS re-creates builders from their pickled state in worker processes.
  builder = tfds.builder("isic2018/max512", data_dir=tmp_path, allow_count_mismatch=True)
  assert pickle.loads(pickle.dumps(builder))._allow_count_mismatch


def test_manual_builders_default_to_the_original_config(tmp_path):
  for dataset in testing.MANUAL_DATASETS:
    assert tfds.builder(dataset, data_dir=tmp_path).builder_config.name == "original"


def test_a_user_made_config_builds_at_its_own_size(tmp_path):
  config = builder_lib.LesionConfig(name="max32", max_size=32)
  testing.build(
    "isic2018",
    testing.dummy_data_dir("isic2018"),
    tmp_path,
    config=config,
    allow_count_mismatch=True,
  )
  examples = testing.read_examples("isic2018/max32", tmp_path)
  resized = examples["test"]["ISIC_0012236"]
  assert resized["image"].shape == (32, 21, 3)
  assert resized["original_mask"].shape == (600, 400, 1)


def test_config_rejects_a_size_below_one():
  with pytest.raises(ValueError, match="max_size"):
    builder_lib.LesionConfig(name="bad", max_size=0)
