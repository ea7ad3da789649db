"""Bagging ensembles: the mean foreground probability of several trained runs.

cdnn's final predictor averages six models, its five cross-validation folds
and one trained on all the training data (SPEC §4.4). Nothing here depends on
the model family: members are the run directories of any one config's model,
and the ensemble is scored by the trainer's `evaluate`, so `eval.postprocess`
and `eval.original_resolution` apply to it as to a single model.

The members' variables are stacked along a leading axis and the eval step maps
the model over them one at a time (`jax.lax.map`), so the model compiles once
and only one member's activations are alive at a time.
"""

import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from absl import logging
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxseg import metrics
from jaxseg.models import foreground_probability
from jaxseg.train import optim, steps, trainer


def stack_members(states) -> dict:
  """Train states of one model -> {"params", "batch_stats"} with a leading member axis."""
  return jax.tree.map(
    lambda *leaves: jnp.stack(leaves),
    *[{"params": s.params, "batch_stats": s.batch_stats} for s in states],
  )


def make_ensemble_eval_step(apply_fn, normalization: str):
  """Like `steps.make_eval_step`, with the members' mean probability as the prediction."""

  def eval_step(members, batch):
    images, masks = steps.model_inputs(batch, normalization)

    def member_probability(variables):
      return foreground_probability(apply_fn(variables, images, train=False)["logits"])

    probs = jnp.mean(jax.lax.map(member_probability, members), axis=0)
    return metrics.confusion_counts(probs, masks > 0.5), probs

  return eval_step


def load_members(config, member_dirs: Sequence[str], mesh: Mesh):
  """The latest checkpoint of each run directory, stacked and replicated over `mesh`."""
  model = trainer.build_model(config)
  # The optimizer only shapes the restore target; members saved its state too.
  tx = optim.create_optimizer(config, optim.create_schedule(config, 1, 1))
  template = trainer.init_state(config, model, tx, mesh)
  states = [trainer.restore_trained_state(d, config, template) for d in member_dirs]
  members = jax.device_put(stack_members(states), NamedSharding(mesh, P()))
  return model, members, [int(jax.device_get(s.step)) for s in states]


def evaluate_ensemble(
  config, member_dirs: Sequence[str], splits: Sequence[str], workdir: str
) -> dict[str, dict | None]:
  """Scores the ensemble of `member_dirs` on each official split of `config.dataset`.

  Writes <workdir>/results_ensemble_<split>.json (the results.json layout, plus
  the members) and returns split -> results (None off the lead process).
  """
  mesh = trainer.create_mesh()
  model, members, member_steps = load_members(config, member_dirs, mesh)
  eval_fn = trainer.TracedStep(
    make_ensemble_eval_step(model.apply, config.input.normalization),
    mesh,
    shard_outputs=True,
    donate_state=False,
  )
  extra = {"ensemble_members": [os.path.abspath(d) for d in member_dirs], "step": member_steps}
  results = {}
  for split in splits:
    path = os.path.join(workdir, f"results_ensemble_{split.replace(':', '_')}.json")
    results[split] = trainer.evaluate_and_write(
      members, eval_fn, config, config.dataset, split, mesh, path, dict(extra)
    )
  logging.info("Ensemble of %d members scored on %s.", len(member_dirs), ", ".join(splits))
  return results
