"""ISIC segmentation metrics from per-image confusion counts (docs/papers.md, "Metrics").

Everything is derived from four integers per image (tp, fp, fn, tn), so an
evaluation over thousands of large images keeps no masks in memory, and the
per-image mean (the ISIC convention) and the pixel-pooled scores come from the
same numbers. Zero denominators follow the official `isic-challenge-scoring`
package, so no reported mean is ever NaN.
"""

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxseg.metric_names import METRIC_KEYS

# ISIC 2018 ranking: a per-image Jaccard below this counts as 0.
JA_THRESHOLD = 0.65
# Column order of every counts array in this module.
COUNT_KEYS = ("tp", "fp", "fn", "tn")
TP, FP, FN, TN = range(len(COUNT_KEYS))

_PER_IMAGE_KEYS = METRIC_KEYS[:5]
_PROBABILITY_THRESHOLD = 0.5


def binarize_mask(mask: Any) -> Any:
  """Ground-truth mask to bool: integers at > 127, floats at > 0.5.

  Returns a jax array for a jax input and a numpy array otherwise.
  """
  if not isinstance(mask, jax.Array):
    mask = np.asarray(mask)
  if mask.dtype == bool:
    return mask
  if np.issubdtype(mask.dtype, np.integer):
    return mask > 127
  return mask > 0.5


def _drop_channel(x: Any) -> Any:
  """[B, H, W, 1] -> [B, H, W]; [B, H, W] passes through."""
  if x.ndim == 4:
    if x.shape[-1] != 1:
      raise ValueError(f"Expected a single channel, got shape {x.shape}.")
    return x[..., 0]
  if x.ndim != 3:
    raise ValueError(f"Expected [B, H, W] or [B, H, W, 1], got shape {x.shape}.")
  return x


def _as_bool(x: Any) -> Any:
  # Targets here are already {0, 1}; `> 0.5` also reads 0/255 masks correctly.
  return x if x.dtype == bool else x > 0.5


def confusion_counts(
  probs: jax.Array, targets: jax.Array, valid: jax.Array | None = None
) -> jax.Array:
  """Per-image (tp, fp, fn, tn) of the prediction `probs >= 0.5`.

  Args:
    probs: foreground probability, [B, H, W] or [B, H, W, 1].
    targets: binary ground truth (bool or {0, 1}), same layout.
    valid: optional per-pixel mask (bool or {0, 1}); pixels where it is
      false are not counted.

  Returns:
    int32 [B, 4], columns in `COUNT_KEYS` order.
  """
  predicted = _drop_channel(jnp.asarray(probs)) >= _PROBABILITY_THRESHOLD
  truth = _as_bool(_drop_channel(jnp.asarray(targets)))
  if truth.shape != predicted.shape:
    raise ValueError(f"probs {predicted.shape} and targets {truth.shape} differ in shape.")
  if valid is None:
    valid = jnp.ones_like(predicted)
  else:
    valid = jnp.broadcast_to(_as_bool(_drop_channel(jnp.asarray(valid))), predicted.shape)

  def count(mask):
    return jnp.sum(mask & valid, axis=(1, 2), dtype=jnp.int32)

  return jnp.stack(
    [
      count(predicted & truth),
      count(predicted & ~truth),
      count(~predicted & truth),
      count(~predicted & ~truth),
    ],
    axis=-1,
  )


def _ratio(numerator: np.ndarray, denominator: np.ndarray, if_zero: float) -> np.ndarray:
  out = np.full(np.shape(numerator), if_zero, dtype=np.float64)
  return np.divide(numerator, denominator, out=out, where=denominator > 0)


