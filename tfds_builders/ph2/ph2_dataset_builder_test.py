"""Tests for the ph2 builder: built from dummy_data/, read back, and broken on purpose.

Plain pytest rather than tfds.testing, which needs TensorFlow. Both configs
are built once per module from the dummy folder (4 images rather than 200,
so with allow_count_mismatch=True) and read through `tfds.data_source`.
"""

import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from tfds_builders import manual_lesion_builder_testing as testing
from tfds_builders.ph2 import ph2_dataset_builder as builder_lib

DUMMY_DATA = testing.dummy_data_dir("ph2")
IMAGES = DUMMY_DATA / "PH2Dataset" / "PH2 Dataset images"
CONFIGS = ("original", "max512")
# id -> (diagnosis, height, width) of the dummy images; there is no IMD001.
EXPECTED = {
  "IMD002": ("common_nevus", 40, 56),
  "IMD003": ("atypical_nevus", 28, 520),
  "IMD004": ("melanoma", 36, 48),
  "IMD010": ("common_nevus", 48, 36),
}


def _image_path(root, file_id):
  return root / file_id / f"{file_id}_Dermoscopic_Image" / f"{file_id}.bmp"


def _mask_path(root, file_id):
  return root / file_id / f"{file_id}_lesion" / f"{file_id}_lesion.bmp"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("tfds_data")
  for config in CONFIGS:
    testing.build(f"ph2/{config}", DUMMY_DATA, data_dir, allow_count_mismatch=True)
  return data_dir


@pytest.fixture(scope="module")
def examples(data_dir):
  """config -> id -> decoded example (ph2 has the one split `train`)."""
  examples = {}
  for config in CONFIGS:
    splits = testing.read_examples(f"ph2/{config}", data_dir)
    assert list(splits) == ["train"]
    examples[config] = splits["train"]
  return examples


def test_the_train_split_holds_every_image_but_not_the_roi_files(examples):
  for config in CONFIGS:
    assert sorted(examples[config]) == sorted(EXPECTED)


def test_features_are_the_shared_ones(data_dir):
  for config in CONFIGS:
    builder = tfds.builder(f"ph2/{config}", data_dir=data_dir)
    testing.check_feature_definition(builder, ["common_nevus", "atypical_nevus", "melanoma"])


def test_diagnoses_and_sizes_are_those_of_the_table_and_images(examples):
  names = builder_lib.DIAGNOSES
  for config in CONFIGS:
    for file_id, (diagnosis, height, width) in EXPECTED.items():
      example = examples[config][file_id]
      assert names[example["diagnosis"]] == diagnosis, (config, file_id)
      assert (example["original_height"], example["original_width"]) == (height, width)
      testing.check_decoded_example(example, downsized=config == "max512")


def test_original_config_keeps_every_bmp_pixel_and_mask(examples):
  for file_id in EXPECTED:
    with Image.open(_image_path(IMAGES, file_id)) as image:
      np.testing.assert_array_equal(examples["original"][file_id]["image"], np.asarray(image))
    with Image.open(_mask_path(IMAGES, file_id)) as mask:
      # IMD002's mask is a 1-bit BMP, the others 8-bit.
      published = np.asarray(mask.convert("L"))
    np.testing.assert_array_equal(
      examples["original"][file_id]["mask"], testing.binarised(published)
    )


def test_max512_downsizes_only_large_images_and_keeps_the_full_mask(examples):
  assert examples["max512"]["IMD003"]["image"].shape == (28, 512, 3)
  for file_id in EXPECTED:
    testing.check_downsized_matches_original(
      examples["original"][file_id], examples["max512"][file_id]
    )


def test_tensorflow_is_never_imported(examples):
  del examples  # Built and read by now.
  assert "tensorflow" not in sys.modules


