"""Model selection: keep the checkpoint that scores best on one evaluator, beside the latest.

An evaluator with `select=True` (and `every_steps` > 0) runs every that many
steps and at the last step; each time, the state is saved to
`<workdir>/best_checkpoint/` (`run_layout`) with its mean JA, and Orbax keeps only the best
(`best_fn`, `best_mode="max"`). The final evaluators then score the best
model instead of the last one, and their results record which step was
selected and on what. `<workdir>/selection.json` holds every evaluation of the
selection evaluator, so a resumed run keeps the history.

None of the five papers selects checkpoints on a validation split (they train
a fixed number of epochs and report the final model; docs/papers.md,
"Conventions", "Model selection"), so no paper config turns it on.
"""

import json
import os

import jax
import orbax.checkpoint as ocp
from absl import logging

from jaxseg import atomic_files, run_layout
from jaxseg.errors import ConfigError


def selection_evaluator(config) -> tuple[str, object] | None:
  """The (name, entry) of the evaluator marked `select`, or None; at most one may be."""
  chosen = [(name, entry) for name, entry in config.evals.items() if entry.get("select")]
  if not chosen:
    return None
  if len(chosen) > 1:
    raise ConfigError(
      f"Only one evaluator can select the model; {[n for n, _ in chosen]} are marked select."
    )
  name, entry = chosen[0]
  if entry.every_steps <= 0 or entry.ensemble:
    raise ConfigError(
      f"config.evals.{name} selects the model, so it needs every_steps > 0 (set "
      f"--config.evals.{name}.every_steps=N) and cannot be an ensemble evaluator."
    )
  return name, entry


def best_checkpoint_manager(workdir: str, create: bool = True) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
    run_layout.best_checkpoint_dir(workdir),
    item_handlers=ocp.StandardCheckpointHandler(),  # for its metadata before a restore
    options=ocp.CheckpointManagerOptions(
      max_to_keep=1,
      best_fn=lambda metrics: metrics["JA"],
      best_mode="max",
      keep_checkpoints_without_metrics=False,
      create=create,
      enable_async_checkpointing=False,
    ),
  )


class ModelSelection:
  """The best checkpoint of one run by one evaluator's mean JA, and its history."""

  def __init__(self, workdir: str, name: str, entry):
    self.workdir, self.name, self.entry = workdir, name, entry
    self.manager = best_checkpoint_manager(workdir)
    self.history = _read_history(workdir)

  def record(self, step: int, state, ja: float) -> None:
    """Keeps `state` if it is the best so far (a resumed run may see a step again)."""
    if step not in self.manager.all_steps():
      self.manager.save(
        step, args=ocp.args.StandardSave(state), metrics={"JA": float(ja)}, force=True
      )
      self.manager.wait_until_finished()
    self.history = [h for h in self.history if h["step"] != step] + [{"step": step, "JA": ja}]
    if jax.process_index() == 0:
      atomic_files.write_json(
        os.path.join(self.workdir, run_layout.SELECTION_FILE),
        {"evaluator": self.name, "split": self.entry.split, "history": self.history},
      )

  @property
  def best_step(self) -> int | None:
    return self.manager.best_step()

  def best_state(self, template):
    """The best state so far (`template` gives shapes and shardings)."""
    step = self.best_step
    logging.info("Model selection: evaluating the best step %d of %s.", step, self.name)
    return self.manager.restore(step, args=ocp.args.StandardRestore(template))

  def summary(self) -> dict:
    """What results files record: the step chosen, on what, and how it scored."""
    step = self.best_step
    scores = {h["step"]: h["JA"] for h in self.history}
    return {
      "evaluator": self.name,
      "dataset": self.entry.dataset or "(the run's)",
      "split": self.entry.split,
      "metric": "JA",
      "selected_step": step,
      "selected_JA": scores.get(step),
      "evaluated_steps": sorted(scores),
    }

  def close(self) -> None:
    self.manager.close()


def _read_history(workdir: str) -> list[dict]:
  path = os.path.join(workdir, run_layout.SELECTION_FILE)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return json.load(f)["history"]
