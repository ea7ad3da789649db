"""k-fold cross-validation (cdnn SPEC §4.4, asnet §4.5) and cdnn's bagging ensemble.

A config with `crossval.enabled` and a kfold `dataset.protocol` runs as

  <workdir>/folds.json                  every fold's held-out ids (seeded, disjoint, covering)
  <workdir>/fold_<k>/                   an ordinary run: trains on the other folds,
                                        results.json scores fold k's held-out part
  <workdir>/results.json                mean and std over folds of the fold means
  <workdir>/all_data/                   (with crossval.ensemble_splits) a run on the
                                        whole source split, scored on those splits
  <workdir>/results_ensemble_<split>.json   the fold models plus all_data, averaged

Every run is an ordinary `trainer.train_and_evaluate`, so an interrupted fold
resumes from its last checkpoint, and a fold with its results.json is not
trained again: rerunning the same command continues where it stopped.

The reported std is numpy's default (population, ddof 0) over the fold means,
as "mean +- std over five folds" is usually computed; the results also hold the
mean over all held-out images, where every training image counts once.
"""

import json
import os

import jax
import numpy as np
from absl import logging

from jaxseg import metrics
from jaxseg.data import splits
from jaxseg.train import ensemble, trainer


def _variant(config, **dataset_changes):
  variant = config.copy_and_resolve_references()
  with variant.unlocked():
    variant.crossval.enabled = False
    variant.crossval.ensemble_splits = ()
    for key, value in dataset_changes.items():
      *parents, leaf = key.split(".")
      node = variant.dataset
      for parent in parents:
        node = node[parent]
      node[leaf] = value
  return variant


def fold_config(config, fold: int):
  """Fold `fold` of the kfold protocol: train on the other folds, score the held-out one."""
  variant = _variant(
    config,
    train_split=f"{splits.PROTOCOL_PREFIX}train",
    eval_split=f"{splits.PROTOCOL_PREFIX}heldout",
    **{"protocol.fold": fold},
  )
  with variant.unlocked():
    variant.eval.also = ()  # folds score their held-out part only
  return variant


def all_data_config(config):
  """The ensemble's extra member: the whole source split, scored on the ensemble splits."""
  first, *others = config.crossval.ensemble_splits
  variant = _variant(
    config,
    train_split=config.dataset.protocol.source_split,
    eval_split=first,
    **{"protocol.name": "none"},
  )
  with variant.unlocked():
    variant.eval.also = tuple(f"{config.dataset.name}:{split}" for split in others)
  return variant


def check_config(config):
  protocol = config.dataset.protocol
  if protocol.name != "kfold":
    raise ValueError(
      f"crossval.enabled needs dataset.protocol.name = 'kfold' (got {protocol.name!r}) in "
      f"config {config.name!r}."
    )
  for split in config.crossval.ensemble_splits:
    if split.startswith(splits.PROTOCOL_PREFIX):
      raise ValueError(
        f"crossval.ensemble_splits are official splits of {config.dataset.name}, not {split!r}."
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


def _write_json(path: str, record: dict):
  tmp = f"{path}.tmp"
  with open(tmp, "w") as f:
    json.dump(record, f, indent=1)
  os.replace(tmp, path)


def _read_results(run_dir: str) -> dict | None:
  path = os.path.join(run_dir, "results.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def write_fold_ids(config, workdir: str):
  """<workdir>/folds.json: the held-out ids of every fold, before any fold trains."""
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
    _write_json(os.path.join(workdir, "folds.json"), record)


def train_folds(config, workdir: str) -> dict:
  """Trains the unfinished folds (and the ensemble's all-data model), writes the summaries."""
  check_config(config)
  os.makedirs(workdir, exist_ok=True)
  write_fold_ids(config, workdir)
  runs, fold_results = [], []
  for fold in range(config.dataset.protocol.num_folds):
    run_dir = os.path.join(workdir, f"fold_{fold}")
    results = _read_results(run_dir)
    if results is None:
      logging.info("Cross-validation: training fold %d in %s.", fold, run_dir)
      runs.append(trainer.train_and_evaluate(fold_config(config, fold), run_dir))
      results = _read_results(run_dir)
    else:
      logging.info("Cross-validation: fold %d is finished (%s).", fold, run_dir)
    fold_results.append(results)

  summary = None
  if jax.process_index() == 0:
    first = fold_results[0]
    summary = {
      "config": config.name,
      "dataset": config.dataset.name,
      "split": f"{config.dataset.protocol.source_split}, {len(fold_results)}-fold held-out",
      "resolution": first["resolution"],
      "postprocess": first.get("postprocess", "none"),
      **summarize_folds(fold_results),
    }
    _write_json(os.path.join(workdir, "results.json"), summary)
    mean, std = summary["metrics"], summary["std"]
    logging.info(
      "Cross-validation over %d folds: JA %.4f +- %.4f, DI %.4f +- %.4f, AC %.4f +- %.4f.",
      len(fold_results), mean["JA"], std["JA"], mean["DI"], std["DI"], mean["AC"], std["AC"],
    )  # fmt: skip

  ensemble_results = {}
  if config.crossval.ensemble_splits:
    all_data_dir = os.path.join(workdir, "all_data")
    if _read_results(all_data_dir) is None:
      logging.info("Training the ensemble's all-data model in %s.", all_data_dir)
      runs.append(trainer.train_and_evaluate(all_data_config(config), all_data_dir))
    member_dirs = [os.path.join(workdir, f"fold_{k}") for k in range(len(fold_results))]
    ensemble_results = ensemble.evaluate_ensemble(
      fold_config(config, 0),
      [*member_dirs, all_data_dir],
      config.crossval.ensemble_splits,
      workdir,
    )
  return {
    "results": summary,
    "ensemble_results": ensemble_results,
    "train_step_traces": max((r["train_step_traces"] for r in runs), default=0),
    "eval_step_traces": max((r["eval_step_traces"] for r in runs), default=0),
  }
