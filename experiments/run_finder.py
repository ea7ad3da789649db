r"""Finds and reads every run under a directory: what the leaderboard and reports show.

  leaderboard = run_finder.find_runs("runs")   # .rows, .unranked, .tables()

Names of run folders and files come from `jaxseg/run_layout.py`. What is listed:
  - every results file of a run (results.json, results_<name>.json): one row;
  - a cross-validation (jaxseg/train/crossval.py): its results.json (mean ± std
    over folds) and its ensemble results files, not the folds (the mean holds
    them); its all_data/ model is a row of its own (a single model trained on
    the whole split, scored by the ensemble evaluators), to set beside the
    ensemble it is part of;
  - an ablation row (experiments.ablate): its run, named by config and row label;
  - runs without results (config.json or checkpoints/ only, or a missing
    results file the config writes) and files that cannot be read, under
    "Not ranked", with what is missing or wrong.

A table holds the rows scored alike: the same dataset, split, resolution,
post-processing and set of images (the ids in `per_image`: two seeded
hold-outs of the same size are different sets); rows of different tables are
never ranked together. Within a table rows are ranked by mean JA.

Each row carries the paper's numbers where it is the paper's row
(`experiments/paper_match.py`: the named config or one of its ablation rows,
scored as that config prescribes, with no change that alters what is
trained; the "changes" column says how the run's config.json differs from
its named config). Runs made before config.json existed show "unknown"
changes and are judged by what their results file records.

Training time is `train_seconds_this_run` of the results (summed over folds for
a cross-validation, over members for an ensemble): only the last start of a run
is timed, so a run started more than once (resumed, or re-evaluated; it has
several TensorBoard event files) is marked "*".
"""

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

from experiments import paper_match
from jaxseg import run_layout
from jaxseg.errors import DataError
from jaxseg.metric_names import METRIC_KEYS

SINGLE, CROSS_VALIDATION, ENSEMBLE, ALL_DATA = "single", "cross-validation", "ensemble", "all-data"


@dataclasses.dataclass
class LeaderboardRow:
  """One results file, scored under the protocol of its table."""

  run: str  # the run directory, relative to RUNS_DIR
  results_file: str
  kind: str  # SINGLE, CROSS_VALIDATION, ENSEMBLE or ALL_DATA
  config: str
  ablation_row: str  # the row's label in its paper's table, "" if not an ablation row
  model: str
  dataset: str
  split: str
  resolution: str
  postprocess: str
  num_images: int
  image_set: str  # a hash of the scored ids, "" where they are not recorded
  metrics: dict[str, float]  # fractions
  std: dict[str, float]  # over folds, fractions
  num_parameters: int | None  # of one model
  num_models: int
  train_seconds: float | None
  started_more_than_once: bool
  evaluation_only: bool
  changes: list[str] | None  # None: unknown (no config.json)
  paper: paper_match.PaperNumbers | None

  @property
  def protocol(self) -> tuple:
    return (
      self.dataset, self.split, self.resolution, self.postprocess, self.num_images, self.image_set
    )  # fmt: skip


@dataclasses.dataclass
class UnrankedRun:
  run: str
  config: str
  status: str


@dataclasses.dataclass
class Leaderboard:
  runs_dir: str
  rows: list[LeaderboardRow]
  unranked: list[UnrankedRun]

  def tables(self) -> list[list[LeaderboardRow]]:
    """The rows of each protocol, ranked by JA (best first); protocols in sorted order."""
    by_protocol: dict[tuple, list[LeaderboardRow]] = {}
    for row in self.rows:
      by_protocol.setdefault(row.protocol, []).append(row)
    return [
      sorted(rows, key=lambda r: (-r.metrics["JA"], r.run, r.results_file))
      for _, rows in sorted(by_protocol.items())
    ]


