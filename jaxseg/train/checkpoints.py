"""Orbax checkpoints of a run: the train state and the input iterator's position.

Orbax writes into a temporary directory and renames it on commit, so a
checkpoint is either complete or absent, and a killed run resumes bit-exactly
from its latest one.
"""

import json
import os

import grain
import ml_collections
import orbax.checkpoint as ocp
from absl import logging

from jaxseg import atomic_files
from jaxseg.errors import CheckpointError
from jaxseg.train import selection

RUN_CONFIG = "config.json"


def write_run_config(workdir: str, config) -> None:
  """<workdir>/config.json: the config a run was made with (prediction reads it back)."""
  atomic_files.write_text(os.path.join(workdir, RUN_CONFIG), config.to_json(indent=1))


def read_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run in `workdir` was made with, locked."""
  path = os.path.join(workdir, RUN_CONFIG)
  if not os.path.exists(path):
    raise CheckpointError(
      f"{workdir} holds no {RUN_CONFIG}; give the --workdir of a run made by experiments.run."
    )
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  config.lock()
  return config


def checkpoint_manager(workdir: str, config) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
    os.path.join(os.path.abspath(workdir), "checkpoints"),
    options=ocp.CheckpointManagerOptions(
      max_to_keep=config.keep_checkpoints, create=True, enable_async_checkpointing=False
    ),
  )


def save_checkpoint(manager, step: int, state, train_iter):
  manager.save(
    step,
    args=ocp.args.Composite(
      state=ocp.args.StandardSave(state), data=grain.checkpoint.CheckpointSave(train_iter)
    ),
    force=True,
  )
  manager.wait_until_finished()


def restore_checkpoint(manager, state, train_iter):
  """Latest checkpoint into `state` and `train_iter`; a fresh start when there is none."""
  step = manager.latest_step()
  if step is None:
    return state
  restored = manager.restore(
    step,
    args=ocp.args.Composite(
      state=ocp.args.StandardRestore(state),
      data=grain.checkpoint.CheckpointRestore(train_iter),
    ),
  )
  logging.info("Resumed from checkpoint at step %d in %s.", step, manager.directory)
  return restored["state"]


def restore_trained_state(run_dir: str, config, state):
  """The state of another run (its --workdir) for evaluation: its selected best, else its latest."""
  if not os.path.isdir(run_dir):
    raise CheckpointError(
      f"{run_dir} does not exist; give the --workdir of a finished training run of the same "
      "model config (config key evaluate_checkpoint)."
    )
  best = os.path.join(run_dir, selection.BEST_DIR)
  if os.path.isdir(best):
    manager = selection.best_checkpoint_manager(run_dir, create=False)
    step = manager.best_step()
    if step is not None:
      return _restore_state_only(manager, step, run_dir, config, state, "selected best")
    manager.close()
  manager = checkpoint_manager(run_dir, config)
  return _restore_state_only(manager, manager.latest_step(), run_dir, config, state, "latest")


def _restore_state_only(manager, step, run_dir, config, state, which: str):
  if step is None:
    raise CheckpointError(
      f"No checkpoint in {manager.directory}; give the --workdir of a finished training run of "
      "the same model config (config key evaluate_checkpoint)."
    )
  try:
    if which == "latest":
      restored = manager.restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore(state))
      )["state"]
    else:
      restored = manager.restore(step, args=ocp.args.StandardRestore(state))
  except (ValueError, KeyError) as error:
    raise CheckpointError(
      f"The checkpoint at step {step} in {manager.directory} does not fit this config's model "
      f"and optimizer ({config.model_name}, {config.optimizer.name}): {error}"
    ) from error
  logging.info("Evaluating the %s checkpoint, step %d, of %s.", which, step, run_dir)
  manager.close()
  return restored
