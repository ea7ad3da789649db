"""Training engine: data parallelism, tracing, preemption and the NaN guard."""

import json

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from experiments import configs
from jaxseg.train import optim, trainer


def _smoke_config(data_dir, **overrides):
  config = configs.get_config("unet_synthetic:smoke")
  with config.unlocked():
    config.dataset.data_dir = str(data_dir)
    for key, value in overrides.items():
      node, *path = key.split(".")
      target = config
      for part in [node, *path][:-1]:
        target = target[part]
      target[[node, *path][-1]] = value
  return config


def _one_step(config, devices, batch):
  mesh = trainer.create_mesh(devices)
  model = trainer.build_model(config)
  schedule = optim.create_schedule(config, 10, 10)
  state = trainer.init_state(config, model, optim.create_optimizer(config, schedule), mesh)
  step = trainer.build_train_step(config, schedule, mesh)
  new_state, metrics = step(state, trainer.put_batch(batch, mesh))
  return jax.device_get((new_state.params, new_state.batch_stats, metrics["loss"]))


def test_four_devices_match_one_device():
  assert jax.device_count() >= 4
  # SGD: Adam's first step is ~lr * sign(grad), which would turn float
  # reduction-order noise in near-zero gradients into full-size differences.
  config = _smoke_config("unused", **{"optimizer.name": "sgd", "optimizer.lr": 0.1})
  rng = np.random.default_rng(0)
  batch = {
    "image": rng.integers(0, 256, (8, 32, 32, 3), np.uint8),
    "mask": (rng.random((8, 32, 32)) > 0.6).astype(np.uint8),
    "valid": np.ones(8, np.float32),
  }
  params1, stats1, loss1 = _one_step(config, jax.devices()[:1], batch)
  params4, stats4, loss4 = _one_step(config, jax.devices()[:4], batch)
  np.testing.assert_allclose(loss1, loss4, rtol=1e-5)
  for a, b in zip(
    jax.tree.leaves((params1, stats1)), jax.tree.leaves((params4, stats4)), strict=True
  ):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_eval_results_cover_the_split_once(tfds_dir, tmp_path):
  config = _smoke_config(tfds_dir, **{"eval.also": ("synthetic_lesions:validation",)})
  out = trainer.train_and_evaluate(config, str(tmp_path))
  also = json.loads((tmp_path / "results_synthetic_lesions_validation.json").read_text())
  assert also["split"] == "validation" and also["num_images"] == 8
  results = out["results"]
  assert results["num_images"] == 12  # the tiny config's test split, padding excluded
  assert len({row["id"] for row in results["per_image"]}) == 12
  assert set(results["by_diagnosis"]) <= {"benign", "melanoma"}
  assert set(results["by_melanoma"]) == {"melanoma", "non_melanoma"}
  assert (tmp_path / "ja_histogram.png").exists()
  assert results["resolution"] == "input 32x32"


class _Recorder:
  def __init__(self, stop_at=None):
    self.batches, self.stop_at = {}, stop_at

  def __call__(self, step, batch):
    if step == self.stop_at:
      raise KeyboardInterrupt("simulated preemption")
    self.batches[step] = {k: np.array(v) for k, v in batch.items()}


def test_preemption_resume_is_exact(tfds_dir, tmp_path):
  overrides = {"num_train_steps": 6, "checkpoint_every_steps": 3, "log_every_steps": 3}
  straight = _Recorder()
  full = trainer.train_and_evaluate(
    _smoke_config(tfds_dir, **overrides), str(tmp_path / "a"), [straight]
  )

  first = _Recorder(stop_at=4)
  with pytest.raises(KeyboardInterrupt):
    trainer.train_and_evaluate(_smoke_config(tfds_dir, **overrides), str(tmp_path / "b"), [first])
  second = _Recorder()
  resumed = trainer.train_and_evaluate(
    _smoke_config(tfds_dir, **overrides), str(tmp_path / "b"), [second]
  )

  assert sorted(first.batches) == [1, 2, 3] and sorted(second.batches) == [4, 5, 6]
  seen = {**first.batches, **second.batches}
  for step, batch in straight.batches.items():
    for key in batch:
      np.testing.assert_array_equal(batch[key], seen[step][key], err_msg=f"{key} at {step}")
  for a, b in zip(
    jax.tree.leaves(jax.device_get(full["state"].params)),
    jax.tree.leaves(jax.device_get(resumed["state"].params)),
    strict=True,
  ):
    np.testing.assert_array_equal(a, b)


def test_nan_guard_keeps_last_good_checkpoint(tfds_dir, tmp_path):
  def poison(step, batch):
    if step == 5:
      batch["valid"][...] = np.nan  # NaN loss weights: a stand-in for a diverging run

  config = _smoke_config(tfds_dir, num_train_steps=6, checkpoint_every_steps=2, log_every_steps=100)
  with pytest.raises(FloatingPointError, match=r"step 5.*step 4.*intact"):
    trainer.train_and_evaluate(config, str(tmp_path), [poison])
  manager = trainer.checkpoint_manager(str(tmp_path), config)
  assert manager.latest_step() == 4
  restored = manager.restore(4, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(restored["state"]["params"]))


def test_eval_at_original_resolution(tfds_dir, tmp_path):
  config = _smoke_config(tfds_dir, **{"eval.original_resolution": True, "num_train_steps": 1})
  results = trainer.train_and_evaluate(config, str(tmp_path))["results"]
  assert results["resolution"] == "original"
  for row in results["per_image"]:  # counts cover the 48x64 ground truth, not the 32x32 input
    assert row["tp"] + row["fp"] + row["fn"] + row["tn"] == 48 * 64