@dataclasses.dataclass
class _RunDirectory:
  """What the rows of one run directory share."""

  path: str
  relative: str
  kind: str  # SINGLE, CROSS_VALIDATION or ALL_DATA
  config: dict | None  # its config.json
  config_name: str
  model: str
  ablation: paper_match.AblationMatch | None
  reference: Any  # the named config with the row's overrides (ConfigDict), None if unknown
  changes: list[tuple[str, Any]] | None  # None: unknown
  is_default_model: bool  # the named config's own model (an ablation row may switch it)
  started_more_than_once: bool


# --- reading runs ------------------------------------------------------------------


def _read_json(path: str) -> tuple[dict | None, str]:
  """(the file's object, "") or (None, what is wrong with it)."""
  name = os.path.basename(path)
  try:
    with open(path) as f:
      record = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
    return None, f"{name} unreadable: {error}"
  if not isinstance(record, dict):
    return None, f"{name} holds a {type(record).__name__}, not an object"
  return record, ""


def _results_problem(name: str, results: dict) -> str:
  """What a results file lacks to be ranked, or ""."""
  for key in ("dataset", "split", "resolution", "metrics"):
    if key not in results:
      return f"{name} lacks {key!r}"
  if not isinstance(results["metrics"], dict) or not _is_number(results["metrics"].get("JA")):
    return f"{name} has no mean JA in 'metrics'"
  return ""


def _is_number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _metric_values(record: Any) -> dict[str, float]:
  record = record if isinstance(record, dict) else {}
  return {
    key: float(value) for key, value in record.items() if key in METRIC_KEYS and _is_number(value)
  }


def _image_set(ids: Sequence) -> str:
  """A short hash of the scored image ids; "" where they are not recorded."""
  if not ids or any(i is None for i in ids):
    return ""
  return hashlib.sha1("\n".join(sorted(map(str, ids))).encode()).hexdigest()[:8]


