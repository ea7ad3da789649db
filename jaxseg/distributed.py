r"""Multi-process runs: `jax.distributed` from JAX's environment variables.

  JAX_COORDINATOR_ADDRESS=host0:1234 JAX_NUM_PROCESSES=2 JAX_PROCESS_ID=0 \
    python -m experiments.run ...

`initialize_from_env()` is the first line of every entry point's `main`. With
none of the three variables set it does nothing (a single-process run). With
all three it initialises `jax.distributed` (CPU collectives over gloo) before
anything touches a JAX backend; only some of them, or values that are not
process numbers, is a `ConfigError`. (jax 0.10 itself reads only
JAX_COORDINATOR_ADDRESS; the other two are passed on here.)

A failure on one process ends all of them. JAX alone does not do that:
measured with jax 0.10.2, two processes on one host, when one raised while the
other waited in a collective, both sat in JAX's shutdown barrier for
`shutdown_timeout_seconds` (300 s by default) and then aborted (SIGABRT) with
"Shutdown barrier has failed", which says neither which process failed nor
why; the same with the coordinator (process 0) failing; a process that died
outright kept the other 100 s (`heartbeat_timeout_seconds`) before it aborted.
So here:

- a process whose run fails (an exception that escapes `main`, or `sys.exit`
  with a non-zero status, which is how `experiments/cli.py` ends on a user
  error; `sys.exit` is wrapped to record it) publishes "process K of N failed:
  <error>" in the coordination service's key-value store, waits up to
  `ACKNOWLEDGE_TIMEOUT_S` for every process to acknowledge it, and exits with
  its status without going through JAX's shutdown barrier;
- every process runs a thread that waits for that key; when another process
  publishes it, the thread prints who failed and why, acknowledges, and ends
  its process with status 1, wherever its main thread is blocked;
- a process that fails before it connects (a command line that
  `experiments/cli.py` rejects before `main` runs) connects anyway and then
  fails as above: `app_main` runs under `end_all_on_early_failure`. The others
  cannot learn of a process that never connects, and process 0 serves the
  key-value store, so waiting for every process is the only way to tell them;
  the failing process waits up to `INITIALIZATION_TIMEOUT_S` for them, as a
  run would (Ctrl-C ends that wait). Every tool does this, also one that
  takes no part in multi-process runs when started with the variables set.
  An exit without an error (absl's `--help`) and an interrupt are not
  failures: they end this process alone;
- a process that dies without a word (killed, out of memory) breaks the gloo
  connections of the others' next collective, which then fail as above; one
  that waits elsewhere is ended by the heartbeat after `HEARTBEAT_TIMEOUT_S`.

Measured after (same setup): the survivor ends 0.1-1.1 s after the failure,
whichever process fails and whether it raised or called `sys.exit(2)`; 5 s
after the other was killed; after a rejected command line (`--no_such_flag`
on process 0 or 1), 0.2-1.7 s after the last process connected. Still
bounded only by `INITIALIZATION_TIMEOUT_S`: a process that cannot connect at
all (its JAX_* variables malformed, or process 0's port taken: it fails with
"Failed to start RPC server").

The first collective over a set of devices (the first `sync_global_devices`,
the first train step) creates gloo's connections between them, and gloo
waits at most 30 s for every process to arrive (its default; neither XLA nor
JAX sets it): measured, a process that reached its first collective 45 s after
the other ended the run with "Gloo context initialization failed:
DEADLINE_EXCEEDED". Later collectives wait as long as it takes. So work that
one process does alone before the others' first collective (process 0
building a dataset) must make them wait in the coordination service
(`wait_for_processes`), not in a collective.

Processes must run the same program: `check_same_config` (called by
`jaxseg.train.experiment.run`, which every tool's run goes through) raises
the same `ConfigError` on every process when their configs differ, naming
which processes and keys.
"""

import atexit
import contextlib
import functools
import hashlib
import json
import logging as python_logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence

import jax
import numpy as np
from absl import logging

from jaxseg.errors import ConfigError

ENV_VARS = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")

