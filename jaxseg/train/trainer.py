"""The training engine: `train_and_evaluate(config, workdir)`.

Sections, top to bottom: mesh, input, model, step, checkpoint, eval, loop.
Data parallel: the batch is sharded over the mesh's `data` axis, the state is
replicated and donated; BatchNorm statistics come out global because jit sees
the whole sharded batch.
"""

import json
import os
import time
from collections.abc import Callable, Sequence

import grain
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from clu import parameter_overview
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm import tqdm

from jaxseg import losses, metrics, postprocess, report
from jaxseg.data import pipeline, splits, transforms
from jaxseg.models import create_model, pretrained
from jaxseg.train import optim, steps
from jaxseg.train.state import create_train_state
from jaxseg.train.summary import SummaryWriter

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


# --- mesh -------------------------------------------------------------------


def create_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  devices = np.asarray(jax.devices() if devices is None else devices)
  return Mesh(devices.reshape(-1), ("data",))


def put_batch(batch, mesh: Mesh):
  """Host-local numpy rows -> global arrays sharded over `data`."""
  sharding = NamedSharding(mesh, P("data"))
  return {
    key: jax.make_array_from_process_local_data(sharding, batch[key]) for key in steps.DEVICE_KEYS
  }


# --- model --------------------------------------------------------------------


def build_model(config):
  if config.dtype not in DTYPES:
    raise KeyError(f"Unknown dtype {config.dtype!r}; choose from {sorted(DTYPES)}.")
  return create_model(config.model_name, dtype=DTYPES[config.dtype], **config.model.to_dict())


def init_state(config, model, tx, mesh: Mesh):
  """Initialises on the host (ImageNet backbone weights if configured), replicates over the mesh."""
  height, width = config.input.image_size
  channels = pipeline.input_channels(config.input)
  state = create_train_state(model, tx, jax.random.key(config.seed), (1, height, width, channels))
  count = f"{parameter_overview.count_parameters(state.params):,}"
  if config.get("pretrained_backbone"):
    variables, loaded = pretrained.load_pretrained_resnet(
      {"params": state.params, "batch_stats": state.batch_stats}, config.pretrained_backbone
    )
    # Optimizer state is zeros of the same shapes, so it stays valid.
    state = state.replace(params=variables["params"], batch_stats=variables["batch_stats"])
    logging.info(
      "Model %s: %s parameters; pretrained backbone: %d arrays from %s.",
      config.model_name, count, len(loaded), config.pretrained_backbone,
    )  # fmt: skip
  else:
    logging.info("Model %s: %s parameters, random initialisation.", config.model_name, count)
  return jax.device_put(state, NamedSharding(mesh, P()))


# --- step ---------------------------------------------------------------------


class TracedStep:
  """jit over the mesh, counting traces so that a retrace shows up in logs and tests."""

  def __init__(self, fn: Callable, mesh: Mesh, shard_outputs: bool, donate_state: bool):
    self.num_traces = 0
    replicated, sharded = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))

    def counted(*args):
      self.num_traces += 1
      return fn(*args)

    out = (sharded, sharded) if shard_outputs else (replicated, replicated)
    self.jitted = jax.jit(
      counted,
      in_shardings=(replicated, sharded),
      out_shardings=out,
      donate_argnums=(0,) if donate_state else (),
    )

  def __call__(self, state, batch):
    return self.jitted(state, batch)


def build_train_step(config, schedule, mesh: Mesh, donate_state: bool = True) -> TracedStep:
  """The config's loss (plus its aux heads) as a jitted, state-replicated train step."""
  step = steps.make_train_step(
    losses.get_loss(config.loss),
    schedule,
    config.input.normalization,
    config.aux_loss_weight,
    dropout_seed=config.seed,
  )
  return TracedStep(step, mesh, shard_outputs=False, donate_state=donate_state)


def build_eval_step(config, mesh: Mesh) -> TracedStep:
  """Per-image counts and probabilities, sharded like the batch."""
  step = steps.make_eval_step(config.input.normalization)
  return TracedStep(step, mesh, shard_outputs=True, donate_state=False)


# --- checkpoint -----------------------------------------------------------------


def checkpoint_manager(workdir: str, config) -> ocp.CheckpointManager:
  # Orbax writes into a temporary directory and renames it on commit, so a
  # checkpoint is either complete or absent.
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
  """The latest state of another run (its --workdir), for evaluation only."""
  manager = checkpoint_manager(run_dir, config)
  step = manager.latest_step()
  if step is None:
    raise FileNotFoundError(
      f"No checkpoint in {manager.directory}. evaluate_checkpoint must be the --workdir of a "
      "finished training run of the same model config."
    )
  try:
    restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(state)))
  except (ValueError, KeyError) as error:
    raise ValueError(
      f"The checkpoint at step {step} in {manager.directory} does not fit this config's model "
      f"and optimizer ({config.model_name}, {config.optimizer.name}): {error}"
    ) from error
  logging.info("Evaluating the checkpoint at step %d of %s.", step, run_dir)
  manager.close()
  return restored["state"]


