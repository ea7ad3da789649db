"""Multi-process runs through the real command: `python -m experiments.run` on two processes.

Each process has 2 CPU devices and JAX's environment variables
(JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID), which
`jaxseg.distributed.initialize_from_env` turns into `jax.distributed` with gloo
collectives. Two processes x 2 devices must score like this process's 4
devices, with only process 0 writing results and logs; a failure on either
process, also one before it connects, must end both, promptly and saying why;
processes started with different configs must both stop with one error.
"""

import json
import os
import pathlib
import random
import re
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from experiments import configs
from jaxseg import distributed, metrics
from jaxseg.errors import ConfigError
from jaxseg.train import experiment

ROOT = pathlib.Path(__file__).resolve().parents[1]
SPEC = "unet_synthetic:smoke"
# SGD, so that reduction-order noise stays noise (Adam's first steps are
# ~lr * sign(grad)); 8 images a step, 2 per device either way.
OVERRIDES = {"batch_size": "8", "optimizer.name": "sgd", "optimizer.lr": "0.1"}
# Per run of two processes; both usually end within a minute on 2 busy cores.
TIMEOUT_S = 300
# Coordinator ports: a block per xdist worker below the ephemeral range (_free_port).
_PORTS_PER_WORKER = 1000


def _free_port() -> int:
  """A port for process 0's coordinator that no other socket takes before process 0 binds it.

  Process 0 binds it only after importing JAX, flax and TFDS, 20-40 s on
  loaded CI cores. A port found by binding port 0 could meanwhile go to any
  socket bound to port 0 (a gloo listener or a coordinator probe of the test
  in the other xdist worker): process 0 then fails ("Failed to start RPC
  server") and process 1 waits 300 s for it to connect. The kernel hands out
  ports only from its ephemeral range, so this one comes from below it, in a
  block of its own per xdist worker, and is checked free.
  """
  try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
      ephemeral_low = int(f.read().split()[0])
  except (OSError, ValueError, IndexError):
    ephemeral_low = 32768  # Linux's default
  worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
  start = ephemeral_low - _PORTS_PER_WORKER * (worker % 16 + 1)
  for port in random.sample(range(start, start + _PORTS_PER_WORKER), _PORTS_PER_WORKER):
    with socket.socket() as s:
      try:
        s.bind(("127.0.0.1", port))
      except OSError:
        continue  # in use, or in TIME_WAIT after an earlier test's coordinator
      return port
  raise RuntimeError(f"No free port in {start}..{start + _PORTS_PER_WORKER - 1}.")


def _command(tfds_dir, workdir, extra=()) -> list[str]:
  """`experiments.run` and its arguments: the command is `python -m` these."""
  overrides = {"dataset.data_dir": str(tfds_dir), **OVERRIDES}
  return [
    *("experiments.run", "--config", SPEC, "--workdir", str(workdir)),
    *(f"--config.{key}={value}" for key, value in overrides.items()),
    *extra,
  ]


def _launch(args: list[str], port: int, process_id: int, log: pathlib.Path) -> subprocess.Popen:
  env = {k: v for k, v in os.environ.items() if k not in distributed.ENV_VARS}
  env.update(
    XLA_FLAGS="--xla_force_host_platform_device_count=2",
    JAX_PLATFORMS="cpu",
    # As this test session compiles (conftest.py), so the programs match.
    JAX_DISABLE_MOST_OPTIMIZATIONS="true",
    JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
    JAX_NUM_PROCESSES="2",
    JAX_PROCESS_ID=str(process_id),
  )
  with open(log, "w") as out:
    return subprocess.Popen(
      [sys.executable, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
    )


def _wait(processes: list[subprocess.Popen], logs: list[pathlib.Path]) -> list[float]:
  """Waits for all processes (killing them after TIMEOUT_S); returns when each ended."""
  start, ended = time.monotonic(), [None] * len(processes)
  while None in ended:
    for i, process in enumerate(processes):
      if ended[i] is None and process.poll() is not None:
        ended[i] = time.monotonic() - start
    if time.monotonic() - start > TIMEOUT_S:
      for process in processes:
        process.kill()
      pytest.fail(f"Still running after {TIMEOUT_S} s:\n" + _tails(logs))
    time.sleep(0.1)
  return ended


def _tails(logs: list[pathlib.Path]) -> str:
  return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs)


