"""The one way to derive a config: dotted keys, type-checked, unknown keys refused."""

import pytest

from experiments import configs
from jaxseg.config_overrides import derive_config, split_override_args
from jaxseg.errors import ConfigError


def test_values_and_command_line_text_are_set_as_the_keys_type():
  base = configs.get_config("ulffn_isic2016")
  derived = derive_config(
    base,
    {
      "optimizer.lr": "1e-3",
      "batch_size": 16,
      "num_epochs": 3,  # an int where a float lives
      "input.hflip": "False",
      "input.image_size": "128,96",
      "input.scale_range": "(0.9, 1.1)",
      "dataset.data_dir": "/data/tfds",  # None by default, typed str
      "evals.isic2017_test.split": "validation",
    },
  )
  assert derived.optimizer.lr == 1e-3 and derived.batch_size == 16
  assert derived.num_epochs == 3.0 and isinstance(derived.num_epochs, float)
  assert derived.input.hflip is False
  assert tuple(derived.input.image_size) == (128, 96)
  assert tuple(derived.input.scale_range) == (0.9, 1.1)
  assert derived.dataset.data_dir == "/data/tfds"
  assert derived.evals.isic2017_test.split == "validation"
  assert derived.is_locked
  model = derive_config(base, {"model_name": "unet", "model": {"base_width": 8, "depth": 3}})
  assert model.model.to_dict() == {"base_width": 8, "depth": 3}
  # The original is untouched.
  assert base.optimizer.lr == 1e-4 and base.dataset.data_dir is None


@pytest.mark.parametrize(
  ("overrides", "message"),
  [
    ({"no_such_key": 1}, "Unknown config key 'no_such_key'.*the keys at the top are: .*batch_size"),
    ({"model.widths": 3}, "the keys under 'model' are: model.base_width"),
    ({"seed.deeper": 1}, "Unknown config key 'seed.deeper'"),
    ({"optimizer": 1}, "'optimizer' is a section.*optimizer.lr"),
    ({"seed": {"a": 1}}, "'seed' .* is a value, not a section"),
    ({"optimizer.lr": "fast"}, "'optimizer.lr' .*takes a float"),
    ({"batch_size": 2.5}, "'batch_size' .*takes a int"),
    ({"input.hflip": "maybe"}, "write true or false"),
    ({"input.hflip": 1}, "'input.hflip' .*takes a bool"),
    ({"dtype": 16}, "'dtype' .*takes a str"),
    ({"input.image_size": ("a", "b")}, "items must be int"),
  ],
)
def test_mistakes_are_config_errors_naming_the_key(overrides, message):
  with pytest.raises(ConfigError, match=message):
    derive_config(configs.get_config("ulffn_isic2016"), overrides)


def test_split_override_args():
  argv, overrides = split_override_args(
    [
      "ablate",
      "--paper=cca",
      "--config.dataset.data_dir=/data/tfds",
      "--config.optimizer.lr",
      "1e-3",
      "--config.input.image_size=(64, 64)",
    ]
  )
  assert argv == ["ablate", "--paper=cca"]
  assert overrides == {
    "dataset.data_dir": "/data/tfds",
    "optimizer.lr": "1e-3",
    "input.image_size": "(64, 64)",
  }
  with pytest.raises(ConfigError, match="needs a value"):
    split_override_args(["run", "--config.seed"])
