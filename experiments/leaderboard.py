r"""Every run under a directory in one leaderboard: a ranked table per protocol, the papers beside.

  python -m experiments.leaderboard runs

Finds every run below RUNS_DIR, prints one markdown table per protocol and
writes the same as RUNS_DIR/leaderboard.md and, one line per results file,
RUNS_DIR/leaderboard.csv.

What is listed:
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

The paper's numbers stand in parentheses beside ours where the row is the
paper's: the config of an entry of experiments/reported_results.py (not
`:smoke`), or an ablation row with the paper's numbers for its dataset
(experiments/ablations.py) on the split they were scored on; scored as that
config prescribes; and no change to the config that alters what is trained
(the "changes" column). The run's config.json is compared with its named config
(with the ablation row's overrides); paths, logging and checkpoint cadence are
not compared; seed, dtype and pretrained_backbone are shown but keep the paper's
numbers. Runs made before config.json existed show "unknown" changes and are
judged by what their results file records.

Training time is `train_seconds_this_run` of the results (summed over folds for
a cross-validation, over members for an ensemble): only the last start of a run
is timed, so a run started more than once (resumed, or re-evaluated; it has
several TensorBoard event files) is marked "*".
"""

import csv
import dataclasses
import hashlib
import io
import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from absl import app

from experiments import ablations, cli, configs, reported_results
from jaxseg import atomic_files
from jaxseg.errors import ConfigError, DataError

# jaxseg.train.checkpoints.RUN_CONFIG; not imported, since that loads JAX and Orbax.
RUN_CONFIG_FILE = "config.json"
ABLATION_ROW_FILE = "ablation_row.json"  # experiments/ablate.py
FOLDS_FILE = "folds.json"  # jaxseg/train/crossval.py
ALL_DATA_DIR = "all_data"
LEADERBOARD_STEM = "leaderboard"
_RESULTS_FILE = re.compile(r"results(_.+)?\.json")
_FOLD_DIR = re.compile(r"fold_\d+")
_EVENTS_PREFIX = "events.out.tfevents"
# Orbax's directories: nothing below them is a run.
_CHECKPOINT_DIRS = ("checkpoints", "best_checkpoint")

# Config keys that say where things are and how a run logs, not what it trains or scores.
_UNCOMPARED_KEYS = frozenset({
  "name", "dataset.data_dir", "dataset.manual_dir", "evaluate_checkpoint", "progress_bar",
  "log_every_steps", "checkpoint_every_steps", "keep_checkpoints", "eval_batch_size",
  "input.num_threads", "input.prefetch",
})  # fmt: skip
# Periodic evaluation only logs, unless it selects the model (`select` is compared).
_UNCOMPARED_KEY_PATTERN = re.compile(r"evals\.[^.]+\.every_steps")
# Shown, but the run is still the paper's protocol: the papers' runs had a seed
# too, and start cca and asnet from ImageNet weights, which pretrained_backbone names.
_SAME_PROTOCOL_KEYS = frozenset({"seed", "dtype", "pretrained_backbone"})

METRICS = ("AC", "DI", "JA", "SE", "SP", "JA_thresholded")  # jaxseg.metrics.METRIC_KEYS
_METRIC_HEADERS = {"JA_thresholded": "JA_thr"}

SINGLE, CROSS_VALIDATION, ENSEMBLE, ALL_DATA = "single", "cross-validation", "ensemble", "all-data"


@dataclasses.dataclass(frozen=True)
class PaperNumbers:
  source: str
  metrics: Mapping[str, str]  # in percent, as printed
  std: Mapping[str, str]


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
  paper: PaperNumbers | None

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


@dataclasses.dataclass(frozen=True)
class _AblationMatch:
  paper: str  # its key in ablations.ABLATIONS
  spec: str  # the config the ablation ran, NAME[:smoke]
  dataset: str  # as the paper's numbers are keyed
  row: ablations.Row
  source: str  # the row's table
  recorded_overrides: Mapping[str, Any]  # every override the run was made with


@dataclasses.dataclass
class _RunDirectory:
  """What the rows of one run directory share."""

  path: str
  relative: str
  kind: str  # SINGLE, CROSS_VALIDATION or ALL_DATA
  config: dict | None  # its config.json
  config_name: str
  model: str
  ablation: _AblationMatch | None
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
    key: float(value) for key, value in record.items() if key in METRICS and _is_number(value)
  }


