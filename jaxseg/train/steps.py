"""Pure train and eval steps; `trainer.py` jits them over the device mesh."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from jaxseg import metrics
from jaxseg.models import foreground_probability

DEVICE_KEYS = ("image", "mask", "valid")


def pixel_weights(batch) -> jax.Array:
  """Per-pixel loss weights: 1 for real examples, 0 for eval padding."""
  return jnp.broadcast_to(batch["valid"][:, None, None], batch["mask"].shape)


def make_train_step(loss_fn: Callable, schedule: optax.Schedule, aux_loss_weight: float = 1.0):
  """Loss over the global batch; heads named `aux_*` add `aux_loss_weight` x the same loss."""

  def train_step(state, batch):
    def compute_loss(params):
      outputs, updates = state.apply_fn(
        {"params": params, "batch_stats": state.batch_stats},
        batch["image"],
        train=True,
        mutable=["batch_stats"],
      )
      weights = pixel_weights(batch)
      loss = loss_fn(outputs["logits"], batch["mask"], weights)
      for name, logits in outputs.items():
        if name.startswith("aux"):
          loss = loss + aux_loss_weight * loss_fn(logits, batch["mask"], weights)
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


def eval_step(state, batch):
  """Per-image confusion counts [B, 4] and foreground probabilities [B, H, W]."""
  outputs = state.apply_fn(
    {"params": state.params, "batch_stats": state.batch_stats}, batch["image"], train=False
  )
  probs = foreground_probability(outputs["logits"])
  return metrics.confusion_counts(probs, batch["mask"] > 0.5), probs