def test_a_missing_folder_says_how_to_get_it(tmp_path):
  manual_dir = tmp_path / "manual"
  manual_dir.mkdir()
  with pytest.raises(FileNotFoundError) as error:
    testing.build("ph2/original", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  message = str(error.value)
  assert str(manual_dir / "PH2Dataset" / "PH2_dataset.txt") in message
  assert "PH2Dataset.rar" in message and "unrar x PH2Dataset.rar" in message


@pytest.mark.parametrize("inside_folder", [False, True], ids=["beside", "inside"])
def test_an_unextracted_rar_says_how_to_extract_it(tmp_path, inside_folder):
  manual_dir = tmp_path / "manual"
  rar_dir = manual_dir / "PH2Dataset" if inside_folder else manual_dir
  rar_dir.mkdir(parents=True)
  (rar_dir / "PH2Dataset.rar").write_bytes(b"Rar!\x1a\x07\x00")
  with pytest.raises(FileNotFoundError) as error:
    testing.build("ph2/original", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  message = str(error.value)
  relative = "PH2Dataset/PH2Dataset.rar" if inside_folder else "PH2Dataset.rar"
  assert str(rar_dir / "PH2Dataset.rar") in message
  assert f"cd '{manual_dir}' && unrar x '{relative}'" in message
  assert f"7z x '{relative}'" in message


def test_split_size_must_be_the_official_one_unless_allowed(tmp_path):
  with pytest.raises(ValueError) as error:
    testing.build("ph2/original", DUMMY_DATA, tmp_path / "data")
  message = str(error.value)
  assert "train: 4 images" in message and "officially 200" in message
  assert str(DUMMY_DATA / "PH2Dataset") in message
  assert "allow_count_mismatch=True" in message


def test_an_image_without_a_mask_is_listed(tmp_path):
  manual_dir = testing.copy_dummy_data("ph2", tmp_path / "manual")
  _mask_path(manual_dir / "PH2Dataset" / "PH2 Dataset images", "IMD004").unlink()
  with pytest.raises(ValueError) as error:
    testing.build("ph2/original", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  message = str(error.value)
  assert "without a mask" in message and "['IMD004']" in message
  assert "_lesion/" in message and "download them again" in message


def test_a_missing_label_names_the_id_and_the_table(tmp_path):
  manual_dir = testing.copy_dummy_data("ph2", tmp_path / "manual")
  table = manual_dir / "PH2Dataset" / "PH2_dataset.txt"
  lines = table.read_bytes().split(b"\r\n")
  table.write_bytes(b"\r\n".join(line for line in lines if b"IMD010" not in line))
  with pytest.raises(ValueError) as error:
    testing.build("ph2/original", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  message = str(error.value)
  assert "IMD010" in message and str(table) in message
  assert "download it again" in message


def test_a_mask_of_another_size_is_named_with_both_sizes(tmp_path):
  manual_dir = testing.copy_dummy_data("ph2", tmp_path / "manual")
  mask_path = _mask_path(manual_dir / "PH2Dataset" / "PH2 Dataset images", "IMD004")
  Image.fromarray(np.zeros((36, 47), np.uint8)).save(mask_path, format="BMP")
  with pytest.raises(ValueError) as error:
    testing.build("ph2/max512", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  message = str(error.value)
  assert "IMD004/IMD004_lesion/IMD004_lesion.bmp" in message
  assert "47x36" in message and "48x36" in message
  assert "extract PH2Dataset again" in message


def test_a_corrupt_bmp_is_named(tmp_path):
  manual_dir = testing.copy_dummy_data("ph2", tmp_path / "manual")
  image_path = _image_path(manual_dir / "PH2Dataset" / "PH2 Dataset images", "IMD003")
  image_path.write_bytes(image_path.read_bytes()[:2000])
  with pytest.raises(ValueError) as error:
    testing.build("ph2/original", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  message = str(error.value)
  assert "IMD003/IMD003_Dermoscopic_Image/IMD003.bmp" in message
  assert "extract PH2Dataset again" in message
