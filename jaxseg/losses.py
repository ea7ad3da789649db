"""The five papers' segmentation losses (docs/papers.md, "Losses").

Every loss is `fn(logits, labels, weights=None) -> float32 scalar`:

  logits: [B, H, W, 1] (sigmoid) or, for `cross_entropy`, [B, H, W, 2].
  labels: {0, 1} ground truth, [B, H, W] or [B, H, W, 1].
  weights: optional non-negative per-pixel weights, same layout as labels;
    0 marks padding pixels and padded examples.

Each loss is computed per image with weighted sums over pixels, then averaged
over the images whose total weight is positive, so padding changes nothing
and an all-padding batch gives 0. Probabilities and their logarithms come from
`jax.nn.log_sigmoid` / `log_softmax` of the logits, so values and gradients
stay finite for saturated logits.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxseg.errors import ConfigError

Loss = Callable[..., jax.Array]


def _pixels(x: jax.Array, name: str) -> jax.Array:
  """[B, H, W] or [B, H, W, 1] -> float32 [B, H, W]."""
  x = jnp.asarray(x)
  if x.ndim == 4 and x.shape[-1] == 1:
    x = x[..., 0]
  if x.ndim != 3:
    raise ValueError(f"{name} must be [B, H, W] or [B, H, W, 1], got shape {x.shape}.")
  return x.astype(jnp.float32)


def _prepare(
  logits: jax.Array, labels: jax.Array, weights: jax.Array | None, num_classes: int
) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Checks shapes; returns float32 logits [B, H, W, C], labels and weights [B, H, W]."""
  logits = jnp.asarray(logits).astype(jnp.float32)
  if logits.ndim != 4 or logits.shape[-1] != num_classes:
    raise ValueError(f"logits must be [B, H, W, {num_classes}], got shape {logits.shape}.")
  labels = _pixels(labels, "labels")
  if labels.shape != logits.shape[:3]:
    raise ValueError(f"labels {labels.shape} do not match logits {logits.shape}.")
  weights = jnp.ones_like(labels) if weights is None else _pixels(weights, "weights")
  return logits, labels, jnp.broadcast_to(weights, labels.shape)


def _sum_pixels(x: jax.Array) -> jax.Array:
  return jnp.sum(x, axis=(1, 2))


