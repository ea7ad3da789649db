"""Training engine: data parallelism, tracing, preemption and the NaN guard."""

import gc
import json
import os
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from experiments import configs
from jaxseg.config_overrides import derive_config
from jaxseg.errors import CheckpointError, ConfigError
from jaxseg.models import convert_torchvision
from jaxseg.models.blocks import BN_MOMENTUM
from jaxseg.train import checkpoints, setup, trainer
from tests.model_testing import synthetic_torchvision_state_dict
from tests.run_testing import smoke_config


def _one_step(config, devices, batch):
  run = setup.setup_run(config, setup.create_mesh(devices), total_steps=10, steps_per_epoch=10)
  new_state, metrics = run.train_step(run.state, setup.put_batch(batch, run.mesh))
  return jax.device_get((new_state.params, new_state.batch_stats, metrics["loss"]))


def _random_batch(seed: int):
  """Eight 32x32 images and masks as the input pipeline delivers them."""
  rng = np.random.default_rng(seed)
  return {
    "image": rng.integers(0, 256, (8, 32, 32, 3), np.uint8),
    "mask": (rng.random((8, 32, 32)) > 0.6).astype(np.uint8),
    "valid": np.ones(8, np.float32),
  }


def test_four_devices_match_one_device():
  assert jax.device_count() >= 4
  # SGD: Adam's first step is ~lr * sign(grad), which would turn float
  # reduction-order noise in near-zero gradients into full-size differences.
  config = smoke_config("unused", {"optimizer.name": "sgd", "optimizer.lr": 0.1})
  batch = _random_batch(seed=0)
  params1, stats1, loss1 = _one_step(config, jax.devices()[:1], batch)
  params4, stats4, loss4 = _one_step(config, jax.devices()[:4], batch)
  np.testing.assert_allclose(loss1, loss4, rtol=1e-5)
  for a, b in zip(
    jax.tree.leaves((params1, stats1)), jax.tree.leaves((params4, stats4)), strict=True
  ):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_gradient_accumulation_is_the_mean_of_micro_batch_steps():
  """grad_accum_steps=2: the update of the mean gradient of rows 0::2 and 1::2, and
  BatchNorm running averages updated once per micro-batch, in that order."""
  config = smoke_config("unused", {"optimizer.name": "sgd", "optimizer.lr": 0.1})
  batch = _random_batch(seed=1)
  devices = jax.devices()[:1]
  accumulated = derive_config(config, {"grad_accum_steps": 2})
  params, stats, loss = _one_step(accumulated, devices, batch)
  halves = [_one_step(config, devices, {k: v[i::2] for k, v in batch.items()}) for i in (0, 1)]
  (params_a, stats_a, loss_a), (params_b, stats_b, loss_b) = halves
  initial = jax.device_get(setup.setup_run(config, setup.create_mesh(devices)).state.batch_stats)
  np.testing.assert_allclose(loss, (loss_a + loss_b) / 2, rtol=1e-5)
  # SGD's first step is linear in the gradient: the mean gradient gives the mean parameters.
  jax.tree.map(
    lambda p, a, b: np.testing.assert_allclose(p, (a + b) / 2, rtol=1e-4, atol=1e-6),
    params, params_a, params_b,
  )  # fmt: skip
  # s_a = m s0 + (1 - m) mu_a, s_b = m s0 + (1 - m) mu_b; sequential: m s_a + (1 - m) mu_b.
  m = BN_MOMENTUM
  jax.tree.map(
    lambda s, s0, a, b: np.testing.assert_allclose(s, m * a + b - m * s0, rtol=1e-4, atol=1e-6),
    stats, initial, stats_a, stats_b,
  )  # fmt: skip
  with pytest.raises(ConfigError, match="grad_accum_steps 3"):
    setup.setup_run(derive_config(config, {"grad_accum_steps": 3}), setup.create_mesh(devices))


