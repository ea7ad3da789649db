"""Experiment configs, one ml_collections file per experiment: `--config NAME[:smoke]`.

A config file's `get_config()` says what its paper fixes. `get_config` here
names it, applies the smoke variant last (`common.apply_smoke`), and locks it;
`load_config` then sets `--config.key=value` overrides through the one
override mechanism, `jaxseg.config_overrides.derive_config`.
"""

import importlib
import pathlib
from collections.abc import Mapping

import ml_collections

from experiments.configs import common
from jaxseg.config_overrides import derive_config
from jaxseg.errors import ConfigError

CONFIG_DIR = pathlib.Path(__file__).parent
VARIANTS = ("smoke",)
_NOT_CONFIGS = {"__init__", "common"}


def available() -> list[str]:
  """Config names; `common.py` and `_*.py` hold shared defaults, not experiments."""
  return sorted(
    p.stem for p in CONFIG_DIR.glob("*.py") if p.stem not in _NOT_CONFIGS and p.stem[0] != "_"
  )


def path_of(name: str) -> pathlib.Path:
  if name not in available():
    raise ConfigError(f"Unknown config {name!r}; available configs: {', '.join(available())}.")
  return CONFIG_DIR / f"{name}.py"


def get_config(spec: str) -> ml_collections.ConfigDict:
  """'NAME' or 'NAME:smoke' -> locked ConfigDict with `name` set."""
  name, _, variant = spec.partition(":")
  path_of(name)
  if variant not in ("", *VARIANTS):
    raise ConfigError(f"Unknown config variant {variant!r} in {spec!r}; variants: {VARIANTS}.")
  config = importlib.import_module(f"experiments.configs.{name}").get_config()
  if variant == "smoke":
    common.apply_smoke(config)
  config.name = spec
  config.lock()
  return config


def load_config(spec: str, overrides: Mapping[str, object] | None = None):
  """`get_config(spec)` with dotted-key overrides (values or command-line text) applied."""
  return derive_config(get_config(spec), overrides or {})
