"""Every registered builder is a LesionBuilder that declares what jaxseg reads from its class."""

import pytest
import tensorflow_datasets as tfds

import tfds_builders
from tfds_builders import lesion_builder

DATASETS = tfds_builders.DATASET_NAMES


def test_the_registry_lists_every_dataset_once_under_its_tfds_name():
  assert len(set(DATASETS)) == len(DATASETS)
  assert set(DATASETS) >= {"isic2016", "isic2017", "isic2018", "ph2", "synthetic_lesions"}
  for name, builder in tfds_builders.BUILDERS.items():
    assert issubclass(builder, lesion_builder.LesionBuilder)
    assert builder.name == name
    assert name in tfds.list_builders(with_community_datasets=False)


@pytest.mark.parametrize("dataset", DATASETS)
def test_splits_diagnoses_and_the_melanoma_class_are_declared(dataset):
  builder = tfds_builders.BUILDERS[dataset]
  assert builder.split_names() and len(set(builder.split_names())) == len(builder.split_names())
  assert builder.DIAGNOSES and len(set(builder.DIAGNOSES)) == len(builder.DIAGNOSES)
  assert builder.MELANOMA_DIAGNOSIS is None or builder.MELANOMA_DIAGNOSIS in builder.DIAGNOSES


@pytest.mark.parametrize("dataset", DATASETS)
def test_builders_write_array_record_unless_asked_otherwise(tmp_path, dataset):
  builder = tfds.builder(dataset, data_dir=tmp_path)
  assert builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD
  asked = tfds.builder(dataset, data_dir=tmp_path / "asked", file_format="tfrecord")
  assert asked.info.file_format == tfds.core.FileFormat.TFRECORD