# Seconds. Hosts of a cluster may start minutes apart: JAX's default.
INITIALIZATION_TIMEOUT_S = 300
# A process that sent no heartbeat for this long is dead and ends the others
# (JAX's default is 100 s; heartbeats come from a C++ thread, so a busy
# process still sends them).
HEARTBEAT_TIMEOUT_S = 30
# How long a finishing process waits at JAX's shutdown barrier for the others
# to finish too: process 0 writes results after the last collective. Failures
# above do not go through this barrier.
SHUTDOWN_TIMEOUT_S = 120
# How long a failing process waits for the others to acknowledge its failure.
ACKNOWLEDGE_TIMEOUT_S = 5
# How long processes wait in `wait_for_processes` for work one of them does
# alone (building a dataset can take many minutes). A failure or death of that
# process ends the wait sooner (above).
WAIT_FOR_PROCESSES_TIMEOUT_S = 24 * 3600

_FAILURE_KEY = "jaxseg/failure"
_ACK_KEY = "jaxseg/failure_ack/"
_CONFIG_KEY = "jaxseg/config/"
_BARRIER_KEY = "jaxseg/barrier/"
# One long-poll of the failure key; the watcher polls again after each.
_WATCH_TIMEOUT_MS = 3_600_000
# The most differing keys a config mismatch names per process.
_MAX_KEYS_NAMED = 5

# Whether this process has started connecting: a failure after that is
# `_EndOnFailure`'s (or, if the connection itself failed, nobody's to report).
_connecting = False
# This process's `_EndOnFailure`, once connected.
_end_on_failure: "_EndOnFailure | None" = None
# How many runs `check_same_config` checked, and how many barriers
# `wait_for_processes` passed: the same on every process, so they name keys.
_configs_checked = 0
_barriers_passed = 0


def initialize_from_env() -> bool:
  """Initialises `jax.distributed` from JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID.

  Call it before anything uses a JAX backend. Returns whether this is a
  multi-process run; does nothing when none of the variables is set.

  Raises:
    ConfigError: some of the variables are set and others not, or their
      values are not a host:port and process numbers.
  """
  values = {name: os.environ.get(name, "").strip() for name in ENV_VARS}
  if not any(values.values()):
    return False
  _connect(*_parse(values)).install()
  return True


def end_all_on_early_failure(tool: Callable) -> Callable:
  """`tool` (a command-line tool's whole run), ending every process if it fails before connecting.

  For `experiments/cli.py`'s `app_main`: a process of a multi-process run
  whose command line is rejected before `main` (and so `initialize_from_env`)
  runs connects anyway and ends the others, which would otherwise wait
  `INITIALIZATION_TIMEOUT_S` for it (the module docstring). Without the
  JAX_* variables, or after `initialize_from_env`, it changes nothing.
  """

  @functools.wraps(tool)
  def run(*args, **kwargs):
    try:
      return tool(*args, **kwargs)
    except BaseException as failure:
      _end_all_after_early_failure(failure)  # returns when it does not apply
      raise

  return run


def check_same_config(config) -> None:
  """Raises the same ConfigError on every process when the processes' configs differ.

  Processes started with different commands (one with another
  `--config.optimizer.lr`) would run different programs whose collectives
  never meet, or train on silently mixed settings. Every process publishes a
  hash of `config` in the coordination service and reads the others'; on a
  mismatch each reads every process's config and names the keys that differ.
  Does nothing in a single-process run. Call it where a run's config is final.

  Raises:
    ConfigError: the configs differ (on every process, with the same message).
    RuntimeError: a process did not reach this check within
      `INITIALIZATION_TIMEOUT_S` (it runs something else).
  """
  global _configs_checked
  if jax.process_count() == 1:
    return
  client, me, count = _client(), jax.process_index(), jax.process_count()
  text = config.to_json(sort_keys=True)
  prefix = f"{_CONFIG_KEY}{_configs_checked}/"
  _configs_checked += 1
  client.key_value_set(f"{prefix}config/{me}", text)
  client.key_value_set(f"{prefix}hash/{me}", hashlib.sha256(text.encode()).hexdigest())
  hashes = [_wait_for_key(client, f"{prefix}hash/{k}", k) for k in range(count)]
  if len(set(hashes)) == 1:
    return
  texts = [_wait_for_key(client, f"{prefix}config/{k}", k) for k in range(count)]
  if _end_on_failure is not None:
    # Every process raises this error and ends with its own status and
    # message; none may be ended by the watcher first, when another process
    # reports the same error sooner. All have decided so after the barrier.
    _end_on_failure.fails_by_itself.set()
    client.wait_at_barrier(f"{prefix}compared", INITIALIZATION_TIMEOUT_S * 1000)
  raise ConfigError(config_mismatch(texts))


