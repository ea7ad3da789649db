"""One entry point for every config: a single training run, or a cross-validation."""

from jaxseg.train import crossval, trainer


def run(config, workdir: str) -> dict:
  """Runs `config` in `workdir`, resuming what an earlier call left unfinished.

  Returns the run's results and how often its steps were traced (the most of
  any run inside a cross-validation).
  """
  if config.crossval.enabled:
    return crossval.train_folds(config, workdir)
  return trainer.train_and_evaluate(config, workdir)
