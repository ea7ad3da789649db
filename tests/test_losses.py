"""Tests for jaxseg.losses against float64 numpy transcriptions of the papers."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg import losses

BATCH, HEIGHT, WIDTH = 2, 8, 8


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


# Reference implementations: one image at a time, float64, written from the
# papers' equations (with the constants chosen in docs/papers.md, "Losses") rather than from
# jaxseg.losses.


def reference_wbce_dice(logits, labels, dice_weight=1.0):
  """Paper 000 eqs. 12-14, epsilon = 1."""
  per_image = []
  for x, y in zip(logits[..., 0], labels, strict=True):
    p = _sigmoid(x).ravel()
    y = y.ravel()
    n = y.size
    positives = [j for j in range(n) if y[j] == 1]
    negatives = [j for j in range(n) if y[j] == 0]
    alpha = len(negatives) / (len(positives) + len(negatives))
    wbce = (
      -(
        alpha * sum(np.log(p[j]) for j in positives)
        + (1 - alpha) * sum(np.log(1 - p[j]) for j in negatives)
      )
      / n
    )
    dice = 1 - (2 * np.sum(y * p) + 1) / (np.sum(y**2) + np.sum(p**2) + 1)
    per_image.append(wbce + dice_weight * dice)
  return np.mean(per_image)


def reference_cross_entropy(logits, labels):
  """Paper 001 eq. 13: loss(x, class) = -x[class] + log(sum_j exp(x[j]))."""
  per_image = []
  for x, y in zip(logits, labels, strict=True):
    pixel_losses = [
      -x[i, j, int(y[i, j])] + np.log(np.sum(np.exp(x[i, j])))
      for i in range(x.shape[0])
      for j in range(x.shape[1])
    ]
    per_image.append(np.mean(pixel_losses))
  return np.mean(per_image)


def reference_dice_focal(logits, labels, gamma=2.0):
  """Paper 002 eqs. 8-10."""
  per_image = []
  for x, y in zip(logits[..., 0], labels, strict=True):
    p = _sigmoid(x)
    dice = 1 - (1 + 2 * np.sum(p * y)) / (1 + np.sum(p) + np.sum(y))
    focal = -y * (1 - p) ** gamma * np.log(p) - p**gamma * (1 - y) * np.log(1 - p)
    per_image.append(dice + np.mean(focal))
  return np.mean(per_image)


def reference_jaccard_distance(logits, labels, smooth=0.0):
  """Paper 003's Jaccard distance; smooth = 0 is the paper's exact formula."""
  per_image = []
  for x, t in zip(logits[..., 0], labels, strict=True):
    p = _sigmoid(x)
    overlap = np.sum(t * p)
    per_image.append(1 - (overlap + smooth) / (np.sum(t**2) + np.sum(p**2) - overlap + smooth))
  return np.mean(per_image)


def reference_bce_dice(logits, labels, smooth=0.0):
  """Paper 004 eq. 3 read as 0.5 BCE + (1 - Dice); smooth = 0 is the paper's."""
  per_image = []
  for x, y in zip(logits[..., 0], labels, strict=True):
    p = _sigmoid(x)
    bce = np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))
    dice = (2 * np.sum(p * y) + smooth) / (np.sum(p) + np.sum(y) + smooth)
    per_image.append(0.5 * bce + (1 - dice))
  return np.mean(per_image)


def _random_batch(num_classes, seed=0, batch=BATCH, height=HEIGHT, width=WIDTH):
  rng = np.random.default_rng(seed)
  logits = 2.0 * rng.standard_normal((batch, height, width, num_classes))
  # A blob plus noise, so each image has both classes in unequal amounts.
  labels = np.zeros((batch, height, width))
  labels[:, 2:6, 1:5] = 1.0
  labels = np.where(rng.random(labels.shape) < 0.1, 1.0 - labels, labels)
  return logits, labels


def _num_classes(name):
  return 2 if name == "cross_entropy" else 1


@pytest.mark.parametrize(
  ("name", "reference", "kwargs"),
  [
    ("wbce_dice", reference_wbce_dice, {}),
    ("wbce_dice", reference_wbce_dice, {"dice_weight": 0.5}),
    ("cross_entropy", reference_cross_entropy, {}),
    ("dice_focal", reference_dice_focal, {}),
    ("dice_focal", reference_dice_focal, {"gamma": 0.5}),
    ("jaccard_distance", reference_jaccard_distance, {"smooth": 0.0}),
    ("jaccard_distance", reference_jaccard_distance, {"smooth": 1.0}),
    ("bce_dice", reference_bce_dice, {"smooth": 0.0}),
    ("bce_dice", reference_bce_dice, {"smooth": 1.0}),
  ],
)
def test_matches_paper_formula(name, reference, kwargs):
  logits, labels = _random_batch(_num_classes(name))
  expected = reference(logits, labels, **kwargs)
  value = losses.get_loss(name)(
    jnp.asarray(logits, jnp.float32), jnp.asarray(labels, jnp.float32), **kwargs
  )
  assert value.shape == () and value.dtype == jnp.float32
  np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_default_smoothing_is_one():
  logits, labels = _random_batch(1)
  args = (jnp.asarray(logits, jnp.float32), jnp.asarray(labels))
  np.testing.assert_allclose(
    losses.jaccard_distance(*args), reference_jaccard_distance(logits, labels, 1.0), rtol=1e-5
  )
  np.testing.assert_allclose(
    losses.bce_dice(*args), reference_bce_dice(logits, labels, 1.0), rtol=1e-5
  )


