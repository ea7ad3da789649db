r"""Runs a paper's ablation: one training run per table row, then our table beside the paper's.

  python -m experiments.ablate --paper cca --dataset isic2017 --workdir runs/cca_ablation_2017
  python -m experiments.ablate --paper cca --dataset synthetic --workdir /tmp/cca_ablation \
      --smoke --only baseline_resnet_aspp,cca_cgl_al --config.num_train_steps=8

Rows (experiments/ablations.py) train in <workdir>/<row>/ from the config
`<pattern>[:smoke]` plus the row's overrides; `--config.key=value` overrides
apply to every row (a row's own overrides win), through the same mechanism as
experiments.run. A row whose results.json
exists is skipped and a half-done row resumes from its checkpoint, so
rerunning the command continues an interrupted ablation. Rows that come out
as the same config (Table 8's 2000 images is Table 7's full training set)
train once. Writes <workdir>/ablation.md and .csv, and with --sweep NAME
<workdir>/sweep_NAME.md and .csv.
"""

import functools
import json
import os

import jax
import ml_collections
from absl import app, flags, logging

from experiments import ablations, cli, configs
from jaxseg import atomic_files, distributed
from jaxseg.errors import ConfigError

# experiments.compare takes the same flags (one absl namespace per process).
PAPER = flags.DEFINE_enum(
  "paper", None, list(ablations.ABLATIONS), "Whose table: the paper, by its network's name."
)
DATASET = flags.DEFINE_string("dataset", None, "Fills {dataset} in the config name: isic2017.")
WORKDIR = flags.DEFINE_string("workdir", None, "One subdirectory per row, and the tables.")
SMOKE = flags.DEFINE_bool("smoke", False, "Use the configs' smoke variant.")
SWEEP = flags.DEFINE_multi_string("sweep", [], "Also run this sweep table (e.g. train_size).")
ONLY = flags.DEFINE_list("only", [], "Run only these rows (their directory names).")
flags.mark_flags_as_required(["paper", "dataset", "workdir"])


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
  path = os.path.join(run_dir, "ablation_row.json")
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


def run_ablation(
  paper: str,
  dataset: str,
  workdir: str,
  smoke: bool = False,
  sweeps: tuple[str, ...] = (),
  only: tuple[str, ...] = (),
  overrides: dict | None = None,
) -> list[str]:
  """Trains the rows not yet finished, writes the tables; returns their paths (.md)."""
  return run_table(
    ablations.ABLATIONS[paper],
    f"{paper} ablation",
    dataset,
    workdir,
    smoke,
    sweeps,
    only,
    overrides,
  )


def run_table(
  table: ablations.Ablation,
  title: str,
  dataset: str,
  workdir: str,
  smoke: bool = False,
  sweeps: tuple[str, ...] = (),
  only: tuple[str, ...] = (),
  overrides: dict | None = None,
  stem: str = "ablation",
  backbone_weights: dict[str, str] | None = None,
) -> list[str]:
  """Trains a table's built rows not yet finished and writes `<workdir>/<stem>.md` and .csv.

  Also an ablation's sweeps. A row whose `backbone` is in `backbone_weights`
  (name -> converted ImageNet weights) starts its encoder from them (not at
  smoke size). A row that switches the config's network (a comparison's
  baseline, asnet's U-Net line) otherwise starts from scratch: never from the
  paper network's own `pretrained_backbone`, which is another encoder.
  """
  from jaxseg.train import experiment  # noqa: PLC0415  (JAX after absl parsed flags)

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
  for row in ablations.all_rows(table, sweeps):
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
    config = ablations.row_config(base, wanted, smoke)
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
    if distributed.lead_decides(os.path.exists(os.path.join(run_dir, "results.json"))):
      logging.info("Skipping %s: it has results.json.", run_dir)
      continue
    logging.info("Training %s in %s.", spec, run_dir)
    experiment.run(config, run_dir)

  tables = [(stem, f"{title} on {dataset} ({spec})", table)]
  tables += [
    (f"sweep_{name}", f"{title}, {name} sweep on {dataset} ({spec})", table.sweeps[name])
    for name in sweeps
  ]
  paths = []
  for path_stem, heading, rows in tables:
    if jax.process_index() == 0:  # after every row's results file is written
      ablations.write_table(os.path.join(workdir, path_stem), heading, rows, dataset, row_dirs)
    paths.append(os.path.join(workdir, path_stem + ".md"))
  return paths


def main(argv):
  from jaxseg import distributed  # noqa: PLC0415  (JAX after absl parsed flags)

  distributed.initialize_from_env()  # multi-process runs; before any JAX use
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  from jaxseg.train import summary  # noqa: PLC0415

  summary.quiet_library_logs()
  paths = run_ablation(
    PAPER.value,
    DATASET.value,
    WORKDIR.value,
    smoke=SMOKE.value,
    sweeps=tuple(SWEEP.value),
    only=tuple(ONLY.value),
    overrides=cli.config_overrides(),
  )
  if jax.process_index() == 0:
    for path in paths:
      with open(path) as f:
        print(f.read())


if __name__ == "__main__":
  cli.app_main(main)
