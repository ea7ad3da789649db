"""k-fold cross-validation (cdnn, asnet) and cdnn's bagging ensemble.

Protocols: docs/papers.md, "cdnn (paper 003)" and "asnet (paper 004)". A config
with `crossval.enabled` and a kfold `dataset.protocol` runs, in the layout of
`jaxseg/run_layout.py`, each fold as an ordinary run that trains on the other
folds and scores its own held-out part; writes every fold's held-out ids
first, then the mean and std over folds of the fold means; with ensemble
evaluators, also a run on the whole source split (the all-data model), and
the ensemble evaluators score the fold models and it, averaged.

Every run is an ordinary `trainer.train_and_evaluate`, so an interrupted fold
resumes from its last checkpoint, and a fold with its results.json is not
trained again: rerunning the same command continues where it stopped.

The reported std is numpy's default (population, ddof 0) over the fold means,
as "mean +- std over five folds" is usually computed; the results also hold the
mean over all held-out images, where every training image counts once.
"""

import os

import jax
import numpy as np
from absl import logging

from jaxseg import atomic_files, distributed, metrics, run_layout
from jaxseg.config_overrides import derive_config
from jaxseg.data import datasets, splits
from jaxseg.errors import ConfigError
from jaxseg.train import checkpoints, ensemble, trainer


def ensemble_evaluators(config) -> list[tuple]:
  """(name, entry) of the ensemble evaluators, in the dataset's split order (validation first)."""
  order = datasets.get_dataset_spec(config.dataset.name, config.dataset.get("folder", "")).splits
  chosen = [(name, entry) for name, entry in config.evals.items() if entry.ensemble]
  return sorted(
    chosen, key=lambda item: order.index(item[1].split) if item[1].split in order else 99
  )


def fold_config(config, fold: int):
  """Fold `fold` of the kfold protocol: train on the other folds, score the held-out one."""
  return derive_config(
    config,
    {
      "crossval.enabled": False,
      "dataset.train_split": f"{splits.PROTOCOL_PREFIX}train",
      "dataset.protocol.fold": fold,
    },
  )


def all_data_config(config):
  """The ensemble's extra member: the whole source split, scored by the ensemble evaluators.

  The first of them writes results.json, the others results_<dataset>_<split>.json.
  """
  overrides = {
    "crossval.enabled": False,
    "dataset.train_split": config.dataset.protocol.source_split,
    "dataset.protocol.name": "none",
  }
  for name, entry in config.evals.items():
    if not entry.ensemble:  # held-out evaluators: no held-out part without a protocol
      overrides.update(
        {
          f"evals.{name}.at_end": False,
          f"evals.{name}.every_steps": 0,
          f"evals.{name}.select": False,
        }
      )
  for index, (name, entry) in enumerate(ensemble_evaluators(config)):
    dataset = entry.dataset or config.dataset.name
    overrides[f"evals.{name}.ensemble"] = False
    overrides[f"evals.{name}.results_file"] = (
      run_layout.RESULTS_FILE
      if index == 0
      else run_layout.dataset_results_file(dataset, entry.split)
    )
  return derive_config(config, overrides)


def check_config(config):
  protocol = config.dataset.protocol
  if protocol.name != "kfold":
    raise ConfigError(
      f"crossval.enabled needs dataset.protocol.name = 'kfold' (got {protocol.name!r}) in "
      f"config {config.name!r}."
    )
  held_out = [
    name
    for name, entry in config.evals.items()
    if not entry.ensemble and entry.at_end and entry.results_file == run_layout.RESULTS_FILE
  ]
  if not held_out or config.evals[held_out[0]].split != f"{splits.PROTOCOL_PREFIX}heldout":
    raise ConfigError(
      f"Cross-validation config {config.name!r} needs an evaluator writing "
      f"{run_layout.RESULTS_FILE} on "
      "protocol:heldout (each fold's score), e.g. --config.evals.test.split=protocol:heldout."
    )
  for name, entry in ensemble_evaluators(config):
    if entry.split.startswith(splits.PROTOCOL_PREFIX):
      raise ConfigError(
        f"config.evals.{name} scores the ensemble on an official split of "
        f"{config.dataset.name}, not {entry.split!r}."
      )