# --- eval ---------------------------------------------------------------------


def evaluate(state, eval_fn, source, config, mesh: Mesh, ground_truth=None):
  """One pass over `source`; padding is masked out; returns a MetricAccumulator.

  With `ground_truth` (the same split opened with `ground_truth_only=True`),
  probabilities are scored at the original mask's resolution (challenge
  protocol) instead of the model's input size (paper protocol). With
  `eval.postprocess` other than "none" (cdnn: "dual_threshold"), that
  post-processing replaces the 0.5 threshold, on the host, at whichever
  resolution is scored.
  """
  binarize = None
  if config.eval.postprocess != "none":
    binarize = postprocess.get_postprocessor(config.eval.postprocess)
  diagnosis_names = _diagnosis_names(source)
  accumulator = metrics.MetricAccumulator()
  batches = pipeline.eval_dataset(
    source,
    config.input,
    config.eval.batch_size,
    jax.process_index(),
    jax.process_count(),
  )
  for batch in batches:
    counts, probs = eval_fn(state, put_batch(batch, mesh))
    host = {
      k: multihost_utils.process_allgather(batch[k], tiled=True)
      for k in ("valid", "id", "index", "diagnosis", "mask")
    }
    valid = host["valid"] > 0
    if ground_truth is not None or binarize is not None:
      probs = multihost_utils.process_allgather(probs, tiled=True)
      counts = np.stack(
        [
          metrics.counts_at_original_resolution(
            probs[row], _scoring_target(host, row, ground_truth), binarize
          )
          if valid[row]
          else np.zeros(4, np.int64)
          for row in range(len(valid))
        ]
      )
    else:
      counts = multihost_utils.process_allgather(counts, tiled=True)
    groups = None
    if diagnosis_names:
      groups = [diagnosis_names[d] if d >= 0 else "unknown" for d in host["diagnosis"]]
    accumulator.update(counts, ids=transforms.decode_ids(host["id"]), valid=valid, groups=groups)
  return accumulator


def _scoring_target(host_batch, row: int, ground_truth) -> np.ndarray:
  """The mask row `row` is scored against: the original one, or the batch's."""
  if ground_truth is None:
    return host_batch["mask"][row].astype(bool)
  return _original_mask(ground_truth[int(host_batch["index"][row])])


def _original_mask(example) -> np.ndarray:
  return example["original_mask"] if "original_mask" in example else example["mask"]


def _diagnosis_names(source) -> list[str] | None:
  info = getattr(source, "dataset_info", None)
  if info is None or "diagnosis" not in info.features:
    return None
  return list(info.features["diagnosis"].names)


def other_dataset(dataset_config, spec: str):
  """'NAME:SPLIT' (e.g. 'isic2017:test') -> (dataset config for NAME, SPLIT)."""
  name, sep, split = spec.partition(":")
  if not sep or not split:
    raise ValueError(f"eval.also entries are 'DATASET:SPLIT', e.g. 'isic2017:test'; got {spec!r}.")
  other = dataset_config.copy_and_resolve_references()
  with other.unlocked():
    other.name = name
    other.train_size = 0
  return other, split


def evaluate_and_write(
  state, eval_fn, config, dataset_config, split, mesh, path, extra: dict
) -> dict | None:
  """Scores `split` of `dataset_config` and writes `path` (lead process; others get None).

  `extra` goes into the results as it is (the step, the training time).
  """
  source = splits.open_split(dataset_config, split)
  ground_truth = None
  if config.eval.original_resolution:
    ground_truth = splits.open_split(dataset_config, split, ground_truth_only=True)
  accumulator = evaluate(state, eval_fn, source, config, mesh, ground_truth)
  if jax.process_index() != 0:
    return None
  height, width = config.input.image_size
  extra = {
    "resolution": "original" if ground_truth is not None else f"input {height}x{width}",
    "postprocess": config.eval.postprocess,
    **extra,
  }
  results = write_results(path, config, dataset_config.name, split, accumulator, extra)
  logging.info("Wrote %s (%s %s: JA %.4f)", path, dataset_config.name, split,
               results["metrics"]["JA"])  # fmt: skip
  return results