def test_evaluators_cover_their_split_once(tfds_dir, tmp_path):
  config = smoke_config(tfds_dir, spec="ulffn_isic2016:smoke")  # two evaluators
  out = trainer.train_and_evaluate(config, str(tmp_path))
  other = json.loads((tmp_path / "results_isic2017_test.json").read_text())
  assert other["split"] == "test" and other["num_images"] == 12
  assert set(out["all_results"]) == {"results.json", "results_isic2017_test.json"}
  config = smoke_config(tfds_dir, {"evals.test.split": "validation"})
  out = trainer.train_and_evaluate(config, str(tmp_path / "validation"))
  results = out["results"]
  assert results["split"] == "validation"
  assert results["num_images"] == 8  # the tiny config's validation split, padding excluded
  assert len({row["id"] for row in results["per_image"]}) == 8
  assert set(results["by_diagnosis"]) <= {"benign", "melanoma"}
  assert set(results["by_melanoma"]) == {"melanoma", "non_melanoma"}
  assert (tmp_path / "validation" / "ja_histogram.png").exists()
  assert (tmp_path / "ja_histogram_isic2017_test.png").exists()
  assert results["resolution"] == "input 32x32"


class _Recorder:
  def __init__(self, stop_at=None):
    self.batches, self.stop_at = {}, stop_at

  def __call__(self, step, batch):
    if step == self.stop_at:
      raise KeyboardInterrupt("simulated preemption")
    self.batches[step] = {k: np.array(v) for k, v in batch.items()}


