"""Protocol splits: seeded, deterministic, disjoint, covering; opened by name."""

import json

import numpy as np
import pytest

from experiments.configs import common
from jaxseg import run_layout
from jaxseg.data import splits, transforms

ISIC2018_TRAIN = [f"ISIC_{i:07d}" for i in range(0, 2 * 2594, 2)]


@pytest.mark.parametrize(
  "kwargs, sizes",
  [
    ({"num_train": 700}, (700, 200)),  # ISIC 2016, ulffn
    ({"train_fraction": 0.8}, (2075, 519)),  # ISIC 2018, cca
    ({"num_train": 2000}, (2000, 594)),  # ISIC 2018, rmsm
  ],
)
def test_holdout_sizes_disjoint_covering_deterministic(kwargs, sizes):
  ids = ISIC2018_TRAIN[: sum(sizes)]
  parts = splits.holdout(ids, seed=0, **kwargs)
  assert (len(parts["train"]), len(parts["heldout"])) == sizes
  assert not set(parts["train"]) & set(parts["heldout"])
  assert sorted(parts["train"] + parts["heldout"]) == sorted(ids)
  assert splits.holdout(list(reversed(ids)), seed=0, **kwargs) == parts  # order-free
  assert splits.holdout(ids, seed=1, **kwargs) != parts


def test_kfold_folds_partition_the_ids():
  folds = splits.kfold(ISIC2018_TRAIN, num_folds=5, seed=0)
  heldout = [set(f["heldout"]) for f in folds]
  assert sorted(len(h) for h in heldout) == [518, 519, 519, 519, 519]
  assert set().union(*heldout) == set(ISIC2018_TRAIN)
  for i, fold in enumerate(folds):
    assert not set(fold["train"]) & heldout[i]
    assert set(fold["train"]) | heldout[i] == set(ISIC2018_TRAIN)
    for j in range(i):
      assert not heldout[i] & heldout[j]
  assert splits.kfold(ISIC2018_TRAIN, num_folds=5, seed=0) == folds


def test_bad_protocols_are_clear_errors():
  with pytest.raises(ValueError, match="exactly one"):
    splits.holdout(ISIC2018_TRAIN, num_train=10, train_fraction=0.5)
  with pytest.raises(ValueError, match="folds"):
    splits.kfold(ISIC2018_TRAIN[:3], num_folds=5)
  with pytest.raises(ValueError, match="unique"):
    splits.holdout(["a", "a", "b"], num_train=1)


def _dataset_config(tfds_dir, **protocol):
  config = common.base_config().dataset
  config.builder_config = "tiny"
  config.data_dir = str(tfds_dir)
  config.protocol.update(protocol)
  return config


def test_open_protocol_split_by_name_writes_ids(tfds_dir, tmp_path):
  config = _dataset_config(tfds_dir, name="kfold", num_folds=3, fold=1, seed=7)
  train = splits.open_split(config, "protocol:train", str(tmp_path))
  heldout = splits.open_split(config, "protocol:heldout", str(tmp_path))
  record = json.loads((tmp_path / run_layout.SPLITS_FILE).read_text())
  assert record["protocol"]["fold"] == 1 and record["dataset"] == "synthetic_lesions"
  read = lambda source: sorted(  # noqa: E731
    transforms.decode_ids([transforms.encode_id(source[i]["id"]) for i in range(len(source))])
  )
  assert read(train) == record["train"] and read(heldout) == record["heldout"]
  assert len(train) + len(heldout) == 24  # the tiny config's train split
  assert train.dataset_info.features["diagnosis"].names == ["benign", "melanoma"]
  assert isinstance(train[0]["image"], np.ndarray)
  with pytest.raises(KeyError, match="protocol:train or protocol:heldout"):
    splits.open_split(config, "protocol:validation")


@pytest.mark.parametrize("split", ["train", "protocol:train"])
def test_train_size_keeps_a_seeded_subset(tfds_dir, tmp_path, split):
  config = _dataset_config(tfds_dir, name="holdout", num_train=20)
  config.train_split = split
  config.train_size = 5
  source = splits.open_train_split(config, str(tmp_path))
  kept = json.loads((tmp_path / run_layout.TRAIN_IDS_FILE).read_text())["train"]
  assert len(source) == 5 and len(kept) == 5
  assert sorted(source[i]["id"].decode() for i in range(5)) == kept
  again = splits.open_train_split(config, str(tmp_path / "again"))
  assert [again[i]["id"] for i in range(5)] == [source[i]["id"] for i in range(5)]
  config.train_size = 25
  with pytest.raises(ValueError, match="exceeds"):
    splits.open_train_split(config)
