r"""Trains a jaxseg model and its PyTorch twin with one recipe, several seeds each, and compares.

  pip install -e ".[peer]"
  python -m experiments.parity --config parity_asnet --workdir runs/parity_asnet
  python -m experiments.parity --config parity_unet --workdir runs/parity_unet --seeds 0,1,2,3
  python -m experiments.parity --config parity_unet --workdir runs/parity_unet_flaxinit \
      --peer_init flax

For every seed, jaxseg trains `--config` with `experiments.run`'s trainer in
<workdir>/jaxseg_seed<k>/ and the twin (experiments/peer) trains in PyTorch;
both score the config's eval split with the same scorer. Prints mean +- std
of JA and DI per framework, the gap in units of the seed spread, and the
per-step training loss of both side by side (averaged over seeds and over
windows of steps), and writes <workdir>/parity.json and parity.md. Finished
runs are kept: rerunning the command reuses them, so seeds can be added.
`--config.key=value` overrides apply to both frameworks. `--peer_init flax`
gives the twin's non-encoder layers flax's default initialisation instead of
PyTorch's (docs/parity.md). `--lockstep_steps N` isolates the training step:
both start from jaxseg's initial weights and see jaxseg's batches, and the
two losses of every step are printed.
"""

import json
import os

import numpy as np
from absl import flags
from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

from experiments import cli, peer
from jaxseg import atomic_files, run_layout
from jaxseg.config_overrides import derive_config
from jaxseg.errors import ConfigError
from jaxseg.train import summary as summary_lib
from jaxseg.train import trainer

_WORKDIR = flags.DEFINE_string("workdir", None, "Where both frameworks' runs and the report go.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds; each framework trains once per seed.")
_FRAMEWORKS = flags.DEFINE_list("frameworks", ["jaxseg", "torch"], "Which sides to train.")
_PEER_INIT = flags.DEFINE_enum("peer_init", "torch", ["torch", "flax"], "The twin's init.")
_CURVE_ROWS = flags.DEFINE_integer("curve_rows", 15, "Rows of the printed loss curves.")
_LOCKSTEP = flags.DEFINE_integer(
  "lockstep_steps",
  0,
  "> 0: instead, train both from jaxseg's initial weights on jaxseg's "
  "batches for this many steps and print both losses per step.",
)

METRICS = ("JA", "DI")


def event_losses(run_dir: str) -> list[float]:
  """The `loss` scalar of every step from a jaxseg run's TensorBoard events (last write wins)."""
  by_step = {}
  for name in sorted(os.listdir(run_dir)):
    if not run_layout.is_tensorboard_events(name):
      continue
    for event in LegacyEventFileLoader(os.path.join(run_dir, name)).Load():
      for value in event.summary.value:
        if value.tag == "loss":
          by_step[event.step] = value.simple_value
  return [by_step[step] for step in sorted(by_step)]


def run_jaxseg(config, seed: int, workdir: str) -> dict:
  """One jaxseg run (resumable); {"losses", "metrics"}."""
  record_path = os.path.join(workdir, run_layout.PARITY_RUN_FILE)
  if os.path.exists(record_path):
    with open(record_path) as f:
      return json.load(f)
  results = trainer.train_and_evaluate(derive_config(config, {"seed": seed}), workdir)["results"]
  record = {
    "losses": event_losses(workdir),
    "metrics": results["metrics"],
    "seconds": results["train_seconds_this_run"],
  }
  atomic_files.write_json(record_path, record)
  return record


def run_torch(config, seed: int, path: str, peer_init: str) -> dict:
  from experiments.peer import train  # imports torch, an optional extra

  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  run = train.train_twin_and_evaluate(config, seed, peer_init, os.path.dirname(path))
  record = {"losses": run.losses, "metrics": run.metrics, "seconds": round(run.seconds, 2)}
  atomic_files.write_json(path, record)
  return record


def summarize(runs: dict[str, list[dict]]) -> dict:
  """Per framework: mean and std (ddof 1) over seeds of each metric; the gap in stds."""
  summary = {}
  for framework, records in runs.items():
    summary[framework] = {}
    for key in METRICS:
      values = np.array([r["metrics"][key] for r in records], np.float64)
      std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
      summary[framework][key] = {"mean": float(values.mean()), "std": std, "values": list(values)}
  if set(runs) == {"jaxseg", "torch"}:
    for key in METRICS:
      jax_side, torch_side = summary["jaxseg"][key], summary["torch"][key]
      spread = max(jax_side["std"], torch_side["std"])
      gap = jax_side["mean"] - torch_side["mean"]
      summary.setdefault("gap", {})[key] = {
        "jaxseg_minus_torch": gap,
        "in_seed_stds": gap / spread if spread > 0 else float("inf"),
        "within_one_std": abs(gap) <= spread,
      }
  return summary


