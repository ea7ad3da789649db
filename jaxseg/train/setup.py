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


def abstract_state(config, model: nn.Module, tx, mesh: Mesh) -> TrainState:
  """`init_state`'s state as shapes, dtypes and shardings (`jax.ShapeDtypeStruct` leaves).

  A restore target for runs that only restore a trained state (prediction,
  ensembles, `evaluate_checkpoint`): `jax.eval_shape` traces the model's init
  without running or compiling it, and nothing is loaded.
  """
  height, width = config.input.image_size
  channels = pipeline.input_channels(config.input)
  shapes = jax.eval_shape(
    lambda: create_train_state(model, tx, jax.random.key(config.seed), (1, height, width, channels))
  )
  replicated = NamedSharding(mesh, P())
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated), shapes)


def _jit_counting_traces(fn: Callable, traces: dict, name: str, **jit_kwargs):
  """`jax.jit(fn)` that adds 1 to `traces[name]` each time it is traced."""

  def traced(*args):
    traces[name] += 1
    return fn(*args)

  return jax.jit(traced, **jit_kwargs)


class TracedStep:
  """jit over the mesh, counting traces so that a retrace shows up in logs and tests."""

  program_calls = (1,)  # how often one call runs each of `lower_programs`' programs

  def __init__(self, fn: Callable, mesh: Mesh, shard_outputs: bool, donate_state: bool):
    self._traces = {"step": 0}
    replicated, sharded = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    # One sharding for every output, whatever their number.
    self.jitted = _jit_counting_traces(
      fn,
      self._traces,
      "step",
      in_shardings=(replicated, sharded),
      out_shardings=sharded if shard_outputs else replicated,
      donate_argnums=(0,) if donate_state else (),
    )

  @property
  def num_traces(self) -> int:
    return self._traces["step"]

  def __call__(self, state, batch):
    return self.jitted(state, batch)

  def lower_programs(self, state, batch) -> list[jax.stages.Lowered]:
    """The programs one call runs (here one), lowered for `batch`'s shapes."""
    return [self.jitted.lower(state, batch)]

  def with_compiled(self, compiled: Sequence[jax.stages.Compiled]) -> Callable:
    """This step running `lower_programs`' programs compiled ahead of time (benchmarks)."""
    return compiled[0]


class AccumulatedTrainStep:
  """A train step over `num` micro-batches (`steps.make_accumulation_steps`).

  One jitted micro-step per micro-batch, called from the host one after
  another, then one jitted update; dispatch is asynchronous, so the host loop
  does not wait on the device. Not a `lax.scan` in one program: XLA's CPU
  backend runs convolution gradients inside a loop body about 50x slower,
  and unrolled in one program it keeps every micro-batch's activations alive
  (docs/benchmarks.md, "Gradient accumulation").
  """

  def __init__(self, micro_step, apply_step, num: int, mesh: Mesh, donate_state: bool):
    self.num = num
    self.program_calls = (num, 1)  # the micro-step, the update
    self._traces = {"micro": 0, "apply": 0}
    replicated, sharded = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    # The sums are donated: each micro-step updates them in place.
    self.micro = _jit_counting_traces(
      micro_step,
      self._traces,
      "micro",
      in_shardings=(replicated, sharded, replicated, replicated, replicated, replicated),
      out_shardings=replicated,
      donate_argnums=(4, 5),
    )
    self.apply = _jit_counting_traces(
      apply_step,
      self._traces,
      "apply",
      out_shardings=replicated,
      donate_argnums=(0,) if donate_state else (),
    )
    self._zeros = jax.jit(
      lambda params: (jax.tree.map(jnp.zeros_like, params), jnp.zeros((), jnp.float32)),
      out_shardings=replicated,
    )

  @property
  def num_traces(self) -> int:
    """Traces of its most traced program: 1 when neither retraced."""
    return max(self._traces.values())

  def __call__(self, state, batch):
    return self._run(self.micro, self.apply, state, batch)

  def _run(self, micro, apply, state, batch):
    batch_stats = state.batch_stats
    grad_sum, loss_sum = self._zeros(state.params)
    for index in range(self.num):
      batch_stats, grad_sum, loss_sum = micro(
        state, batch, np.int32(index), batch_stats, grad_sum, loss_sum
      )
    return apply(state, batch_stats, grad_sum, loss_sum)

  def lower_programs(self, state, batch) -> list[jax.stages.Lowered]:
    """The micro-step and the update, lowered for `batch`'s shapes."""
    grad_sum, loss_sum = self._zeros(state.params)
    return [
      self.micro.lower(state, batch, np.int32(0), state.batch_stats, grad_sum, loss_sum),
      self.apply.lower(state, state.batch_stats, grad_sum, loss_sum),
    ]

  def with_compiled(self, compiled: Sequence[jax.stages.Compiled]) -> Callable:
    """This step running `lower_programs`' programs compiled ahead of time (benchmarks)."""
    micro, apply = compiled
    return lambda state, batch: self._run(micro, apply, state, batch)


def build_train_step(
  config, schedule, mesh: Mesh, donate_state: bool = True
) -> TracedStep | AccumulatedTrainStep:
  """The config's loss (plus its aux heads) as a jitted, state-replicated train step."""
  loss_and_grads = steps.make_loss_and_grads(
    losses.get_loss(config.loss),
    config.input.normalization,
    config.aux_loss_weight,
    dropout_seed=config.seed,
  )
  accumulation = config.get("grad_accum_steps", 1)
  if accumulation == 1:
    step = steps.make_train_step(loss_and_grads, schedule)
    return TracedStep(step, mesh, shard_outputs=False, donate_state=donate_state)
  micro_step, apply_step = steps.make_accumulation_steps(loss_and_grads, schedule, accumulation)
  return AccumulatedTrainStep(micro_step, apply_step, accumulation, mesh, donate_state)


def build_eval_step(config, mesh: Mesh) -> TracedStep:
  """Per-image counts and probabilities, sharded like the batch."""
  step = steps.make_eval_step(config.input.normalization)
  return TracedStep(step, mesh, shard_outputs=True, donate_state=False)


@dataclasses.dataclass(frozen=True)
class RunSetup:
  """What `setup_run` builds; `state` is the initial (or pretrained) replicated state, or with
  `restore_only` its `abstract_state`."""

  mesh: Mesh
  model: nn.Module
  schedule: optax.Schedule
  optimizer: optax.GradientTransformation
  state: TrainState
  train_step: TracedStep | AccumulatedTrainStep
  eval_step: TracedStep


def setup_run(
  config,
  mesh: Mesh,
  *,
  total_steps: int = 1,
  steps_per_epoch: int = 1,
  donate_state: bool = True,
  restore_only: bool = False,
) -> RunSetup:
  """Model, schedule, optimiser, state and jitted steps of `config` on `mesh`.

  The schedule needs the run's length (`optim.total_train_steps`); runs that
  never train (evaluation, benchmarks) may leave the defaults. Runs that
  restore a trained state and never use the initial one say `restore_only`:
  their `state` is only its shapes, and no initialisation runs.
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
    state=(abstract_state if restore_only else init_state)(config, model, optimizer, mesh),
    train_step=build_train_step(config, schedule, mesh, donate_state),
    eval_step=build_eval_step(config, mesh),
  )