def write_results(path: str, config, dataset: str, split: str, accumulator, extra: dict):
  summary = accumulator.summary()
  results = {
    "config": config.get("name", ""),
    "dataset": dataset,
    "split": split,
    "resolution": extra.pop("resolution"),
    "metrics": summary["mean"],
    "pooled": summary["pooled"],
    "num_images": summary["num_images"],
    **extra,
    "per_image": accumulator.per_image(),
  }
  if any("group" in row for row in results["per_image"]):
    results["by_diagnosis"] = {
      group: s["mean"] for group, s in accumulator.summary_by_group().items()
    }
    breakdown = report.melanoma_breakdown(results["per_image"])  # paper 000 Tables 3, 4
    if breakdown is not None:
      results["by_melanoma"] = breakdown
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(results, f, indent=1)
  os.replace(tmp, path)
  # Per-image JA distribution (paper 000 Fig. 5).
  # results.json -> ja_histogram.png, results_X.json -> ja_histogram_X.png.
  suffix = os.path.splitext(os.path.basename(path))[0].removeprefix("results")
  report.write_ja_histogram(
    results["per_image"], os.path.join(os.path.dirname(path), f"ja_histogram{suffix}.png")
  )
  return results


# --- loop ---------------------------------------------------------------------


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


def train_and_evaluate(config, workdir: str, step_hooks: Sequence[Callable] = ()) -> dict:
  """Trains (resuming from `workdir` if it holds checkpoints), evaluates, writes results.json.

  `step_hooks` are called as hook(step, host_batch) before each step (tests use
  them to record batches or to simulate preemption).
  """
  os.makedirs(workdir, exist_ok=True)
  lead = jax.process_index() == 0
  writer = SummaryWriter(workdir, enabled=lead)
  writer.write_hparams(config.to_dict())

  # Mesh.
  mesh = create_mesh()
  if config.batch_size % jax.device_count():
    raise ValueError(
      f"batch_size {config.batch_size} must be divisible by the {jax.device_count()} devices."
    )

  # Input.
  train_source = splits.open_train_split(config.dataset, workdir)
  eval_source = splits.open_split(config.dataset, config.dataset.eval_split, workdir)
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
  epoch_steps = optim.steps_per_epoch(len(train_source), config.batch_size)
  total_steps = optim.total_train_steps(config, len(train_source))

  # Model.
  model = build_model(config)
  schedule = optim.create_schedule(config, total_steps, epoch_steps)
  tx = optim.create_optimizer(config, schedule)
  state = init_state(config, model, tx, mesh)

  # Step.
  train_step = build_train_step(config, schedule, mesh)
  eval_fn = build_eval_step(config, mesh)

  # Checkpoint.
  manager = checkpoint_manager(workdir, config)
  if config.evaluate_checkpoint:
    state = restore_trained_state(config.evaluate_checkpoint, config, state)
    total_steps = 0  # evaluation only
  else:
    state = restore_checkpoint(manager, state, train_iter)
  start_step = min(int(jax.device_get(state.step)), total_steps)

  # Loop.
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
    state, step_metrics = train_step(state, put_batch(host_batch, mesh))
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
      save_checkpoint(manager, step, state, train_iter)
    if config.eval_every_steps and step % config.eval_every_steps == 0 and not is_last:
      summary = evaluate(state, eval_fn, eval_source, config, mesh).summary()
      writer.write_scalars(step, {f"eval/{k}": v for k, v in summary["mean"].items()})
  progress.close()
  train_seconds = time.perf_counter() - train_start
  if train_step.num_traces > 1:
    logging.warning("The train step was traced %d times.", train_step.num_traces)

  # Final evaluation: the eval split, then any `eval.also` datasets.
  step = int(jax.device_get(state.step))
  extra = {"step": step, "train_seconds_this_run": round(train_seconds, 2)}
  results = evaluate_and_write(
    state, eval_fn, config, config.dataset, config.dataset.eval_split, mesh,
    os.path.join(workdir, "results.json"), extra,
  )  # fmt: skip
  if results is not None:
    writer.write_scalars(step, {f"test/{k}": v for k, v in results["metrics"].items()})
  for spec in config.eval.also:
    dataset_config, split = other_dataset(config.dataset, spec)
    path = os.path.join(workdir, f"results_{dataset_config.name}_{split.replace(':', '_')}.json")
    evaluate_and_write(state, eval_fn, config, dataset_config, split, mesh, path, extra)
  writer.flush()
  writer.close()
  manager.close()
  return {
    "state": state,
    "results": results,
    "train_step_traces": train_step.num_traces,
    "eval_step_traces": eval_fn.num_traces,
  }
