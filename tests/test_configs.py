"""Every config loads, every name it uses resolves, and every smoke run works."""

import json
import pathlib
import re

import pytest

from experiments import configs
from jaxseg import losses, metrics, models, run_layout
from jaxseg.data import datasets, pipeline, splits, transforms
from jaxseg.errors import ConfigError
from jaxseg.train import crossval, evaluators, experiment, optim, setup
from tests.run_testing import assert_one_user_error, run_module, smoke_config

ALL = configs.available()


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("arg", [None, "smoke"])
def test_config_loads_and_resolves(name, arg):
  config = configs.get_config(name + (f":{arg}" if arg else ""))
  assert config.name == name + (f":{arg}" if arg else "")
  model = setup.build_model(config)
  assert isinstance(model, models.MODELS[config.model_name])
  losses.get_loss(config.loss)
  evaluators.check_evaluators(config)
  spec = datasets.get_dataset_spec(config.dataset.name)
  # Evaluators that run (the dormant `selection` entry does not, unless turned on).
  active = [e for e in config.evals.values() if e.at_end or e.every_steps or e.select]
  own_splits = [e.split for e in active if e.dataset in ("", config.dataset.name)]
  for split in (config.dataset.train_split, *own_splits):
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
  for entry in active:
    if entry.dataset:
      assert entry.split in datasets.get_dataset_spec(entry.dataset).splits
  if config.crossval.enabled:
    crossval.check_config(config)
  assert pipeline.input_channels(config.input) in (3, 7)


def test_smoke_configs_differ_only_in_size_and_data():
  for name in ALL:
    full, smoke = configs.get_config(name), configs.get_config(f"{name}:smoke")
    assert full.model_name == smoke.model_name and full.loss == smoke.loss
    for field, value in models.MODELS[smoke.model_name].smoke_fields.items():
      assert smoke.model[field] == value, (name, field)
    assert smoke.dataset.name == "synthetic_lesions" and smoke.num_train_steps == 4
    assert set(full.evals) == set(smoke.evals)


def test_unknown_names_are_clear_errors():
  with pytest.raises(ConfigError, match="available configs"):
    configs.get_config("no_such_config")
  with pytest.raises(ConfigError, match="Unknown config variant"):
    configs.get_config(f"{ALL[0]}:bogus")
  with pytest.raises(ConfigError, match="Unknown dtype 'float16'"):
    setup.build_model(configs.load_config("unet_synthetic", {"dtype": "float16"}))
  with pytest.raises(KeyError, match="registered models"):
    models.create_model("no_such_model")
  with pytest.raises(KeyError, match="has no field"):
    models.create_model("unet", widths=3)
  with pytest.raises(KeyError, match="known losses"):
    losses.get_loss("no_such_loss")
  with pytest.raises(ConfigError, match="registered datasets"):
    datasets.get_dataset_spec("no_such_dataset")


@pytest.mark.parametrize(
  ("args", "message"),
  [
    (["--config.no_such_key=1"], "Unknown config key 'no_such_key'.*the keys at the top are"),
    (["--config.optimizer.lr=fast"], "'optimizer.lr' .* takes a float"),
    (["--config.dtype=float16"], "Unknown dtype 'float16'"),
    (["--config.evals.test.resolution=full"], "resolution 'full' is not one of"),
    (["--config.evaluate_checkpoint=/no/such/run"], "/no/such/run does not exist"),
    (
      ["--config.dataset.name=isic2018", "--config.dataset.builder_config=max512"]
      + ["--config.dataset.manual_dir=/no/such/archives"],
      "isic2018/max512 is not prepared.*missing from the manual directory /no/such/archives"
      ".*ISIC2018_Task1-2_Training_Input.zip.*--config.dataset.manual_dir=DIR",
    ),
    (
      ["--config.dataset.name=isic2018"],
      "no builder config 'tiny' .*dataset.builder_config.*'original', 'max512'",
    ),
  ],
)
def test_cli_user_errors_are_one_message_and_status_2(args, message, tfds_dir, tmp_path):
  if any("dataset.name" in arg for arg in args):  # keep the shared data dir clean
    tfds_dir = tmp_path / "tfds"
  proc = run_module(
    "experiments.run",
    *("--config", "unet_synthetic:smoke", "--workdir", tmp_path),
    *(f"--config.dataset.data_dir={tfds_dir}", *args),
    timeout=120,
  )
  assert_one_user_error(proc, message)


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_smoke_run(name, tfds_dir, tmp_path):
  """Every config's smoke variant trains, traces its steps once and writes results."""
  config = smoke_config(tfds_dir, spec=f"{name}:smoke")
  out = experiment.run(config, str(tmp_path))
  assert out["train_step_traces"] == 1
  assert out["eval_step_traces"] == 1
  results = json.loads((tmp_path / run_layout.RESULTS_FILE).read_text())
  assert results["config"] == f"{name}:smoke"
  assert set(results["metrics"]) == set(metrics.METRIC_KEYS)
  assert 0.0 <= results["metrics"]["JA"] <= 1.0
  run_dir = pathlib.Path(run_layout.fold_dir(tmp_path, 0)) if config.crossval.enabled else tmp_path
  assert any(run_layout.is_tensorboard_events(p.name) for p in run_dir.iterdir())
  for entry in config.evals.values():
    if not (entry.at_end and entry.results_file):
      continue
    written = json.loads((tmp_path / entry.results_file).read_text())
    assert 0.0 <= written["metrics"]["JA"] <= 1.0


def test_cli_end_to_end(tfds_dir, tmp_path):
  proc = run_module(
    "experiments.run",
    *("--config", "unet_synthetic:smoke", "--workdir", tmp_path),
    *(f"--config.dataset.data_dir={tfds_dir}", "--config.optimizer.lr=0.0375"),
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  results = json.loads((tmp_path / run_layout.RESULTS_FILE).read_text())
  assert results["config"] == "unet_synthetic:smoke"
  # The override reached the schedule: poly decay from 0.0375 (the default is 2e-3).
  rates = [float(r) for r in re.findall(r"learning_rate=([0-9.e-]+)", proc.stderr)]
  assert rates and 0.01 < rates[0] <= 0.0375, rates