def _flatten(record: Mapping, prefix: str = "") -> dict[str, Any]:
  flat = {}
  for key, value in record.items():
    if isinstance(value, Mapping):
      flat.update(_flatten(value, f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = value
  return flat


def _as_json(value: Any) -> Any:
  """As config.json holds it: tuples become lists."""
  return json.loads(json.dumps(value))


def _flat_config(config) -> dict[str, Any]:
  return _flatten(_as_json(config.to_dict()))


def _compared(key: str) -> bool:
  return key not in _UNCOMPARED_KEYS and not _UNCOMPARED_KEY_PATTERN.fullmatch(key)


def _config_changes(run_config: dict, reference: dict) -> list[tuple[str, Any]]:
  """(key, the run's value) where the run's config differs from the flat reference.

  Keys only one side has are left out: they come from code changed since the run.
  """
  ours = _flatten(run_config)
  return [
    (key, ours[key])
    for key in sorted(ours.keys() & reference.keys())
    if _compared(key) and ours[key] != reference[key]
  ]


def _ablation_match(record: dict, directory: str) -> _AblationMatch | None:
  """The ablation row an experiments.ablate run directory trains: its config and name."""
  spec = str(record.get("config", ""))
  name = spec.partition(":")[0]
  overrides = record.get("overrides")
  for paper, ablation in ablations.ABLATIONS.items():
    prefix, _, suffix = ablation.config.partition("{dataset}")
    if not (name.startswith(prefix) and name.endswith(suffix)):
      continue
    for table in (ablation, *ablation.sweeps.values()):
      for row in table.rows:
        if row.slug == os.path.basename(directory):
          return _AblationMatch(
            paper=paper,
            spec=spec,
            dataset=name[len(prefix) : len(name) - len(suffix)],
            row=row,
            source=table.source,
            recorded_overrides=overrides if isinstance(overrides, dict) else {},
          )
  return None


def _reference_config(spec: str, row_overrides: Mapping[str, Any] | None = None):
  """The named config (NAME[:smoke]) with an ablation row's overrides; None if unknown."""
  try:
    base = configs.get_config(spec)
    return ablations.row_config(base, row_overrides or {}, smoke=spec.endswith(":smoke"))
  except ConfigError:  # a config or key renamed since the run
    return None


def _started_more_than_once(directory: str) -> bool:
  # The trainer opens one TensorBoard event file each time it starts.
  return sum(name.startswith(_EVENTS_PREFIX) for name in os.listdir(directory)) > 1


def _latest_checkpoint(directory: str) -> int | None:
  path = os.path.join(directory, "checkpoints")
  if not os.path.isdir(path):
    return None
  return max((int(name) for name in os.listdir(path) if name.isdigit()), default=None)


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
      wanted = entry.get("ensemble") or entry["results_file"] == "results.json"
    else:
      wanted = entry.get("at_end") and not entry.get("ensemble")
    if wanted and entry["results_file"] not in files:
      files.append(entry["results_file"])
  return files


def _num_folds(directory: str, run_config: dict | None) -> int | None:
  folds, _ = _read_json(os.path.join(directory, FOLDS_FILE))
  if folds and isinstance(folds.get("num_folds"), int):
    return folds["num_folds"]
  num_folds = _flatten(run_config or {}).get("dataset.protocol.num_folds")
  return num_folds if isinstance(num_folds, int) else None


def _format_change(key: str, value: Any) -> str:
  """As --config.KEY=VALUE would set it."""
  if key == "pretrained_backbone" and value:
    value = os.path.basename(str(value))
  if isinstance(value, bool):
    text = str(value).lower()
  elif isinstance(value, list):
    text = ",".join(str(v) for v in value)
  elif isinstance(value, dict):
    text = json.dumps(value, sort_keys=True)
  else:
    text = str(value)
  return f"{key}={text}"


class _Finder:
  """Walks RUNS_DIR (top down, so a cross-validation is read before its all_data/)."""

  def __init__(self, runs_dir: str):
    self.runs_dir = runs_dir
    self.rows: list[LeaderboardRow] = []
    self.unranked: list[UnrankedRun] = []
    self.directories: dict[str, _RunDirectory] = {}

  def find(self) -> Leaderboard:
    for directory, subdirs, files in os.walk(self.runs_dir):
      has_checkpoints = "checkpoints" in subdirs
      subdirs[:] = sorted(d for d in subdirs if d not in _CHECKPOINT_DIRS and d[0] != ".")
      cross_validation = FOLDS_FILE in files or any(_FOLD_DIR.fullmatch(d) for d in subdirs)
      if cross_validation:  # the folds are in its summary
        subdirs[:] = [d for d in subdirs if not _FOLD_DIR.fullmatch(d)]
      results_files = sorted(f for f in files if _RESULTS_FILE.fullmatch(f))
      if results_files or RUN_CONFIG_FILE in files or has_checkpoints or cross_validation:
        self._add_run(directory, set(files), results_files, cross_validation)
    return Leaderboard(self.runs_dir, self.rows, self.unranked)

  def _unranked(self, directory: str, config_name: str, status: str):
    self.unranked.append(
      UnrankedRun(os.path.relpath(directory, self.runs_dir), config_name or "-", status)
    )

  def _add_run(self, directory: str, files: set, results_files: list, cross_validation: bool):
    problems = []
    run_config = ablation = None
    if RUN_CONFIG_FILE in files:
      run_config, problem = _read_json(os.path.join(directory, RUN_CONFIG_FILE))
      problems += [problem] if problem else []
    if ABLATION_ROW_FILE in files:
      record, problem = _read_json(os.path.join(directory, ABLATION_ROW_FILE))
      problems += [problem] if problem else []
      ablation = _ablation_match(record, directory) if record else None
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
      cross_validation or _flatten(run_config or {}).get("crossval.enabled") is True
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
      os.path.basename(directory) == ALL_DATA_DIR
      and parent is not None
      and parent.kind == CROSS_VALIDATION
    )
    reference, changes, is_default_model = None, None, True
    if all_data:
      changes = parent.changes  # it was made from the cross-validation's config
    else:
      row_overrides = ablation.row.overrides if ablation else None
      reference = _reference_config(config_name, row_overrides) if config_name else None
      if reference is not None and run_config is not None:
        changes = _config_changes(run_config, _flat_config(reference))
      elif ablation is not None:  # an older row: what it recorded beyond the row's own overrides
        own = _as_json(dict(ablation.row.overrides))
        changes = [
          (key, value)
          for key, value in sorted(_as_json(dict(ablation.recorded_overrides)).items())
          if _compared(key) and (key not in own or own[key] != value)
        ]
      if reference is not None and ablation is not None:
        named = _reference_config(config_name)
        is_default_model = named is not None and _flat_config(named) == _flat_config(reference)
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
      started_more_than_once=_started_more_than_once(directory),
    )

  def _note_unfinished(self, run: _RunDirectory, results: dict, cross_validation: bool):
    has_summary = os.path.exists(os.path.join(run.path, "results.json"))
    if not has_summary and cross_validation:
      num_folds = _num_folds(run.path, run.config)
      done = sum(
        os.path.exists(os.path.join(run.path, f"fold_{k}", "results.json"))
        for k in range(num_folds or 0)
      )
      status = f"{done} of {num_folds} folds scored" if num_folds else "no fold scored"
      self._unranked(run.path, run.config_name, f"unfinished: cross-validation, {status}")
    elif not has_summary:
      step = _latest_checkpoint(run.path)
      where = f"latest checkpoint: step {step}" if step is not None else "no checkpoint yet"
      self._unranked(run.path, run.config_name, f"unfinished: no results.json ({where})")
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
      member_dirs = [os.path.join(run.path, f"fold_{k}") for k in range(len(results["folds"]))]
    else:  # a single model (also another results file of a cross-validation directory)
      kind = ALL_DATA if run.kind == ALL_DATA else SINGLE
      member_dirs = []
    member_results = [_read_json(os.path.join(d, "results.json"))[0] for d in member_dirs]
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
      or any(_started_more_than_once(d) for d in member_dirs if os.path.isdir(d)),
      evaluation_only=evaluation_only,
      changes=None if run.changes is None else [_format_change(k, v) for k, v in run.changes],
      paper=None,
    )
    row.paper = _paper_numbers(row, run)
    return row


