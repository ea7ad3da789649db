"""Everything a run needs from a config and a device mesh: `setup_run(config, mesh)`.

Training, benchmarks, ensembles, prediction and tests all build their model,
schedule, optimiser, state and jitted steps here, so they cannot drift apart.
Data parallel: the batch is sharded over the mesh's `data` axis, the state is
replicated (and donated to the train step); BatchNorm statistics come out
global because jit sees the whole sharded batch.
"""

import dataclasses
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from clu import parameter_overview
from flax import linen as nn
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxseg import losses
from jaxseg.data import pipeline
from jaxseg.errors import ConfigError
from jaxseg.models import create_model, pretrained
from jaxseg.train import optim, steps
from jaxseg.train.state import TrainState, create_train_state

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def create_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  devices = np.asarray(jax.devices() if devices is None else devices)
  return Mesh(devices.reshape(-1), ("data",))


def put_batch(batch, mesh: Mesh):
  """Host-local numpy rows -> global arrays sharded over `data`."""
  sharding = NamedSharding(mesh, P("data"))
  return {
    key: jax.make_array_from_process_local_data(sharding, batch[key]) for key in steps.DEVICE_KEYS
  }


def build_model(config) -> nn.Module:
  if config.dtype not in DTYPES:
    raise ConfigError(
      f"Unknown dtype {config.dtype!r} (config key dtype); choose from {sorted(DTYPES)}."
    )
  try:
    return create_model(
      config.model_name,
      dtype=DTYPES[config.dtype],
      remat=config.get("remat", "none"),
      **config.model.to_dict(),
    )
  except KeyError as error:
    raise ConfigError(f"{error.args[0]} (config keys model_name, model.*)") from None


def init_state(config, model: nn.Module, tx, mesh: Mesh) -> TrainState:
  """Initialises on the host (ImageNet backbone weights if configured), replicates over the mesh."""
  height, width = config.input.image_size
  channels = pipeline.input_channels(config.input)
  state = create_train_state(model, tx, jax.random.key(config.seed), (1, height, width, channels))
  count = f"{parameter_overview.count_parameters(state.params):,}"
  if config.get("pretrained_backbone"):
    variables, loaded = pretrained.load_pretrained_backbone(
      {"params": state.params, "batch_stats": state.batch_stats}, config.pretrained_backbone
    )
    # Optimizer state is zeros of the same shapes, so it stays valid.
    state = state.replace(params=variables["params"], batch_stats=variables["batch_stats"])
    logging.info(
      "Model %s: %s parameters; pretrained backbone: %d arrays from %s.",
      config.model_name, count, len(loaded), config.pretrained_backbone,
    )  # fmt: skip
  else:
    logging.info("Model %s: %s parameters, random initialisation.", config.model_name, count)
  return jax.device_put(state, NamedSharding(mesh, P()))


class TracedStep:
  """jit over the mesh, counting traces so that a retrace shows up in logs and tests."""

  def __init__(self, fn: Callable, mesh: Mesh, shard_outputs: bool, donate_state: bool):
    self.num_traces = 0
    replicated, sharded = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))

    def counted(*args):
      self.num_traces += 1
      return fn(*args)

    # One sharding for every output, whatever their number.
    out = sharded if shard_outputs else replicated
    self.jitted = jax.jit(
      counted,
      in_shardings=(replicated, sharded),
      out_shardings=out,
      donate_argnums=(0,) if donate_state else (),
    )

  def __call__(self, state, batch):
    return self.jitted(state, batch)


def build_train_step(config, schedule, mesh: Mesh, donate_state: bool = True) -> TracedStep:
  """The config's loss (plus its aux heads) as a jitted, state-replicated train step."""
  step = steps.make_train_step(
    losses.get_loss(config.loss),
    schedule,
    config.input.normalization,
    config.aux_loss_weight,
    dropout_seed=config.seed,
    grad_accum_steps=config.get("grad_accum_steps", 1),
  )
  return TracedStep(step, mesh, shard_outputs=False, donate_state=donate_state)


def build_eval_step(config, mesh: Mesh) -> TracedStep:
  """Per-image counts and probabilities, sharded like the batch."""
  step = steps.make_eval_step(config.input.normalization)
  return TracedStep(step, mesh, shard_outputs=True, donate_state=False)


@dataclasses.dataclass(frozen=True)
class RunSetup:
  """What `setup_run` builds; `state` is the initial (or pretrained) replicated state."""

  mesh: Mesh
  model: nn.Module
  schedule: optax.Schedule
  optimizer: optax.GradientTransformation
  state: TrainState
  train_step: TracedStep
  eval_step: TracedStep


def setup_run(
  config,
  mesh: Mesh,
  *,
  total_steps: int = 1,
  steps_per_epoch: int = 1,
  donate_state: bool = True,
) -> RunSetup:
  """Model, schedule, optimiser, state and jitted steps of `config` on `mesh`.

  The schedule needs the run's length (`optim.total_train_steps`); runs that
  never train (evaluation, benchmarks) may leave the defaults.
  """
  if config.batch_size % mesh.size:
    raise ConfigError(
      f"batch_size {config.batch_size} must be divisible by the {mesh.size} devices; "
      "set --config.batch_size to a multiple of it."
    )
  accumulation = config.get("grad_accum_steps", 1)
  if accumulation < 1 or config.batch_size % (accumulation * mesh.size):
    raise ConfigError(
      f"grad_accum_steps {accumulation} must be >= 1 and split batch_size {config.batch_size} "
      f"into micro-batches divisible by the {mesh.size} devices; change "
      "--config.grad_accum_steps or --config.batch_size."
    )
  model = build_model(config)
  schedule = optim.create_schedule(config, total_steps, steps_per_epoch)
  optimizer = optim.create_optimizer(config, schedule)
  return RunSetup(
    mesh=mesh,
    model=model,
    schedule=schedule,
    optimizer=optimizer,
    state=init_state(config, model, optimizer, mesh),
    train_step=build_train_step(config, schedule, mesh, donate_state),
    eval_step=build_eval_step(config, mesh),
  )
