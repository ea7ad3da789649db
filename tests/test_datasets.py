"""The dataset registry comes from the builders; bad input is a user error."""

import logging

import pytest

import tfds_builders
from experiments.configs import common
from jaxseg import errors
from jaxseg.data import datasets, splits
from tfds_builders import manual_lesion_builder_testing as builder_testing
from tfds_builders.isic2018 import isic2018_dataset_builder
from tfds_builders.synthetic_lesions import synthetic_lesions_dataset_builder


def test_the_registry_is_the_builders_registry():
  assert list(datasets.DATASETS) == list(tfds_builders.DATASET_NAMES)
  for name, spec in datasets.DATASETS.items():
    assert spec.tfds_name == name


def test_specs_are_read_from_the_builder_classes():
  isic2016 = datasets.get_dataset_spec("isic2016")
  assert isic2016.splits == ("train", "test")
  assert isic2016.diagnoses == ("benign", "malignant")
  assert isic2016.melanoma_diagnosis == "malignant"
  assert isic2016.needs_manual_download
  assert datasets.get_dataset_spec("isic2017").splits == ("train", "validation", "test")
  assert datasets.get_dataset_spec("ph2").splits == ("train",)
  synthetic = datasets.get_dataset_spec("synthetic_lesions")
  assert synthetic.splits == ("train", "validation", "test")
  assert synthetic.melanoma_diagnosis == "melanoma"
  assert not synthetic.needs_manual_download
  folder = datasets.get_dataset_spec("folder")
  assert folder.reads_folder and not synthetic.reads_folder and not isic2016.reads_folder
  assert folder.splits == ("train",)  # a folder's own: tests/test_folder_dataset.py
  assert folder.diagnoses == ("unknown",) and folder.melanoma_diagnosis is None
  assert not folder.needs_manual_download


def test_an_unknown_dataset_or_split_is_a_config_error(tmp_path):
  with pytest.raises(errors.ConfigError, match="registered datasets: .*'isic2016'"):
    datasets.get_dataset_spec("isic2019")
  with pytest.raises(errors.ConfigError, match=r"no split 'test'; its splits are \['train'\]"):
    datasets.open_data_source("ph2", "test", data_dir=str(tmp_path))


def test_missing_archives_are_a_data_error_naming_them_and_the_manual_dir_option(tmp_path):
  manual_dir = builder_testing.copy_dummy_data("isic2018", tmp_path / "manual")
  (manual_dir / "ISIC2018_Task1_Test_GroundTruth.zip").unlink()
  with pytest.raises(errors.DataError) as error:
    datasets.open_data_source(
      "isic2018", "test", "original", str(tmp_path / "data"), manual_dir=manual_dir
    )
  message = str(error.value)
  assert "ISIC2018_Task1_Test_GroundTruth.zip" in message and str(manual_dir) in message
  assert "--config.dataset.manual_dir" in message
  assert isinstance(error.value.__cause__, FileNotFoundError)


def test_damaged_archives_are_a_data_error_with_the_builders_message(tmp_path):
  # The dummy splits are far below the official sizes, which jaxseg does not allow.
  with pytest.raises(errors.DataError) as error:
    datasets.open_data_source(
      "isic2018",
      "test",
      "original",
      str(tmp_path / "data"),
      manual_dir=builder_testing.dummy_data_dir("isic2018"),
    )
  message = str(error.value)
  assert "test: 2 images" in message and "officially 1000" in message
  assert "--config.dataset.manual_dir" in message
  assert "--config.dataset.allow_count_mismatch=true" in message


def _isic2018_dummy_config(data_dir, **overrides):
  config = common.base_config().dataset
  config.update(
    name="isic2018",
    builder_config="original",
    data_dir=str(data_dir),
    manual_dir=str(builder_testing.dummy_data_dir("isic2018")),
    **overrides,
  )
  return config


def test_allow_count_mismatch_reaches_the_isic_builders(tmp_path, caplog):
  # The dummy archives hold 2 of the 100 official validation images.
  with pytest.raises(errors.DataError, match="validation: 2 images"):
    splits.open_split(_isic2018_dummy_config(tmp_path / "strict"), "validation")
  config = _isic2018_dummy_config(tmp_path / "allowed", allow_count_mismatch=True)
  with caplog.at_level(logging.WARNING):
    source = splits.open_split(config, "validation")
  assert len(source) == 2
  assert "built anyway (allow_count_mismatch=True)" in caplog.text
  assert "validation: 2 images" in caplog.text


def test_a_folder_given_to_another_dataset_is_ignored_with_a_warning(tfds_dir, caplog):
  with caplog.at_level(logging.WARNING):
    source = datasets.open_data_source(
      "synthetic_lesions", "test", "tiny", str(tfds_dir), folder="/my/lesions"
    )
  assert len(source) > 0
  assert "dataset.folder=/my/lesions is read only by the folder dataset" in caplog.text


def test_other_errors_of_a_builder_are_not_blamed_on_the_data(tmp_path, monkeypatch):
  def broken_find_examples(self, manual_dir):
    raise ValueError("a bug")

  monkeypatch.setattr(isic2018_dataset_builder.Builder, "_find_examples", broken_find_examples)
  with pytest.raises(ValueError, match="a bug"):
    datasets.open_data_source(
      "isic2018", "test", data_dir=str(tmp_path), manual_dir=tmp_path / "manual"
    )


def test_a_missing_file_of_a_builder_without_downloads_is_a_bug(tmp_path, monkeypatch):
  def broken_split_generators(self, dl_manager):
    raise FileNotFoundError("render.py lost its palette")

  monkeypatch.setattr(
    synthetic_lesions_dataset_builder.Builder, "_split_generators", broken_split_generators
  )
  with pytest.raises(FileNotFoundError, match="palette"):
    datasets.open_data_source("synthetic_lesions", "test", "tiny", str(tmp_path))