def summarize_folds(fold_results: list[dict]) -> dict:
  """Mean and std over folds of each fold's mean metrics, and the mean over all images."""
  table = {key: [r["metrics"][key] for r in fold_results] for key in metrics.METRIC_KEYS}
  per_image = [row for r in fold_results for row in r["per_image"]]
  return {
    "metrics": {key: float(np.mean(values)) for key, values in table.items()},
    "std": {key: float(np.std(values)) for key, values in table.items()},
    "over_all_images": {
      key: float(np.mean([row[key] for row in per_image])) for key in metrics.METRIC_KEYS[:5]
    },
    "folds": [r["metrics"] for r in fold_results],
    "num_images": len(per_image),
  }


def write_fold_ids(config, workdir: str):
  """The held-out ids of every fold (`run_layout.FOLDS_FILE`), before any fold trains."""
  protocol = config.dataset.protocol
  ids = splits.source_ids(config.dataset)
  folds = splits.kfold(ids, num_folds=protocol.num_folds, seed=protocol.seed)
  record = {
    "dataset": config.dataset.name,
    "source_split": protocol.source_split,
    "num_folds": protocol.num_folds,
    "seed": protocol.seed,
    "heldout": [fold["heldout"] for fold in folds],
  }
  if jax.process_index() == 0:
    atomic_files.write_json(os.path.join(workdir, run_layout.FOLDS_FILE), record)


def train_folds(config, workdir: str) -> dict:
  """Trains the unfinished folds (and the ensemble's all-data model), writes the summaries."""
  check_config(config)
  os.makedirs(workdir, exist_ok=True)
  if jax.process_index() == 0:
    checkpoints.write_run_config(workdir, config)
  write_fold_ids(config, workdir)
  runs, fold_results = [], []
  for fold in range(config.dataset.protocol.num_folds):
    run_dir = run_layout.fold_dir(workdir, fold)
    if not distributed.lead_decides(run_layout.has_results(run_dir)):
      logging.info("Cross-validation: training fold %d in %s.", fold, run_dir)
      runs.append(trainer.train_and_evaluate(fold_config(config, fold), run_dir))
    else:
      logging.info("Cross-validation: fold %d is finished (%s).", fold, run_dir)
    fold_results.append(run_layout.read_results(run_dir))

  summary = None
  if jax.process_index() == 0:
    first = fold_results[0]
    summary = {
      "config": config.name,
      "dataset": config.dataset.name,
      "split": run_layout.cross_validation_split(
        config.dataset.protocol.source_split, len(fold_results)
      ),
      "resolution": first["resolution"],
      "postprocess": first.get("postprocess", "none"),
      **summarize_folds(fold_results),
    }
    atomic_files.write_json(os.path.join(workdir, run_layout.RESULTS_FILE), summary)
    mean, std = summary["metrics"], summary["std"]
    logging.info(
      "Cross-validation over %d folds: JA %.4f +- %.4f, DI %.4f +- %.4f, AC %.4f +- %.4f.",
      len(fold_results), mean["JA"], std["JA"], mean["DI"], std["DI"], mean["AC"], std["AC"],
    )  # fmt: skip

  ensemble_results = {}
  if ensemble_evaluators(config):
    all_data_dir = run_layout.all_data_dir(workdir)
    if not distributed.lead_decides(run_layout.has_results(all_data_dir)):
      logging.info("Training the ensemble's all-data model in %s.", all_data_dir)
      runs.append(trainer.train_and_evaluate(all_data_config(config), all_data_dir))
    ensemble_results = ensemble.evaluate_ensemble(
      fold_config(config, 0),
      run_layout.ensemble_member_dirs(workdir, len(fold_results)),
      ensemble_evaluators(config),
      workdir,
    )
  return {
    "results": summary,
    "ensemble_results": ensemble_results,
    "train_step_traces": max((r["train_step_traces"] for r in runs), default=0),
    "eval_step_traces": max((r["eval_step_traces"] for r in runs), default=0),
  }
