"""ph2's quirks; what every manual builder does: manual_builders_from_dummy_data_test.py."""

import pytest

from tfds_builders import lesion_features
from tfds_builders import manual_lesion_builder_testing as testing
from tfds_builders.ph2 import ph2_dataset_builder as builder_lib


def test_diagnoses_are_the_tables_codes_in_order_and_melanoma_is_one():
  assert builder_lib.Builder.DIAGNOSES == ("common_nevus", "atypical_nevus", "melanoma")
  assert builder_lib.Builder.MELANOMA_DIAGNOSIS == "melanoma"


def test_max512_resizes_the_wide_image_along_its_width(built_dummy_data):
  assert built_dummy_data("ph2").examples["max512"]["train"]["IMD003"]["image"].shape == (
    28,
    512,
    3,
  )


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


def test_an_image_without_a_mask_names_the_mask_folders(tmp_path):
  manual_dir = testing.copy_dummy_data("ph2", tmp_path / "manual")
  mask_file = testing.dummy_data("ph2").mask_file("train", "IMD004")
  testing.replace_source(manual_dir, mask_file, None)
  with pytest.raises(lesion_features.SourceDataError) as error:
    testing.build("ph2/original", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  assert f"{manual_dir}/PH2Dataset/PH2 Dataset images/*/*_lesion/" in str(error.value)
