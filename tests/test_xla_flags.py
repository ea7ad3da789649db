"""jaxseg's XLA flag: set at import, before the backend starts; the user's own setting wins."""

import json
import os
import subprocess
import sys

import jaxlib.version
import pytest

from jaxseg import xla_flags
from tests.run_testing import ROOT

FLAG = f"{xla_flags.FLAG}={xla_flags.VALUE}"
KNOWN = xla_flags.jaxlib_knows_flag(jaxlib.version.__version__)

# Prints XLA_FLAGS after `import jaxseg`, any warning, and whether a 3x3
# convolution compiled into a YNNPACK fusion (one thread) or a plain convolution.
_PROBE = """
import json, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
  import jax
  if {start_jax_first}:
    jax.devices()
  import jaxseg
import os
from jax import lax, numpy as jnp
x, w = jnp.ones((2, 32, 32, 64)), jnp.ones((3, 3, 64, 64))
conv = jax.jit(lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "SAME",
  dimension_numbers=("NHWC", "HWIO", "NHWC")))
hlo = conv.lower(x, w).compile().as_text()
print(json.dumps({{"xla_flags": os.environ.get("XLA_FLAGS", ""),
  "warnings": [str(w.message) for w in caught], "ynn_fusion": "ynn_fusion" in hlo}}))
"""


def _probe(xla_flags_env: str | None, start_jax_first: bool = False) -> dict:
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  if xla_flags_env is not None:
    env["XLA_FLAGS"] = xla_flags_env
  proc = subprocess.run(
    [sys.executable, "-c", _PROBE.format(start_jax_first=start_jax_first)],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_with_cpu_flags_appends_once_and_leaves_a_users_setting_or_an_unknown_jaxlib_alone():
  assert xla_flags.with_cpu_flags("", "0.10.2") == FLAG
  assert xla_flags.with_cpu_flags("--xla_force_host_platform_device_count=4", "0.8.2") == (
    f"--xla_force_host_platform_device_count=4 {FLAG}"
  )
  assert xla_flags.with_cpu_flags(FLAG, "0.10.2") == FLAG
  mine = "--xla_cpu_experimental_ynn_fusion_type=individual_dot,individual_convolution"
  assert xla_flags.with_cpu_flags(mine, "0.10.2") == mine
  assert xla_flags.with_cpu_flags(f"{xla_flags.FLAG}= --other", "0.10.2") == (
    f"{xla_flags.FLAG}= --other"
  )
  # jaxlib without the flag (XLA would abort on it), or newer than the versions checked.
  for version in ("0.8.1", "0.4.35", "0.11.0", "1.0.0"):
    assert xla_flags.with_cpu_flags("", version) == ""
  assert xla_flags.with_cpu_flags("", "0.9.0.1") == FLAG
  assert xla_flags.with_cpu_flags("", "0.10.3.dev20261201+cuda") == FLAG


@pytest.mark.skipif(not KNOWN, reason="this jaxlib is outside the versions the flag is set for")
def test_importing_jaxseg_takes_convolutions_out_of_ynnpack_unless_the_user_says_otherwise():
  ours = _probe(None)
  assert ours["xla_flags"] == FLAG and not ours["warnings"]
  assert not ours["ynn_fusion"], "the convolution still compiled into a YNNPACK fusion"

  # The user's XLA_FLAGS keep their other flags, and their own setting of this one wins
  # (the documented way back to XLA's default list).
  kept = _probe("--xla_force_host_platform_device_count=2")
  assert kept["xla_flags"] == f"--xla_force_host_platform_device_count=2 {FLAG}"
  theirs = _probe(f"{xla_flags.FLAG}=+individual_convolution")
  assert theirs["xla_flags"] == f"{xla_flags.FLAG}=+individual_convolution"
  assert theirs["ynn_fusion"], "with YNNPACK's convolutions asked for, none was used"


@pytest.mark.skipif(not KNOWN, reason="this jaxlib is outside the versions the flag is set for")
def test_importing_jaxseg_after_the_backend_started_warns_that_the_flag_does_not_apply():
  late = _probe(None, start_jax_first=True)
  assert late["xla_flags"] == ""
  assert len(late["warnings"]) == 1 and "import jaxseg before" in late["warnings"][0]