def scores_from_counts(counts: Any) -> dict[str, np.ndarray]:
  """AC, DI, JA, SE, SP (float64 [N]) from counts [N, 4].

  JA = DI = 1 when TP + FP + FN = 0, SE = 1 when TP + FN = 0 and SP = 1 when
  TN + FP = 0, as the official ISIC scorer does. That scorer never sees an
  image without pixels; AC is 1 there too so that nothing is NaN.
  """
  counts = np.asarray(counts, dtype=np.float64)
  if counts.shape[-1] != len(COUNT_KEYS):
    raise ValueError(f"Expected counts [..., 4], got shape {counts.shape}.")
  tp, fp, fn, tn = (counts[..., i] for i in range(len(COUNT_KEYS)))
  return {
    "AC": _ratio(tp + tn, tp + fp + fn + tn, 1.0),
    "DI": _ratio(2 * tp, 2 * tp + fp + fn, 1.0),
    "JA": _ratio(tp, tp + fp + fn, 1.0),
    "SE": _ratio(tp, tp + fn, 1.0),
    "SP": _ratio(tn, tn + fp, 1.0),
  }


def _resample_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
  """Source indices and weights [out_size, taps] of a 1-D bilinear resize.

  Same kernel as `jax.image.resize(..., "bilinear")`: half-pixel centres,
  triangle kernel widened by the scale when shrinking (antialiasing), weights
  renormalised at the borders, which for enlarging equals edge clamping
  (PIL and cv2 INTER_LINEAR give the same values there).
  """
  scale = out_size / in_size
  half_width = max(1.0, 1.0 / scale)
  centres = (np.arange(out_size) + 0.5) / scale - 0.5
  num_taps = int(np.ceil(2 * half_width)) + 1
  indices = np.floor(centres - half_width).astype(np.int64)[:, None] + 1 + np.arange(num_taps)
  weights = np.maximum(0.0, 1.0 - np.abs(indices - centres[:, None]) / half_width)
  weights = np.where((indices >= 0) & (indices < in_size), weights, 0.0)
  weights /= weights.sum(axis=1, keepdims=True)
  return np.clip(indices, 0, in_size - 1), weights.astype(np.float32)


