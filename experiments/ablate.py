r"""Runs a paper's ablation: one training run per table row, then our table beside the paper's.

  python -m experiments.ablate --paper cca --dataset isic2017 --workdir runs/cca_ablation_2017
  python -m experiments.ablate --paper cca --dataset synthetic --workdir /tmp/cca_ablation \
      --smoke --only baseline_resnet_aspp,cca_cgl_al --config.num_train_steps=8

Rows (experiments/ablations.py) train in <workdir>/<row>/ from the config
`<pattern>[:smoke]` plus the row's overrides; `--config.key=value` overrides
apply to every row (a row's own overrides win), through the same mechanism as
experiments.run. A finished row is skipped and a half-done row resumes from
its checkpoint, so rerunning the command continues an interrupted ablation
(experiments/table_runs.py). Rows that come out as the same config (Table 8's
2000 images is Table 7's full training set) train once. Writes
<workdir>/ablation.md and .csv, and with --sweep NAME <workdir>/sweep_NAME.md
and .csv.
"""

import jax
from absl import flags

from experiments import ablations, cli, table_flags, table_runs
from jaxseg import distributed, run_layout
from jaxseg.errors import ConfigError
from jaxseg.train import summary

SWEEP = flags.DEFINE_multi_string("sweep", [], "Also run this sweep table (e.g. train_size).")


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
  if paper not in ablations.ABLATIONS:
    raise ConfigError(
      f"No ablation table for --paper {paper!r}; papers with one: {sorted(ablations.ABLATIONS)}."
    )
  return table_runs.run_table(
    ablations.ABLATIONS[paper],
    f"{paper} ablation",
    dataset,
    workdir,
    stem=run_layout.ABLATION_STEM,
    smoke=smoke,
    sweeps=sweeps,
    only=only,
    overrides=overrides,
  )


def main():
  distributed.initialize_from_env()  # multi-process runs; before any JAX use
  summary.quiet_library_logs()
  paths = run_ablation(
    table_flags.PAPER.value,
    table_flags.DATASET.value,
    table_flags.WORKDIR.value,
    smoke=table_flags.SMOKE.value,
    sweeps=tuple(SWEEP.value),
    only=tuple(table_flags.ONLY.value),
    overrides=cli.config_overrides(),
  )
  if jax.process_index() == 0:
    for path in paths:
      with open(path) as f:
        print(f.read())


if __name__ == "__main__":
  cli.app_main(main, takes_config=False, takes_overrides=True, required=table_flags.REQUIRED)