def _logits_for(name, foreground_logit):
  """Logits whose foreground log-odds equal `foreground_logit`."""
  x = jnp.asarray(foreground_logit, jnp.float32)[..., None]
  return jnp.concatenate([jnp.zeros_like(x), x], axis=-1) if name == "cross_entropy" else x


@functools.cache
def _value_and_grad(name):
  return jax.jit(jax.value_and_grad(losses.get_loss(name)))


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_finite_at_saturated_logits(name):
  shape = (2, 4, 4)
  mixed = np.zeros(shape, np.float32)
  mixed[:, :2] = 1.0
  targets = {
    "all_foreground": np.ones(shape, np.float32),
    "empty": np.zeros(shape, np.float32),
    "mixed": mixed,
  }
  for target_name, labels in targets.items():
    for logit in (100.0, -100.0):
      logits = _logits_for(name, np.full(shape, logit))
      value, grad = _value_and_grad(name)(logits, labels)
      assert np.isfinite(value), (target_name, logit)
      assert np.all(np.isfinite(grad)), (target_name, logit)
    # Confidently wrong and confidently right in the same image.
    logits = _logits_for(name, np.where(mixed > 0, 100.0, -100.0) * np.where(labels, 1, -1))
    value, grad = _value_and_grad(name)(logits, labels)
    assert np.isfinite(value) and np.all(np.isfinite(grad)), target_name


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_padded_image_changes_nothing(name):
  logits, labels = _random_batch(_num_classes(name), seed=1, batch=3)
  fn = losses.get_loss(name)
  weights = np.ones(labels.shape, np.float32)
  weights[2] = 0.0
  logits = jnp.asarray(logits, jnp.float32)
  expected = fn(logits[:2], labels[:2])
  np.testing.assert_allclose(fn(logits, labels, weights), expected, rtol=1e-6)
  # The padded image also gets no gradient, and its presence keeps the rest finite.
  grad = jax.grad(fn)(logits, labels, weights)
  assert np.all(np.isfinite(grad))
  np.testing.assert_array_equal(grad[2], 0.0)


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_padded_pixels_change_nothing(name):
  logits, labels = _random_batch(_num_classes(name), seed=2)
  fn = losses.get_loss(name)
  rng = np.random.default_rng(3)
  # Pad every image to the right with 3 columns of garbage at weight 0.
  padded_logits = np.concatenate([logits, 50 * rng.standard_normal(logits[:, :, :3].shape)], 2)
  padded_labels = np.concatenate([labels, np.ones_like(labels[:, :, :3])], 2)
  weights = np.ones(padded_labels.shape[:3] + (1,), np.float32)
  weights[:, :, WIDTH:] = 0.0
  np.testing.assert_allclose(
    fn(jnp.asarray(padded_logits, jnp.float32), padded_labels, weights),
    fn(jnp.asarray(logits, jnp.float32), labels),
    rtol=1e-5,
  )


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_all_padding_batch_is_zero(name):
  logits, labels = _random_batch(_num_classes(name), seed=4)
  weights = np.zeros(labels.shape, np.float32)
  value, grad = _value_and_grad(name)(jnp.asarray(logits, jnp.float32), labels, weights)
  assert value == 0.0
  np.testing.assert_array_equal(grad, 0.0)


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_label_and_weight_layouts(name):
  logits, labels = _random_batch(_num_classes(name), seed=5)
  fn = losses.get_loss(name)
  logits = jnp.asarray(logits, jnp.float32)
  expected = fn(logits, labels)
  ones = np.ones(labels.shape, np.float32)
  variants = [
    fn(logits, labels[..., None]),
    fn(logits, labels.astype(np.int32)),
    fn(logits, labels.astype(bool)[..., None]),
    fn(logits, labels, ones),
    fn(logits, labels[..., None], ones[..., None]),
  ]
  for value in variants:
    np.testing.assert_allclose(value, expected, rtol=1e-6)
  assert fn(logits.astype(jnp.bfloat16), labels).dtype == jnp.float32


def test_rejects_bad_shapes():
  logits, labels = _random_batch(2)
  with pytest.raises(ValueError, match="logits"):
    losses.wbce_dice(logits, labels)  # two channels given to a sigmoid loss
  with pytest.raises(ValueError, match="labels"):
    losses.cross_entropy(logits, labels[:, :4])


def test_registry():
  assert set(losses.LOSSES) == {
    "wbce_dice",
    "cross_entropy",
    "dice_focal",
    "jaccard_distance",
    "bce_dice",
  }
  assert losses.get_loss("dice_focal") is losses.dice_focal
  with pytest.raises(KeyError, match="known losses: wbce_dice, cross_entropy"):
    losses.get_loss("lovasz")