def loss_curves(runs: dict[str, list[dict]], rows: int) -> list[dict]:
  """Seed-averaged loss per framework over `rows` equal windows of steps."""
  means = {}
  for framework, records in runs.items():
    length = min(len(r["losses"]) for r in records)
    means[framework] = np.mean([r["losses"][:length] for r in records], axis=0)
  length = min(len(m) for m in means.values())
  edges = np.linspace(0, length, min(rows, length) + 1).astype(int)
  return [
    {"steps": f"{lo + 1}-{hi}", **{f: float(m[lo:hi].mean()) for f, m in means.items()}}
    for lo, hi in zip(edges[:-1], edges[1:], strict=True)
  ]


def report(config_name: str, seeds, summary: dict, curves: list[dict], peer_init: str) -> str:
  lines = [
    f"# Parity: {config_name}, seeds {', '.join(map(str, seeds))}, twin init {peer_init}",
    "",
    "| framework | " + " | ".join(f"{k} mean ± std" for k in METRICS) + " | per seed JA |",
    "|---|" + "---|" * (len(METRICS) + 1),
  ]
  for framework in ("jaxseg", "torch"):
    if framework not in summary:
      continue
    cells = [
      f"{summary[framework][k]['mean']:.4f} ± {summary[framework][k]['std']:.4f}" for k in METRICS
    ]
    per_seed = ", ".join(f"{v:.4f}" for v in summary[framework]["JA"]["values"])
    lines.append(f"| {framework} | " + " | ".join(cells) + f" | {per_seed} |")
  if "gap" in summary:
    lines += [
      "",
      "| metric | jaxseg - torch | in seed stds | within one std |",
      "|---|---|---|---|",
    ]
    for key, gap in summary["gap"].items():
      lines.append(
        f"| {key} | {gap['jaxseg_minus_torch']:+.4f} | {gap['in_seed_stds']:+.2f} | "
        f"{'yes' if gap['within_one_std'] else 'NO'} |"
      )
  frameworks = [f for f in ("jaxseg", "torch") if f in summary]
  lines += ["", "Training loss (mean over seeds and steps):", ""]
  lines += ["| steps | " + " | ".join(frameworks) + " |", "|---|" + "---|" * len(frameworks)]
  for row in curves:
    lines.append(f"| {row['steps']} | " + " | ".join(f"{row[f]:.4f}" for f in frameworks) + " |")
  return "\n".join(lines) + "\n"


def _exit_unless_twin_exists(config) -> None:
  """Before any training: torch is installed and the config has a twin and a supported recipe."""
  peer.import_torch("The PyTorch twin")
  from experiments.peer import train as peer_train  # imports torch, an optional extra
  from experiments.peer import twins

  try:
    peer_train.check_supported(config)
    twins.create_twin(config.model_name, config.model.to_dict())
  except (KeyError, ValueError) as error:
    raise ConfigError(f"{error.args[0]} (config {config.name})") from None


def main():
  frameworks = list(_FRAMEWORKS.value)
  if not frameworks or set(frameworks) - {"jaxseg", "torch"}:
    raise ConfigError(f"--frameworks takes jaxseg and/or torch, got {frameworks}.")
  config = cli.loaded_config()
  if "torch" in frameworks or _LOCKSTEP.value > 0:
    _exit_unless_twin_exists(config)
  summary_lib.quiet_library_logs()
  if _LOCKSTEP.value > 0:
    from experiments.peer import lockstep  # imports torch, an optional extra

    pairs = lockstep.train_in_lockstep(config, _LOCKSTEP.value)
    print("| step | jaxseg loss | torch loss |\n|---|---|---|")
    for step, (ours, theirs) in enumerate(pairs, start=1):
      print(f"| {step} | {ours:.5f} | {theirs:.5f} |")
    return
  seeds = [int(s) for s in _SEEDS.value]
  workdir = _WORKDIR.value
  os.makedirs(workdir, exist_ok=True)
  runs = {f: [] for f in frameworks}
  for seed in seeds:
    if "jaxseg" in frameworks:
      runs["jaxseg"].append(run_jaxseg(config, seed, os.path.join(workdir, f"jaxseg_seed{seed}")))
    if "torch" in frameworks:
      path = os.path.join(workdir, f"torch_{_PEER_INIT.value}init_seed{seed}.json")
      runs["torch"].append(run_torch(config, seed, path, _PEER_INIT.value))
  summary = summarize(runs)
  curves = loss_curves(runs, _CURVE_ROWS.value)
  text = report(config.name, seeds, summary, curves, _PEER_INIT.value)
  atomic_files.write_json(
    os.path.join(workdir, f"{run_layout.PARITY_STEM}.json"),
    {"config": config.name, "seeds": seeds, "peer_init": _PEER_INIT.value, "summary": summary,
     "loss_curves": curves},
  )  # fmt: skip
  atomic_files.write_text(os.path.join(workdir, f"{run_layout.PARITY_STEM}.md"), text)
  print(text)


if __name__ == "__main__":
  cli.app_main(main, required=("config", "workdir"))
