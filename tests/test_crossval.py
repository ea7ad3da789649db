"""k-fold runner, bagging ensemble and eval-time post-processing, on synthetic tiny."""

import json
import os
import pathlib

import jax
import numpy as np
import pytest

from experiments import configs
from experiments.configs import common
from jaxseg import metrics, run_layout
from jaxseg.data import splits, transforms
from jaxseg.errors import ConfigError
from jaxseg.train import crossval, ensemble, evaluators, experiment, setup, trainer
from tests.run_testing import smoke_config


def _cv_config(data_dir, **overrides):
  """unet smoke as 2-fold cross-validation, its ensemble scored on validation."""
  evals = {
    "heldout": common.evaluator("protocol:heldout"),
    "ensemble_validation": common.evaluator(
      "validation", results_file=run_layout.ensemble_results_file("validation"), ensemble=True
    ),
  }
  return smoke_config(
    data_dir,
    {
      "dataset.protocol.name": "kfold",
      "dataset.protocol.num_folds": 2,
      "crossval.enabled": True,
      "evals": evals,
      "num_train_steps": 2,
      **overrides,
    },
  )


@pytest.mark.slow
def test_crossval_trains_folds_summarises_and_resumes(tfds_dir, tmp_path, monkeypatch):
  config = _cv_config(tfds_dir)
  out = experiment.run(config, str(tmp_path))
  assert out["train_step_traces"] == 1

  folds = json.loads((tmp_path / run_layout.FOLDS_FILE).read_text())
  heldout = [set(ids) for ids in folds["heldout"]]
  all_ids = set(splits.source_ids(config.dataset))
  assert heldout[0].isdisjoint(heldout[1]) and heldout[0] | heldout[1] == all_ids
  for fold in range(2):
    fold_results = json.loads(
      (pathlib.Path(run_layout.fold_dir(tmp_path, fold)) / run_layout.RESULTS_FILE).read_text()
    )
    assert {row["id"] for row in fold_results["per_image"]} == heldout[fold]
    fold_splits = json.loads(
      (pathlib.Path(run_layout.fold_dir(tmp_path, fold)) / run_layout.SPLITS_FILE).read_text()
    )
    assert set(fold_splits["train"]) == all_ids - heldout[fold]

  summary = json.loads((tmp_path / run_layout.RESULTS_FILE).read_text())
  fold_ja = [f["JA"] for f in summary["folds"]]
  assert summary["metrics"]["JA"] == pytest.approx(np.mean(fold_ja))
  assert summary["std"]["JA"] == pytest.approx(np.std(fold_ja))
  assert summary["num_images"] == len(all_ids)

  ensemble_results = json.loads(
    (tmp_path / run_layout.ensemble_results_file("validation")).read_text()
  )
  assert len(ensemble_results["ensemble_members"]) == 3  # two folds and all_data
  assert ensemble_results["num_images"] == 8

  # A rerun trains nothing.
  trained = []
  original = trainer.train_and_evaluate

  def recording(fold_config, workdir, *args, **kwargs):
    trained.append(workdir)
    return original(fold_config, workdir, *args, **kwargs)

  monkeypatch.setattr(trainer, "train_and_evaluate", recording)
  experiment.run(config, str(tmp_path))
  assert trained == []


@pytest.mark.slow
def test_crossval_resumes_an_interrupted_fold_from_its_checkpoint(tfds_dir, tmp_path, monkeypatch):
  config = _cv_config(tfds_dir, num_train_steps=4, checkpoint_every_steps=2)
  original = trainer.train_and_evaluate
  steps_run = []

  def preempted_in_fold_1(fold_config, workdir, step_hooks=()):
    def hook(step, batch):
      steps_run.append((os.path.basename(workdir), step))
      if workdir.endswith("fold_1") and step == 3:
        raise KeyboardInterrupt("simulated preemption")

    return original(fold_config, workdir, [*step_hooks, hook])

  monkeypatch.setattr(trainer, "train_and_evaluate", preempted_in_fold_1)
  with pytest.raises(KeyboardInterrupt):
    experiment.run(config, str(tmp_path))
  assert (pathlib.Path(run_layout.fold_dir(tmp_path, 0)) / run_layout.RESULTS_FILE).exists()
  assert not (tmp_path / "fold_1" / run_layout.RESULTS_FILE).exists()

  steps_run.clear()
  monkeypatch.setattr(trainer, "train_and_evaluate", original)

  def record_only(fold_config, workdir, step_hooks=()):
    hook = lambda step, batch: steps_run.append((os.path.basename(workdir), step))  # noqa: E731
    return original(fold_config, workdir, [*step_hooks, hook])

  monkeypatch.setattr(trainer, "train_and_evaluate", record_only)
  experiment.run(config, str(tmp_path))
  # fold_0 is done; fold_1 continues after its step-2 checkpoint; all_data trains whole.
  assert [s for s in steps_run if s[0] == "fold_1"] == [("fold_1", 3), ("fold_1", 4)]
  assert not [s for s in steps_run if s[0] == "fold_0"]
  resumed = json.loads((tmp_path / "fold_1" / run_layout.RESULTS_FILE).read_text())

  # The same fold, uninterrupted, ends with the same model and so the same scores.
  monkeypatch.setattr(trainer, "train_and_evaluate", original)
  straight = original(crossval.fold_config(config, 1), str(tmp_path / "straight_fold_1"))
  assert resumed["per_image"] == straight["results"]["per_image"]