@pytest.mark.slow
@pytest.mark.parametrize("grad_accum_steps", [1, 2])
def test_preemption_resume_is_exact(grad_accum_steps, tfds_dir, tmp_path):
  overrides = {"num_train_steps": 6, "checkpoint_every_steps": 3, "log_every_steps": 3}
  if grad_accum_steps > 1:  # micro-batches of 4, one image per device
    overrides |= {"grad_accum_steps": grad_accum_steps, "batch_size": 4 * grad_accum_steps}
  straight = _Recorder()
  full = trainer.train_and_evaluate(
    smoke_config(tfds_dir, overrides), str(tmp_path / "a"), [straight]
  )

  first = _Recorder(stop_at=4)
  with pytest.raises(KeyboardInterrupt):
    trainer.train_and_evaluate(smoke_config(tfds_dir, overrides), str(tmp_path / "b"), [first])
  second = _Recorder()
  resumed = trainer.train_and_evaluate(
    smoke_config(tfds_dir, overrides), str(tmp_path / "b"), [second]
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

  config = smoke_config(
    tfds_dir, {"num_train_steps": 6, "checkpoint_every_steps": 2, "log_every_steps": 100}
  )
  with pytest.raises(FloatingPointError, match=r"step 5.*step 4.*intact"):
    trainer.train_and_evaluate(config, str(tmp_path), [poison])
  manager = checkpoints.checkpoint_manager(str(tmp_path), config)
  assert manager.latest_step() == 4
  restored = manager.restore(4, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
  manager.close()
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(restored["state"]["params"]))


def test_eval_at_original_resolution(tfds_dir, tmp_path):
  config = smoke_config(tfds_dir, {"evals.test.resolution": "original", "num_train_steps": 1})
  results = trainer.train_and_evaluate(config, str(tmp_path))["results"]
  assert results["resolution"] == "original"
  for row in results["per_image"]:  # counts cover the 48x64 ground truth, not the 32x32 input
    assert row["tp"] + row["fp"] + row["fn"] + row["tn"] == 48 * 64


def _event_scalars(run_dir) -> dict[str, dict[int, float]]:
  """tag -> step -> value, from a run's TensorBoard event files."""
  from tensorboard.backend.event_processing.event_file_loader import (
    LegacyEventFileLoader,
  )

  scalars = {}
  for path in sorted(run_dir.glob("events.out.tfevents*")):
    for event in LegacyEventFileLoader(str(path)).Load():
      for value in event.summary.value:
        scalars.setdefault(value.tag, {})[event.step] = value.simple_value
  return scalars


def test_periodic_evaluation_scores_the_model_of_that_step(tfds_dir, tmp_path):
  config = smoke_config(
    tfds_dir, {"num_train_steps": 4, "evals.test.every_steps": 2, "checkpoint_every_steps": 2}
  )
  trainer.train_and_evaluate(config, str(tmp_path / "periodic"))
  scalars = _event_scalars(tmp_path / "periodic")
  # Step 2 from the periodic evaluator, step 4 from the final one.
  assert sorted(scalars["test/JA"]) == [2, 4]
  # Step 2's score is that of the model after step 2: a run stopped there agrees.
  stopped = trainer.train_and_evaluate(
    smoke_config(tfds_dir, {"num_train_steps": 2}), str(tmp_path / "two_steps")
  )
  np.testing.assert_allclose(scalars["test/JA"][2], stopped["results"]["metrics"]["JA"], rtol=1e-6)
  final = json.loads((tmp_path / "periodic" / "results.json").read_text())
  np.testing.assert_allclose(scalars["test/JA"][4], final["metrics"]["JA"], rtol=1e-6)


def test_evaluate_checkpoint_scores_another_runs_model(tfds_dir, tmp_path):
  trained = trainer.train_and_evaluate(smoke_config(tfds_dir), str(tmp_path / "trained"))
  config = smoke_config(tfds_dir, {"evaluate_checkpoint": str(tmp_path / "trained")})
  evaluated = trainer.train_and_evaluate(config, str(tmp_path / "evaluated"))
  assert evaluated["results"]["step"] == trained["results"]["step"] == 4
  assert evaluated["results"]["metrics"] == trained["results"]["metrics"]
  assert evaluated["results"]["train_seconds_this_run"] == 0.0
  assert not list((tmp_path / "evaluated" / "checkpoints").iterdir())  # it trained nothing

  # Errors name the config key that gave the run.
  missing = smoke_config(tfds_dir, {"evaluate_checkpoint": str(tmp_path / "no_such_run")})
  with pytest.raises(
    CheckpointError, match="no_such_run does not exist; --config.evaluate_checkpoint must be"
  ):
    trainer.train_and_evaluate(missing, str(tmp_path / "missing"))
  # A run without checkpoints: reading it writes nothing there.
  (tmp_path / "unfinished").mkdir()
  (tmp_path / "unfinished" / "config.json").write_text("{}")
  unfinished = smoke_config(tfds_dir, {"evaluate_checkpoint": str(tmp_path / "unfinished")})
  with pytest.raises(CheckpointError, match="No checkpoint in .*--config.evaluate_checkpoint"):
    trainer.train_and_evaluate(unfinished, str(tmp_path / "evaluates_unfinished"))
  assert os.listdir(tmp_path / "unfinished") == ["config.json"]
  other_model = smoke_config(
    tfds_dir, {"evaluate_checkpoint": str(tmp_path / "trained"), "model.base_width": 8}
  )
  with pytest.raises(CheckpointError, match="does not fit"):
    trainer.train_and_evaluate(other_model, str(tmp_path / "other_model"))


def _save_initial_state(config, mesh, directory: str, step: int):
  """A checkpoint as the trainer writes it (at `step`), of `config`'s initial state."""
  state = setup.setup_run(config, mesh).state
  manager = checkpoints.checkpoint_manager(directory, config)
  manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state)))
  manager.close()
  return state


def test_a_checkpoint_of_another_model_is_refused_before_restoring(tmp_path, monkeypatch):
  """Shapes are checked on the checkpoint's metadata: a restore that failed part-way would
  leave Orbax's reads in flight on its closed event loop, each raising "Event loop is
  closed" later, at some other test's teardown."""
  config = smoke_config("unused")
  mesh = setup.create_mesh(jax.devices()[:4])
  _save_initial_state(config, mesh, str(tmp_path), 4)
  other_model = derive_config(config, {"model.base_width": 8})
  target = setup.setup_run(other_model, mesh, restore_only=True).state
  unraisable = []
  monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
  for _ in range(3):  # a third of the failed restores raised those, before the check
    with pytest.raises(CheckpointError, match=r"does not fit .* \(4,\) in the checkpoint, \(8,\)"):
      checkpoints.restore_trained_state(str(tmp_path), other_model, target, "--workdir")
  gc.collect()
  assert [str(u.exc_value) for u in unraisable] == []


