"""Evaluators: the named entries of `config.evals`, each scoring one split one way.

An entry's fields, defaults and meanings are `evaluator_entry.EvaluatorEntry`
(configs make entries with `experiments/configs/common.evaluator`).

A results file holds the mean and pooled metrics, the per-image values, the
mean per diagnosis and the melanoma breakdown where the dataset has
diagnoses (paper 000 Tables 3-4), and a JA histogram beside it (paper 000 Fig. 5).
"""

import os

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from jaxseg import atomic_files, metrics, postprocess, report, run_layout
from jaxseg.config_overrides import derive_config
from jaxseg.data import datasets, pipeline, splits, transforms
from jaxseg.errors import ConfigError
from jaxseg.train.evaluator_entry import FIELDS, RESOLUTIONS, scored_resolution
from jaxseg.train.setup import put_batch


def check_evaluators(config) -> None:
  """Every entry of `config.evals` is complete and valid; results files are distinct."""
  files = {}
  for name, entry in config.evals.items():
    where = f"config.evals.{name} of {config.get('name', '')!r}"
    missing = [field for field in FIELDS if field not in entry]
    if missing:
      raise ConfigError(f"{where} lacks {missing}; make entries with configs.common.evaluator.")
    if entry.resolution not in RESOLUTIONS:
      raise ConfigError(f"{where}: resolution {entry.resolution!r} is not one of {RESOLUTIONS}.")
    if entry.postprocess != "none":
      try:
        postprocess.get_postprocessor(entry.postprocess)
      except KeyError as error:
        raise ConfigError(f"{where}: {error.args[0]}") from None
    if entry.ensemble and config.dataset.protocol.name != "kfold":
      raise ConfigError(f"{where}: ensemble evaluators need a kfold dataset.protocol.")
    if entry.at_end and entry.results_file:
      if entry.results_file in files:
        raise ConfigError(
          f"{where} and config.evals.{files[entry.results_file]} both write "
          f"{entry.results_file}; give them distinct results_file names."
        )
      files[entry.results_file] = name


def of_run(config, *, at_end: bool | None = None, periodic: bool = False) -> list[tuple]:
  """(name, entry) of the single-model evaluators: those run at the end, or every N steps."""
  chosen = []
  for name, entry in config.evals.items():
    if entry.ensemble:
      continue
    if (at_end and entry.at_end and entry.results_file) or (periodic and entry.every_steps > 0):
      chosen.append((name, entry))
  return chosen


def dataset_config(config, entry):
  """The dataset config an entry reads: the run's own, or another dataset's with its settings."""
  if not entry.dataset or entry.dataset == config.dataset.name:
    return config.dataset
  return derive_config(config.dataset, {"name": entry.dataset, "train_size": 0})


def evaluate(state, eval_step, config, entry, mesh: Mesh, workdir: str | None = None):
  """Scores `entry`'s split with `eval_step`; returns a MetricAccumulator (padding masked out)."""
  data = dataset_config(config, entry)
  # Protocol splits of the run's own dataset record their ids in the workdir
  # (the lead process does).
  own = data is config.dataset and jax.process_index() == 0
  source = splits.open_split(data, entry.split, workdir if own else None)
  ground_truth = None
  if entry.resolution == "original":
    ground_truth = splits.open_split(data, entry.split, ground_truth_only=True)
  binarize = None
  if entry.postprocess != "none":
    binarize = postprocess.get_postprocessor(entry.postprocess)
  diagnosis_names = _diagnosis_names(source)
  accumulator = metrics.MetricAccumulator()
  batches = pipeline.eval_dataset(
    source, config.input, config.eval_batch_size, jax.process_index(), jax.process_count()
  )
  for batch in batches:
    counts, probs = eval_step(state, put_batch(batch, mesh))
    host = {
      k: multihost_utils.process_allgather(batch[k], tiled=True)
      for k in ("valid", "id", "index", "diagnosis", "mask")
    }
    valid = host["valid"] > 0
    if ground_truth is not None or binarize is not None:
      probs = multihost_utils.process_allgather(probs, tiled=True)
      counts = np.zeros((len(valid), 4), np.int64)
      for row in np.flatnonzero(valid):
        target = _scoring_target(host, row, ground_truth)
        prob = probs[row]
        if ground_truth is not None and config.input.resize_crop:
          # The model saw a centre crop: put it back in place before resizing.
          prob = transforms.uncrop_probabilities(prob, target.shape[:2])
        counts[row] = metrics.counts_at_original_resolution(prob, target, binarize)
    else:
      counts = multihost_utils.process_allgather(counts, tiled=True)
    groups = None
    if diagnosis_names:
      groups = [diagnosis_names[d] if d >= 0 else "unknown" for d in host["diagnosis"]]
    accumulator.update(counts, ids=transforms.decode_ids(host["id"]), valid=valid, groups=groups)
  return accumulator


def evaluate_and_write(
  state, eval_step, config, entry, mesh: Mesh, workdir: str, extra: dict
) -> dict | None:
  """Scores `entry` and writes its results file in `workdir` (lead process; others get None).

  `extra` goes into the results as it is (the step, the training time).
  """
  accumulator = evaluate(state, eval_step, config, entry, mesh, workdir)
  if jax.process_index() != 0:
    return None
  dataset = dataset_config(config, entry).name
  extra = {
    "resolution": scored_resolution(entry, config.input.image_size),
    "postprocess": entry.postprocess,
    **extra,
  }
  path = os.path.join(workdir, entry.results_file)
  results = write_results(path, config, dataset, entry.split, accumulator, extra)
  logging.info("Wrote %s (%s %s: JA %.4f)", path, dataset, entry.split, results["metrics"]["JA"])
  return results


def write_results(path: str, config, dataset: str, split: str, accumulator, extra: dict) -> dict:
  """The results file (written atomically) and its JA histogram beside it."""
  summary = accumulator.summary()
  melanoma = datasets.get_dataset_spec(dataset).melanoma_diagnosis
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
    # Paper 000 Tables 3, 4.
    breakdown = report.melanoma_breakdown(results["per_image"], melanoma_diagnosis=melanoma)
    if breakdown is not None:
      results["by_melanoma"] = breakdown
  atomic_files.write_json(path, results)
  report.write_ja_histogram(
    results["per_image"],
    os.path.join(os.path.dirname(path), run_layout.histogram_file(os.path.basename(path))),
    melanoma_diagnosis=melanoma,
  )
  return results


def _scoring_target(host_batch, row: int, ground_truth) -> np.ndarray:
  """The mask row `row` is scored against: the original one, or the batch's."""
  if ground_truth is None:
    return host_batch["mask"][row].astype(bool)
  example = ground_truth[int(host_batch["index"][row])]
  return example["original_mask"] if "original_mask" in example else example["mask"]


def _diagnosis_names(source) -> list[str] | None:
  info = getattr(source, "dataset_info", None)
  if info is None or "diagnosis" not in info.features:
    return None
  return list(info.features["diagnosis"].names)
