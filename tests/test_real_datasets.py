"""The engine reads the ISIC/PH2 builders by name from a config (dummy archives)."""

import pytest

from jaxseg import run_layout
from jaxseg.data import splits
from jaxseg.train import trainer
from tests.run_testing import smoke_config
from tfds_builders import manual_lesion_builder_testing as builder_testing


@pytest.fixture(scope="module")
def isic2018_dir(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("tfds_isic2018")
  builder_testing.build(
    "isic2018/max512",
    builder_testing.dummy_data_dir("isic2018"),
    data_dir,
    allow_count_mismatch=True,
  )
  return data_dir


def _config(data_dir, overrides):
  return smoke_config(
    data_dir,
    {
      "dataset.name": "isic2018",
      "dataset.builder_config": "max512",
      "num_train_steps": 2,
      "evals.test.resolution": "original",
      **overrides,
    },
  )


def test_train_and_score_at_original_resolution(isic2018_dir, tmp_path):
  config = _config(isic2018_dir, {"evals.test.split": "test"})  # holds a 400x600 image
  results = trainer.train_and_evaluate(config, str(tmp_path))["results"]
  source = splits.open_split(config.dataset, "test", ground_truth_only=True)
  sizes = {}
  for i in range(len(source)):
    example = source[i]
    sizes[example["id"].decode()] = int(example["original_height"] * example["original_width"])
    assert example["original_mask"].shape[:2] == (
      example["original_height"],
      example["original_width"],
    )
  assert max(sizes.values()) == 400 * 600  # stored with its longer side at 512
  assert results["resolution"] == "original"
  for row in results["per_image"]:
    assert row["tp"] + row["fp"] + row["fn"] + row["tn"] == sizes[row["id"]]


def test_protocol_split_of_a_real_dataset(isic2018_dir, tmp_path):
  config = _config(
    isic2018_dir,
    {
      "dataset.train_split": "protocol:train",
      "evals.test.split": "protocol:heldout",
      "evals.test.resolution": "input",
      "dataset.protocol.name": "kfold",
      "dataset.protocol.num_folds": 2,
    },
  )
  results = trainer.train_and_evaluate(config, str(tmp_path))["results"]
  held = (tmp_path / run_layout.SPLITS_FILE).read_text()
  assert all(row["id"] in held for row in results["per_image"])
