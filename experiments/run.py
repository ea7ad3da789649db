r"""Trains and evaluates one experiment.

  python -m experiments.run --config unet_synthetic --workdir runs/unet_synthetic
  python -m experiments.run --config unet_synthetic:smoke --workdir /tmp/smoke \
      --config.optimizer.lr=1e-3

`--config` takes a file name from experiments/configs (NAME or NAME:smoke);
`--config.key=value` overrides any key, and an unknown key is an error that
lists the keys there are. Rerunning with the same --workdir resumes from its
latest checkpoint. Results land in <workdir>/results.json (and the other
evaluators' files), TensorBoard events in <workdir>. Configs with
`crossval.enabled` train one run per fold in <workdir>/fold_<k> and write the
mean and std over folds to <workdir>/results.json (jaxseg/train/crossval.py).
"""

from absl import flags

from experiments import cli
from jaxseg import distributed
from jaxseg.train import experiment, summary

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (checkpoints, logs, results).")


def main():
  distributed.initialize_from_env()  # multi-process runs; before any JAX use
  config = cli.loaded_config()
  summary.quiet_library_logs()
  experiment.run(config, _WORKDIR.value)


if __name__ == "__main__":
  cli.app_main(main, required=("config", "workdir"))
