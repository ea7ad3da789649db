r"""Trains and evaluates one experiment.

  python -m experiments.run --config unet_synthetic --workdir runs/unet_synthetic
  python -m experiments.run --config unet_synthetic:smoke --workdir /tmp/smoke \
      --config.optimizer.lr=1e-3

`--config` takes a file name from experiments/configs (NAME or NAME:ARG);
`--config.key=value` overrides any key, and an unknown key is an error.
Rerunning with the same --workdir resumes from its latest checkpoint. Results
land in <workdir>/results.json, TensorBoard events in <workdir>. Configs with
`crossval.enabled` train one run per fold in <workdir>/fold_<k> and write the
mean and std over folds to <workdir>/results.json (jaxseg/train/crossval.py).
"""

import sys

from absl import app, flags

from experiments import configs

_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (checkpoints, logs, results).")
flags.mark_flag_as_required("workdir")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  from jaxseg.train import experiment, summary  # noqa: PLC0415  (JAX after absl parsed flags)

  summary.quiet_library_logs()
  experiment.run(flags.FLAGS.config, _WORKDIR.value)


if __name__ == "__main__":
  app.run(main, argv=configs.define_config_flag(sys.argv))
