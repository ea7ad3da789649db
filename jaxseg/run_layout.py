"""What a run directory holds: every file and folder name, and how to list a run's members.

The one place these names are spelled; training, cross-validation, selection,
inference, ablate/compare, the leaderboard and reports import them. JAX-free,
so the leaderboard and other readers of finished runs load no backend.

  <workdir>/config.json                 RUN_CONFIG: the config the run was made with
  <workdir>/checkpoints/                CHECKPOINTS_DIR: Orbax, the latest `keep_checkpoints`
  <workdir>/best_checkpoint/            BEST_CHECKPOINT_DIR: model selection's best
  <workdir>/selection.json              SELECTION_FILE: every evaluation of the selector
  <workdir>/results.json                RESULTS_FILE: the main evaluator's scores
  <workdir>/results_<name>.json         the other evaluators' (`is_results_file`)
  <workdir>/ja_histogram[_<name>].png   beside each results file (`histogram_file`)
  <workdir>/splits.json                 SPLITS_FILE: a protocol split's id lists
  <workdir>/train_ids.json              TRAIN_IDS_FILE: the ids `dataset.train_size` kept
  <workdir>/events.out.tfevents.*       TensorBoard, one file per start of the run

A cross-validation (jaxseg/train/crossval.py) adds

  <workdir>/folds.json                  FOLDS_FILE: every fold's held-out ids
  <workdir>/fold_<k>/                   `fold_dir`: an ordinary run per fold
  <workdir>/all_data/                   ALL_DATA_DIR: the ensemble's all-data model
  <workdir>/results.json                mean and std over folds (split `cross_validation_split`)
  <workdir>/results_ensemble_<split>.json   `ensemble_results_file`: the ensemble's scores

A table (experiments.ablate, experiments.compare) is a folder of runs, one per
row, each with ABLATION_ROW_FILE, and `<stem>.md` / `<stem>.csv` beside them
(`table_paths`); a folder of runs gets LEADERBOARD_STEM's two files; a parity
workdir the PARITY_* files.
"""

import json
import os
import re

RUN_CONFIG = "config.json"
CHECKPOINTS_DIR = "checkpoints"
BEST_CHECKPOINT_DIR = "best_checkpoint"
# Orbax's folders: nothing below them is a run.
CHECKPOINT_DIRS = (CHECKPOINTS_DIR, BEST_CHECKPOINT_DIR)
SELECTION_FILE = "selection.json"
RESULTS_FILE = "results.json"
SPLITS_FILE = "splits.json"
TRAIN_IDS_FILE = "train_ids.json"
TENSORBOARD_EVENTS_PREFIX = "events.out.tfevents"

FOLDS_FILE = "folds.json"
ALL_DATA_DIR = "all_data"

ABLATION_ROW_FILE = "ablation_row.json"
ABLATION_STEM = "ablation"
COMPARISON_STEM = "comparison"
SWEEP_STEM_PREFIX = "sweep_"
LEADERBOARD_STEM = "leaderboard"

PARITY_STEM = "parity"
PARITY_RUN_FILE = "parity_run.json"

_RESULTS_FILE_PATTERN = re.compile(r"results(_.+)?\.json")
_FOLD_DIR_PATTERN = re.compile(r"fold_(\d+)")
_CROSS_VALIDATION_SPLIT_PATTERN = re.compile(r"(.*), (\d+)-fold held-out")


# --- results files -------------------------------------------------------------------


def is_results_file(name: str) -> bool:
  """results.json or results_<name>.json."""
  return _RESULTS_FILE_PATTERN.fullmatch(name) is not None


def histogram_file(results_file: str) -> str:
  """results.json -> ja_histogram.png, results_X.json -> ja_histogram_X.png."""
  return f"ja_histogram{os.path.splitext(results_file)[0].removeprefix('results')}.png"


def _split_file_part(split: str) -> str:
  """A split as part of a file name: protocol:heldout -> protocol_heldout."""
  return split.replace(":", "_")


def ensemble_results_file(split: str) -> str:
  """Where a cross-validation's ensemble evaluator on `split` writes."""
  return f"results_ensemble_{_split_file_part(split)}.json"


def dataset_results_file(dataset: str, split: str) -> str:
  """A further evaluator's results file, named by what it scores."""
  return f"results_{dataset}_{_split_file_part(split)}.json"


def read_results(run_dir: str, results_file: str = RESULTS_FILE) -> dict | None:
  """A run's results file, or None where it has not been written."""
  path = os.path.join(run_dir, results_file)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def has_results(run_dir: str) -> bool:
  """Whether the run finished: its main results file exists."""
  return os.path.exists(os.path.join(run_dir, RESULTS_FILE))


# --- cross-validation members --------------------------------------------------------


def fold_dir(workdir: str, fold: int) -> str:
  return os.path.join(workdir, f"fold_{fold}")


def is_fold_dir(name: str) -> bool:
  """Whether a folder name is a fold's (fold_0, fold_1, ...)."""
  return _FOLD_DIR_PATTERN.fullmatch(name) is not None


def fold_dirs(workdir: str, num_folds: int) -> list[str]:
  return [fold_dir(workdir, fold) for fold in range(num_folds)]


def all_data_dir(workdir: str) -> str:
  return os.path.join(workdir, ALL_DATA_DIR)


def ensemble_member_dirs(workdir: str, num_folds: int) -> list[str]:
  """The members of a cross-validation's ensemble: its folds, and its all-data model if trained."""
  all_data = all_data_dir(workdir)
  return [*fold_dirs(workdir, num_folds), *([all_data] if os.path.isdir(all_data) else [])]


def cross_validation_split(source_split: str, num_folds: int) -> str:
  """The split a cross-validation's summary records: "train, 5-fold held-out"."""
  return f"{source_split}, {num_folds}-fold held-out"


def cross_validation_folds(split: str) -> int | None:
  """The number of folds of a `cross_validation_split`, None for any other split."""
  match = _CROSS_VALIDATION_SPLIT_PATTERN.fullmatch(split)
  return int(match.group(2)) if match else None


# --- checkpoints, TensorBoard, tables ------------------------------------------------


def checkpoints_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), CHECKPOINTS_DIR)


def best_checkpoint_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(workdir), BEST_CHECKPOINT_DIR)


def latest_checkpoint_step(workdir: str) -> int | None:
  """The newest step in `<workdir>/checkpoints/` (Orbax names each by its step), without Orbax."""
  path = os.path.join(workdir, CHECKPOINTS_DIR)
  if not os.path.isdir(path):
    return None
  return max((int(name) for name in os.listdir(path) if name.isdigit()), default=None)


def is_tensorboard_events(name: str) -> bool:
  return name.startswith(TENSORBOARD_EVENTS_PREFIX)


def times_started(workdir: str) -> int:
  """How often a run was started: the trainer opens one TensorBoard event file each time."""
  return sum(is_tensorboard_events(name) for name in os.listdir(workdir))


def table_paths(directory: str, stem: str) -> tuple[str, str]:
  """A table's markdown and CSV files."""
  return os.path.join(directory, f"{stem}.md"), os.path.join(directory, f"{stem}.csv")


def sweep_stem(sweep: str) -> str:
  return f"{SWEEP_STEM_PREFIX}{sweep}"
