"""The run-directory layout: the names the README documents, and listing a run's members."""

import os
import subprocess
import sys

from jaxseg import run_layout


def test_names_are_the_documented_layout():
  # README, "Reading the results", and every run directory written so far: renaming one of
  # these makes older runs unreadable to predict, the leaderboard and resumes.
  assert run_layout.RUN_CONFIG == "config.json"
  assert run_layout.RESULTS_FILE == "results.json"
  assert run_layout.CHECKPOINT_DIRS == ("checkpoints", "best_checkpoint")
  assert run_layout.SELECTION_FILE == "selection.json"
  assert (run_layout.FOLDS_FILE, run_layout.ALL_DATA_DIR) == ("folds.json", "all_data")
  assert run_layout.fold_dir("w", 3) == os.path.join("w", "fold_3")
  assert run_layout.ensemble_results_file("test") == "results_ensemble_test.json"
  assert run_layout.dataset_results_file("isic2017", "test") == "results_isic2017_test.json"
  assert run_layout.dataset_results_file("ph2", "protocol:heldout") == (
    "results_ph2_protocol_heldout.json"
  )


def test_results_files_and_their_histograms():
  for name in ("results.json", "results_isic2017_test.json", "results_ensemble_test.json"):
    assert run_layout.is_results_file(name)
  for name in ("results.jsonl", "my_results.json", "results-x.json", "selection.json"):
    assert not run_layout.is_results_file(name)
  assert run_layout.histogram_file("results.json") == "ja_histogram.png"
  assert run_layout.histogram_file("results_isic2017_test.json") == "ja_histogram_isic2017_test.png"


def test_cross_validation_split_reads_back():
  split = run_layout.cross_validation_split("train", 5)
  assert split == "train, 5-fold held-out"
  assert run_layout.cross_validation_folds(split) == 5
  assert run_layout.cross_validation_folds("protocol:heldout") is None


def test_members_of_a_cross_validation(tmp_path):
  workdir = str(tmp_path)
  assert run_layout.is_fold_dir("fold_12") and not run_layout.is_fold_dir("fold_x")
  folds = run_layout.fold_dirs(workdir, 2)
  assert folds == [os.path.join(workdir, "fold_0"), os.path.join(workdir, "fold_1")]
  # The all-data model is a member once it exists.
  assert run_layout.ensemble_member_dirs(workdir, 2) == folds
  os.makedirs(run_layout.all_data_dir(workdir))
  assert run_layout.ensemble_member_dirs(workdir, 2) == [*folds, run_layout.all_data_dir(workdir)]


def test_reading_a_run_creates_nothing(tmp_path):
  run = tmp_path / "run"
  run.mkdir()
  assert run_layout.read_results(str(run)) is None and not run_layout.has_results(str(run))
  assert run_layout.latest_checkpoint_step(str(run)) is None
  (run / "checkpoints" / "4").mkdir(parents=True)
  (run / "checkpoints" / "12").mkdir()
  (run / "checkpoints" / "12.orbax-checkpoint-tmp-1").mkdir()  # an unfinished save
  assert run_layout.latest_checkpoint_step(str(run)) == 12
  (run / "results.json").write_text('{"metrics": {"JA": 0.5}}')
  assert run_layout.read_results(str(run)) == {"metrics": {"JA": 0.5}}
  assert sorted(os.listdir(run)) == ["checkpoints", "results.json"]


def test_readers_of_finished_runs_load_no_jax():
  # Reading runs and tables (the leaderboard's and a report's work) needs no JAX import (~3 s).
  code = (
    "import sys, experiments.run_finder, experiments.tables, jaxseg.run_layout; "
    "print(sorted(m for m in ('jax', 'flax', 'orbax') if m in sys.modules))"
  )
  out = subprocess.run(
    [sys.executable, "-c", code], capture_output=True, text=True, check=True
  ).stdout
  assert out.strip() == "[]"