def config_mismatch(texts: Sequence[str]) -> str | None:
  """What differs between the processes' configs (JSON, by process), or None when nothing does."""
  if len(set(texts)) == 1:
    return None
  groups: dict[str, list[int]] = {}
  for process, text in enumerate(texts):
    groups.setdefault(text, []).append(process)
  reference = _flat(json.loads(texts[0]))
  parts = []
  for text, processes in groups.items():
    if processes[0] == 0:
      continue
    theirs, named = _flat(json.loads(text)), _processes(processes)
    keys = sorted(k for k in reference.keys() | theirs.keys() if reference.get(k) != theirs.get(k))
    shown = [
      f"{k} ({_shown(reference, k)} on process 0, {_shown(theirs, k)} on {named})"
      for k in keys[:_MAX_KEYS_NAMED]
    ]
    more = len(keys) - len(shown)
    parts.append(
      f"{named} {'differs' if len(processes) == 1 else 'differ'} from process 0 in "
      + ", ".join(shown)
      + (f" and {more} more key{'s' if more > 1 else ''}" if more else "")
    )
  return (
    "The processes of this run were started with different configs: "
    + "; ".join(parts)
    + ". Start every process with the same command (--config, its --config.key=value "
    "overrides, the tool's flags); only JAX_PROCESS_ID differs between them."
  )


def wait_for_processes(name: str) -> None:
  """Returns once every process has called it (with the same `name`, in the same order).

  For work one process does while the others wait, such as process 0
  building a dataset: the others wait in the coordination service for up to
  `WAIT_FOR_PROCESSES_TIMEOUT_S`, where a collective, if it is their first,
  gives up after gloo's 30 s (the module docstring). Does nothing in a
  single-process run.
  """
  global _barriers_passed
  if jax.process_count() == 1:
    return
  barrier = f"{_BARRIER_KEY}{_barriers_passed}/{name}"
  _barriers_passed += 1
  _client().wait_at_barrier(barrier, WAIT_FOR_PROCESSES_TIMEOUT_S * 1000)


def lead_decides(value: bool) -> bool:
  """Process 0's `value` on every process.

  A decision that reads files (is this fold finished?) must come out the same
  everywhere, or the processes run different programs and their collectives
  never meet.
  """
  if jax.process_count() == 1:
    return value
  from jax.experimental import multihost_utils  # noqa: PLC0415

  return bool(multihost_utils.broadcast_one_to_all(np.asarray(value, np.int32)))


def _parse(values: dict[str, str]) -> tuple[str, int, int]:
  how = (
    "Set all three for a multi-process run (JAX_COORDINATOR_ADDRESS=HOST:PORT of process 0, "
    "the same on every process; JAX_NUM_PROCESSES=N; JAX_PROCESS_ID=0..N-1, one per process), "
    "or none for a single-process run."
  )
  missing = [name for name, value in values.items() if not value]
  if missing:
    given = ", ".join(f"{name}={values[name]}" for name in ENV_VARS if values[name])
    raise ConfigError(f"{', '.join(missing)} not set, but {given} is. {how}")
  address = values["JAX_COORDINATOR_ADDRESS"]
  host, sep, port = address.rpartition(":")
  if not (sep and host and port.isdigit()):
    raise ConfigError(f"JAX_COORDINATOR_ADDRESS={address} is not HOST:PORT. {how}")
  try:
    num_processes = int(values["JAX_NUM_PROCESSES"])
    process_id = int(values["JAX_PROCESS_ID"])
  except ValueError:
    raise ConfigError(
      f"JAX_NUM_PROCESSES={values['JAX_NUM_PROCESSES']} and "
      f"JAX_PROCESS_ID={values['JAX_PROCESS_ID']} must be integers. {how}"
    ) from None
  if num_processes < 1 or not 0 <= process_id < num_processes:
    raise ConfigError(
      f"JAX_PROCESS_ID={process_id} must be in 0..JAX_NUM_PROCESSES-1 "
      f"(JAX_NUM_PROCESSES={num_processes}). {how}"
    )
  return address, num_processes, process_id


