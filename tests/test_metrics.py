"""Tests for jaxseg.metrics; expected numbers are worked out by hand."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg import metrics

# A 4x4 case: truth is the top two rows, the prediction the middle two rows,
# so row 0 is FN (4), row 1 TP (4), row 2 FP (4) and row 3 TN (4).
TRUTH_4X4 = np.array(
  [[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]],
  dtype=np.float32,
)
PROBS_4X4 = np.array(
  [[0.1, 0.2, 0.3, 0.49], [0.5, 0.6, 0.9, 1.0], [0.7, 0.5, 0.8, 0.99], [0.0, 0.3, 0.4, 0.2]],
  dtype=np.float32,
)


def _scores(tp, fp, fn, tn):
  scores = metrics.scores_from_counts(np.array([[tp, fp, fn, tn]]))
  return {key: float(value[0]) for key, value in scores.items()}


def test_count_column_order():
  assert metrics.COUNT_KEYS == ("tp", "fp", "fn", "tn")
  assert (metrics.TP, metrics.FP, metrics.FN, metrics.TN) == (0, 1, 2, 3)


def test_hand_computed_4x4():
  counts = metrics.confusion_counts(PROBS_4X4[None], TRUTH_4X4[None])
  np.testing.assert_array_equal(counts, [[4, 4, 4, 4]])
  assert counts.dtype == jnp.int32
  scores = _scores(*np.asarray(counts)[0])
  # AC = 8/16, DI = 8/16, JA = 4/12, SE = 4/8, SP = 4/8.
  assert scores == pytest.approx({"AC": 0.5, "DI": 0.5, "JA": 1 / 3, "SE": 0.5, "SP": 0.5})


def test_scores_asymmetric_counts():
  # tp 6, fp 2, fn 1, tn 7: AC 13/16, DI 12/15, JA 6/9, SE 6/7, SP 7/9.
  assert _scores(6, 2, 1, 7) == pytest.approx(
    {"AC": 13 / 16, "DI": 0.8, "JA": 2 / 3, "SE": 6 / 7, "SP": 7 / 9}
  )


@pytest.mark.parametrize(
  ("counts", "expected"),
  [
    # Empty prediction, lesion present: everything missed.
    ((0, 0, 5, 11), {"AC": 11 / 16, "DI": 0.0, "JA": 0.0, "SE": 0.0, "SP": 1.0}),
    # Empty ground truth, something predicted: SE has no positives -> 1.
    ((0, 3, 0, 13), {"AC": 13 / 16, "DI": 0.0, "JA": 0.0, "SE": 1.0, "SP": 13 / 16}),
    # Both empty: JA = DI = SE = 1.
    ((0, 0, 0, 16), {"AC": 1.0, "DI": 1.0, "JA": 1.0, "SE": 1.0, "SP": 1.0}),
    # All foreground, predicted so: SP has no negatives -> 1.
    ((16, 0, 0, 0), {"AC": 1.0, "DI": 1.0, "JA": 1.0, "SE": 1.0, "SP": 1.0}),
    # All foreground, half found.
    ((8, 0, 8, 0), {"AC": 0.5, "DI": 2 / 3, "JA": 0.5, "SE": 0.5, "SP": 1.0}),
    # No pixels at all: defined, never NaN.
    ((0, 0, 0, 0), {"AC": 1.0, "DI": 1.0, "JA": 1.0, "SE": 1.0, "SP": 1.0}),
  ],
)
def test_zero_denominator_conventions(counts, expected):
  assert _scores(*counts) == pytest.approx(expected)


def test_edge_cases_from_masks():
  truth = np.zeros((4, 4, 4), np.float32)
  probs = np.zeros((4, 4, 4), np.float32)
  truth[0, :2, :2] = 1  # image 0: lesion, nothing predicted
  probs[1, :2, :2] = 0.9  # image 1: no lesion, something predicted
  # image 2: both empty
  truth[3], probs[3] = 1, 0.75  # image 3: all foreground, all found
  counts = np.asarray(metrics.confusion_counts(probs, truth))
  np.testing.assert_array_equal(
    counts, [[0, 0, 4, 12], [0, 4, 0, 12], [0, 0, 0, 16], [16, 0, 0, 0]]
  )
  scores = metrics.scores_from_counts(counts)
  np.testing.assert_allclose(scores["JA"], [0, 0, 1, 1])
  np.testing.assert_allclose(scores["DI"], [0, 0, 1, 1])
  np.testing.assert_allclose(scores["SE"], [0, 1, 1, 1])
  np.testing.assert_allclose(scores["SP"], [1, 0.75, 1, 1])


def test_thresholded_jaccard():
  accumulator = metrics.MetricAccumulator()
  # Per-image JA: 5/10 = 0.5 (below 0.65 -> 0), 13/20 = 0.65 (kept), 8/10 = 0.8.
  accumulator.update(np.array([[5, 5, 0, 10], [13, 4, 3, 0], [8, 1, 1, 6]]))
  mean = accumulator.summary()["mean"]
  assert mean["JA"] == pytest.approx((0.5 + 0.65 + 0.8) / 3)
  assert mean["JA_thresholded"] == pytest.approx((0.0 + 0.65 + 0.8) / 3)
  assert set(mean) == set(metrics.METRIC_KEYS)


def test_pooled_differs_from_mean():
  accumulator = metrics.MetricAccumulator()
  # A small lesion missed entirely (JA 0) and a large one found exactly (JA 1):
  # mean JA is 1/2, pooled JA is 12/16 because the large image dominates.
  accumulator.update(np.array([[0, 0, 4, 60], [12, 0, 0, 52]]))
  summary = accumulator.summary()
  assert summary["num_images"] == 2
  assert summary["mean"]["JA"] == pytest.approx(0.5)
  assert summary["pooled"]["JA"] == pytest.approx(0.75)
  assert summary["mean"]["SE"] == pytest.approx(0.5)
  assert summary["pooled"]["SE"] == pytest.approx(0.75)
  # DI: mean (0 + 1)/2; pooled 24/28.
  assert summary["mean"]["DI"] == pytest.approx(0.5)
  assert summary["pooled"]["DI"] == pytest.approx(24 / 28)
  assert summary["pooled"]["AC"] == pytest.approx(124 / 128)


def test_valid_drops_padded_examples():
  padded = metrics.MetricAccumulator()
  padded.update(
    np.array([[3, 1, 1, 11], [0, 16, 0, 0], [7, 0, 2, 7]]),
    ids=["a", "pad", "b"],
    valid=np.array([True, False, True]),
  )
  plain = metrics.MetricAccumulator()
  plain.update(np.array([[3, 1, 1, 11], [7, 0, 2, 7]]), ids=["a", "b"])
  assert padded.num_images == 2
  assert padded.summary() == plain.summary()
  assert [row["id"] for row in padded.per_image()] == ["a", "b"]


def test_accumulating_batches_equals_one_update():
  rng = np.random.default_rng(0)
  counts = rng.integers(0, 50, size=(10, 4))
  ids = [f"img{i}" for i in range(10)]
  groups = ["melanoma" if i % 3 == 0 else "nevus" for i in range(10)]
  whole = metrics.MetricAccumulator()
  whole.update(counts, ids=ids, groups=groups)
  pieces = metrics.MetricAccumulator()
  for start, stop in ((0, 3), (3, 4), (4, 10)):
    pieces.update(jnp.asarray(counts[start:stop]), ids=ids[start:stop], groups=groups[start:stop])
  assert pieces.num_images == 10
  assert pieces.summary() == whole.summary()
  assert pieces.per_image() == whole.per_image()
  assert pieces.summary_by_group() == whole.summary_by_group()


def test_per_image_rows_and_json():
  accumulator = metrics.MetricAccumulator()
  accumulator.update(
    jnp.array([[4, 4, 4, 4], [0, 0, 0, 16]], jnp.int32),
    ids=np.array([b"ISIC_0000001", b"ISIC_0000002"], dtype=object),
    groups=np.array([b"melanoma", b"nevus"], dtype=object),
  )
  rows = accumulator.per_image()
  assert rows[0] == {
    "id": "ISIC_0000001",
    "group": "melanoma",
    "AC": 0.5,
    "DI": 0.5,
    "JA": pytest.approx(1 / 3),
    "SE": 0.5,
    "SP": 0.5,
    "tp": 4,
    "fp": 4,
    "fn": 4,
    "tn": 4,
  }
  assert rows[1]["JA"] == 1.0 and rows[1]["id"] == "ISIC_0000002"
  assert all(type(value) in (str, int, float) for row in rows for value in row.values())
  json.dumps({"rows": rows, "summary": accumulator.summary()})


def test_per_image_without_ids_or_groups():
  accumulator = metrics.MetricAccumulator()
  accumulator.update(np.array([[1, 0, 0, 3]]))
  (row,) = accumulator.per_image()
  assert row["id"] is None
  assert "group" not in row


def test_summary_by_group():
  accumulator = metrics.MetricAccumulator()
  accumulator.update(
    np.array([[4, 0, 0, 12], [2, 0, 2, 12], [0, 4, 0, 12]]),
    groups=["melanoma", "nevus", "melanoma"],
  )
  by_group = accumulator.summary_by_group()
  assert set(by_group) == {"melanoma", "nevus"}
  assert by_group["melanoma"]["num_images"] == 2
  # melanoma JA: 1 and 0 -> 0.5; nevus JA: 2/4.
  assert by_group["melanoma"]["mean"]["JA"] == pytest.approx(0.5)
  assert by_group["nevus"]["mean"]["JA"] == pytest.approx(0.5)
  assert by_group["nevus"]["mean"]["JA_thresholded"] == 0.0


def test_empty_accumulator_raises():
  accumulator = metrics.MetricAccumulator()
  assert accumulator.num_images == 0
  assert accumulator.per_image() == []
  with pytest.raises(ValueError, match="No images"):
    accumulator.summary()
  accumulator.update(np.array([[1, 0, 0, 0]]), valid=np.array([False]))
  with pytest.raises(ValueError, match="No images"):
    accumulator.summary()


def test_update_rejects_mismatched_lengths():
  accumulator = metrics.MetricAccumulator()
  with pytest.raises(ValueError, match="ids"):
    accumulator.update(np.zeros((2, 4), int), ids=["only-one"])
  with pytest.raises(ValueError, match="counts"):
    accumulator.update(np.zeros((2, 3), int))


def _numpy_counts(probs, targets, valid):
  predicted = probs >= 0.5
  truth = targets > 0.5
  rows = []
  for p, t, v in zip(predicted, truth, valid, strict=True):
    rows.append(
      [
        np.sum(p & t & v),
        np.sum(p & ~t & v),
        np.sum(~p & t & v),
        np.sum(~p & ~t & v),
      ]
    )
  return np.array(rows)


def test_confusion_counts_jit_matches_numpy():
  rng = np.random.default_rng(1)
  probs = rng.random((4, 6, 5, 1)).astype(np.float32)
  probs[0, 0, 0, 0] = 0.5  # the threshold itself is foreground
  targets = (rng.random((4, 6, 5, 1)) > 0.6).astype(np.float32)
  valid = np.ones((4, 6, 5), bool)
  valid[1, 3:] = False
  valid[3] = False
  counts = jax.jit(metrics.confusion_counts)(probs, targets, valid)
  expected = _numpy_counts(probs[..., 0], targets[..., 0], valid)
  np.testing.assert_array_equal(counts, expected)
  assert counts.dtype == jnp.int32
  np.testing.assert_array_equal(counts[3], [0, 0, 0, 0])
  np.testing.assert_array_equal(counts.sum(axis=1), valid.sum(axis=(1, 2)))
  # Same result for bool targets, [B, H, W] layout and a float valid mask.
  counts = metrics.confusion_counts(probs[..., 0], targets[..., 0] > 0, valid.astype(np.float32))
  np.testing.assert_array_equal(counts, expected)


def test_binarize_uint8():
  mask = np.array([0, 1, 127, 128, 200, 255], np.uint8)
  np.testing.assert_array_equal(metrics.binarize_mask(mask), [0, 0, 0, 1, 1, 1])
  assert metrics.binarize_mask(mask).dtype == bool
  jax_result = metrics.binarize_mask(jnp.asarray(mask))
  assert isinstance(jax_result, jax.Array)
  np.testing.assert_array_equal(jax_result, [0, 0, 0, 1, 1, 1])


def test_binarize_float_and_bool():
  mask = np.array([0.0, 0.25, 0.5, 0.51, 1.0], np.float32)
  np.testing.assert_array_equal(metrics.binarize_mask(mask), [0, 0, 0, 1, 1])
  np.testing.assert_array_equal(metrics.binarize_mask(jnp.asarray(mask)), [0, 0, 0, 1, 1])
  bools = np.array([True, False])
  np.testing.assert_array_equal(metrics.binarize_mask(bools), bools)


def test_original_resolution_upsampling_matters():
  # 2x2 -> 4x4 bilinear with half-pixel centres: output rows/columns sit at
  # input coordinates -0.25, 0.25, 0.75, 1.25 (clamped at the borders), so
  # the weight of input index 0 is a = [1, 0.75, 0.25, 0] along each axis.
  # Values >= 0.5: (0,0) 0.9, (0,1) and (1,0) 0.775, (1,1) 0.6625,
  # (0,2) and (2,0) 0.525; (1,2) and (2,1) are 0.4375. Six pixels in all,
  # where nearest-neighbour upsampling would give only the 2x2 block.
  prob = np.array([[0.9, 0.4], [0.4, 0.1]], np.float32)
  target = np.zeros((4, 4, 1), np.uint8)
  target[:2, :3] = 255
  # Predicted: (0,0) (0,1) (0,2) (1,0) (1,1) (2,0); truth: rows 0-1, cols 0-2.
  # TP 5, FP 1 (2,0), FN 1 (1,2), TN 9.
  counts = metrics.counts_at_original_resolution(prob, target)
  np.testing.assert_array_equal(counts, [5, 1, 1, 9])
  assert counts.dtype == np.int64


def test_original_resolution_identity():
  rng = np.random.default_rng(2)
  prob = rng.random((6, 7, 1)).astype(np.float32)
  target = np.where(rng.random((6, 7)) > 0.5, 255, 0).astype(np.uint8)
  counts = metrics.counts_at_original_resolution(prob, target)
  expected = metrics.confusion_counts(prob[None], (target > 127)[None])[0]
  np.testing.assert_array_equal(counts, expected)


@pytest.mark.parametrize(
  ("in_shape", "out_shape"),
  [((2, 2), (4, 4)), ((5, 7), (13, 11)), ((16, 12), (7, 5)), ((9, 9), (20, 4)), ((3, 3), (3, 3))],
)
def test_resize_matches_jax_image_resize(in_shape, out_shape):
  image = np.random.default_rng(3).random(in_shape).astype(np.float32)
  expected = jax.image.resize(image, out_shape, "bilinear")
  np.testing.assert_allclose(metrics.resize_bilinear(image, out_shape), expected, atol=1e-6)
