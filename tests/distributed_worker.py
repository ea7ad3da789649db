"""`python -m MODULE ARGS...`, listing the files it writes under a directory (test_distributed.py).

  python -m tests.distributed_worker WATCH_DIR RECORD.json MODULE [ARGS...]

Runs MODULE as `python -m` does (runpy, as `__main__`, with sys.argv set) and,
when the process exits normally, writes to RECORD.json the paths under
WATCH_DIR (relative to it) that it opened for writing or renamed onto. Writes
are seen through Python's audit hooks, so files that C++ writes (Orbax's
TensorStore array data) are not listed; Python's own writes (results, logs,
TensorBoard events, JSON records) are.
"""

import atexit
import json
import os
import runpy
import sys

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND


def _written_path(event: str, args) -> str | None:
  if event == "open":
    path, mode, flags = args
    writing = any(c in mode for c in "wax+") if mode is not None else bool(flags & _WRITE_FLAGS)
    return path if writing else None
  if event == "os.rename":  # os.rename and os.replace
    return args[1]
  return None


def main():
  watch, record, module, *args = sys.argv[1:]
  watch = os.path.abspath(watch)
  written: set[str] = set()

  def audit(event, event_args):
    path = _written_path(event, event_args)
    if isinstance(path, str | bytes | os.PathLike):
      path = os.path.abspath(os.fsdecode(path))
      if path.startswith(watch + os.sep):
        written.add(os.path.relpath(path, watch))

  def save():
    with open(record, "w") as f:
      json.dump(sorted(written), f)

  sys.addaudithook(audit)
  atexit.register(save)  # registered first, so it runs last
  sys.argv = [module, *args]
  runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
  main()
