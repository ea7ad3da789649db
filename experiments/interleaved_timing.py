"""Timing jaxseg against PyTorch: alternating rounds (`bench_twin`), the pause (`bench_convs`).

A shared machine's speed drifts within minutes; a ratio of two sides timed
within the same round sees the same drift on both. Kept apart from the
benchmark's command line so that tests can import it without its flags.
"""

import dataclasses
import time
from collections.abc import Callable

import numpy as np

# A framework's worker threads spin for a while after their last task and take
# cores from the other framework's ops timed right after: wait this long between sides.
SIDE_PAUSE_S = 1.0


@dataclasses.dataclass(frozen=True)
class TimedStep:
  """One step to time: `run()` starts it, `finish(out)` waits until its result exists."""

  run: Callable[[], object]
  finish: Callable[[object], None]

  def seconds(self, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
      out = self.run()
    self.finish(out)
    return (time.perf_counter() - start) / n


def interleaved_seconds(sides: dict[str, TimedStep], steps: int, rounds: int, pause_s: float = 0.0):
  """Seconds per step of each side in each round: {side: [round 1, round 2, ...]}.

  Every side is warmed up first (compilation, allocators); then each round
  times `steps` steps of every side in turn, `pause_s` after the previous
  side's last step: a framework's worker threads spin for a while after their
  last task, and would take cores from the side timed next.
  """
  for side in sides.values():
    for _ in range(2):
      side.finish(side.run())
  seconds = {name: [] for name in sides}
  for _ in range(rounds):
    for name, side in sides.items():
      time.sleep(pause_s)
      seconds[name].append(side.seconds(steps))
  return seconds


def compare(jax_seconds: list[float], torch_seconds: list[float], batch_size: int) -> str:
  """A table cell: images/s of the median round each, the median ratio and its range."""
  ratios = [t / j for j, t in zip(jax_seconds, torch_seconds, strict=True)]
  cell = (
    f"{batch_size / float(np.median(jax_seconds)):.2f} vs "
    f"{batch_size / float(np.median(torch_seconds)):.2f} ({float(np.median(ratios)):.2f}x"
  )
  if len(ratios) > 1:
    cell += f"; {min(ratios):.2f}-{max(ratios):.2f}"
  return cell + ")"
