"""The papers' tables as data, and the machinery that fills them with our runs' numbers.

A `PaperTable` is one paper's ablation or comparison table: a config name
pattern, one `Row` per line of the paper's table (a label, the config
overrides that switch the model into that line's variant, the paper's numbers
per dataset), and the metric columns. `Sweep`s are further tables over the
same model (paper 000's training-set-size sweep). A `ReportedResult` is a
paper's row for a config's default run. The data are in
`experiments/ablations.py`, `experiments/comparisons.py` and
`experiments/reported_results.py`; `experiments/table_runs.py` trains a
table's rows, and `write_table` puts our numbers beside the paper's.
`markdown_table` and `csv_text` are the one way tables are printed here (the
leaderboard's too). JAX-free.
"""

import csv
import dataclasses
import io
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from experiments.configs import common
from jaxseg import atomic_files, run_layout
from jaxseg.config_overrides import derive_config

# Where a row's paper numbers are missing for a dataset, its cells are blank.
_BLANK = ""
NOT_BUILT = "not built"


@dataclasses.dataclass(frozen=True)
class Row:
  """One line of a paper's table.

  Attributes:
    label: the line as the paper's table writes it.
    overrides: config key -> value ("model.use_cca": True) that make it; None
      for a line whose network jaxseg does not build (a comparison table's
      SLSDeep): the table shows the paper's numbers and "not built".
    paper: dataset name (as in the config pattern) -> metric -> the number
      as printed, a string, so "96.00" stays "96.00".
    backbone: the ImageNet encoder the line's network starts from in its own
      paper ("resnet50", "vgg16_bn"; "" for none): which converted weights
      `experiments.compare --backbone_weights` gives it.
  """

  label: str
  overrides: Mapping[str, Any] | None = dataclasses.field(default_factory=dict)
  paper: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
  backbone: str = ""

  @property
  def built(self) -> bool:
    return self.overrides is not None

  @property
  def slug(self) -> str:
    """The row's run directory name and its name for --only."""
    return re.sub(r"[^a-z0-9]+", "_", self.label.lower()).strip("_")


@dataclasses.dataclass(frozen=True)
class Sweep:
  """A further table over a paper table's model; its rows run like the table's."""

  source: str  # the paper's table, for the report's heading
  metrics: tuple[str, ...]
  rows: tuple[Row, ...]

  def results_file(self, dataset: str) -> str:
    del dataset  # a sweep's rows are scored by their main evaluator
    return run_layout.RESULTS_FILE


@dataclasses.dataclass(frozen=True)
class PaperTable:
  """One paper's ablation or comparison table.

  Attributes:
    config: config name with `{dataset}` in it ("cca_{dataset}").
    source: the paper's table, for the report's heading.
    metrics: columns to compare, keys of results.json `metrics`.
    rows: the table's lines, in the paper's order.
    sweeps: name (for --sweep) -> further table.
    results_files: dataset -> the results file of each row's run that the
      paper's numbers on that dataset compare with, where it is not
      results.json (paper 001 trains on ISIC 2016 and also tests on ISIC 2017).
  """

  config: str
  source: str
  metrics: tuple[str, ...]
  rows: tuple[Row, ...]
  sweeps: Mapping[str, Sweep] = dataclasses.field(default_factory=dict)
  results_files: Mapping[str, str] = dataclasses.field(default_factory=dict)

  def results_file(self, dataset: str) -> str:
    return self.results_files.get(dataset, run_layout.RESULTS_FILE)

  def datasets(self) -> list[str]:
    """The datasets the paper reports this table on (what `compare --dataset` takes)."""
    return sorted({dataset for row in self.rows for dataset in row.paper})

  def all_rows(self, sweeps: Sequence[str] = ()) -> list[Row]:
    """The table's rows, then those of the named sweeps."""
    return [*self.rows, *(row for name in sweeps for row in self.sweeps[name].rows)]


@dataclasses.dataclass(frozen=True)
class ReportedResult:
  """One row of a paper's results table for a config's default run.

  Attributes:
    config: the config (experiments/configs/<config>.py) that reproduces the row.
    results_file: the results file of that config's run scored like the row.
    dataset: the dataset that results file records.
    split: the split it records (a cross-validation's "train, 5-fold held-out").
    source: the paper and table, for a reader.
    metrics: metric (a key of results.json `metrics`) -> mean in percent, as printed.
    std: metric -> std over folds in percent, as printed (cross-validated rows).
  """

  config: str
  results_file: str
  dataset: str
  split: str
  source: str
  metrics: Mapping[str, str]
  std: Mapping[str, str] = dataclasses.field(default_factory=dict)

  def numbers(self) -> dict[str, float]:
    return {metric: float(value) for metric, value in self.metrics.items()}


