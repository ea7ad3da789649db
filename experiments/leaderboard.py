r"""Every run under a directory in one leaderboard: a ranked table per protocol, the papers beside.

  python -m experiments.leaderboard runs

Finds every run below RUNS_DIR (`experiments/run_finder.py` says what is
listed, how rows are grouped into protocols and when the paper's numbers
stand beside ours), prints one markdown table per protocol and writes the same
as RUNS_DIR/leaderboard.md and, one line per results file,
RUNS_DIR/leaderboard.csv.
"""

from experiments import cli, tables
from experiments.paper_match import PaperNumbers
from experiments.run_finder import (
  ALL_DATA,
  CROSS_VALIDATION,
  ENSEMBLE,
  SINGLE,
  Leaderboard,
  LeaderboardRow,
  UnrankedRun,
  find_runs,
)
from jaxseg import run_layout
from jaxseg.metric_names import METRIC_KEYS

_METRIC_HEADERS = {"JA_thresholded": "JA_thr"}


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
    folds = run_layout.cross_validation_folds(row.split)
    return f"{f'{folds}-fold' if folds else 'k-fold'} mean ± std"
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
  return row.run if row.results_file == run_layout.RESULTS_FILE else f"{row.run}/{row.results_file}"


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


MARKDOWN_HEADER = (
  "#", "run", "config", "model", "kind", *(_METRIC_HEADERS.get(m, m) for m in METRIC_KEYS),
  "params", "train time", "changes", "paper",
)  # fmt: skip


def render_markdown(leaderboard: Leaderboard) -> str:
  protocol_tables = leaderboard.tables()
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
  for rows in protocol_tables:
    lines = [
      [
        str(rank),
        _run_cell(row),
        _config_cell(row),
        row.model,
        _kind_label(row),
        *(_metric_cell(row, metric) for metric in METRIC_KEYS),
        (f"{row.num_models} × " if row.num_models > 1 else "") + _count(row.num_parameters),
        _time_cell(row),
        _changes_cell(row),
        row.paper.source if row.paper else "-",
      ]  # fmt: skip
      for rank, row in enumerate(rows, 1)
    ]
    title = _table_title(rows, protocol_tables)
    text += ["", f"## {title}", "", *tables.markdown_table(MARKDOWN_HEADER, lines)]
  if leaderboard.unranked:
    lines = [[u.run, u.config, u.status] for u in sorted(leaderboard.unranked, key=_unranked_key)]
    text += ["", "## Not ranked", "", *tables.markdown_table(("run", "config", "status"), lines)]
  return "\n".join(text) + "\n"


def _unranked_key(unranked: UnrankedRun) -> tuple:
  return (unranked.run, unranked.status)


CSV_HEADER = (
  "rank", "dataset", "split", "resolution", "postprocess", "num_images", "image_set", "run",
  "results_file", "kind", "config", "ablation_row", "model", *METRIC_KEYS,
  *(f"{m}_std" for m in METRIC_KEYS), "num_parameters", "num_models", "train_seconds",
  "started_more_than_once", "evaluation_only", "changes", "paper_source",
  *(f"paper_{m}" for m in METRIC_KEYS[:5]), *(f"paper_{m}_std" for m in METRIC_KEYS[:5]), "status",
)  # fmt: skip


def render_csv(leaderboard: Leaderboard) -> str:
  """One line per ranked results file, then one per unranked run; metrics in percent."""

  def percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.4f}"

  lines = []
  for rows in leaderboard.tables():
    for rank, row in enumerate(rows, 1):
      paper = row.paper or PaperNumbers("", {}, {})
      lines.append([
        rank, row.dataset, row.split, row.resolution, row.postprocess, row.num_images,
        row.image_set, row.run, row.results_file, row.kind, row.config, row.ablation_row,
        row.model, *(percent(row.metrics.get(m)) for m in METRIC_KEYS),
        *(percent(row.std.get(m)) for m in METRIC_KEYS),
        "" if row.num_parameters is None else row.num_parameters, row.num_models,
        "" if row.train_seconds is None else round(row.train_seconds, 2),
        row.started_more_than_once, row.evaluation_only,
        "unknown" if row.changes is None else "; ".join(row.changes), paper.source,
        *(paper.metrics.get(m, "") for m in METRIC_KEYS[:5]),
        *(paper.std.get(m, "") for m in METRIC_KEYS[:5]), "finished",
      ])  # fmt: skip
  for unranked in sorted(leaderboard.unranked, key=_unranked_key):
    line = dict.fromkeys(CSV_HEADER, "")
    line.update(run=unranked.run, config=unranked.config, status=unranked.status)
    lines.append(list(line.values()))
  return tables.csv_text(CSV_HEADER, lines)


def write_leaderboard(runs_dir: str) -> tuple[str, list[str]]:
  """Writes RUNS_DIR/leaderboard.md and .csv; returns the markdown and the two paths."""
  leaderboard = find_runs(runs_dir)
  markdown = render_markdown(leaderboard)
  paths = tables.write_markdown_and_csv(
    runs_dir, run_layout.LEADERBOARD_STEM, markdown, render_csv(leaderboard)
  )
  return markdown, list(paths)


def main(runs_dir: str):
  markdown, paths = write_leaderboard(runs_dir)
  print(markdown)
  print(f"Wrote {' and '.join(paths)}")


if __name__ == "__main__":
  cli.app_main(main, takes_config=False, positionals=("RUNS_DIR",))
