"""Bagging ensembles: the mean foreground probability of several trained runs.

cdnn's final predictor averages six models, its five cross-validation folds
and one trained on all the training data (docs/papers.md, "cdnn (paper 003)").
Nothing here depends on the model family: members are the run directories of
any one config's model, and the ensemble is scored by the same evaluators as a
single model, so their resolution and post-processing apply to it alike.

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
from jaxseg.train import checkpoints, evaluators, setup, steps


def stack_members(states) -> dict:
  """Train states of one model -> {"params", "batch_stats"} with a leading member axis."""
  return jax.tree.map(
    lambda *leaves: jnp.stack(leaves),
    *[{"params": s.params, "batch_stats": s.batch_stats} for s in states],
  )


def mean_member_probability(apply_fn, members, images: jax.Array) -> jax.Array:
  """Mean foreground probability [B, H, W] of stacked `members` on normalised `images`."""

  def member_probability(variables):
    return foreground_probability(apply_fn(variables, images, train=False)["logits"])

  return jnp.mean(jax.lax.map(member_probability, members), axis=0)


def make_ensemble_eval_step(apply_fn, normalization: str):
  """Like `steps.make_eval_step`, with the members' mean probability as the prediction."""

  def eval_step(members, batch):
    images, masks = steps.model_inputs(batch, normalization)
    probs = mean_member_probability(apply_fn, members, images)
    return metrics.confusion_counts(probs, masks > 0.5), probs

  return eval_step


def load_members(config, member_dirs: Sequence[str], mesh: Mesh, named_by: str):
  """The trained state of each run directory (`checkpoints.restore_trained_state`), stacked
  and replicated over `mesh`; `named_by` is what gave the directories, for errors."""
  run = setup.setup_run(config, mesh, restore_only=True)
  states = [checkpoints.restore_trained_state(d, config, run.state, named_by) for d in member_dirs]
  members = jax.device_put(stack_members(states), NamedSharding(mesh, P()))
  return run.model, members, [int(jax.device_get(s.step)) for s in states]


def evaluate_ensemble(
  config, member_dirs: Sequence[str], entries: Sequence[tuple], workdir: str
) -> dict[str, dict | None]:
  """Scores the ensemble of `member_dirs` with each (name, evaluator) of `entries`.

  Each writes its results file in `workdir` (the results.json layout, plus the
  members); returns name -> results (None off the lead process).
  """
  mesh = setup.create_mesh()
  # The members are folds of a cross-validation that experiments.run made.
  model, members, member_steps = load_members(
    config, member_dirs, mesh, "the cross-validation's --workdir"
  )
  eval_fn = setup.TracedStep(
    make_ensemble_eval_step(model.apply, config.input.normalization),
    mesh,
    shard_outputs=True,
    donate_state=False,
  )
  extra = {"ensemble_members": [os.path.abspath(d) for d in member_dirs], "step": member_steps}
  results = {}
  for name, entry in entries:
    results[name] = evaluators.evaluate_and_write(
      members, eval_fn, config, entry, mesh, workdir, dict(extra)
    )
  logging.info("Ensemble of %d members scored by %s.", len(member_dirs), [n for n, _ in entries])
  return results
