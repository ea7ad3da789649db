r"""Runs a paper's comparison table: its network and the baselines it retrained, one run each.

  python -m experiments.compare --paper rmsm --dataset isic2017 --workdir runs/rmsm_compare \
      --backbone_weights resnet34=resnet34_imagenet.npz,resnet50=resnet50_imagenet.npz
  python -m experiments.compare --paper ulffn --dataset isic2016 --workdir /tmp/ulffn_cmp --smoke

Every row the paper reports and jaxseg builds (experiments/comparisons.py)
trains in <workdir>/<row>/ under the paper's own protocol config with the
row's network switched in, like `experiments.ablate`'s rows
(experiments/table_runs.py: same resuming, skipping, `--only` and
`--config.key=value` overrides; rows with the same config train once). Rows
jaxseg does not build show the paper's numbers and "not built". Writes
<workdir>/comparison.md and .csv.

`--backbone_weights` gives each ImageNet encoder's converted weights
(`python -m jaxseg.models.convert_torchvision`): resnet34, resnet50,
vgg16_bn (SegNet) and vgg16_bn_fc6_fc7 (FCN-8s: vgg16_bn converted with
`--fc6-fc7`). Rows whose network starts from one in its own paper take it;
without it they train from scratch. Paper 001 (ulffn) trains on ISIC 2016
and tests on both ISIC 2016 and 2017: `--dataset isic2017` tabulates the same
runs' ISIC 2017 scores.
"""

import jax
from absl import flags

from experiments import cli, comparisons, table_flags, table_runs
from jaxseg import distributed, run_layout
from jaxseg.errors import ConfigError
from jaxseg.train import summary

_BACKBONE_WEIGHTS = flags.DEFINE_list(
  "backbone_weights", [], "NAME=PATH of converted ImageNet weights: resnet34=r34.npz,..."
)


def _parse_backbone_weights(entries: list[str]) -> dict[str, str]:
  weights = {}
  for entry in entries:
    name, sep, path = entry.partition("=")
    if not sep or not name or not path:
      raise ConfigError(
        f"--backbone_weights entry {entry!r} is not NAME=PATH (e.g. resnet50=resnet50.npz)."
      )
    weights[name] = path
  return weights


def run_comparison(
  paper: str,
  dataset: str,
  workdir: str,
  smoke: bool = False,
  only: tuple[str, ...] = (),
  overrides: dict | None = None,
  backbone_weights: dict[str, str] | None = None,
) -> str:
  """Trains the table's rows not yet finished, writes it; returns the path of its .md."""
  if paper not in comparisons.COMPARISONS:
    raise ConfigError(
      f"No comparison table for --paper {paper!r}; papers with one: "
      f"{sorted(comparisons.COMPARISONS)}."
    )
  table = comparisons.COMPARISONS[paper]
  if dataset not in table.datasets():
    raise ConfigError(
      f"{paper}'s comparison table reports {table.datasets()}, not {dataset!r}; "
      "pass one of those as --dataset (with --smoke, the runs use synthetic data)."
    )
  backbones = {row.backbone for row in table.rows if row.backbone}
  unused = sorted(set(backbone_weights or {}) - backbones)
  if unused:
    raise ConfigError(
      f"--backbone_weights names {unused}, which no row of {paper}'s table starts from; "
      f"its rows use {sorted(backbones)}."
    )
  [path] = table_runs.run_table(
    table,
    f"{paper} comparison",
    dataset,
    workdir,
    stem=run_layout.COMPARISON_STEM,
    smoke=smoke,
    only=only,
    overrides=overrides,
    backbone_weights=backbone_weights,
  )
  return path


def main():
  distributed.initialize_from_env()  # multi-process runs; before any JAX use
  summary.quiet_library_logs()
  path = run_comparison(
    table_flags.PAPER.value,
    table_flags.DATASET.value,
    table_flags.WORKDIR.value,
    smoke=table_flags.SMOKE.value,
    only=tuple(table_flags.ONLY.value),
    overrides=cli.config_overrides(),
    backbone_weights=_parse_backbone_weights(_BACKBONE_WEIGHTS.value),
  )
  if jax.process_index() == 0:
    with open(path) as f:
      print(f.read())


if __name__ == "__main__":
  cli.app_main(main, takes_config=False, takes_overrides=True, required=table_flags.REQUIRED)
