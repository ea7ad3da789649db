"""Trains the rows of a paper table (`experiments.tables.PaperTable`) and writes the table.

`run_table` is what `experiments.ablate` and `experiments.compare` share:
each built row trains in `<workdir>/<row slug>/` from the table's config plus
the row's overrides (rows that come out as the same config train once); a row
whose results file exists is skipped and a half-done row resumes from its
checkpoint, so rerunning a command continues an interrupted table. Each row
records what it trains (`run_layout.ABLATION_ROW_FILE`) and a rerun with
another variant in the same directory is an error instead of a wrong number.
"""

import functools
import json
import os

import jax
import ml_collections
from absl import logging

from experiments import configs, tables
from jaxseg import atomic_files, distributed, run_layout
from jaxseg.errors import ConfigError
from jaxseg.train import experiment


def _value_at(config, key: str):
  value = functools.reduce(lambda node, part: node[part], key.split("."), config)
  # A whole section (a row's "model": another network's fields) is recorded as a dict.
  return value.to_dict() if isinstance(value, ml_collections.ConfigDict) else value


def _record_or_check_run(run_dir: str, record: dict):
  """Writes which variant a run directory trains, or checks it on a rerun.

  results.json names only the config, and resuming or skipping a run of
  another variant (another dataset, changed overrides) would put its numbers
  in the wrong row.
  """
  path = os.path.join(run_dir, run_layout.ABLATION_ROW_FILE)
  record = json.loads(json.dumps(record))  # as it reads back: tuples become lists
  if os.path.exists(path):
    with open(path) as f:
      found = json.load(f)
    if found != record:
      raise ConfigError(
        f"{run_dir} holds a run of {found}, not of {record}. Use another --workdir, or delete "
        f"{path} if the difference does not change the run."
      )
    return
  if jax.process_index() == 0:
    atomic_files.write_json(path, record)


def run_table(
  table: tables.PaperTable,
  title: str,
  dataset: str,
  workdir: str,
  *,
  stem: str,
  smoke: bool = False,
  sweeps: tuple[str, ...] = (),
  only: tuple[str, ...] = (),
  overrides: dict | None = None,
  backbone_weights: dict[str, str] | None = None,
) -> list[str]:
  """Trains a table's built rows not yet finished and writes `<workdir>/<stem>.md` and .csv.

  Also the table's `sweeps` (`<workdir>/sweep_<name>.md`). Returns the paths
  of the markdown files. A row whose `backbone` is in `backbone_weights`
  (name -> converted ImageNet weights) starts its encoder from them (not at
  smoke size). A row that switches the config's network (a comparison's
  baseline, asnet's U-Net line) otherwise starts from scratch: never from the
  paper network's own `pretrained_backbone`, which is another encoder.
  """
  unknown = [s for s in sweeps if s not in table.sweeps]
  if unknown:
    raise ConfigError(f"{title} has no sweep {unknown}; it has {sorted(table.sweeps)}.")
  spec = table.config.format(dataset=dataset) + (":smoke" if smoke else "")
  base = configs.get_config(spec)
  if base.get("evaluate_checkpoint"):
    raise ConfigError(
      f"{spec} evaluates another run's checkpoint ({base.evaluate_checkpoint}) instead of "
      "training, but every row of a table must train its own model."
    )

  # Each row's run directory; rows with equal configs share the first one's.
  runs, row_dirs = {}, {}  # run_dir -> (config, its overrides); slug -> run_dir
  for row in table.all_rows(sweeps):
    if not row.built:
      continue
    wanted = {**(overrides or {}), **row.overrides}
    switches_network = row.overrides.get("model_name", base.model_name) != base.model_name
    if switches_network or row.backbone in (backbone_weights or {}):
      weights = "" if smoke else (backbone_weights or {}).get(row.backbone, "")
      # Recorded only where it changes the run (older records stay equal); it
      # replaces a --config.pretrained_backbone meant for the paper's network.
      if weights != wanted.get("pretrained_backbone", base.pretrained_backbone):
        wanted["pretrained_backbone"] = weights
    config = tables.row_config(base, wanted, smoke)
    # As set (command-line text parsed), so that a rerun's record compares equal.
    row_overrides = {key: _value_at(config, key) for key in wanted}
    run_dir = next(
      (d for d, (c, _) in runs.items() if c == config), os.path.join(workdir, row.slug)
    )
    runs.setdefault(run_dir, (config, row_overrides))
    row_dirs[row.slug] = run_dir
  unknown = [s for s in only if s not in row_dirs]
  if unknown:
    raise ConfigError(f"No rows {unknown} in this table; rows: {', '.join(row_dirs)}.")
  selected = {row_dirs[s] for s in only} if only else set(runs)

  for run_dir, (config, run_overrides) in runs.items():
    if run_dir not in selected:
      continue
    _record_or_check_run(run_dir, {"config": spec, "overrides": run_overrides})
    if distributed.lead_decides(run_layout.has_results(run_dir)):
      logging.info("Skipping %s: it has %s.", run_dir, run_layout.RESULTS_FILE)
      continue
    logging.info("Training %s in %s.", spec, run_dir)
    experiment.run(config, run_dir)

  written = [(stem, f"{title} on {dataset} ({spec})", table)]
  written += [
    (
      run_layout.sweep_stem(name),
      f"{title}, {name} sweep on {dataset} ({spec})",
      table.sweeps[name],
    )
    for name in sweeps
  ]
  paths = []
  for path_stem, heading, rows in written:
    if jax.process_index() == 0:  # after every row's results file is written
      tables.write_table(workdir, path_stem, heading, rows, dataset, row_dirs)
    paths.append(run_layout.table_paths(workdir, path_stem)[0])
  return paths
