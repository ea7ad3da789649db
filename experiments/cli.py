"""How every command-line tool starts, takes its config and ends on a mistake.

  cli.app_main(main, required=("config", "workdir"))   # at the bottom of a tool's module
  cli.app_main(main, takes_config=False, positionals=("RUNS_DIR",))   # main(runs_dir)

A tool's command line is flags only, unless `positionals` names the arguments
it takes: then exactly those, in order, which `main` receives as its
arguments (`main()` otherwise). The flags named in `required` must be given
(a value other than None or empty). A tool that takes a config gets `--config
NAME[:smoke]` and any number of `--config.key=value` overrides, applied by
`jaxseg.config_overrides` (an unknown key or a value of the wrong type lists
what exists); `main` reads the result from `loaded_config()`.

A mistake on the command line (an unknown flag, a bad value, a missing or an
extra argument, a required flag not given: all of them in one message) or a
`jaxseg.errors.UserError` raised by `main` (a missing archive, a bad key, a
missing checkpoint) ends the tool with one `error:` line on stderr and exit
status 2; `--verbose` adds a user error's traceback for a bug report. Any
other exception is a bug and shows its traceback as usual. Whatever depends
on a combination of flags (bench's `--config NAME or --all`) is checked by
`main` and raised as a UserError.

Imports are at the top of a tool's module: nothing needs absl to parse the
command line first. Importing JAX starts no backend, so
`jaxseg.distributed.initialize_from_env()` need only come before the first
computation, and no flag changes `XLA_FLAGS` (set by `import jaxseg`) or
JAX's config. The cost is start-up: `--help` takes the 2-3 s that importing
JAX, flax and TFDS takes. Imported where they are used are only PyTorch and
OpenCV, optional extras (so that `experiments.peer.import_torch` can say how
to install them).
"""

import functools
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

from absl import app, flags, logging

from experiments import configs
from jaxseg import distributed
from jaxseg.config_overrides import split_override_args
from jaxseg.errors import UserError

_VERBOSE = flags.DEFINE_bool("verbose", False, "Show the traceback of user errors too.")
_CONFIG_HELP = "An experiment config: NAME or NAME:smoke (experiments/configs/NAME.py)."
_overrides: dict[str, str] = {}


def loaded_config():
  """The `--config` named on the command line with its `--config.key=value` overrides."""
  if "config" not in flags.FLAGS or flags.FLAGS["config"].value is None:
    raise UserError(_missing_flag("config"))
  return configs.load_config(flags.FLAGS["config"].value, _overrides)


def config_overrides() -> dict[str, str]:
  """The `--config.key=value` overrides of the command line, as text."""
  return dict(_overrides)


def _missing_flag(name: str, flag_values: flags.FlagValues = flags.FLAGS) -> str:
  if name == "config":
    return f"--config is required: {_CONFIG_HELP} Configs: {', '.join(configs.available())}."
  return f"--{name} is required: {flag_values[name].help}"


def parse_command_line(
  argv: Sequence[str],
  required: Sequence[str] = (),
  positionals: Sequence[str] = (),
  flag_values: flags.FlagValues = flags.FLAGS,
) -> list[str]:
  """Parses `argv`'s flags into `flag_values`; returns the values of `positionals`.

  Raises:
    UserError: a flag absl cannot parse (its message), or, all in one message,
      an extra or missing positional argument and the `required` flags not given.
  """
  try:
    arguments = flag_values(list(argv))[1:]
  except flags.Error as error:
    raise UserError(str(error)) from None
  takes = " ".join([*positionals, "and flags"]) if positionals else "flags only"
  mistakes = []
  if len(arguments) > len(positionals):
    extra = arguments[len(positionals) :]
    mistakes.append(
      f"unexpected argument{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))} "
      f"(this tool takes {takes}; --help lists them)."
    )
  elif len(arguments) < len(positionals):
    mistakes.append(f"{' '.join(positionals[len(arguments) :])} missing (this tool takes {takes}).")
  for name in required:
    if flag_values[name].value in (None, "", []):
      mistakes.append(_missing_flag(name, flag_values))
  if mistakes:
    raise UserError(" ".join(mistakes))
  return arguments


def _end_on(error: UserError, with_traceback: bool = False) -> NoReturn:
  logging.flush()
  if with_traceback:
    traceback.print_exc()
  print(f"error: {error}", file=sys.stderr)
  sys.exit(2)


def report_user_errors(main: Callable) -> Callable:
  """`main` with user errors turned into one message and exit status 2."""

  @functools.wraps(main)
  def checked(*args):
    try:
      return main(*args)
    except UserError as error:
      _end_on(error, with_traceback=_VERBOSE.value)

  return checked


# A process of a multi-process run whose command line is rejected ends the others too.
@distributed.end_all_on_early_failure
def app_main(
  main: Callable,
  *,
  takes_config: bool = True,
  config_default: str | None = None,
  takes_overrides: bool | None = None,
  required: Sequence[str] = (),
  positionals: Sequence[str] = (),
  argv: list[str] | None = None,
) -> NoReturn:
  """absl's app.run for a tool: its command line checked as the module docstring says.

  Args:
    main: called with the values of `positionals` once the command line is parsed.
    takes_config: define `--config` (default `config_default`) and take `--config.key=value`.
    takes_overrides: take `--config.key=value` (`config_overrides()`); `takes_config` by
      default. ablate and compare take overrides for every row, without a `--config`.
    required: names of flags that must be given ("config" included).
    positionals: names of the positional arguments, e.g. ("RUNS_DIR",); none by default.
    argv: the command line; `sys.argv` by default.
  """
  argv = list(sys.argv if argv is None else argv)
  shared_flags = ["verbose"]
  if takes_config:
    flags.DEFINE_string("config", config_default, _CONFIG_HELP)
    shared_flags.append("config")
  if takes_config if takes_overrides is None else takes_overrides:
    try:
      argv, overrides = split_override_args(argv)
    except UserError as error:
      _end_on(error)
    _overrides.clear()
    _overrides.update(overrides)
  for name in shared_flags:
    # Listed by the tool's --help beside its own flags (absl's main module is sys.argv[0]).
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])

  def parse(argv: list[str]) -> list[str]:
    try:
      return parse_command_line(argv, required, positionals)
    except UserError as error:
      _end_on(error)

  checked = report_user_errors(main)
  app.run(lambda arguments: checked(*arguments), argv=argv, flags_parser=parse)
