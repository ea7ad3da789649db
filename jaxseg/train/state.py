"""Training state: flax's TrainState plus BatchNorm statistics."""

from typing import Any

import jax
import jax.numpy as jnp
from flax.training import train_state


class TrainState(train_state.TrainState):
  batch_stats: Any


def create_train_state(model, tx, rng: jax.Array, input_shape) -> TrainState:
  # One compiled program: run eagerly, init compiles every initializer and layer
  # of the forward pass on its own (MultiResUNet: 17 s eagerly, 6 s jitted).
  init = jax.jit(model.init, static_argnames="train")
  variables = init(rng, jnp.zeros(input_shape, jnp.float32), train=False)
  return TrainState.create(
    apply_fn=model.apply,
    params=variables["params"],
    batch_stats=variables.get("batch_stats", {}),
    tx=tx,
  )
