"""k-fold runner, bagging ensemble and eval-time post-processing, on synthetic tiny."""

import json

import jax
import numpy as np
import pytest

from experiments import configs
from jaxseg import metrics
from jaxseg.data import splits
from jaxseg.train import crossval, ensemble, experiment, optim, trainer


def _cv_config(data_dir, num_folds=2, ensemble_splits=("validation",)):
  config = configs.get_config("unet_synthetic:smoke")
  with config.unlocked():
    config.dataset.data_dir = str(data_dir)
    config.dataset.protocol.name = "kfold"
    config.dataset.protocol.num_folds = num_folds
    config.crossval.enabled = True
    config.crossval.ensemble_splits = ensemble_splits
    config.num_train_steps = 2
  return config


def test_crossval_trains_folds_summarises_and_resumes(tfds_dir, tmp_path, monkeypatch):
  config = _cv_config(tfds_dir)
  out = experiment.run(config, str(tmp_path))
  assert out["train_step_traces"] == 1

  folds = json.loads((tmp_path / "folds.json").read_text())
  heldout = [set(ids) for ids in folds["heldout"]]
  all_ids = set(splits.source_ids(config.dataset))
  assert heldout[0].isdisjoint(heldout[1]) and heldout[0] | heldout[1] == all_ids
  for fold in range(2):
    fold_results = json.loads((tmp_path / f"fold_{fold}" / "results.json").read_text())
    assert {row["id"] for row in fold_results["per_image"]} == heldout[fold]
    fold_splits = json.loads((tmp_path / f"fold_{fold}" / "splits.json").read_text())
    assert set(fold_splits["train"]) == all_ids - heldout[fold]

  summary = json.loads((tmp_path / "results.json").read_text())
  fold_ja = [f["JA"] for f in summary["folds"]]
  assert summary["metrics"]["JA"] == pytest.approx(np.mean(fold_ja))
  assert summary["std"]["JA"] == pytest.approx(np.std(fold_ja))
  assert summary["num_images"] == len(all_ids)

  ensemble_results = json.loads((tmp_path / "results_ensemble_validation.json").read_text())
  assert len(ensemble_results["ensemble_members"]) == 3  # two folds and all_data
  assert ensemble_results["num_images"] == 8

  # A rerun trains nothing; a fold without results.json (interrupted) trains again.
  trained = []
  original = trainer.train_and_evaluate

  def recording(fold_config, workdir, *args, **kwargs):
    trained.append(workdir)
    return original(fold_config, workdir, *args, **kwargs)

  monkeypatch.setattr(trainer, "train_and_evaluate", recording)
  experiment.run(config, str(tmp_path))
  assert trained == []
  (tmp_path / "fold_1" / "results.json").unlink()
  experiment.run(config, str(tmp_path))
  assert trained == [str(tmp_path / "fold_1")]


def test_crossval_needs_a_kfold_protocol(tmp_path):
  config = configs.get_config("unet_synthetic:smoke")
  with config.unlocked():
    config.crossval.enabled = True
  with pytest.raises(ValueError, match="kfold"):
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
  mesh = trainer.create_mesh()
  model = trainer.build_model(config)
  tx = optim.create_optimizer(config, optim.create_schedule(config, 1, 1))
  state = trainer.init_state(config, model, tx, mesh)
  rng = np.random.default_rng(0)
  batch = trainer.put_batch(
    {
      "image": rng.integers(0, 256, (4, 32, 32, 3), np.uint8),
      "mask": (rng.random((4, 32, 32)) > 0.5).astype(np.uint8),
      "valid": np.ones(4, np.float32),
    },
    mesh,
  )
  single_counts, single_probs = trainer.build_eval_step(config, mesh)(state, batch)
  members = ensemble.stack_members([state, state, state])
  step = ensemble.make_ensemble_eval_step(model.apply, config.input.normalization)
  counts, probs = jax.jit(step)(members, batch)
  np.testing.assert_allclose(probs, single_probs, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(counts, single_counts)

  # Different members: the ensemble is their mean probability.
  other = state.replace(params=jax.tree.map(lambda p: p * 0.5, state.params))
  _, other_probs = trainer.build_eval_step(config, mesh)(other, batch)
  _, mixed = jax.jit(step)(ensemble.stack_members([state, other]), batch)
  np.testing.assert_allclose(mixed, (single_probs + other_probs) / 2, rtol=1e-5, atol=1e-6)


def test_postprocess_switch_changes_how_predictions_are_scored(tfds_dir):
  """A spurious blob far from the lesion counts as false positives unless dual_threshold is on."""
  config = configs.get_config("unet_synthetic:smoke")
  with config.unlocked():
    config.dataset.data_dir = str(tfds_dir)
  source = splits.open_split(config.dataset, "validation")

  def fake_eval_fn(state, batch):
    probs = 0.95 * np.asarray(batch["mask"], np.float32)
    probs[:, :3, :3] = np.maximum(probs[:, :3, :3], 0.6)  # spurious, below the 0.8 threshold
    return metrics.confusion_counts(probs, np.asarray(batch["mask"]) > 0), probs

  false_positives = {}
  for name in ("none", "dual_threshold"):
    with config.unlocked():
      config.eval.postprocess = name
    accumulator = trainer.evaluate(None, fake_eval_fn, source, config, trainer.create_mesh())
    false_positives[name] = np.array([row["fp"] for row in accumulator.per_image()])
  assert np.all(false_positives["dual_threshold"] <= false_positives["none"])
  assert np.any(false_positives["dual_threshold"] < false_positives["none"])

  with config.unlocked():
    config.eval.postprocess = "no_such_postprocess"
  with pytest.raises(KeyError, match="dual_threshold"):
    trainer.evaluate(None, fake_eval_fn, source, config, trainer.create_mesh())
