"""Helpers for tests that train or run the command-line tools."""

import json
import os
import pathlib
import re
import subprocess
import sys

from experiments import configs
from jaxseg import run_layout

ROOT = pathlib.Path(__file__).resolve().parents[1]


def smoke_config(data_dir, overrides: dict | None = None, spec: str = "unet_synthetic:smoke"):
  """`spec` (a smoke variant) reading `data_dir`, with dotted-key overrides."""
  return configs.load_config(spec, {"dataset.data_dir": str(data_dir), **(overrides or {})})


def run_module(module: str, *args, timeout: int = 300, env: dict | None = None):
  """`python -m module args...` from the repository root; the completed process (text)."""
  return subprocess.run(
    [sys.executable, "-m", module, *map(str, args)],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=timeout,
    env={**os.environ, **(env or {})},
  )


def assert_one_user_error(proc: subprocess.CompletedProcess, message: str) -> str:
  """The tool ended on a user error: status 2, one `error:` message matching, no traceback."""
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
  assert proc.stderr.count("error: ") == 1, proc.stderr[-2000:]
  error = proc.stderr[proc.stderr.index("error: ") :]
  assert re.search(message, error, re.DOTALL), error
  return error


def write_fake_results(run_dir, di: float, ja: float, results_file: str = run_layout.RESULTS_FILE):
  """A results file as a finished run writes it (cca_isic2017's test protocol), no training."""
  os.makedirs(run_dir, exist_ok=True)
  results = {
    "config": "cca_isic2017",
    "split": "test",
    "resolution": "input 256x256",
    "num_images": 600,
    "metrics": {"AC": 0.9, "DI": di, "JA": ja, "SE": 0.8, "SP": 0.95},
  }
  with open(os.path.join(run_dir, results_file), "w") as f:
    json.dump(results, f)