def test_crossval_needs_a_kfold_protocol_and_a_heldout_evaluator(tmp_path):
  config = configs.load_config("unet_synthetic:smoke", {"crossval.enabled": True})
  with pytest.raises(ConfigError, match="kfold"):
    crossval.train_folds(config, str(tmp_path))
  config = _cv_config("unused", **{"evals.heldout.split": "validation"})
  with pytest.raises(ConfigError, match="protocol:heldout"):
    crossval.train_folds(config, str(tmp_path))


def test_summarize_folds_mean_and_std():
  def fold(ja, ids):
    per_image = [{"id": i, "AC": 1.0, "DI": ja, "JA": ja, "SE": 1.0, "SP": 1.0} for i in ids]
    metric_values = {"AC": 1.0, "DI": ja, "JA": ja, "SE": 1.0, "SP": 1.0, "JA_thresholded": ja}
    return {"metrics": metric_values, "per_image": per_image}

  summary = crossval.summarize_folds([fold(0.8, "ab"), fold(0.6, "cde")])
  assert summary["metrics"]["JA"] == pytest.approx(0.7)
  assert summary["std"]["JA"] == pytest.approx(0.1)
  assert summary["over_all_images"]["JA"] == pytest.approx((2 * 0.8 + 3 * 0.6) / 5)
  assert summary["num_images"] == 5


def test_ensemble_of_identical_members_equals_one_model():
  config = configs.get_config("unet_synthetic:smoke")
  run = setup.setup_run(config, setup.create_mesh())
  mesh, model, state = run.mesh, run.model, run.state
  rng = np.random.default_rng(0)
  batch = setup.put_batch(
    {
      "image": rng.integers(0, 256, (4, 32, 32, 3), np.uint8),
      "mask": (rng.random((4, 32, 32)) > 0.5).astype(np.uint8),
      "valid": np.ones(4, np.float32),
    },
    mesh,
  )
  single_counts, single_probs = run.eval_step(state, batch)
  members = ensemble.stack_members([state, state, state])
  step = ensemble.make_ensemble_eval_step(model.apply, config.input.normalization)
  counts, probs = jax.jit(step)(members, batch)
  np.testing.assert_allclose(probs, single_probs, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(counts, single_counts)

  # Different members: the ensemble is their mean probability.
  other = state.replace(params=jax.tree.map(lambda p: p * 0.5, state.params))
  _, other_probs = run.eval_step(other, batch)
  _, mixed = jax.jit(step)(ensemble.stack_members([state, other]), batch)
  np.testing.assert_allclose(mixed, (single_probs + other_probs) / 2, rtol=1e-5, atol=1e-6)


def test_postprocess_switch_changes_how_predictions_are_scored(tfds_dir):
  """A spurious blob far from the lesion counts as false positives unless dual_threshold is on."""

  def fake_eval_step(state, batch):
    probs = 0.95 * np.asarray(batch["mask"], np.float32)
    probs[:, :3, :3] = np.maximum(probs[:, :3, :3], 0.6)  # spurious, below the 0.8 threshold
    return metrics.confusion_counts(probs, np.asarray(batch["mask"]) > 0), probs

  false_positives = {}
  for name in ("none", "dual_threshold"):
    config = smoke_config(tfds_dir, {"evals.test.postprocess": name})
    accumulator = evaluators.evaluate(
      None, fake_eval_step, config, config.evals.test, setup.create_mesh()
    )
    false_positives[name] = np.array([row["fp"] for row in accumulator.per_image()])
  assert np.all(false_positives["dual_threshold"] <= false_positives["none"])
  assert np.any(false_positives["dual_threshold"] < false_positives["none"])

  config = smoke_config(tfds_dir, {"evals.test.postprocess": "no_such_postprocess"})
  with pytest.raises(ConfigError, match="dual_threshold"):
    evaluators.check_evaluators(config)


def test_original_resolution_scoring_puts_a_centre_crop_back_in_place(tfds_dir, monkeypatch):
  """A model that saw a centre crop (ulffn) is scored against the whole mask, crop in place."""

  def perfect_on_the_crop(state, batch):
    probs = np.asarray(batch["mask"], np.float32)
    return metrics.confusion_counts(probs, np.asarray(batch["mask"]) > 0), probs

  config = smoke_config(tfds_dir, {"input.resize_crop": True, "evals.test.resolution": "original"})

  def false_positives():
    per_image = evaluators.evaluate(
      None, perfect_on_the_crop, config, config.evals.test, setup.create_mesh()
    ).per_image()
    return sum(row["fp"] for row in per_image), sum(row["tp"] for row in per_image)

  # The 48x64 masks are cut to their central 48x48 (at 32x32): a prediction
  # perfect there has false positives at full size only along the lesion
  # border (nearest-neighbour mask at 32x32, bilinear back up).
  fp, tp = false_positives()
  assert tp > 0 and fp <= 0.05 * tp
  # Stretching the crop over the whole image instead misplaces every boundary.
  monkeypatch.setattr(transforms, "uncrop_probabilities", lambda prob, size: prob)
  stretched_fp, _ = false_positives()
  assert stretched_fp > 3 * fp
