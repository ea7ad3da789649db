"""One entry point for every config: a single training run, or a cross-validation."""

from jaxseg import distributed
from jaxseg.train import crossval, trainer


def run(config, workdir: str) -> dict:
  """Runs `config` in `workdir`, resuming what an earlier call left unfinished.

  Returns the run's results and how often its steps were traced (the most of
  any run inside a cross-validation).
  """
  # Every tool's run gets here with its final config (ablate's and compare's
  # rows are derived from their flags): processes that differ stop here.
  distributed.check_same_config(config)
  if config.crossval.enabled:
    return crossval.train_folds(config, workdir)
  return trainer.train_and_evaluate(config, workdir)