def resize_bilinear(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
  """Separable bilinear resize of a float [h, w] array to `shape`, in numpy."""
  image = np.asarray(image, dtype=np.float32)
  row_indices, row_weights = _resample_taps(image.shape[0], shape[0])
  col_indices, col_weights = _resample_taps(image.shape[1], shape[1])
  # Columns first, while the array still has few rows; the row pass then
  # copies whole rows, one tap at a time, so the peak memory stays at a few
  # [H, W] planes (ISIC 2017 images reach about 6700 x 4500 pixels).
  columns = np.einsum("hwt,wt->hw", image[:, col_indices], col_weights)
  out = columns[row_indices[:, 0]] * row_weights[:, :1]
  for tap in range(1, row_indices.shape[1]):
    out += columns[row_indices[:, tap]] * row_weights[:, tap : tap + 1]
  return out


def counts_at_original_resolution(
  prob: Any, target: Any, binarize: Callable[[np.ndarray], np.ndarray] | None = None
) -> np.ndarray:
  """Challenge-protocol counts of one image at its ground truth's size.

  The probability map is resized bilinearly to the target's (H, W) before
  the >= 0.5 threshold (or `binarize`, a post-processing such as cdnn's dual
  threshold), as in the challenge, where a prediction has to be submitted at
  the original size. The resize is numpy rather than
  `jax.image.resize` (same kernel): it runs on the host once per image, and
  ISIC image sizes vary so much that jax would compile a new program for
  nearly every image.

  Args:
    prob: foreground probability at model resolution, [h, w] or [h, w, 1].
    target: ground truth at original size, uint8 (0/255) or bool, [H, W] or
      [H, W, 1].

  Returns:
    int64 [4] counts in `COUNT_KEYS` order.
  """
  prob = np.asarray(prob, dtype=np.float32)
  truth = binarize_mask(np.asarray(target))
  if prob.ndim == 3:
    prob = prob[..., 0]
  if truth.ndim == 3:
    truth = truth[..., 0]
  if prob.shape != truth.shape:
    prob = resize_bilinear(prob, truth.shape)
  predicted = prob >= _PROBABILITY_THRESHOLD if binarize is None else binarize(prob)
  counts = np.zeros(len(COUNT_KEYS), dtype=np.int64)
  counts[TP] = np.count_nonzero(predicted & truth)
  counts[FP] = np.count_nonzero(predicted & ~truth)
  counts[FN] = np.count_nonzero(~predicted & truth)
  counts[TN] = truth.size - counts[TP] - counts[FP] - counts[FN]
  return counts


def _to_python_label(label: Any) -> Any:
  if isinstance(label, bytes):
    return label.decode("utf-8")
  if isinstance(label, np.generic):
    return label.item()
  return label


def _summarize(counts: np.ndarray) -> dict[str, Any]:
  if not len(counts):
    raise ValueError("No images were accumulated; there is nothing to summarise.")
  per_image = scores_from_counts(counts)
  ja = per_image["JA"]
  mean = {key: float(per_image[key].mean()) for key in _PER_IMAGE_KEYS}
  mean["JA_thresholded"] = float(np.where(ja >= JA_THRESHOLD, ja, 0.0).mean())
  pooled = scores_from_counts(counts.sum(axis=0))
  return {
    "num_images": len(counts),
    "mean": mean,
    "pooled": {key: float(value) for key, value in pooled.items()},
  }


class MetricAccumulator:
  """Collects per-image confusion counts over batches and scores them.

  Only four integers per image are kept, never masks.
  """

  def __init__(self):
    self._counts: list[np.ndarray] = []
    self._ids: list[str | None] = []
    self._groups: list[Any] = []

  def update(
    self,
    counts: Any,
    ids: Sequence[str | bytes] | None = None,
    valid: Any = None,
    groups: Sequence[Any] | None = None,
  ) -> None:
    """Adds one batch.

    Args:
      counts: [B, 4] counts from `confusion_counts` (numpy or jax).
      ids: optional image ids (str or bytes); otherwise ids are None.
      valid: optional [B] bool; false rows are padding and are dropped.
      groups: optional [B] labels (e.g. diagnosis) for `summary_by_group`.
    """
    counts = np.asarray(counts).astype(np.int64)
    if counts.ndim != 2 or counts.shape[1] != len(COUNT_KEYS):
      raise ValueError(f"Expected counts [B, 4], got shape {counts.shape}.")
    batch_size = counts.shape[0]
    keep = np.ones(batch_size, bool) if valid is None else np.asarray(valid, bool).reshape(-1)
    ids = [None] * batch_size if ids is None else [_to_python_label(i) for i in ids]
    groups = [None] * batch_size if groups is None else [_to_python_label(g) for g in groups]
    for name, values in (("valid", keep), ("ids", ids), ("groups", groups)):
      if len(values) != batch_size:
        raise ValueError(f"{name} has {len(values)} entries for {batch_size} images.")
    self._counts.append(counts[keep])
    self._ids.extend(i for i, k in zip(ids, keep, strict=True) if k)
    self._groups.extend(g for g, k in zip(groups, keep, strict=True) if k)

  @property
  def num_images(self) -> int:
    return len(self._ids)

  def _all_counts(self) -> np.ndarray:
    if not self._counts:
      return np.zeros((0, len(COUNT_KEYS)), np.int64)
    return np.concatenate(self._counts)

  def per_image(self) -> list[dict[str, Any]]:
    """One JSON-serialisable dict per image: id, group if given, scores, counts."""
    counts = self._all_counts()
    scores = scores_from_counts(counts)
    rows = []
    for index, (image_id, group) in enumerate(zip(self._ids, self._groups, strict=True)):
      row = {"id": image_id}
      if group is not None:
        row["group"] = group
      row.update({key: float(scores[key][index]) for key in _PER_IMAGE_KEYS})
      row.update({key: int(counts[index, i]) for i, key in enumerate(COUNT_KEYS)})
      rows.append(row)
    return rows

  def summary(self) -> dict[str, Any]:
    """Mean over images of each metric (ISIC convention) and pixel-pooled scores."""
    return _summarize(self._all_counts())

  def summary_by_group(self) -> dict[Any, dict[str, Any]]:
    """`summary()` per group label; images added without a group are left out."""
    counts = self._all_counts()
    labels = sorted({g for g in self._groups if g is not None}, key=str)
    return {
      label: _summarize(counts[np.array([g == label for g in self._groups], bool)])
      for label in labels
    }
