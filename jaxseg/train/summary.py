"""Metric writer: TensorBoard event files plus readable console lines.

It implements the interface of `clu.metric_writers.MetricWriter`
(write_scalars, write_hparams, flush, close). clu's own writers import
TensorFlow (clu 0.0.12), which this project never needs, so events are written
with TensorBoard's TensorFlow-free event writer instead.
"""

import logging as python_logging
import time
from collections.abc import Mapping

from absl import logging
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter


def _format(value: float) -> str:
  return f"{value:.4g}" if isinstance(value, float) else str(value)


class SummaryWriter:
  """Writes on the lead process only; the others get a no-op writer."""

  def __init__(self, logdir: str, enabled: bool = True):
    self._events = EventFileWriter(logdir) if enabled else None

  def write_scalars(self, step: int, scalars: Mapping[str, float]):
    if self._events is None:
      return
    values = [
      summary_pb2.Summary.Value(tag=tag, simple_value=float(value))
      for tag, value in scalars.items()
    ]
    self._events.add_event(
      event_pb2.Event(step=step, wall_time=time.time(), summary=summary_pb2.Summary(value=values))
    )
    logging.info("[%d] %s", step, ", ".join(f"{k}={_format(v)}" for k, v in scalars.items()))

  def write_hparams(self, hparams: Mapping[str, object]):
    if self._events is not None:
      logging.info("Config:\n%s", "\n".join(f"  {k}: {v}" for k, v in sorted(hparams.items())))

  def flush(self):
    if self._events is not None:
      self._events.flush()

  def close(self):
    if self._events is not None:
      self._events.close()


class _LibraryInfoFilter(python_logging.Filter):
  """Drops INFO lines of chatty libraries (Orbax logs every save in detail)."""

  CHATTY = ("/orbax/", "/tensorflow_datasets/", "/grain/", "/etils/")

  def filter(self, record):
    return record.levelno >= python_logging.WARNING or not any(
      part in record.pathname for part in self.CHATTY
    )


def quiet_library_logs():
  logging.get_absl_handler().addFilter(_LibraryInfoFilter())
