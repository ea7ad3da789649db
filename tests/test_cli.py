"""Every command-line tool's command line: flags only (or the arguments it names), its required
flags, and one `error:` line with exit status 2 for a mistake (experiments/cli.py)."""

import re

import pytest
from absl import flags

from experiments import cli
from jaxseg.errors import UserError
from tests.run_testing import ROOT, assert_one_user_error, run_module

# Tool -> (its arguments, with one too many; the flags it requires).
TOOLS = {
  "run": ((), ("config", "workdir")),
  "predict": ((), ("workdir", "input", "out")),
  "explore": ((), ()),
  "score": ((), ("predictions", "truth")),
  "bench": ((), ()),
  "bench_input": ((), ()),
  "bench_postprocess": ((), ()),
  "bench_twin": ((), ()),
  "bench_convs": ((), ("config",)),
  "parity": ((), ("config", "workdir")),
  "ablate": ((), ("paper", "dataset", "workdir")),
  "compare": ((), ("paper", "dataset", "workdir")),
  "leaderboard": (("runs",), ()),
}


def _tool_modules() -> set[str]:
  return {
    path.stem
    for path in (ROOT / "experiments").glob("*.py")
    if 'if __name__ == "__main__":' in path.read_text()
  }


def test_every_tool_is_checked_here():
  assert _tool_modules() == set(TOOLS)


@pytest.mark.parametrize("tool", TOOLS)
def test_an_extra_argument_and_missing_flags_are_one_error(tool):
  """One run per tool (each process imports JAX): the error names every mistake at once."""
  arguments, required = TOOLS[tool]
  proc = run_module(f"experiments.{tool}", *arguments, "extra", timeout=120)
  error = assert_one_user_error(proc, r"unexpected argument 'extra'")
  assert len(error.strip().splitlines()) == 1, error
  for name in required:
    assert f"--{name} is required" in error


@pytest.fixture
def flag_values():
  """A flag namespace of its own: a tool's flags, without touching absl's global FLAGS."""
  values = flags.FlagValues()
  flags.DEFINE_string("workdir", None, "Run directory.", flag_values=values)
  flags.DEFINE_list("rows", [], "Rows to run.", flag_values=values)
  flags.DEFINE_integer("steps", 3, "Steps.", flag_values=values)
  return values


def test_required_flags_must_have_a_value(flag_values):
  with pytest.raises(UserError, match=r"^--workdir is required: Run directory\.$"):
    cli.parse_command_line(["tool"], required=("workdir",), flag_values=flag_values)
  with pytest.raises(UserError, match=r"--workdir is required.*--rows is required"):
    cli.parse_command_line(
      ["tool", "--workdir="], required=("workdir", "rows"), flag_values=flag_values
    )
  arguments = cli.parse_command_line(
    ["tool", "--workdir=w", "--rows=a,b"], required=("workdir", "rows"), flag_values=flag_values
  )
  assert arguments == [] and flag_values.workdir == "w" and flag_values.rows == ["a", "b"]


def test_positional_arguments_are_exactly_those_named(flag_values):
  def parse(*argv):
    return cli.parse_command_line(
      ["tool", *argv], positionals=("RUNS_DIR",), flag_values=flag_values
    )

  assert parse("runs", "--steps=4") == ["runs"] and flag_values.steps == 4
  assert parse("--steps=5", "other") == ["other"]
  with pytest.raises(UserError, match=r"^RUNS_DIR missing \(this tool takes RUNS_DIR and flags"):
    parse("--steps=4")
  with pytest.raises(UserError, match=r"^unexpected arguments 'b', 'c' \(this tool takes RUNS_DIR"):
    parse("a", "b", "c")
  with pytest.raises(UserError, match=r"^unexpected argument 'a' \(this tool takes flags only"):
    cli.parse_command_line(["tool", "a"], flag_values=flag_values)


def test_flags_absl_cannot_parse_are_user_errors(flag_values):
  with pytest.raises(UserError, match="Unknown command line flag 'stpes'"):
    cli.parse_command_line(["tool", "--stpes=4"], flag_values=flag_values)
  with pytest.raises(UserError, match="--steps=four"):
    cli.parse_command_line(["tool", "--steps=four"], flag_values=flag_values)


def test_a_missing_config_lists_the_configs():
  values = flags.FlagValues()
  flags.DEFINE_string("config", None, "An experiment config.", flag_values=values)
  with pytest.raises(UserError, match=r"--config is required: .*unet_synthetic"):
    cli.parse_command_line(["tool"], required=("config",), flag_values=values)


def test_dataset_errors_name_the_tools_own_flags(tmp_path):
  """explore takes --dataset (experiments.dataset_flags), not experiments.run's config keys."""
  proc = run_module(
    "experiments.explore", "--dataset=no_such_dataset", f"--data_dir={tmp_path}", timeout=120
  )
  error = assert_one_user_error(proc, r"Unknown dataset 'no_such_dataset' \(--dataset\)")
  assert "config" not in error, error


def test_a_tools_help_lists_the_flags_cli_defines_for_it():
  """absl's --help lists the main module's flags; --verbose and --config are cli's."""
  proc = run_module("experiments.bench_postprocess", "--help", timeout=120)  # imports no JAX
  listed = re.findall(r"^  --(?:\[no\])?(\w+):", proc.stdout, re.MULTILINE)
  assert {"verbose", "num_images"} <= set(listed), proc.stdout
