"""Files written whole or not at all: a temporary name in the same folder, then a rename.

A run killed mid-write leaves the previous file (or none), never half a file.
The temporary name carries the process id, so processes writing the same path
on a shared filesystem do not trample each other's temporary files.
"""

import json
import os


def _write(path: str, content: str | bytes) -> None:
  directory = os.path.dirname(path)
  if directory:
    os.makedirs(directory, exist_ok=True)
  tmp = f"{path}.tmp.{os.getpid()}"
  with open(tmp, "wb" if isinstance(content, bytes) else "w") as f:
    f.write(content)
  os.replace(tmp, path)


def write_text(path: str, text: str) -> None:
  _write(path, text)


def write_bytes(path: str, data: bytes) -> None:
  """Binary files, e.g. encoded images (prediction masks, overlays)."""
  _write(path, data)


def write_json(path: str, record) -> None:
  write_text(path, json.dumps(record, indent=1))
