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


def micro_batches(x: jax.Array, num: int) -> jax.Array:
  """[B, ...] -> [num, B / num, ...], micro-batch i holding rows i, i + num, ...

  Interleaved rather than contiguous so that each micro-batch stays spread over
  every device of a data-parallel mesh.
  """
  return x.reshape(x.shape[0] // num, num, *x.shape[1:]).swapaxes(0, 1)


def make_train_step(
  loss_fn: Callable,
  schedule: optax.Schedule,
  normalization: str,
  aux_loss_weight: float = 1.0,
  dropout_seed: int = 0,
  grad_accum_steps: int = 1,
):
  """Loss over the global batch; heads named `aux_*` add `aux_loss_weight` x the same loss.

  Dropout (cdnn) draws from a key folded with the step number, so a resumed run
  drops the same units as an uninterrupted one.

  `grad_accum_steps` > 1 splits the batch into that many micro-batches, run
  one after another (`lax.scan`, so one compiled micro-step) and applies the
  mean of their gradients once: the memory of a micro-batch, the update of the
  whole batch. BatchNorm normalises each micro-batch with its own statistics
  and updates its running averages once per micro-batch, as PyTorch does when
  it accumulates gradients over several forward passes; the loss is the mean
  of the micro-batches' losses (docs/decisions.md, "Memory: rematerialisation
  and gradient accumulation").
  """

  def train_step(state, batch):
    images, masks = model_inputs(batch, normalization)
    weights = pixel_weights(batch)
    dropout_key = jax.random.fold_in(jax.random.key(dropout_seed), state.step)

    def compute_loss(params, batch_stats, images, masks, weights, dropout_key):
      outputs, updates = state.apply_fn(
        {"params": params, "batch_stats": batch_stats},
        images,
        train=True,
        mutable=["batch_stats"],
        rngs={"dropout": dropout_key},
      )
      loss = loss_fn(outputs["logits"], masks, weights)
      for name, logits in outputs.items():
        if name.startswith("aux"):
          loss = loss + aux_loss_weight * loss_fn(logits, masks, weights)
      return loss, updates["batch_stats"]

    loss_and_grads = jax.value_and_grad(compute_loss, has_aux=True)
    if grad_accum_steps == 1:
      (loss, batch_stats), grads = loss_and_grads(
        state.params, state.batch_stats, images, masks, weights, dropout_key
      )
    else:

      def micro_step(carry, micro_batch):
        batch_stats, grad_sum, loss_sum = carry
        index, *inputs = micro_batch
        key = jax.random.fold_in(dropout_key, index)
        (loss, batch_stats), grads = loss_and_grads(state.params, batch_stats, *inputs, key)
        grad_sum = jax.tree.map(jnp.add, grad_sum, grads)
        return (batch_stats, grad_sum, loss_sum + loss), None

      zeros = jax.tree.map(jnp.zeros_like, state.params)
      split = [micro_batches(x, grad_accum_steps) for x in (images, masks, weights)]
      (batch_stats, grad_sum, loss_sum), _ = jax.lax.scan(
        micro_step,
        (state.batch_stats, zeros, jnp.zeros((), jnp.float32)),
        (jnp.arange(grad_accum_steps), *split),
      )
      grads = jax.tree.map(lambda g: g / grad_accum_steps, grad_sum)
      loss = loss_sum / grad_accum_steps
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