def _final_state(workdir: pathlib.Path) -> dict:
  """The train state of the run's last checkpoint, as numpy arrays."""
  step = max(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
  path = workdir / "checkpoints" / str(step) / "state"
  with ocp.PyTreeCheckpointer() as checkpointer:
    tree = checkpointer.metadata(path).item_metadata.tree
    as_numpy = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
    return checkpointer.restore(path, restore_args=as_numpy)


@pytest.mark.slow
def test_two_processes_match_one_process(tfds_dir, tmp_path):
  workdir, port = tmp_path / "multi", _free_port()
  logs = [tmp_path / f"process_{i}.log" for i in range(2)]
  records = [tmp_path / f"written_{i}.json" for i in range(2)]
  # The command, through a wrapper that lists the files each process writes;
  # on an empty data dir, so that process 0 builds the dataset while 1 waits.
  command = _command(tmp_path / "fresh_tfds", workdir)
  processes = [
    _launch(
      ["-m", "tests.distributed_worker", str(workdir), str(records[i]), *command], port, i, logs[i]
    )
    for i in range(2)
  ]
  # The one-process reference, on this process's 4 devices, while they run.
  assert jax.device_count() == 4
  config = configs.load_config(SPEC, {"dataset.data_dir": str(tfds_dir), **OVERRIDES})
  single = experiment.run(config, str(tmp_path / "single"))["results"]
  _wait(processes, logs)
  for i, process in enumerate(processes):
    assert process.returncode == 0, _tails(logs)
    assert f"Process {i} of 2: jax.distributed is initialised" in logs[i].read_text()

  # The trained state (every parameter, BatchNorm statistic and optimizer
  # slot after the last step), then the scores.
  multi_state, single_state = _final_state(workdir), _final_state(tmp_path / "single")
  assert int(multi_state["step"]) == int(single_state["step"]) > 0
  for (path, got), want in zip(
    jax.tree_util.tree_leaves_with_path(multi_state), jax.tree.leaves(single_state), strict=True
  ):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=jax.tree_util.keystr(path))
  multi = json.loads((workdir / "results.json").read_text())
  assert multi["num_images"] == single["num_images"] > 0
  for key in metrics.METRIC_KEYS:
    np.testing.assert_allclose(
      multi["metrics"][key], single["metrics"][key], atol=1e-6, err_msg=key
    )
  for got, want in zip(multi["per_image"], single["per_image"], strict=True):
    assert got["id"] == want["id"]
    np.testing.assert_allclose(got["JA"], want["JA"], atol=1e-6, err_msg=got["id"])

  # Only process 0 writes results, TensorBoard events and logs; every
  # process writes its part of each checkpoint (grain's iterator position).
  lead, other = (set(json.loads(r.read_text())) for r in records)
  assert "results.json" in lead
  assert any(name.startswith("events.out.tfevents") for name in lead)
  assert [p for p in other if not p.startswith("checkpoints/")] == [], other
  assert any("process_1" in p for p in other), other
  assert [p.name for p in workdir.glob("results*.json")] == ["results.json"]
  assert len(list(workdir.glob("events.out.tfevents*"))) == 1


@pytest.mark.slow
@pytest.mark.parametrize("failing", [0, 1])
def test_a_failure_on_one_process_ends_both(tfds_dir, tmp_path, failing):
  """A config error only one process sees (an unknown key) ends both, saying which and why."""
  workdir, port = tmp_path / "run", _free_port()
  logs = [tmp_path / f"process_{i}.log" for i in range(2)]
  extra = ["--config.optimizer.no_such_key=1"]
  processes = [
    _launch(["-m", *_command(tfds_dir, workdir, extra if i == failing else ())], port, i, logs[i])
    for i in range(2)
  ]
  ended = _wait(processes, logs)
  survivor = 1 - failing
  assert processes[failing].returncode == 2, _tails(logs)  # a user error (experiments/cli.py)
  assert processes[survivor].returncode == 1, _tails(logs)
  # Without jaxseg.distributed the survivor waited 300 s in a collective and
  # then aborted; now it ends about a second after the failing process.
  assert abs(ended[survivor] - ended[failing]) < 15, (ended, _tails(logs))
  failed = f"process {failing} of 2 failed: ConfigError: Unknown config key 'optimizer.no_such_key'"
  assert failed in logs[failing].read_text()
  survivor_log = logs[survivor].read_text()
  assert failed in survivor_log
  assert f"Ending process {survivor} too" in survivor_log


