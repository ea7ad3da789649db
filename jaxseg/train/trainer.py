"""The training loop: `train_and_evaluate(config, workdir)`.

Input, restore, steps, checkpoints and calls to the evaluators, nothing else:
what a run is made of comes from `setup.setup_run`, checkpoints from
`checkpoints`, scoring from `evaluators`.
"""

import os
import time
from collections.abc import Callable, Sequence

import jax
import numpy as np
from absl import logging
from tqdm import tqdm

from jaxseg import run_layout
from jaxseg.data import pipeline, splits
from jaxseg.train import checkpoints, evaluators, optim, selection, setup
from jaxseg.train.summary import SummaryWriter


def _check_finite(pending: list, latest_checkpoint: int | None, checkpoint_dir: str):
  for step, values in pending:
    bad = {k: float(v) for k, v in values.items() if not np.isfinite(v)}
    if bad:
      kept = (
        f"the last good checkpoint (step {latest_checkpoint}) in {checkpoint_dir} is intact"
        if latest_checkpoint is not None
        else "no checkpoint had been written yet"
      )
      raise FloatingPointError(
        f"Non-finite training values {bad} at step {step}. Training stopped; {kept}. "
        "Lower optimizer.lr (or check the input data) and rerun with the same --workdir "
        "to resume from that checkpoint."
      )


def _run_periodic_evals(run, state, config, workdir, step, writer, due, chooser) -> None:
  for name, entry in due:
    summary = evaluators.evaluate(state, run.eval_step, config, entry, run.mesh, workdir).summary()
    writer.write_scalars(step, {f"{name}/{k}": v for k, v in summary["mean"].items()})
    if chooser is not None and name == chooser.name:
      chooser.record(step, state, summary["mean"]["JA"])


def train_and_evaluate(config, workdir: str, step_hooks: Sequence[Callable] = ()) -> dict:
  """Trains (resuming from `workdir` if it holds checkpoints), then runs the final evaluators.

  With `evaluate_checkpoint` set, it trains nothing and evaluates that run's
  latest checkpoint instead. `step_hooks` are called as hook(step, host_batch)
  before each step (tests use them to record batches or to simulate preemption).
  """
  evaluators.check_evaluators(config)
  os.makedirs(workdir, exist_ok=True)
  lead = jax.process_index() == 0
  writer = SummaryWriter(workdir, enabled=lead)
  writer.write_hparams(config.to_dict())
  if lead:
    checkpoints.write_run_config(workdir, config)

  # Input.
  # Only the lead process records split ids in the workdir.
  train_source = splits.open_train_split(config.dataset, workdir if lead else None)
  train_iter = iter(
    pipeline.train_dataset(
      train_source,
      config.input,
      config.batch_size,
      config.seed,
      jax.process_index(),
      jax.process_count(),
    )
  )
  total_steps = optim.total_train_steps(config, len(train_source))
  run = setup.setup_run(
    config,
    setup.create_mesh(),
    total_steps=total_steps,
    steps_per_epoch=optim.steps_per_epoch(len(train_source), config.batch_size),
    restore_only=bool(config.evaluate_checkpoint),  # no initial state to train from
  )

  # Restore.
  manager = checkpoints.checkpoint_manager(workdir, config)
  if config.evaluate_checkpoint:
    state = checkpoints.restore_trained_state(
      config.evaluate_checkpoint, config, run.state, "--config.evaluate_checkpoint"
    )
    total_steps = 0  # evaluation only
  else:
    state = checkpoints.restore_checkpoint(manager, run.state, train_iter)
  start_step = min(int(jax.device_get(state.step)), total_steps)
  selected = None if config.evaluate_checkpoint else selection.selection_evaluator(config)
  chooser = selection.ModelSelection(workdir, *selected) if selected else None

  # Steps.
  periodic = evaluators.of_run(config, periodic=True)
  pending: list = []
  progress = tqdm(
    total=total_steps,
    initial=start_step,
    desc="train",
    disable=not (lead and config.progress_bar),
    mininterval=2.0,
  )
  window_start, window_steps = time.perf_counter(), 0
  train_start = time.perf_counter()
  for step in range(start_step + 1, total_steps + 1):
    host_batch = next(train_iter)
    for hook in step_hooks:
      hook(step, host_batch)
    state, step_metrics = run.train_step(state, setup.put_batch(host_batch, run.mesh))
    pending.append((step, step_metrics))
    window_steps += 1
    progress.update(1)

    is_last = step == total_steps
    if step % config.log_every_steps == 0 or is_last:
      pending = jax.device_get(pending)
      _check_finite(pending, manager.latest_step(), str(manager.directory))
      elapsed = time.perf_counter() - window_start
      scalars = {k: float(np.mean([m[k] for _, m in pending])) for k in pending[-1][1]}
      scalars["images_per_sec"] = window_steps * config.batch_size / max(elapsed, 1e-9)
      writer.write_scalars(step, scalars)
      pending, window_start, window_steps = [], time.perf_counter(), 0
    if step % config.checkpoint_every_steps == 0 or is_last:
      pending = jax.device_get(pending)
      _check_finite(pending, manager.latest_step(), str(manager.directory))
      checkpoints.save_checkpoint(manager, step, state, train_iter)
    # At the last step, an evaluator that also runs at the end reports from
    # there, unless it selects the model (the last step is a candidate too).
    due = [
      (name, entry)
      for name, entry in periodic
      if (step % entry.every_steps == 0 or is_last and entry.get("select"))
      and not (is_last and entry.at_end and entry.results_file and not entry.get("select"))
    ]
    _run_periodic_evals(run, state, config, workdir, step, writer, due, chooser)
  progress.close()
  train_seconds = time.perf_counter() - train_start
  if run.train_step.num_traces > 1:
    logging.warning("The train step was traced %d times.", run.train_step.num_traces)

  # Final evaluators, on the selected model if one is selected: each writes its results file.
  step = int(jax.device_get(state.step))
  extra = {}
  if chooser is not None and chooser.best_step is not None:
    extra["selection"] = {**chooser.summary(), "last_step": step}
    state = chooser.best_state(state)
    step = chooser.best_step
  if chooser is not None:
    chooser.close()
  extra |= {
    "step": step,
    "train_seconds_this_run": round(train_seconds, 2),
    "num_parameters": sum(x.size for x in jax.tree.leaves(state.params)),
  }
  all_results = {}
  for name, entry in evaluators.of_run(config, at_end=True):
    results = evaluators.evaluate_and_write(
      state, run.eval_step, config, entry, run.mesh, workdir, dict(extra)
    )
    all_results[entry.results_file] = results
    if results is not None:
      writer.write_scalars(step, {f"{name}/{k}": v for k, v in results["metrics"].items()})
  writer.flush()
  writer.close()
  manager.close()
  return {
    "state": state,
    "results": all_results.get(run_layout.RESULTS_FILE),  # None off the lead process
    "all_results": all_results,  # results file name -> its results
    "train_step_traces": run.train_step.num_traces,
    "eval_step_traces": run.eval_step.num_traces,
  }