def _connect(address: str, num_processes: int, process_id: int) -> "_EndOnFailure":
  """Initialises `jax.distributed`: waits until every process has connected."""
  global _connecting
  _connecting = True
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  logging.info(
    "Process %d of %d: connecting to the coordinator at %s (waiting up to %d s for all).",
    process_id, num_processes, address, INITIALIZATION_TIMEOUT_S,
  )  # fmt: skip
  jax.distributed.initialize(
    coordinator_address=address,
    num_processes=num_processes,
    process_id=process_id,
    initialization_timeout=INITIALIZATION_TIMEOUT_S,
    heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT_S,
    shutdown_timeout_seconds=SHUTDOWN_TIMEOUT_S,
  )
  logging.info("Process %d of %d: jax.distributed is initialised.", process_id, num_processes)
  return _EndOnFailure(process_id, num_processes)


def _end_all_after_early_failure(failure: BaseException) -> None:
  """Connects, publishes `failure` and exits, for a process that failed before connecting.

  Returns (the caller re-raises) when that does not apply: a single-process
  run, a process that connected (or tried to), or no failure.
  """
  if _connecting or isinstance(failure, KeyboardInterrupt):
    return
  if isinstance(failure, SystemExit):
    # A failing tool exits while handling its error (cli's `error:` line,
    # then sys.exit(2)); absl's --help exits with 1 but with no error.
    error, status = failure.__context__, failure.code
    if status in (None, 0) or error is None:
      return
    status = status if isinstance(status, int) else 1
  else:
    error, status = failure, 1
  values = {name: os.environ.get(name, "").strip() for name in ENV_VARS}
  if not all(values.values()):
    return
  try:
    address, num_processes, process_id = _parse(values)
  except ConfigError:
    return  # no run to tell: the tool reports this error itself
  if not isinstance(failure, SystemExit):
    traceback.print_exception(failure)  # this process never returns to print it
  _flush()
  print(
    f"jaxseg.distributed: process {process_id} of {num_processes} failed before connecting; "
    f"connecting to {address} to end the others too (waiting up to {INITIALIZATION_TIMEOUT_S} s "
    "for them).",
    file=sys.stderr,
    flush=True,
  )
  # The connection waits in C++, where KeyboardInterrupt never arrives:
  # Ctrl-C ends the process at once instead.
  signal.signal(signal.SIGINT, signal.SIG_DFL)
  try:
    end_on_failure = _connect(address, num_processes, process_id)
  except Exception as connect_error:
    print(
      f"jaxseg.distributed: could not connect, so the others are not told: "
      f"{_describe(connect_error)}.",
      file=sys.stderr,
      flush=True,
    )
    return
  end_on_failure.fail(status, _describe(error))


def _wait_for_key(client, key: str, process: int) -> str:
  try:
    return client.blocking_key_value_get(key, INITIALIZATION_TIMEOUT_S * 1000)
  except Exception as error:
    if "DEADLINE_EXCEEDED" not in str(error):
      raise
    raise RuntimeError(
      f"Process {process} did not reach the start of this run within "
      f"{INITIALIZATION_TIMEOUT_S} s: the processes run different commands?"
    ) from error


def _flat(tree, prefix: str = "") -> dict:
  if not isinstance(tree, dict):
    return {prefix: tree}
  flat = {}
  for key, value in tree.items():
    flat.update(_flat(value, f"{prefix}.{key}" if prefix else key))
  return flat


def _shown(flat: dict, key: str) -> str:
  return json.dumps(flat[key]) if key in flat else "absent"


def _processes(processes: list[int]) -> str:
  if len(processes) == 1:
    return f"process {processes[0]}"
  return f"processes {', '.join(map(str, processes))}"


def _client():
  # Orbax reaches the coordination service's client the same way.
  from jax._src import distributed  # noqa: PLC0415

  return distributed.global_state.client


def _flush():
  for stream in (sys.stdout, sys.stderr):
    with contextlib.suppress(OSError, ValueError):
      stream.flush()
  logging.flush()
  for handler in python_logging.getLogger().handlers:
    handler.flush()


