"""Experiment configs, one ml_collections file per experiment: `--config NAME[:ARG]`."""

import importlib
import pathlib
import sys

CONFIG_DIR = pathlib.Path(__file__).parent
_NOT_CONFIGS = {"__init__", "common"}


def available() -> list[str]:
  """Config names; `common.py` and `_*.py` hold shared defaults, not experiments."""
  return sorted(
    p.stem for p in CONFIG_DIR.glob("*.py") if p.stem not in _NOT_CONFIGS and p.stem[0] != "_"
  )


def path_of(name: str) -> pathlib.Path:
  if name not in available():
    raise KeyError(f"Unknown config {name!r}; available configs: {', '.join(available())}.")
  return CONFIG_DIR / f"{name}.py"


def get_config(spec: str):
  """'NAME' or 'NAME:ARG' -> locked ConfigDict with `name` set."""
  name, _, arg = spec.partition(":")
  path_of(name)
  module = importlib.import_module(f"experiments.configs.{name}")
  config = module.get_config(arg or None)
  config.name = spec
  config.lock()
  return config


def split_config_spec(argv: list[str]) -> tuple[str | None, list[str]]:
  """Takes `--config NAME[:ARG]` (or `--config=...`) out of argv; overrides stay."""
  rest, spec, i = [argv[0]], None, 1
  while i < len(argv):
    token = argv[i]
    if token == "--config" and i + 1 < len(argv):
      spec, i = argv[i + 1], i + 2
      continue
    if token.startswith("--config="):
      spec = token.removeprefix("--config=")
    else:
      rest.append(token)
    i += 1
  return spec, rest


def define_config_flag(argv: list[str], default: str | None = None) -> list[str]:
  """Defines absl's `--config` from `--config NAME[:ARG]` in argv; returns the other args.

  `--config.key=value` overrides then work on the locked config, and an unknown
  key is an error. An unknown name exits with the list of configs.
  """
  from ml_collections import config_flags  # noqa: PLC0415

  spec, rest = split_config_spec(argv)
  spec = spec or default
  if spec is None:
    sys.exit(f"error: --config NAME is required; available configs: {', '.join(available())}")
  try:
    config = get_config(spec)
  except (KeyError, ValueError) as e:
    sys.exit(f"error: {e.args[0]}")
  config_flags.DEFINE_config_dict("config", config, lock_config=True, sys_argv=rest)
  return rest