@pytest.mark.slow
@pytest.mark.parametrize("failing", [0, 1])
def test_a_rejected_command_line_ends_both(tfds_dir, tmp_path, failing):
  """A flag rejected before `main` connects (process 0 serves the coordination service)."""
  workdir, port = tmp_path / "run", _free_port()
  logs = [tmp_path / f"process_{i}.log" for i in range(2)]
  extra = ["--no_such_flag"]
  processes = [
    _launch(["-m", *_command(tfds_dir, workdir, extra if i == failing else ())], port, i, logs[i])
    for i in range(2)
  ]
  ended = _wait(processes, logs)
  survivor = 1 - failing
  assert processes[failing].returncode == 2, _tails(logs)  # a command-line mistake (cli.py)
  assert processes[survivor].returncode == 1, _tails(logs)
  # Without jaxseg.distributed.end_all_on_early_failure the survivor waited
  # 300 s for the failing process to connect.
  assert abs(ended[survivor] - ended[failing]) < 15, (ended, _tails(logs))
  failing_log, survivor_log = logs[failing].read_text(), logs[survivor].read_text()
  assert "error: Unknown command line flag 'no_such_flag'" in failing_log
  failed = f"process {failing} of 2 failed: UserError: Unknown command line flag 'no_such_flag'"
  assert failed in failing_log
  assert failed in survivor_log
  assert f"Ending process {survivor} too" in survivor_log


@pytest.mark.slow
def test_help_with_the_variables_set_waits_for_no_one(tmp_path):
  """--help is no failure: it prints the help and exits without connecting."""
  log = tmp_path / "process_1.log"
  process = _launch(["-m", "experiments.run", "--help"], _free_port(), 1, log)
  _wait([process], [log])
  assert process.returncode == 1, log.read_text()  # absl's status for --help
  assert "--workdir" in log.read_text()
  assert "failed before connecting" not in log.read_text()


@pytest.mark.slow
def test_processes_with_different_configs_both_stop_with_one_error(tfds_dir, tmp_path):
  workdir, port = tmp_path / "run", _free_port()
  logs = [tmp_path / f"process_{i}.log" for i in range(2)]
  extra = ["--config.optimizer.lr=0.2"]  # process 0 has OVERRIDES' 0.1
  processes = [
    _launch(["-m", *_command(tfds_dir, workdir, extra if i == 1 else ())], port, i, logs[i])
    for i in range(2)
  ]
  _wait(processes, logs)
  assert [p.returncode for p in processes] == [2, 2], _tails(logs)
  for log in logs:
    errors = [line for line in log.read_text().splitlines() if line.startswith("error:")]
    assert errors == [
      "error: The processes of this run were started with different configs: process 1 "
      "differs from process 0 in optimizer.lr (0.1 on process 0, 0.2 on process 1). Start "
      "every process with the same command (--config, its --config.key=value overrides, the "
      "tool's flags); only JAX_PROCESS_ID differs between them."
    ], _tails(logs)
  assert not (workdir / "checkpoints").exists()  # stopped before training


def test_config_mismatch_names_the_processes_and_keys():
  base = {"seed": 0, "optimizer": {"lr": 0.1, "name": "sgd"}, "input": {"size": [8, 8]}}
  other_lr = {**base, "optimizer": {"lr": 0.2, "name": "sgd"}}
  many = {
    "seed": 1,
    "optimizer": {"lr": 0.3, "name": "adam"},
    "input": {"size": [16, 16], "crop": True},
    "extra": {"a": 1, "b": 2},
  }
  texts = [json.dumps(c, sort_keys=True) for c in (base, other_lr, base, other_lr, many)]
  assert distributed.config_mismatch(texts[:1] * 3) is None
  message = distributed.config_mismatch(texts)
  assert message.startswith(
    "The processes of this run were started with different configs: processes 1, 3 differ "
    "from process 0 in optimizer.lr (0.1 on process 0, 0.2 on processes 1, 3); process 4 "
    "differs from process 0 in extra.a (absent on process 0, 1 on process 4), extra.b (absent "
    "on process 0, 2 on process 4), input.crop (absent on process 0, true on process 4), "
    "input.size ([8, 8] on process 0, [16, 16] on process 4), optimizer.lr (0.1 on process 0, "
    "0.3 on process 4) and 2 more keys. Start every process"
  ), message


