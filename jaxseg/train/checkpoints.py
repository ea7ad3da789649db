"""Orbax checkpoints of a run: the train state and the input iterator's position.

Orbax writes into a temporary directory and renames it on commit, so a
checkpoint is either complete or absent, and a killed run resumes bit-exactly
from its latest one.
"""

import contextlib
import json
import os

import grain
import jax
import ml_collections
import orbax.checkpoint as ocp
from absl import logging

from jaxseg import atomic_files, run_layout
from jaxseg.errors import CheckpointError
from jaxseg.train import selection


def write_run_config(workdir: str, config) -> None:
  """The config a run was made with (`run_layout.RUN_CONFIG`; prediction reads it back)."""
  atomic_files.write_text(os.path.join(workdir, run_layout.RUN_CONFIG), config.to_json(indent=1))


def read_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run in `workdir` was made with, locked."""
  path = os.path.join(workdir, run_layout.RUN_CONFIG)
  if not os.path.exists(path):
    raise CheckpointError(
      f"{workdir} holds no {run_layout.RUN_CONFIG}; give the --workdir of a run made by "
      "experiments.run."
    )
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  config.lock()
  return config


def checkpoint_manager(workdir: str, config) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
    run_layout.checkpoints_dir(workdir),
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


def restore_trained_state(run_dir: str, config, target, named_by: str):
  """The state of another run, for evaluation or prediction: its selected best, else its latest.

  `target` gives the state's shapes and shardings (`setup.abstract_state`: no
  initialisation needed); `named_by` is what gave `run_dir` (a flag, a config
  key), which the errors name. Reading writes nothing in `run_dir`.
  """
  fix = f"{named_by} must be the workdir of a finished training run of the same model config"
  if not os.path.isdir(run_dir):
    raise CheckpointError(f"{run_dir} does not exist; {fix}.")
  if os.path.isdir(run_layout.best_checkpoint_dir(run_dir)):
    with contextlib.closing(selection.best_checkpoint_manager(run_dir, create=False)) as manager:
      step = manager.best_step()
      if step is not None:
        _check_fits(manager.item_metadata(step), target, step, manager.directory, config)
        restored = manager.restore(step, args=ocp.args.StandardRestore(target))
        logging.info("Restored the selected best checkpoint, step %d, of %s.", step, run_dir)
        return restored
  directory = run_layout.checkpoints_dir(run_dir)
  if not os.path.isdir(directory):
    raise CheckpointError(f"No checkpoint in {directory}; {fix}.")
  # create=False and no saves: Orbax writes nothing. (Its read_only option would do as
  # well, but logs a warning for every manager.) The handler gives the state's metadata.
  with contextlib.closing(
    ocp.CheckpointManager(
      directory,
      item_handlers={"state": ocp.StandardCheckpointHandler()},
      options=ocp.CheckpointManagerOptions(create=False, enable_async_checkpointing=False),
    )
  ) as manager:
    step = manager.latest_step()
    if step is None:
      raise CheckpointError(f"No checkpoint in {directory}; {fix}.")
    _check_fits(manager.item_metadata(step)["state"], target, step, directory, config)
    args = ocp.args.Composite(state=ocp.args.StandardRestore(target))
    restored = manager.restore(step, args=args)["state"]
  logging.info("Restored the latest checkpoint, step %d, of %s.", step, run_dir)
  return restored


def _check_fits(stored, target, step: int, directory, config) -> None:
  """CheckpointError unless the checkpoint's metadata has `target`'s arrays and shapes.

  Checked before restoring: an Orbax restore that fails part-way closes its
  event loop with reads still in flight, which then raise "Event loop is
  closed" as they finish, long after the error.
  """

  def shapes(tree) -> dict:
    return {
      jax.tree_util.keystr(path, simple=True, separator="/"): tuple(leaf.shape)
      for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
    }

  have, want = shapes(stored), shapes(target)
  differences = [
    f"{name} {have.get(name, 'absent')} in the checkpoint, {want.get(name, 'absent')} here"
    for name in sorted(have.keys() | want.keys())
    if have.get(name) != want.get(name)
  ]
  if differences:
    raise CheckpointError(
      f"The checkpoint at step {step} in {directory} does not fit this config's model and "
      f"optimizer ({config.model_name}, {config.optimizer.name}): {len(differences)} arrays "
      f"differ, e.g. {'; '.join(differences[:3])}."
    )
