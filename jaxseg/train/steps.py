"""Pure train and eval steps; `trainer.py` jits them over the device mesh."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from jaxseg import metrics
from jaxseg.data import transforms
from jaxseg.models import foreground_probability

DEVICE_KEYS = ("image", "mask", "valid")


def model_inputs(batch, normalization: str) -> tuple[jax.Array, jax.Array]:
  """Device-side: uint8 images -> normalised float32, {0,1} masks -> float32."""
  return transforms.normalize(batch["image"], normalization), batch["mask"].astype(jnp.float32)


def pixel_weights(batch) -> jax.Array:
  """Per-pixel loss weights: 1 for real examples, 0 for eval padding."""
  return jnp.broadcast_to(batch["valid"][:, None, None], batch["mask"].shape)


def make_train_step(
  loss_fn: Callable,
  schedule: optax.Schedule,
  normalization: str,
  aux_loss_weight: float = 1.0,
  dropout_seed: int = 0,
):
  """Loss over the global batch; heads named `aux_*` add `aux_loss_weight` x the same loss.

  Dropout (cdnn) draws from a key folded with the step number, so a resumed run
  drops the same units as an uninterrupted one.
  """

  def train_step(state, batch):
    images, masks = model_inputs(batch, normalization)
    dropout_key = jax.random.fold_in(jax.random.key(dropout_seed), state.step)

    def compute_loss(params):
      outputs, updates = state.apply_fn(
        {"params": params, "batch_stats": state.batch_stats},
        images,
        train=True,
        mutable=["batch_stats"],
        rngs={"dropout": dropout_key},
      )
      weights = pixel_weights(batch)
      loss = loss_fn(outputs["logits"], masks, weights)
      for name, logits in outputs.items():
        if name.startswith("aux"):
          loss = loss + aux_loss_weight * loss_fn(logits, masks, weights)
      return loss, updates["batch_stats"]

    (loss, batch_stats), grads = jax.value_and_grad(compute_loss, has_aux=True)(state.params)
    new_state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
    step_metrics = {
      "loss": loss,
      "grad_norm": optax.tree.norm(grads),
      "learning_rate": schedule(state.step),
    }
    return new_state, step_metrics

  return train_step


def make_eval_step(normalization: str):
  def eval_step(state, batch):
    """Per-image confusion counts [B, 4] and foreground probabilities [B, H, W]."""
    images, masks = model_inputs(batch, normalization)
    outputs = state.apply_fn(
      {"params": state.params, "batch_stats": state.batch_stats}, images, train=False
    )
    probs = foreground_probability(outputs["logits"])
    return metrics.confusion_counts(probs, masks > 0.5), probs

  return eval_step