def _paper_numbers(row: LeaderboardRow, run: _RunDirectory) -> PaperNumbers | None:
  """The paper's numbers where the row is the paper's row (module docstring)."""
  if row.kind == ALL_DATA or ":" in row.config or run.reference is None:
    return None
  if run.changes and any(key not in _SAME_PROTOCOL_KEYS for key, _ in run.changes):
    return None
  scored = {
    "dataset": row.dataset, "split": row.split, "resolution": row.resolution,
    "postprocess": row.postprocess,
  }  # fmt: skip
  if reported_results.expected_protocol(run.reference, row.results_file) != scored:
    return None
  entry = reported_results.reported_result(row.config, row.results_file)
  if entry is not None and run.is_default_model:
    return PaperNumbers(entry.source, entry.metrics, entry.std)
  ablation = run.ablation
  if ablation is None or row.results_file != "results.json":
    return None
  numbers = ablation.row.paper.get(ablation.dataset)
  if (
    not numbers
    or reported_results.ABLATION_SPLITS.get(ablation.paper, {}).get(ablation.dataset) != row.split
  ):
    return None
  means, stds = {}, {}
  for metric, printed in numbers.items():
    mean, _, std = printed.partition("±")  # cross-validated rows print mean±std
    means[metric] = mean.strip()
    if std:
      stds[metric] = std.strip()
  return PaperNumbers(f"{ablation.source}: {ablation.row.label}", means, stds)