class _EndOnFailure:
  """Ends every process of the run when one fails (see the module docstring)."""

  def __init__(self, process_id: int, num_processes: int):
    self.process_id = process_id
    self.num_processes = num_processes
    self.failure: tuple[int, str] | None = None  # (exit status, error) of this process
    # Set when this process will fail by itself with an error every process
    # meets (`check_same_config`): another's report of it must not end it.
    self.fails_by_itself = threading.Event()
    self.ending = threading.Lock()
    self.watcher = threading.Thread(target=self._watch, name="jaxseg-failure-watch", daemon=True)
    self.client = _client()

  def install(self):
    global _end_on_failure
    previous_excepthook, previous_exit = sys.excepthook, sys.exit

    def excepthook(kind, value, traceback):
      if self.ending.locked():
        # Another process failed and the watcher is ending this one; this
        # error (a collective whose peer left) is a consequence.
        self.ending.acquire()
      previous_excepthook(kind, value, traceback)
      if self.failure is None:
        self.failure = (1, _describe(value))

    def exit_recording_status(status=None):
      # `sys.exit` bypasses sys.excepthook: a tool that turns an error into a
      # status (experiments/cli.py, absl's usage errors) ends here.
      if status not in (None, 0, False):
        error = sys.exc_info()[1]
        self.failure = (
          status if isinstance(status, int) else 1,
          _describe(error) if error is not None else f"exit status {status}",
        )
      previous_exit(status)

    sys.excepthook = excepthook
    sys.exit = exit_recording_status
    # atexit runs handlers last-registered first: this one before JAX's
    # shutdown (registered when jax was imported).
    atexit.register(self._at_exit)
    self.watcher.start()
    _end_on_failure = self

  def fail(self, status: int, error: str):
    """Publishes this process's failure and ends it (`_end`)."""
    message = f"process {self.process_id} of {self.num_processes} failed: {error}"
    # Fails when another process failed first: that failure ends the run.
    with contextlib.suppress(Exception):
      self.client.key_value_set(_FAILURE_KEY, f"{self.process_id}\n{message}")
    self._end(status, f"jaxseg.distributed: {message}. Ending every process.")

  def _at_exit(self):
    if self.failure is None:
      # A clean exit: JAX's shutdown barrier waits for the others to finish,
      # while the watcher still ends this process if one of them fails. It
      # runs here, not in JAX's own exit handler, so that the watcher (its
      # wait cancelled by the shutdown) has left C++ before the interpreter
      # finalises: a daemon thread that returns from C++ then aborts it.
      jax.distributed.shutdown()
      self.watcher.join(timeout=10)
      return
    self.fail(*self.failure)

  def _watch(self):
    while True:
      try:
        value = self.client.blocking_key_value_get(_FAILURE_KEY, _WATCH_TIMEOUT_MS)
        break
      except Exception as error:
        if "DEADLINE_EXCEEDED" in str(error):
          continue
        return  # the client shut down: the run is over
    source, _, message = value.partition("\n")
    if int(source) == self.process_id:
      return  # this process failed; _at_exit ends it
    if self.fails_by_itself.is_set():
      # The main thread is on its way to `fail` (which exits); should it
      # not get there, end the process below after all.
      time.sleep(ACKNOWLEDGE_TIMEOUT_S)
    self._end(
      1,
      f"jaxseg.distributed: {message}. Ending process {self.process_id} too; process "
      f"{source}'s log has the details.",
    )

  def _end(self, status: int, message: str):
    """Acknowledges, waits (bounded) for the others to acknowledge, and exits now."""
    # The first of the two paths (a failure here, the watcher) ends the
    # process; the other waits here for the exit.
    self.ending.acquire()
    _flush()
    print(message, file=sys.stderr, flush=True)
    try:
      self.client.key_value_set(f"{_ACK_KEY}{self.process_id}", "1")
      # Process 0 serves the key-value store: it must stay until everyone
      # has read the failure, so everyone waits for every acknowledgement.
      deadline = time.monotonic() + ACKNOWLEDGE_TIMEOUT_S
      for other in range(self.num_processes):
        left_ms = max(1, int((deadline - time.monotonic()) * 1000))
        self.client.blocking_key_value_get(f"{_ACK_KEY}{other}", left_ms)
      if self.process_id == 0:
        # Let the others exit before the coordinator they poll disappears.
        threading.Event().wait(1.0)
    except Exception:
      pass  # a process that cannot acknowledge in time is gone or stuck
    _flush()
    os._exit(status)


def _describe(error: BaseException | None) -> str:
  if error is None:
    return "unknown error"
  lines = str(error).strip().splitlines()
  return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(". ")
