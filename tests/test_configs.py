"""Every config loads, every name it uses resolves, and every smoke run works."""

import json
import subprocess
import sys

import pytest

from experiments import configs
from jaxseg import losses, metrics, models, postprocess
from jaxseg.data import datasets, pipeline, splits, transforms
from jaxseg.train import experiment, optim, trainer

ALL = configs.available()


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("arg", [None, "smoke"])
def test_config_loads_and_resolves(name, arg):
  config = configs.get_config(name + (f":{arg}" if arg else ""))
  assert config.name == name + (f":{arg}" if arg else "")
  model = trainer.build_model(config)
  assert isinstance(model, models.MODELS[config.model_name])
  losses.get_loss(config.loss)
  spec = datasets.get_dataset_spec(config.dataset.name)
  for split in (config.dataset.train_split, config.dataset.eval_split):
    if split.startswith(splits.PROTOCOL_PREFIX):
      assert split.removeprefix(splits.PROTOCOL_PREFIX) in splits.PARTS
      assert config.dataset.protocol.source_split in spec.splits
      assert config.dataset.protocol.name in ("holdout", "kfold")
    else:
      assert split in spec.splits
  assert config.input.resize_method in transforms.RESIZE_METHODS
  assert config.input.normalization in transforms.NORMALIZATIONS
  schedule = optim.create_schedule(config, 100, 10)
  optim.create_optimizer(config, schedule)
  if arg == "smoke":
    assert config.batch_size % 4 == 0, "smoke batches must shard over the 4 test devices"
  if config.crossval.enabled:
    assert config.dataset.protocol.name == "kfold"
    for split in config.crossval.ensemble_splits:
      assert split in spec.splits
  if config.eval.postprocess != "none":
    postprocess.get_postprocessor(config.eval.postprocess)
  assert pipeline.input_channels(config.input) in (3, 7)


def test_unknown_names_are_clear_errors():
  with pytest.raises(KeyError, match="available configs"):
    configs.get_config("no_such_config")
  with pytest.raises(ValueError, match="Unknown config argument"):
    configs.get_config(f"{ALL[0]}:bogus")
  with pytest.raises(KeyError, match="registered models"):
    models.create_model("no_such_model")
  with pytest.raises(KeyError, match="has no field"):
    models.create_model("unet", widths=3)
  with pytest.raises(KeyError, match="known losses"):
    losses.get_loss("no_such_loss")
  with pytest.raises(KeyError, match="registered datasets"):
    datasets.get_dataset_spec("no_such_dataset")


def test_cli_rejects_unknown_override_key(tmp_path):
  proc = subprocess.run(
    [
      sys.executable,
      "-m",
      "experiments.run",
      "--config",
      f"{ALL[0]}:smoke",
      "--workdir",
      str(tmp_path),
      "--config.no_such_key=1",
    ],
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert proc.returncode != 0
  assert "no_such_key" in proc.stderr


@pytest.mark.parametrize("name", ALL)
def test_smoke_run(name, tfds_dir, tmp_path):
  """Every config's smoke variant trains, traces its steps once and writes results."""
  config = configs.get_config(f"{name}:smoke")
  with config.unlocked():
    config.dataset.data_dir = str(tfds_dir)
  out = experiment.run(config, str(tmp_path))
  assert out["train_step_traces"] == 1
  assert out["eval_step_traces"] == 1
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["config"] == f"{name}:smoke"
  assert set(results["metrics"]) == set(metrics.METRIC_KEYS)
  assert 0.0 <= results["metrics"]["JA"] <= 1.0
  run_dir = tmp_path / "fold_0" if config.crossval.enabled else tmp_path
  assert any(p.name.startswith("events.out.tfevents") for p in run_dir.iterdir())
  for split in config.crossval.ensemble_splits:
    ensemble = json.loads((tmp_path / f"results_ensemble_{split}.json").read_text())
    assert 0.0 <= ensemble["metrics"]["JA"] <= 1.0


def test_cli_end_to_end(tfds_dir, tmp_path):
  proc = subprocess.run(
    [
      sys.executable,
      "-m",
      "experiments.run",
      "--config",
      "unet_synthetic:smoke",
      "--workdir",
      str(tmp_path),
      f"--config.dataset.data_dir={tfds_dir}",
      "--config.optimizer.lr=0.01",
    ],
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["config"] == "unet_synthetic:smoke"
  assert "learning_rate=0.00" in proc.stderr  # the override reached the schedule