def _safe_divide(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
  # A fully padded image has zero weight; dividing by 1 there keeps its
  # (discarded) value and, more importantly, its gradient finite.
  return numerator / jnp.where(denominator > 0, denominator, 1.0)


def _mean_over_images(per_image: jax.Array, weights: jax.Array) -> jax.Array:
  """Mean of per-image losses [B] over images with positive total weight."""
  has_pixels = _sum_pixels(weights) > 0
  total = jnp.sum(jnp.where(has_pixels, per_image, 0.0))
  return total / jnp.maximum(jnp.sum(has_pixels), 1)


def _binary_terms(logits: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Foreground probability, log p and log(1 - p) from [B, H, W, 1] logits."""
  x = logits[..., 0]
  return jax.nn.sigmoid(x), jax.nn.log_sigmoid(x), jax.nn.log_sigmoid(-x)


def wbce_dice(
  logits: jax.Array,
  labels: jax.Array,
  weights: jax.Array | None = None,
  dice_weight: float = 1.0,
) -> jax.Array:
  """Paper 000 (cca) eqs. 13-14: class-balanced BCE + squared-denominator Dice.

  Per image, alpha = |Y-| / (|Y+| + |Y-|) weights the foreground term and
  1 - alpha the background term, both summed and divided by the pixel count
  N; Dice is 1 - (2 sum(y p) + 1) / (sum(y^2) + sum(p^2) + 1), i.e. the
  paper's epsilon set to 1. As in the paper, an image holding one class only
  gives that class weight 0, so only its Dice term is non-zero.
  """
  logits, labels, weights = _prepare(logits, labels, weights, num_classes=1)
  probs, log_p, log_not_p = _binary_terms(logits)
  num_pixels = _sum_pixels(weights)
  alpha = _safe_divide(_sum_pixels(weights * (1.0 - labels)), num_pixels)
  positive = _sum_pixels(weights * labels * log_p)
  negative = _sum_pixels(weights * (1.0 - labels) * log_not_p)
  wbce = -_safe_divide(alpha * positive + (1.0 - alpha) * negative, num_pixels)
  intersection = _sum_pixels(weights * labels * probs)
  squares = _sum_pixels(weights * labels**2) + _sum_pixels(weights * probs**2)
  dice = 1.0 - (2.0 * intersection + 1.0) / (squares + 1.0)
  return _mean_over_images(wbce + dice_weight * dice, weights)


def cross_entropy(
  logits: jax.Array, labels: jax.Array, weights: jax.Array | None = None
) -> jax.Array:
  """Paper 001 (ulffn) eq. 13: two-class softmax cross-entropy, mean over pixels."""
  logits, labels, weights = _prepare(logits, labels, weights, num_classes=2)
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  # Written as a blend rather than a gather so that float labels work too.
  nll = -(labels * log_probs[..., 1] + (1.0 - labels) * log_probs[..., 0])
  per_image = _safe_divide(_sum_pixels(weights * nll), _sum_pixels(weights))
  return _mean_over_images(per_image, weights)


def dice_focal(
  logits: jax.Array,
  labels: jax.Array,
  weights: jax.Array | None = None,
  gamma: float = 2.0,
) -> jax.Array:
  """Paper 002 (rmsm) eqs. 8-10: smoothed Dice + focal loss.

  Dice is 1 - (2 sum(p y) + 1) / (sum(p) + sum(y) + 1); the focal term,
  -y (1 - p)^gamma log p - p^gamma (1 - y) log(1 - p), is averaged over
  pixels. The powers are taken as exp(gamma * log-sigmoid), whose gradient
  stays finite where p underflows to 0.
  """
  logits, labels, weights = _prepare(logits, labels, weights, num_classes=1)
  probs, log_p, log_not_p = _binary_terms(logits)
  intersection = _sum_pixels(weights * probs * labels)
  total = _sum_pixels(weights * probs) + _sum_pixels(weights * labels)
  dice = 1.0 - (2.0 * intersection + 1.0) / (total + 1.0)
  focal = -(
    labels * jnp.exp(gamma * log_not_p) * log_p
    + (1.0 - labels) * jnp.exp(gamma * log_p) * log_not_p
  )
  focal = _safe_divide(_sum_pixels(weights * focal), _sum_pixels(weights))
  return _mean_over_images(dice + focal, weights)


def jaccard_distance(
  logits: jax.Array,
  labels: jax.Array,
  weights: jax.Array | None = None,
  smooth: float = 1.0,
) -> jax.Array:
  """Paper 003 (cdnn): 1 - sum(t p) / (sum(t^2) + sum(p^2) - sum(t p)) per image.

  The paper has no smoothing, which leaves 0/0 for an empty target predicted
  empty; `smooth` (added to numerator and denominator, 1 as in the other
  papers' Dice losses) makes that case cost 0 and keeps gradients finite.
  """
  logits, labels, weights = _prepare(logits, labels, weights, num_classes=1)
  probs, _, _ = _binary_terms(logits)
  intersection = _sum_pixels(weights * labels * probs)
  squares = _sum_pixels(weights * labels**2) + _sum_pixels(weights * probs**2)
  jaccard = (intersection + smooth) / (squares - intersection + smooth)
  return _mean_over_images(1.0 - jaccard, weights)


def bce_dice(
  logits: jax.Array,
  labels: jax.Array,
  weights: jax.Array | None = None,
  smooth: float = 1.0,
) -> jax.Array:
  """Paper 004 (asnet) eq. 3: 0.5 x BCE + (1 - soft Dice), per image.

  BCE is the mean over pixels; Dice is (2 sum(y p) + smooth) /
  (sum(y) + sum(p) + smooth). Eq. 3 states no smoothing; `smooth` (1, as in
  the other papers' Dice losses) is ours and keeps empty masks defined.
  """
  logits, labels, weights = _prepare(logits, labels, weights, num_classes=1)
  probs, log_p, log_not_p = _binary_terms(logits)
  bce = -(labels * log_p + (1.0 - labels) * log_not_p)
  bce = _safe_divide(_sum_pixels(weights * bce), _sum_pixels(weights))
  intersection = _sum_pixels(weights * labels * probs)
  total = _sum_pixels(weights * labels) + _sum_pixels(weights * probs)
  dice = (2.0 * intersection + smooth) / (total + smooth)
  return _mean_over_images(0.5 * bce + (1.0 - dice), weights)


LOSSES: dict[str, Loss] = {
  "wbce_dice": wbce_dice,
  "cross_entropy": cross_entropy,
  "dice_focal": dice_focal,
  "jaccard_distance": jaccard_distance,
  "bce_dice": bce_dice,
}


def get_loss(name: str) -> Loss:
  """The loss registered under `name`."""
  try:
    return LOSSES[name]
  except KeyError:
    raise ConfigError(f"Unknown loss {name!r}; known losses: {', '.join(LOSSES)}.") from None
