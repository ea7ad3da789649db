"""Post-processing of one foreground-probability map into a binary mask.

Every postprocessor is `fn(prob) -> bool [H, W]` on a numpy probability map
[H, W] or [H, W, 1] (a model's foreground probability, at input or original
resolution), so any model's evaluation can pick one by name:

  none            prob >= 0.5, the metrics' plain threshold (docs/papers.md, "Metrics")
  dual_threshold  paper 003's dual-threshold method (Sec. III-A)

Dual threshold (`dual_threshold(prob, high=0.8, low=0.5)`; the paper's rule
and our reading of it: docs/papers.md, "cdnn (paper 003)"):
1. Lesion centre: the probability-weighted centroid of the component at
   >= `high` with the largest mass (sum of probabilities).
2. Threshold at >= `low` and fill every hole (background not connected to
   the border), by labelling the background in one pass.
3. Keep the filled component containing the centre (the centre rounded);
   else the one whose nearest pixel is closest to it (ties: first in raster
   order). Nothing at `high`: the filled component of largest mass (filled
   holes count with their own probabilities). Nothing at `low`: empty.

Foreground components are 8-connected, background regions 4-connected. When
the filled mask has a single component it is the answer under every rule
above, so the centre is not computed at all.

Cost: everything runs on the bounding box of the `low` mask with
scipy.ndimage labelling and whole-array numpy reductions, no Python loop over
pixels or components. `python -m experiments.bench_postprocess` times it
(well under 60 ms for 1504x2016 maps on two CPU cores).
"""

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from jaxseg.errors import ConfigError

Postprocessor = Callable[[np.ndarray], np.ndarray]

_EIGHT = np.ones((3, 3), bool)  # foreground connectivity
_FOUR = ndimage.generate_binary_structure(2, 1)  # background connectivity
_CHUNK_PIXELS = 1 << 17


def _as_map(prob: np.ndarray) -> np.ndarray:
  """[H, W] or [H, W, 1] -> float32/float64 [H, W] (a view unless the dtype needs a cast)."""
  prob = np.asarray(prob)
  if prob.dtype not in (np.float32, np.float64):  # e.g. bfloat16: sums need more precision
    prob = prob.astype(np.float32)
  if prob.ndim == 3 and prob.shape[-1] == 1:
    prob = prob[..., 0]
  if prob.ndim != 2:
    raise ValueError(f"prob must be [H, W] or [H, W, 1], got shape {prob.shape}.")
  return prob


def threshold(prob: np.ndarray, level: float = 0.5) -> np.ndarray:
  """bool [H, W]: prob >= level (no post-processing)."""
  return _as_map(prob) >= level


def _bounding_box(mask: np.ndarray) -> tuple[slice, slice] | None:
  rows = np.flatnonzero(mask.any(axis=1))
  if rows.size == 0:
    return None
  cols = np.flatnonzero(mask.any(axis=0))
  return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def fill_holes(mask: np.ndarray) -> np.ndarray:
  """`mask` with every background region not connected to the border set.

  Equal to scipy.ndimage.binary_fill_holes(mask) (4-connected background),
  in one labelling pass: pad with a background frame, label the background,
  and keep everything outside the frame's region.
  """
  background = np.pad(~mask, 1, constant_values=True)
  labels, _ = ndimage.label(background, _FOUR)
  return labels[1:-1, 1:-1] != labels[0, 0]


def _masses(prob: np.ndarray, labels: np.ndarray, mask: np.ndarray, count: int) -> np.ndarray:
  """Sum of `prob` over each of the components 1..count (index 0 unused).

  Bands of rows keep bincount's int64/float64 copies small and cache-resident:
  on a 1504x2016 map this halves the time of one whole-map bincount.
  """
  masses = np.zeros(count + 1)
  rows = max(1, _CHUNK_PIXELS // labels.shape[1])
  for start in range(0, labels.shape[0], rows):
    band = slice(start, start + rows)
    inside = mask[band]
    masses += np.bincount(labels[band][inside], weights=prob[band][inside], minlength=count + 1)
  return masses


def lesion_centre(prob: np.ndarray, high: float = 0.8) -> tuple[float, float] | None:
  """(row, col) centre of mass of the largest-mass component of prob >= high, or None."""
  prob = _as_map(prob)
  box = _bounding_box(prob >= high)
  if box is None:
    return None
  prob = prob[box]
  core = prob >= high
  labels, count = ndimage.label(core, _EIGHT)
  if count > 1:
    core = labels == np.argmax(_masses(prob, labels, core, count))
  weights = np.where(core, prob, 0.0)
  total = weights.sum()
  row = weights.sum(axis=1) @ np.arange(weights.shape[0]) / total
  col = weights.sum(axis=0) @ np.arange(weights.shape[1]) / total
  return float(row + box[0].start), float(col + box[1].start)


def _component_at(labels: np.ndarray, row: float, col: float) -> int:
  """Label of the component containing (row, col), else of the nearest one."""
  height, width = labels.shape
  r, c = int(np.floor(row + 0.5)), int(np.floor(col + 0.5))
  if 0 <= r < height and 0 <= c < width and labels[r, c]:
    return int(labels[r, c])
  rows, cols = np.nonzero(labels)
  nearest = np.argmin((rows - row) ** 2 + (cols - col) ** 2)
  return int(labels[rows[nearest], cols[nearest]])


def dual_threshold(prob: np.ndarray, high: float = 0.8, low: float = 0.5) -> np.ndarray:
  """Paper 003's dual-threshold mask, bool [H, W]; the module docstring has the rules."""
  if not low <= high:
    raise ValueError(f"dual_threshold needs low <= high; got low={low}, high={high}.")
  prob = _as_map(prob)
  out = np.zeros(prob.shape, bool)
  mask = prob >= low
  box = _bounding_box(mask)
  if box is None:
    return out
  # Outside the box everything is background connected to the image border,
  # so holes and components can be found inside it.
  prob, mask = prob[box], mask[box]
  filled = fill_holes(mask)
  labels, count = ndimage.label(filled, _EIGHT)
  if count == 1:
    out[box] = filled
    return out
  centre = lesion_centre(prob, high)
  if centre is None:
    keep = int(np.argmax(_masses(prob, labels, filled, count)))
  else:
    keep = _component_at(labels, *centre)
  out[box] = labels == keep
  return out


POSTPROCESSORS: dict[str, Postprocessor] = {
  "none": threshold,
  "dual_threshold": dual_threshold,
}


def get_postprocessor(name: str) -> Postprocessor:
  """The postprocessor registered under `name`."""
  try:
    return POSTPROCESSORS[name]
  except KeyError:
    raise ConfigError(
      f"Unknown postprocessor {name!r}; known postprocessors: {', '.join(POSTPROCESSORS)}."
    ) from None