def printed(columns: str, numbers: str) -> dict[str, str]:
  """{"DI": "86.1", ...} from a table line's columns and numbers as the paper prints them.

  A "-" (not reported) is left out.
  """
  columns, numbers = columns.split(), numbers.split()
  if len(columns) != len(numbers):
    raise ValueError(f"{len(columns)} columns {columns} but {len(numbers)} numbers {numbers}.")
  return {column: number for column, number in zip(columns, numbers, strict=True) if number != "-"}


def row_config(base, overrides: Mapping[str, Any], smoke: bool):
  """`base` with a row's overrides; at smoke size, a row that switches the network
  gets that network's smoke widths (`configs.common.use_smoke_widths`)."""
  config = derive_config(base, overrides)
  if smoke and config.model_name != base.model_name:
    with config.unlocked():
      common.use_smoke_widths(config)
  return config


# --- printing -------------------------------------------------------------------------


def markdown_table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> list[str]:
  """A markdown table's lines; "|" inside a cell is escaped."""
  return [
    "| " + " | ".join(header) + " |",
    "|" + "|".join("---" for _ in header) + "|",
    *("| " + " | ".join(str(c).replace("|", "\\|") for c in line) + " |" for line in lines),
  ]


def csv_text(header: Sequence[str], lines: Sequence[Sequence[Any]]) -> str:
  text = io.StringIO(newline="")
  writer = csv.writer(text)
  writer.writerow(header)
  writer.writerows(lines)
  return text.getvalue()


def write_markdown_and_csv(
  directory: str, stem: str, markdown: str, csv_content: str
) -> tuple[str, str]:
  """`<directory>/<stem>.md` and .csv, written atomically; returns their paths."""
  paths = run_layout.table_paths(directory, stem)
  atomic_files.write_text(paths[0], markdown)
  atomic_files.write_text(paths[1], csv_content)
  return paths


# --- a paper table filled with our runs ------------------------------------------------


def table_cells(
  table: PaperTable | Sweep, dataset: str, run_dirs: Mapping[str, str]
) -> tuple[list[str], list[list[str]]]:
  """Header and lines: label, each metric ours (%) and the paper's, the run.

  `run_dirs` maps each built row's slug to its run directory; a row without
  its results file there has blank "ours" cells, a row jaxseg does not build
  "not built" for its run.
  """
  header = ["Model"]
  for metric in table.metrics:
    header += [f"{metric} (ours)", f"{metric} (paper)"]
  header.append("run")
  results_file = table.results_file(dataset)
  lines = []
  for row in table.rows:
    results = run_layout.read_results(run_dirs[row.slug], results_file) if row.built else None
    paper = row.paper.get(dataset, {})
    line = [row.label]
    for metric in table.metrics:
      line.append(_ours(results or {}, metric))
      line.append(paper.get(metric, _BLANK))
    run = os.path.basename(os.path.normpath(run_dirs[row.slug])) if row.built else NOT_BUILT
    line.append(run)
    lines.append(line)
  return header, lines


def _ours(results: Mapping[str, Any], metric: str) -> str:
  """Percent with 1 decimal; a cross-validation's mean +- std over folds with 2 (paper 004)."""
  mean = results.get("metrics", {}).get(metric)
  if mean is None:
    return _BLANK
  std = results.get("std", {}).get(metric)
  return f"{100 * mean:.1f}" if std is None else f"{100 * mean:.2f} ± {100 * std:.2f}"


def _evaluated_on(table: PaperTable | Sweep, dataset: str, run_dirs: Mapping[str, str]) -> str:
  results_file = table.results_file(dataset)
  results = [
    run_layout.read_results(run_dirs[row.slug], results_file) for row in table.rows if row.built
  ]
  settings = sorted(
    {(r["split"], r["num_images"], r["resolution"]) for r in results if r is not None}
  )
  if not settings:
    return "no row has finished yet"
  return "; ".join(f"split {s}, {n} images, at {res}" for s, n, res in settings)


def write_table(
  directory: str,
  stem: str,
  title: str,
  table: PaperTable | Sweep,
  dataset: str,
  run_dirs: Mapping[str, str],
) -> tuple[str, str]:
  """Writes `<directory>/<stem>.md` and .csv (the same columns); returns their paths."""
  header, lines = table_cells(table, dataset, run_dirs)
  markdown = [
    f"# {title}",
    "",
    f"Paper's numbers: {table.source}, as printed; blank where it reports none on {dataset}.",
    "Ours: mean over images of the per-image scores, in percent "
    f"({_evaluated_on(table, dataset, run_dirs)}); for cross-validated rows the mean +- std over "
    "folds of the fold means; blank where the row has not finished.",
    "",
    *markdown_table(header, lines),
  ]
  return write_markdown_and_csv(
    directory, stem, "\n".join(markdown) + "\n", csv_text(header, lines)
  )