def test_initialize_from_env_does_nothing_without_the_variables(monkeypatch):
  for name in distributed.ENV_VARS:
    monkeypatch.delenv(name, raising=False)
  assert distributed.initialize_from_env() is False
  assert jax.process_count() == 1


@pytest.mark.parametrize(
  ("variables", "named"),
  [
    ({"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1234"}, "JAX_NUM_PROCESSES, JAX_PROCESS_ID not set"),
    ({"JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "0"}, "JAX_COORDINATOR_ADDRESS not set"),
    (
      {"JAX_COORDINATOR_ADDRESS": "host0", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "0"},
      "JAX_COORDINATOR_ADDRESS=host0 is not HOST:PORT",
    ),
    (
      {"JAX_COORDINATOR_ADDRESS": "host0:1234", "JAX_NUM_PROCESSES": "two", "JAX_PROCESS_ID": "0"},
      "must be integers",
    ),
    (
      {"JAX_COORDINATOR_ADDRESS": "host0:1234", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "2"},
      "JAX_PROCESS_ID=2 must be in 0..JAX_NUM_PROCESSES-1",
    ),
  ],
)
def test_initialize_from_env_rejects_incomplete_variables(monkeypatch, variables, named):
  for name in distributed.ENV_VARS:
    monkeypatch.delenv(name, raising=False)
  for name, value in variables.items():
    monkeypatch.setenv(name, value)
  with pytest.raises(ConfigError, match="Set all three") as error:
    distributed.initialize_from_env()
  assert named in str(error.value)
  assert not jax.distributed.is_initialized()


_BLOCKED_IN_A_COLLECTIVE = """
import sys

import numpy as np
from jax.experimental import multihost_utils

from jaxseg import distributed

distributed.initialize_from_env()
import jax

multihost_utils.sync_global_devices("both started")
if jax.process_index() == int(sys.argv[1]):
  raise RuntimeError("a bug only this process meets")
multihost_utils.process_allgather(np.ones(2))  # the failed process never joins
print("the collective returned", flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("failing", [0, 1])
def test_a_process_waiting_in_a_collective_ends_when_another_fails(tmp_path, failing):
  """An exception mid-run on one process (process 0 serves the coordination service)."""
  logs = [tmp_path / f"process_{i}.log" for i in range(2)]
  port = _free_port()
  processes = [
    _launch(["-c", _BLOCKED_IN_A_COLLECTIVE, str(failing)], port, i, logs[i]) for i in range(2)
  ]
  ended = _wait(processes, logs)
  survivor = 1 - failing
  assert [p.returncode for p in processes] == [1, 1], _tails(logs)
  assert abs(ended[survivor] - ended[failing]) < 15, (ended, _tails(logs))
  failed = f"process {failing} of 2 failed: RuntimeError: a bug only this process meets"
  assert "Traceback" in logs[failing].read_text()
  assert failed in logs[failing].read_text()
  survivor_log = logs[survivor].read_text()
  assert failed in survivor_log
  assert f"Ending process {survivor} too" in survivor_log
  assert "the collective returned" not in survivor_log


_PROCESS_0_WORKS_ALONE = """
import time

from jax.experimental import multihost_utils

from jaxseg import distributed

distributed.initialize_from_env()
import jax

if jax.process_index() == 0:
  time.sleep(5)  # as when process 0 builds a dataset
start = time.monotonic()
distributed.wait_for_processes("process 0 worked alone")
print(f"waited {time.monotonic() - start:.1f} s", flush=True)
multihost_utils.sync_global_devices("the first collective")
print("the first collective returned", flush=True)
"""


@pytest.mark.slow
def test_wait_for_processes_waits_for_the_last_one(tmp_path):
  """The others wait in the coordination service (a first collective would give up after 30 s)."""
  logs = [tmp_path / f"process_{i}.log" for i in range(2)]
  port = _free_port()
  processes = [_launch(["-c", _PROCESS_0_WORKS_ALONE], port, i, logs[i]) for i in range(2)]
  _wait(processes, logs)
  assert [p.returncode for p in processes] == [0, 0], _tails(logs)
  waited = [float(re.search(r"waited ([0-9.]+) s", log.read_text())[1]) for log in logs]
  assert waited[1] >= 2.5 > waited[0], waited
  assert all("the first collective returned" in log.read_text() for log in logs)