def find_runs(runs_dir: str) -> Leaderboard:
  """Every run below `runs_dir` (module docstring); DataError if there is none."""
  if not os.path.isdir(runs_dir):
    raise DataError(f"{runs_dir} is not a directory; give the directory that holds your runs.")
  leaderboard = _Finder(runs_dir).find()
  if not leaderboard.rows and not leaderboard.unranked:
    raise DataError(
      f"No runs under {runs_dir}: no directory there holds results.json, config.json or "
      "checkpoints/. Give the --workdir of experiments.run, ablate or parity, or a directory "
      "above such workdirs."
    )
  return leaderboard


# --- writing -----------------------------------------------------------------------


def _percent(value: float | None, std: float | None = None) -> str:
  if value is None:
    return "-"
  return f"{100 * value:.2f}" if std is None else f"{100 * value:.2f} ± {100 * std:.2f}"


def _duration(seconds: float | None) -> str:
  if seconds is None:
    return "-"
  seconds = round(seconds)
  if seconds < 60:
    return f"{seconds}s"
  if seconds < 3600:
    return f"{seconds // 60}m {seconds % 60:02d}s"
  return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def _count(parameters: int | None) -> str:
  if parameters is None:
    return "-"
  if parameters >= 1e6:
    return f"{parameters / 1e6:.2f}M"
  return f"{parameters / 1e3:.1f}k" if parameters >= 1e3 else str(parameters)


def _kind_label(row: LeaderboardRow) -> str:
  if row.kind == CROSS_VALIDATION:
    folds = re.search(r"\d+-fold", row.split)  # crossval's split: "train, 5-fold held-out"
    return f"{folds.group() if folds else 'k-fold'} mean ± std"
  if row.kind == ENSEMBLE:
    return f"ensemble of {row.num_models}"
  return {ALL_DATA: "all-data model", SINGLE: "single"}[row.kind]


def _metric_cell(row: LeaderboardRow, metric: str) -> str:
  ours = _percent(row.metrics.get(metric), row.std.get(metric))
  if row.paper is None or metric not in row.paper.metrics:
    return ours
  paper = row.paper.metrics[metric]
  if metric in row.paper.std:
    paper = f"{paper} ± {row.paper.std[metric]}"
  return f"{ours} ({paper})"


def _run_cell(row: LeaderboardRow) -> str:
  return row.run if row.results_file == "results.json" else f"{row.run}/{row.results_file}"


def _config_cell(row: LeaderboardRow) -> str:
  return f"{row.config}, row {row.ablation_row!r}" if row.ablation_row else row.config


def _changes_cell(row: LeaderboardRow) -> str:
  if row.changes is None:
    return "unknown"
  return ", ".join(row.changes) or "-"


def _time_cell(row: LeaderboardRow) -> str:
  if row.evaluation_only:
    return "evaluation only"
  return _duration(row.train_seconds) + ("*" if row.started_more_than_once else "")


def _table_title(rows: list[LeaderboardRow], all_tables: list[list[LeaderboardRow]]) -> str:
  row = rows[0]
  post = "no post-processing" if row.postprocess == "none" else f"post-processing {row.postprocess}"
  title = f"{row.dataset} · {row.split} · {row.resolution} · {post} · {row.num_images} images"
  # Two tables that differ only in the images scored: say which set.
  if any(t[0].protocol[:-1] == row.protocol[:-1] and t is not rows for t in all_tables):
    title += f" · image set {row.image_set or 'unrecorded'}"
  return title


def _markdown_cell(text: str) -> str:
  return text.replace("|", "\\|")


def _markdown_table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> list[str]:
  return [
    "| " + " | ".join(header) + " |",
    "|" + "|".join("---" for _ in header) + "|",
    *("| " + " | ".join(_markdown_cell(c) for c in line) + " |" for line in lines),
  ]


MARKDOWN_HEADER = (
  "#", "run", "config", "model", "kind", *(_METRIC_HEADERS.get(m, m) for m in METRICS),
  "params", "train time", "changes", "paper",
)  # fmt: skip