def test_restore_only_runs_restore_into_shapes_without_initialising(tmp_path):
  """`restore_only`: the state is its shapes, dtypes and shardings (nothing initialised or
  loaded, so a missing pretrained backbone goes unread), and a trained state restores into
  it exactly, replicated over the mesh."""
  config = smoke_config("unused")
  mesh = setup.create_mesh(jax.devices()[:4])
  trained = _save_initial_state(config, mesh, str(tmp_path), 7)

  missing_weights = derive_config(config, {"pretrained_backbone": str(tmp_path / "none.npz")})
  target = setup.setup_run(missing_weights, mesh, restore_only=True).state
  assert all(isinstance(x, jax.ShapeDtypeStruct) for x in jax.tree.leaves(target))
  shapes = [(x.shape, x.dtype) for x in jax.tree.leaves(target)]
  assert shapes == [(x.shape, x.dtype) for x in jax.tree.leaves(trained)]
  restored = checkpoints.restore_trained_state(str(tmp_path), config, target, "--workdir")
  assert type(restored) is type(trained)
  for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(trained), strict=True):
    assert got.sharding == want.sharding and got.sharding.is_fully_replicated
    np.testing.assert_array_equal(got, want)


def test_setup_loads_a_pretrained_backbone(tmp_path):
  weights = convert_torchvision.torchvision_to_flax(synthetic_torchvision_state_dict(18))
  path = tmp_path / "resnet18.npz"
  np.savez(path, **weights)
  config = configs.load_config(
    "cca_synthetic:smoke",
    # ImageNet weights need the torchvision width.
    {"model.resnet_width": 64, "pretrained_backbone": str(path)},
  )
  state = setup.setup_run(config, setup.create_mesh(jax.devices()[:1])).state
  np.testing.assert_array_equal(
    state.params["backbone"]["conv1"]["kernel"], weights["params/conv1/kernel"]
  )
  np.testing.assert_array_equal(
    state.batch_stats["backbone"]["bn1"]["mean"], weights["batch_stats/bn1/mean"]
  )


def test_model_selection_keeps_the_best_checkpoint_and_survives_a_resume(tfds_dir, tmp_path):
  overrides = {
    "num_train_steps": 6,
    "checkpoint_every_steps": 2,
    "evals.selection.select": True,
    "evals.selection.every_steps": 2,
    "evals.selection.split": "validation",
  }
  config = smoke_config(tfds_dir, overrides)
  with pytest.raises(KeyboardInterrupt):
    trainer.train_and_evaluate(config, str(tmp_path / "run"), [_Recorder(stop_at=5)])
  history = json.loads((tmp_path / "run" / "selection.json").read_text())["history"]
  assert [h["step"] for h in history] == [2, 4]
  out = trainer.train_and_evaluate(config, str(tmp_path / "run"))

  selection = out["results"]["selection"]
  history = json.loads((tmp_path / "run" / "selection.json").read_text())["history"]
  assert [h["step"] for h in history] == [2, 4, 6] == selection["evaluated_steps"]
  best = max(history, key=lambda h: h["JA"])
  assert selection["selected_JA"] == best["JA"]
  assert out["results"]["step"] == selection["selected_step"]
  assert selection["split"] == "validation" and selection["last_step"] == 6
  # The final evaluators scored the selected model: evaluating that run's
  # checkpoint (the selected one is preferred) on both splits agrees.
  for split, expected in (("test", out["results"]["metrics"]["JA"]), ("validation", best["JA"])):
    again = smoke_config(
      tfds_dir, {"evaluate_checkpoint": str(tmp_path / "run"), "evals.test.split": split}
    )
    results = trainer.train_and_evaluate(again, str(tmp_path / f"again_{split}"))["results"]
    assert results["step"] == selection["selected_step"]
    np.testing.assert_allclose(results["metrics"]["JA"], expected, rtol=1e-6)
