"""What every command-line tool shares: the config flags and how user errors end a run.

  app_main(main, config_default=None)   # at the bottom of a tool's module

A tool that takes a config gets `--config NAME[:smoke]` and any number of
`--config.key=value` overrides, applied by `jaxseg.config_overrides` (an unknown
key or a value of the wrong type lists what exists); `main` reads the result
from `loaded_config()`. A `jaxseg.errors.UserError` (a missing archive, a bad
key, a missing checkpoint) ends the tool with one `error:` line on stderr and
exit status 2; `--verbose` adds its traceback for a bug report. Any other
exception is a bug and shows its traceback as usual.
"""

import functools
import sys
import traceback
from collections.abc import Callable

from absl import app, flags, logging

from jaxseg.config_overrides import split_override_args
from jaxseg.errors import UserError

_VERBOSE = flags.DEFINE_bool("verbose", False, "Show the traceback of user errors too.")
_overrides: dict[str, str] = {}


def loaded_config():
  """The `--config` named on the command line with its `--config.key=value` overrides."""
  from experiments import configs  # noqa: PLC0415  (imports jaxseg, and so JAX, after flags)

  spec = flags.FLAGS["config"].value if "config" in flags.FLAGS else None
  if spec is None:
    raise UserError(
      f"--config NAME is required; available configs: {', '.join(configs.available())}."
    )
  return configs.load_config(spec, _overrides)


def config_overrides() -> dict[str, str]:
  """The `--config.key=value` overrides of the command line, as text."""
  return dict(_overrides)


def report_user_errors(main: Callable) -> Callable:
  """`main` with user errors turned into one message and exit status 2."""

  @functools.wraps(main)
  def checked(argv):
    try:
      return main(argv)
    except UserError as error:
      logging.flush()
      if _VERBOSE.value:
        traceback.print_exc()
      print(f"error: {error}", file=sys.stderr)
      sys.exit(2)

  return checked


def app_main(
  main: Callable,
  *,
  takes_config: bool = True,
  config_default: str | None = None,
  argv: list[str] | None = None,
):
  """absl's app.run for a tool: `--config` and its overrides (if it takes a config), errors."""
  argv = list(sys.argv if argv is None else argv)
  if takes_config:
    flags.DEFINE_string(
      "config",
      config_default,
      "An experiment config: NAME or NAME:smoke (experiments/configs/NAME.py).",
    )
    try:
      argv, overrides = split_override_args(argv)
    except UserError as error:
      print(f"error: {error}", file=sys.stderr)
      sys.exit(2)
    _overrides.clear()
    _overrides.update(overrides)
  app.run(report_user_errors(main), argv=argv)
