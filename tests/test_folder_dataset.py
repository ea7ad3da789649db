"""The folder dataset through jaxseg: config keys, splits from the folder, errors, a run."""

import json

import pytest

from experiments import configs
from jaxseg import errors
from jaxseg.data import datasets, splits
from jaxseg.train import experiment
from tfds_builders.folder import folder_testing


@pytest.fixture
def fresh_process(monkeypatch):
  """Forget which folder datasets this process found unchanged, as a new process would."""
  monkeypatch.setattr(datasets, "_UNCHANGED_FOLDER_DATASETS", set())


def _open(folder, data_dir, split="train", **kwargs):
  return datasets.open_data_source(
    "folder", split, "max512", str(data_dir), folder=str(folder), **kwargs
  )


def test_a_folder_dataset_needs_its_folder(tmp_path):
  with pytest.raises(errors.ConfigError, match="--config.dataset.folder=DIR"):
    datasets.open_data_source("folder", "train", "max512", str(tmp_path))


def test_splits_come_from_the_folder(tmp_path):
  flat = folder_testing.write_lesion_folder(tmp_path / "flat", {"a": ".png"})
  assert datasets.get_dataset_spec("folder", flat).splits == ("train",)
  split = tmp_path / "split"
  folder_testing.write_lesion_folder(split / "train", {"a": ".png"})
  folder_testing.write_lesion_folder(split / "test", {"b": ".png"})
  assert datasets.get_dataset_spec("folder", split).splits == ("train", "test")
  assert [example["id"] for example in _open(split, tmp_path / "tfds", "test")] == [b"b"]
  with pytest.raises(errors.ConfigError, match=r"no split 'validation'.*\['train', 'test'\]"):
    _open(split, tmp_path / "tfds", "validation")
  with pytest.raises(errors.DataError, match="is not a directory.*dataset.folder"):
    datasets.get_dataset_spec("folder", tmp_path / "absent")


def test_bad_files_are_data_errors_naming_them(tmp_path):
  folder = folder_testing.write_lesion_folder(tmp_path / "lesions", {"a": ".png", "b": ".png"})
  (folder / "masks" / "b_segmentation.png").unlink()
  with pytest.raises(errors.DataError) as error:
    _open(folder, tmp_path / "tfds")
  assert "b_segmentation.png (for b.png)" in str(error.value)
  assert "tfds_builders/folder/README.md" in str(error.value)


def test_the_mask_suffix_reaches_the_builder(tmp_path):
  folder = folder_testing.write_lesion_folder(
    tmp_path / "ph2", {"IMD002": ".bmp"}, mask_suffix="_lesion.bmp"
  )
  source = _open(folder, tmp_path / "tfds", mask_suffix="_lesion.bmp")
  assert [example["id"] for example in source] == [b"IMD002"]
  with pytest.raises(errors.ConfigError, match="mask_suffix is empty"):
    _open(folder, tmp_path / "tfds", mask_suffix="")


def test_a_changed_folder_is_an_error_for_the_next_process_only(tmp_path, fresh_process):
  folder = folder_testing.write_lesion_folder(tmp_path / "lesions", {"a": ".png"})
  assert len(_open(folder, tmp_path / "tfds")) == 1
  folder_testing.write_lesion_folder(folder, {"b": ".png"})
  # A process that already opened it keeps reading the copy it started with.
  assert len(_open(folder, tmp_path / "tfds")) == 1
  datasets._UNCHANGED_FOLDER_DATASETS.clear()  # A new process.
  with pytest.raises(
    errors.DataError, match=r"changed since it was prepared .*added: images/b.png"
  ):
    _open(folder, tmp_path / "tfds")


def test_the_folder_keys_of_a_config_reach_the_builder(tmp_path):
  folder = folder_testing.write_lesion_folder(
    tmp_path / "ph2", {"IMD002": ".bmp", "IMD003": ".png"}, mask_suffix="_lesion.bmp"
  )
  config = configs.load_config(
    "unet_synthetic",
    {
      "dataset.name": "folder",
      "dataset.builder_config": "original",
      "dataset.folder": str(folder),
      "dataset.mask_suffix": "_lesion.bmp",
      "dataset.data_dir": str(tmp_path / "tfds"),
    },
  )
  source = splits.open_split(config.dataset, "train")
  assert sorted(example["id"] for example in source) == [b"IMD002", b"IMD003"]


def test_a_run_trains_and_scores_on_a_held_out_part_of_a_folder(tmp_path):
  folder = folder_testing.write_lesion_folder(tmp_path / "lesions")
  config = configs.load_config(
    "unet_synthetic",
    {
      "dataset.name": "folder",
      "dataset.builder_config": "max512",
      "dataset.folder": str(folder),
      "dataset.data_dir": str(tmp_path / "tfds"),
      "dataset.train_split": "protocol:train",
      "dataset.protocol.name": "holdout",
      "dataset.protocol.train_fraction": 0.5,
      "evals.test.split": "protocol:heldout",
      "input.image_size": (32, 32),
      "batch_size": 4,
      "eval_batch_size": 4,
      "num_train_steps": 2,
      "model.base_width": 4,
      "model.depth": 2,
      "progress_bar": False,
    },
  )
  workdir = tmp_path / "run"
  experiment.run(config, str(workdir))
  results = json.loads((workdir / "results.json").read_text())
  split_ids = json.loads((workdir / "splits.json").read_text())
  all_ids = set(folder_testing.DEFAULT_IMAGES)
  assert set(split_ids["train"]) | set(split_ids["heldout"]) == all_ids
  assert len(split_ids["train"]) == 4  # round(0.5 * 7)
  assert results["dataset"] == "folder" and results["split"] == "protocol:heldout"
  assert {row["id"] for row in results["per_image"]} == set(split_ids["heldout"])
  assert set(results["by_diagnosis"]) == {"unknown"}


def test_naming_the_folder_dataset_is_enough_for_a_config(tmp_path):
  """The base config's builder_config "" is the builder's default: folder's "original"."""
  folder = folder_testing.write_lesion_folder(tmp_path / "lesions", {"a": ".png"})
  config = configs.load_config(
    "unet_synthetic",
    {
      "dataset.name": "folder",
      "dataset.folder": str(folder),
      "dataset.data_dir": str(tmp_path / "tfds"),
    },
  )
  source = splits.open_split(config.dataset, "train")
  assert source.dataset_info.config_name.startswith("original-")  # -<folder name>-<hash>
  assert [example["id"] for example in source] == [b"a"]


def test_errors_name_the_options_as_the_caller_sets_them(tmp_path):
  """A tool with flags of its own (experiments.explore) passes their names."""
  folder = folder_testing.write_lesion_folder(tmp_path / "lesions", {"a": ".png"})
  names = datasets.OptionNames(folder="--folder", builder_config="--builder_config")
  with pytest.raises(errors.ConfigError, match=r"name it with --folder=DIR"):
    datasets.open_data_source("folder", "train", None, str(tmp_path), option_names=names)
  with pytest.raises(errors.ConfigError, match=r"'tiny' \(--builder_config\)"):
    datasets.open_data_source(
      "folder", "train", "tiny", str(tmp_path), folder=str(folder), option_names=names
    )
