"""Dual-threshold post-processing on hand-built probability maps.

Paper 003, Sec. III-A; the rules: docs/papers.md, "cdnn (paper 003)".
"""

import ml_dtypes
import numpy as np
import pytest
from scipy import ndimage

from jaxseg.postprocess import (
  POSTPROCESSORS,
  dual_threshold,
  fill_holes,
  get_postprocessor,
  lesion_centre,
)

YY, XX = np.mgrid[:40, :60]


def _disc(row, col, radius):
  return (YY - row) ** 2 + (XX - col) ** 2 <= radius**2


def test_larger_mass_at_high_threshold_wins_over_larger_area():
  prob = np.zeros((40, 60), np.float32)
  big_faint = _disc(20, 40, 12)  # large, only 0.7 except a small 0.85 spot
  small_bright = _disc(20, 10, 6)  # smaller, 0.95 throughout
  prob[big_faint] = 0.7
  prob[_disc(20, 40, 2)] = 0.85
  prob[small_bright] = 0.95
  out = dual_threshold(prob)
  assert out.dtype == bool and out.shape == prob.shape
  np.testing.assert_array_equal(out, small_bright)
  # The plain threshold keeps both.
  np.testing.assert_array_equal(get_postprocessor("none")(prob), big_faint | small_bright)


def test_mass_not_area_at_high_threshold():
  prob = np.zeros((40, 60), np.float32)
  wide = (YY >= 10) & (YY < 16) & (XX >= 5) & (XX < 15)  # 60 pixels x 0.81 = 48.6
  bright = (YY >= 20) & (YY < 25) & (XX >= 40) & (XX < 50)  # 50 pixels x 1.0 = 50
  prob[wide] = 0.81
  prob[bright] = 1.0
  assert lesion_centre(prob) == pytest.approx((22.0, 44.5))
  np.testing.assert_array_equal(dual_threshold(prob), bright)


def test_holes_are_filled_but_notches_open_to_the_border_are_not():
  prob = np.zeros((40, 60), np.float32)
  ring = _disc(20, 20, 10) & ~_disc(20, 20, 4)
  prob[ring] = 0.9
  prob[_disc(20, 20, 4)] = 0.3  # the hole: below both thresholds
  # A second lesion at the right border, with a notch open to that border.
  notched = (XX >= 40) & (XX < 60) & (YY >= 10) & (YY < 30) & ~((YY >= 18) & (YY < 22) & (XX > 50))
  prob[notched] = 0.6
  out = dual_threshold(prob)
  np.testing.assert_array_equal(out, _disc(20, 20, 10))
  # The centre pixel itself was a hole; filling puts it inside the ring.
  assert out[20, 20]
  # Fallback (nothing >= high) keeps the notched lesion as it is.
  alone = np.where(notched, 0.6, 0.0)
  np.testing.assert_array_equal(dual_threshold(alone), notched)


def test_fill_holes_matches_scipy():
  rng = np.random.default_rng(0)
  for _ in range(5):
    mask = ndimage.uniform_filter(rng.uniform(size=(33, 47)), 3) > 0.5
    np.testing.assert_array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))
  diagonal_ring = np.zeros((5, 5), bool)
  diagonal_ring[[1, 2, 2, 3], [2, 1, 3, 2]] = True  # closed only through diagonals
  assert fill_holes(diagonal_ring)[2, 2]


def test_nothing_above_high_keeps_the_largest_component_at_low():
  prob = np.zeros((40, 60), np.float32)
  prob[_disc(20, 15, 8)] = 0.6
  prob[_disc(20, 45, 5)] = 0.7
  np.testing.assert_array_equal(dual_threshold(prob), _disc(20, 15, 8))


def test_centre_outside_every_component_picks_the_nearest():
  prob = np.zeros((40, 60), np.float32)
  crescent = _disc(20, 20, 12) & ~_disc(20, 20, 9) & (XX <= 24)  # a C opening to the right
  prob[crescent] = 0.9
  row, col = lesion_centre(prob)
  assert not crescent[round(row), round(col)]
  # A far blob at low: the crescent (distance 9) is nearer; its opening stays open.
  far = _disc(20, 52, 4)
  prob[far] = 0.6
  np.testing.assert_array_equal(dual_threshold(prob), crescent)
  # A blob inside the C, next to the centre but not on it, is nearer and wins.
  near = np.zeros_like(crescent)
  near[19:22, round(col) + 2 : round(col) + 4] = True
  assert not (ndimage.binary_dilation(near, np.ones((3, 3))) & crescent).any()
  prob[near] = 0.6
  np.testing.assert_array_equal(dual_threshold(prob), near)


def _reference(prob, high=0.8, low=0.5):
  """The rules written plainly, on the whole map, with scipy's own helpers."""
  eight = np.ones((3, 3))
  filled = ndimage.binary_fill_holes(prob >= low)
  labels, count = ndimage.label(filled, eight)
  if count == 0:
    return filled
  if not (prob >= high).any():
    masses = ndimage.sum_labels(prob, labels, np.arange(1, count + 1))
    return labels == 1 + np.argmax(masses)
  core, core_count = ndimage.label(prob >= high, eight)
  best = 1 + np.argmax(ndimage.sum_labels(prob, core, np.arange(1, core_count + 1)))
  row, col = ndimage.center_of_mass(prob, core, best)
  at_centre = labels[int(np.floor(row + 0.5)), int(np.floor(col + 0.5))]
  if at_centre:
    return labels == at_centre
  rr, cc = np.nonzero(labels)
  nearest = np.argmin((rr - row) ** 2 + (cc - col) ** 2)
  return labels == labels[rr[nearest], cc[nearest]]


@pytest.mark.parametrize("seed", range(8))
def test_matches_a_plain_reference_on_random_maps(seed):
  rng = np.random.default_rng(seed)
  prob = ndimage.gaussian_filter(rng.normal(size=(48, 64)), 2.5)
  prob = (1 / (1 + np.exp(-prob * 8 + rng.uniform(0, 3)))).astype(np.float32)
  np.testing.assert_array_equal(dual_threshold(prob), _reference(prob))


def test_empty_and_full_maps():
  empty = np.full((40, 60), 0.2, np.float32)
  assert not dual_threshold(empty).any()
  assert lesion_centre(empty) is None
  assert dual_threshold(np.ones((40, 60), np.float32)).all()
  assert dual_threshold(np.full((40, 60), 0.6)).all()  # float64, nothing >= high


def test_accepts_a_trailing_channel_and_checks_shapes():
  prob = np.zeros((40, 60, 1), np.float32)
  prob[_disc(20, 20, 6)] = 0.9
  prob[_disc(20, 45, 3)] = 0.9
  out = dual_threshold(prob)
  assert out.shape == (40, 60)
  np.testing.assert_array_equal(out, _disc(20, 20, 6))
  assert POSTPROCESSORS["none"](prob).shape == (40, 60)
  np.testing.assert_array_equal(dual_threshold(prob.astype(ml_dtypes.bfloat16)), out)
  with pytest.raises(ValueError, match=r"\[H, W\]"):
    dual_threshold(np.zeros((2, 40, 60)))
  with pytest.raises(ValueError, match="low <= high"):
    dual_threshold(prob, high=0.4, low=0.5)


def test_unknown_postprocessor_lists_the_names():
  assert get_postprocessor("dual_threshold") is dual_threshold
  with pytest.raises(KeyError, match="none, dual_threshold"):
    get_postprocessor("crf")
