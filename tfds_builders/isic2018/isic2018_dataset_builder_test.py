"""isic2018's quirks; what every manual builder does: manual_builders_from_dummy_data_test.py."""

import tensorflow_datasets as tfds

from tfds_builders import manual_lesion_builder_testing as testing
from tfds_builders.isic2018 import isic2018_dataset_builder as builder_lib


def test_the_one_diagnosis_is_unknown_and_none_is_melanoma():
  assert builder_lib.Builder.DIAGNOSES == ("unknown",)
  assert builder_lib.Builder.MELANOMA_DIAGNOSIS is None


def test_max512_downsizes_portrait_images_along_their_height(built_dummy_data):
  resized = built_dummy_data("isic2018").examples["max512"]["test"]["ISIC_0012236"]
  assert resized["image"].shape == (512, 341, 3)


def test_data_source_alone_builds_with_the_documented_arguments(tmp_path):
  source = tfds.data_source(
    "isic2018/max512",
    split="validation",
    data_dir=tmp_path,
    builder_kwargs={"allow_count_mismatch": True},
    download_and_prepare_kwargs={
      "download_config": tfds.download.DownloadConfig(
        manual_dir=str(testing.dummy_data_dir("isic2018"))
      )
    },
  )
  assert sorted(source[i]["id"].decode() for i in range(len(source))) == [
    "ISIC_0012255",
    "ISIC_0012346",
  ]