def _ids(results: dict | None) -> list:
  rows = (results or {}).get("per_image", [])
  return [row.get("id") for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def _expected_results_files(run_config: dict, cross_validation: bool) -> list[str]:
  """The results files a finished run of `run_config` has (trainer, crossval)."""
  files = []
  evals = run_config.get("evals")
  for entry in (evals if isinstance(evals, dict) else {}).values():
    if not isinstance(entry, dict) or not entry.get("results_file"):
      continue
    if cross_validation:
      wanted = entry.get("ensemble") or entry["results_file"] == run_layout.RESULTS_FILE
    else:
      wanted = entry.get("at_end") and not entry.get("ensemble")
    if wanted and entry["results_file"] not in files:
      files.append(entry["results_file"])
  return files


def _num_folds(directory: str, run_config: dict | None) -> int | None:
  folds, _ = _read_json(os.path.join(directory, run_layout.FOLDS_FILE))
  if folds and isinstance(folds.get("num_folds"), int):
    return folds["num_folds"]
  num_folds = paper_match.flatten(run_config or {}).get("dataset.protocol.num_folds")
  return num_folds if isinstance(num_folds, int) else None


class _Finder:
  """Walks RUNS_DIR (top down, so a cross-validation is read before its all_data/)."""

  def __init__(self, runs_dir: str):
    self.runs_dir = runs_dir
    self.rows: list[LeaderboardRow] = []
    self.unranked: list[UnrankedRun] = []
    self.directories: dict[str, _RunDirectory] = {}

  def find(self) -> Leaderboard:
    for directory, subdirs, files in os.walk(self.runs_dir):
      has_checkpoints = run_layout.CHECKPOINTS_DIR in subdirs
      subdirs[:] = sorted(d for d in subdirs if d not in run_layout.CHECKPOINT_DIRS and d[0] != ".")
      cross_validation = run_layout.FOLDS_FILE in files or any(map(run_layout.is_fold_dir, subdirs))
      if cross_validation:  # the folds are in its summary
        subdirs[:] = [d for d in subdirs if not run_layout.is_fold_dir(d)]
      results_files = sorted(f for f in files if run_layout.is_results_file(f))
      if results_files or run_layout.RUN_CONFIG in files or has_checkpoints or cross_validation:
        self._add_run(directory, set(files), results_files, cross_validation)
    return Leaderboard(self.runs_dir, self.rows, self.unranked)

  def _unranked(self, directory: str, config_name: str, status: str):
    self.unranked.append(
      UnrankedRun(os.path.relpath(directory, self.runs_dir), config_name or "-", status)
    )

  def _add_run(self, directory: str, files: set, results_files: list, cross_validation: bool):
    problems = []
    run_config = ablation = None
    if run_layout.RUN_CONFIG in files:
      run_config, problem = _read_json(os.path.join(directory, run_layout.RUN_CONFIG))
      problems += [problem] if problem else []
    if run_layout.ABLATION_ROW_FILE in files:
      record, problem = _read_json(os.path.join(directory, run_layout.ABLATION_ROW_FILE))
      problems += [problem] if problem else []
      ablation = paper_match.ablation_match(record, directory) if record else None
    results = {}
    for name in results_files:
      record, problem = _read_json(os.path.join(directory, name))
      problem = problem or _results_problem(name, record)
      if problem:
        problems.append(problem)
      else:
        results[name] = record

    # A cross-validation that has not written folds.json yet.
    cross_validation = (
      cross_validation or paper_match.flatten(run_config or {}).get("crossval.enabled") is True
    )
    run = self._run_directory(directory, run_config, ablation, results, cross_validation)
    self.directories[directory] = run
    for problem in problems:
      self._unranked(directory, run.config_name, problem)
    self._note_unfinished(run, results, cross_validation)
    for name, record in results.items():
      self.rows.append(self._row(run, name, record))

  def _run_directory(self, directory, run_config, ablation, results, cv) -> _RunDirectory:
    config_name = next((str(r["config"]) for r in results.values() if r.get("config")), "")
    config_name = config_name or str((run_config or {}).get("name") or "")
    config_name = config_name or (ablation.spec if ablation else "")
    parent = self.directories.get(os.path.dirname(directory))
    all_data = (
      os.path.basename(directory) == run_layout.ALL_DATA_DIR
      and parent is not None
      and parent.kind == CROSS_VALIDATION
    )
    reference, changes, is_default_model = None, None, True
    if all_data:
      changes = parent.changes  # it was made from the cross-validation's config
    else:
      row_overrides = ablation.row.overrides if ablation else None
      reference = paper_match.reference_config(config_name, row_overrides) if config_name else None
      if reference is not None and run_config is not None:
        changes = paper_match.config_changes(run_config, paper_match.flat_config(reference))
      elif ablation is not None:  # an older row: what it recorded beyond the row's own overrides
        own = paper_match.as_json(dict(ablation.row.overrides))
        changes = [
          (key, value)
          for key, value in sorted(paper_match.as_json(dict(ablation.recorded_overrides)).items())
          if paper_match.compared(key) and (key not in own or own[key] != value)
        ]
      if reference is not None and ablation is not None:
        named = paper_match.reference_config(config_name)
        is_default_model = named is not None and (
          paper_match.flat_config(named) == paper_match.flat_config(reference)
        )
    model = (run_config or {}).get("model_name") or (reference.model_name if reference else "")
    if not model and all_data:
      model = parent.model
    return _RunDirectory(
      path=directory,
      relative=os.path.relpath(directory, self.runs_dir),
      kind=ALL_DATA if all_data else CROSS_VALIDATION if cv else SINGLE,
      config=run_config,
      config_name=config_name,
      model=str(model or "-"),
      ablation=ablation,
      reference=reference,
      changes=changes,
      is_default_model=is_default_model,
      started_more_than_once=run_layout.times_started(directory) > 1,
    )

  def _note_unfinished(self, run: _RunDirectory, results: dict, cross_validation: bool):
    has_summary = run_layout.has_results(run.path)
    if not has_summary and cross_validation:
      num_folds = _num_folds(run.path, run.config)
      done = sum(map(run_layout.has_results, run_layout.fold_dirs(run.path, num_folds or 0)))
      status = f"{done} of {num_folds} folds scored" if num_folds else "no fold scored"
      self._unranked(run.path, run.config_name, f"unfinished: cross-validation, {status}")
    elif not has_summary:
      step = run_layout.latest_checkpoint_step(run.path)
      where = f"latest checkpoint: step {step}" if step is not None else "no checkpoint yet"
      self._unranked(
        run.path, run.config_name, f"unfinished: no {run_layout.RESULTS_FILE} ({where})"
      )
    elif run.config is not None:
      missing = [
        name
        for name in _expected_results_files(run.config, cross_validation)
        if not os.path.exists(os.path.join(run.path, name))
      ]
      if missing:
        self._unranked(run.path, run.config_name, f"unfinished: no {', '.join(missing)} yet")

  def _row(self, run: _RunDirectory, name: str, results: dict) -> LeaderboardRow:
    members = results.get("ensemble_members")
    if isinstance(members, list) and members:
      kind = ENSEMBLE
      # Members are recorded as absolute paths; the runs may have moved since.
      member_dirs = [os.path.join(run.path, os.path.basename(os.path.normpath(m))) for m in members]
    elif run.kind == CROSS_VALIDATION and "folds" in results:
      kind = CROSS_VALIDATION
      member_dirs = run_layout.fold_dirs(run.path, len(results["folds"]))
    else:  # a single model (also another results file of a cross-validation directory)
      kind = ALL_DATA if run.kind == ALL_DATA else SINGLE
      member_dirs = []
    member_results = [_read_json(os.path.join(d, run_layout.RESULTS_FILE))[0] for d in member_dirs]
    timed = member_results or [results]
    seconds = [(r or {}).get("train_seconds_this_run") for r in timed]
    parameters = [(r or {}).get("num_parameters") for r in timed]
    ids = _ids(results)
    if kind == CROSS_VALIDATION:  # the summary has no per_image: the folds' held-out ids
      ids = [i for r in member_results for i in _ids(r)] if all(member_results) else []
    evaluation_only = bool((run.config or {}).get("evaluate_checkpoint"))
    row = LeaderboardRow(
      run=run.relative,
      results_file=name,
      kind=kind,
      config=run.config_name or "-",
      ablation_row=run.ablation.row.label if run.ablation else "",
      model=run.model,
      dataset=str(results["dataset"]),
      split=str(results["split"]),
      resolution=str(results["resolution"]),
      postprocess=str(results.get("postprocess", "none")),
      num_images=int(results["num_images"]) if _is_number(results.get("num_images")) else len(ids),
      image_set=_image_set(ids),
      metrics=_metric_values(results["metrics"]),
      std=_metric_values(results.get("std")),
      num_parameters=parameters[0] if None not in parameters else None,
      num_models=len(member_dirs) if kind == ENSEMBLE else 1,
      train_seconds=None if evaluation_only or None in seconds else float(sum(seconds)),
      started_more_than_once=run.started_more_than_once
      or any(run_layout.times_started(d) > 1 for d in member_dirs if os.path.isdir(d)),
      evaluation_only=evaluation_only,
      changes=None
      if run.changes is None
      else [paper_match.format_change(k, v) for k, v in run.changes],
      paper=None,
    )
    if row.kind != ALL_DATA:
      scored = {
        "dataset": row.dataset, "split": row.split, "resolution": row.resolution,
        "postprocess": row.postprocess,
      }  # fmt: skip
      row.paper = paper_match.paper_numbers(
        row.config, name, scored, run.reference, run.changes, run.is_default_model, run.ablation
      )
    return row


def find_runs(runs_dir: str) -> Leaderboard:
  """Every run below `runs_dir` (module docstring); DataError if there is none."""
  if not os.path.isdir(runs_dir):
    raise DataError(f"{runs_dir} is not a directory; give the directory that holds your runs.")
  leaderboard = _Finder(runs_dir).find()
  if not leaderboard.rows and not leaderboard.unranked:
    raise DataError(
      f"No runs under {runs_dir}: no directory there holds {run_layout.RESULTS_FILE}, "
      f"{run_layout.RUN_CONFIG} or {run_layout.CHECKPOINTS_DIR}/. Give the --workdir of "
      "experiments.run, ablate or parity, or a directory above such workdirs."
    )
  return leaderboard
