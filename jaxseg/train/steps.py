"""Pure train and eval steps; `setup.py` jits them over the device mesh."""

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


def make_loss_and_grads(
  loss_fn: Callable,
  normalization: str,
  aux_loss_weight: float = 1.0,
  dropout_seed: int = 0,
):
  """(state, batch_stats, batch, micro_batch_index) -> ((loss, new batch_stats), grads).

  Heads named `aux_*` add `aux_loss_weight` x the same loss. Dropout (cdnn)
  draws from a key folded with the step number (and the micro-batch index), so
  a resumed run drops the same units as an uninterrupted one.
  """

  def loss_and_grads(state, batch_stats, batch, index):
    images, masks = model_inputs(batch, normalization)
    weights = pixel_weights(batch)
    dropout_key = jax.random.fold_in(jax.random.key(dropout_seed), state.step)
    if index is not None:
      dropout_key = jax.random.fold_in(dropout_key, index)

    def compute_loss(params, batch_stats):
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

    return jax.value_and_grad(compute_loss, has_aux=True)(state.params, batch_stats)

  return loss_and_grads


def _apply(state, grads, batch_stats, loss, schedule):
  new_state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
  step_metrics = {
    "loss": loss,
    "grad_norm": optax.tree.norm(grads),
    "learning_rate": schedule(state.step),
  }
  return new_state, step_metrics


def make_train_step(loss_and_grads: Callable, schedule: optax.Schedule):
  """(state, batch) -> (new state, metrics): the loss over the global batch, one update."""

  def train_step(state, batch):
    (loss, batch_stats), grads = loss_and_grads(state, state.batch_stats, batch, None)
    return _apply(state, grads, batch_stats, loss, schedule)

  return train_step


def make_accumulation_steps(
  loss_and_grads: Callable, schedule: optax.Schedule, grad_accum_steps: int
):
  """The two programs of a step whose batch is split into `grad_accum_steps` micro-batches.

  `micro_step(state, batch, index, batch_stats, grad_sum, loss_sum)` adds the
  gradients and loss of micro-batch `index` (`micro_batches`) to the sums;
  `apply_step(state, batch_stats, grad_sum, loss_sum)` applies their mean
  once. The caller runs the micro-steps one after another from the host
  (`setup.AccumulatedTrainStep`): the memory of a micro-batch, the update of
  the whole batch. BatchNorm normalises each micro-batch with its own
  statistics and updates its running averages once per micro-batch, as
  PyTorch does when it accumulates gradients over several forward passes; the
  loss is the mean of the micro-batches' losses (docs/decisions.md, "Memory:
  rematerialisation and gradient accumulation").
  """

  def micro_step(state, batch, index, batch_stats, grad_sum, loss_sum):
    micro_batch = {
      key: jax.lax.dynamic_index_in_dim(micro_batches(x, grad_accum_steps), index, keepdims=False)
      for key, x in batch.items()
    }
    (loss, batch_stats), grads = loss_and_grads(state, batch_stats, micro_batch, index)
    return batch_stats, jax.tree.map(jnp.add, grad_sum, grads), loss_sum + loss

  def apply_step(state, batch_stats, grad_sum, loss_sum):
    grads = jax.tree.map(lambda g: g / grad_accum_steps, grad_sum)
    return _apply(state, grads, batch_stats, loss_sum / grad_accum_steps, schedule)

  return micro_step, apply_step


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