def render_markdown(leaderboard: Leaderboard) -> str:
  tables = leaderboard.tables()
  text = [
    f"# Leaderboard: {leaderboard.runs_dir}",
    "",
    "Ours: mean over images of the per-image scores, in percent (a cross-validation: mean ± "
    "std over folds of the fold means). In parentheses, the paper's number where the row is "
    "the paper's (its table in the last column): its config, unchanged, scored as the paper "
    "scores. Each table is one protocol (dataset, split, resolution, post-processing, images "
    "scored), ranked by JA; rows of different tables are not comparable. JA_thr: JA "
    "thresholded at 0.65 (ISIC 2018). params: of one model. train time: summed over folds or "
    "ensemble members; * the run was started more than once, and only its last start is "
    "timed. changes: how the run's config differs from its named config.",
  ]
  for rows in tables:
    lines = [
      [
        str(rank),
        _run_cell(row),
        _config_cell(row),
        row.model,
        _kind_label(row),
        *(_metric_cell(row, metric) for metric in METRICS),
        (f"{row.num_models} × " if row.num_models > 1 else "") + _count(row.num_parameters),
        _time_cell(row),
        _changes_cell(row),
        row.paper.source if row.paper else "-",
      ]  # fmt: skip
      for rank, row in enumerate(rows, 1)
    ]
    text += ["", f"## {_table_title(rows, tables)}", "", *_markdown_table(MARKDOWN_HEADER, lines)]
  if leaderboard.unranked:
    lines = [[u.run, u.config, u.status] for u in sorted(leaderboard.unranked, key=_unranked_key)]
    text += ["", "## Not ranked", "", *_markdown_table(("run", "config", "status"), lines)]
  return "\n".join(text) + "\n"


def _unranked_key(unranked: UnrankedRun) -> tuple:
  return (unranked.run, unranked.status)


CSV_HEADER = (
  "rank", "dataset", "split", "resolution", "postprocess", "num_images", "image_set", "run",
  "results_file", "kind", "config", "ablation_row", "model", *METRICS,
  *(f"{m}_std" for m in METRICS), "num_parameters", "num_models", "train_seconds",
  "started_more_than_once", "evaluation_only", "changes", "paper_source",
  *(f"paper_{m}" for m in METRICS[:5]), *(f"paper_{m}_std" for m in METRICS[:5]), "status",
)  # fmt: skip


def render_csv(leaderboard: Leaderboard) -> str:
  """One line per ranked results file, then one per unranked run; metrics in percent."""

  def percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.4f}"

  text = io.StringIO(newline="")
  writer = csv.writer(text)
  writer.writerow(CSV_HEADER)
  for rows in leaderboard.tables():
    for rank, row in enumerate(rows, 1):
      paper = row.paper or PaperNumbers("", {}, {})
      writer.writerow([
        rank, row.dataset, row.split, row.resolution, row.postprocess, row.num_images,
        row.image_set, row.run, row.results_file, row.kind, row.config, row.ablation_row,
        row.model, *(percent(row.metrics.get(m)) for m in METRICS),
        *(percent(row.std.get(m)) for m in METRICS),
        "" if row.num_parameters is None else row.num_parameters, row.num_models,
        "" if row.train_seconds is None else round(row.train_seconds, 2),
        row.started_more_than_once, row.evaluation_only,
        "unknown" if row.changes is None else "; ".join(row.changes), paper.source,
        *(paper.metrics.get(m, "") for m in METRICS[:5]),
        *(paper.std.get(m, "") for m in METRICS[:5]), "finished",
      ])  # fmt: skip
  for unranked in sorted(leaderboard.unranked, key=_unranked_key):
    line = dict.fromkeys(CSV_HEADER, "")
    line.update(run=unranked.run, config=unranked.config, status=unranked.status)
    writer.writerow(line.values())
  return text.getvalue()


def write_leaderboard(runs_dir: str) -> tuple[str, list[str]]:
  """Writes RUNS_DIR/leaderboard.md and .csv; returns the markdown and the two paths."""
  leaderboard = find_runs(runs_dir)
  markdown = render_markdown(leaderboard)
  paths = [os.path.join(runs_dir, f"{LEADERBOARD_STEM}.{ext}") for ext in ("md", "csv")]
  atomic_files.write_text(paths[0], markdown)
  atomic_files.write_text(paths[1], render_csv(leaderboard))
  return markdown, paths


def main(argv):
  if len(argv) != 2:
    raise app.UsageError("Give one directory: python -m experiments.leaderboard RUNS_DIR")
  markdown, paths = write_leaderboard(argv[1])
  print(markdown)
  print(f"Wrote {' and '.join(paths)}")


if __name__ == "__main__":
  cli.app_main(main, takes_config=False)
