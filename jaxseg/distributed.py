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
- a process that dies without a word (killed, out of memory) breaks the gloo
  connections of the others' next collective, which then fail as above; one
  that waits elsewhere is ended by the heartbeat after `HEARTBEAT_TIMEOUT_S`.

Measured after (same setup): the survivor ends 0.1-1.1 s after the failure,
whichever process fails and whether it raised or called `sys.exit(2)`; 5 s
after the other was killed. Still bounded only by `INITIALIZATION_TIMEOUT_S`:
a process that fails before it connects (a malformed command line that absl
rejects before `main`), which the others cannot learn of.
"""

import atexit
import contextlib
import logging as python_logging
import os
import sys
import threading
import time

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

_FAILURE_KEY = "jaxseg/failure"
_ACK_KEY = "jaxseg/failure_ack/"
# One long-poll of the failure key; the watcher polls again after each.
_WATCH_TIMEOUT_MS = 3_600_000


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
  address, num_processes, process_id = _parse(values)
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
  _EndOnFailure(process_id, num_processes).install()
  logging.info("Process %d of %d: jax.distributed is initialised.", process_id, num_processes)
  return True


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
    self.ending = threading.Lock()
    self.watcher = threading.Thread(target=self._watch, name="jaxseg-failure-watch", daemon=True)
    self.client = _client()

  def install(self):
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
    status, error = self.failure
    message = f"process {self.process_id} of {self.num_processes} failed: {error}"
    # Fails when another process failed first: that failure ends the run.
    with contextlib.suppress(Exception):
      self.client.key_value_set(_FAILURE_KEY, f"{self.process_id}\n{message}")
    self._end(status, f"jaxseg.distributed: {message}. Ending every process.")

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
