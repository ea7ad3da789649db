"""Helpers the model tests share: variables without `init`, parameter counts, a few Adam steps.

Plain flax and optax, not jaxseg.train, so the model tests check the models alone.
"""

from typing import NamedTuple

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxseg.losses import get_loss

# Blocks per stage, written out here (not imported) so the synthetic state dicts
# check the model against torchvision's layout rather than against itself.
TORCHVISION_STAGE_BLOCKS = {
  18: (2, 2, 2, 2),
  34: (3, 4, 6, 3),
  50: (3, 4, 6, 3),
  101: (3, 4, 23, 3),
}
# What a torchvision BatchNorm keeps besides its parameters (weight and bias).
BATCH_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def count_parameters(tree) -> int:
  """Number of scalars in a (possibly abstract) tree of arrays."""
  return sum(x.size for x in jax.tree.leaves(tree))


def param_shapes(tree) -> dict[tuple[str, ...], tuple[int, ...]]:
  """{path: shape} of every leaf, to compare two models' variables."""
  return {path: leaf.shape for path, leaf in flax.traverse_util.flatten_dict(tree).items()}


def abstract_variables(module, *inputs, **kwargs):
  """Shapes and dtypes of `module.init(key, *inputs, **kwargs)`, nothing compiled or run."""
  return jax.eval_shape(lambda *xs: module.init(jax.random.key(0), *xs, **kwargs), *inputs)


def abstract_model_variables(model, height: int = 32, width: int | None = None, channels: int = 3):
  """Abstract variables of a registered model for [1, height, width, channels] images."""
  images = jax.ShapeDtypeStruct((1, height, width or height, channels), jnp.float32)
  return abstract_variables(model, images, train=False)


def abstract_params(model, height: int = 32, width: int | None = None, channels: int = 3):
  """Abstract parameters of a registered model for [1, height, width, channels] images."""
  return abstract_model_variables(model, height, width, channels)["params"]


def numpy_variables(module, *inputs, seed: int = 0, constants=None, **kwargs):
  """Variables of `module` filled from numpy, skipping `init`'s per-shape compiles on CPU.

  Kernels are LeCun-normal; BatchNorm scales and variances uniform in [0.5, 1.5];
  biases, BatchNorm means and any other leaf 0.1 * normal, so that references
  see every one of them. `constants` maps leaf names to a fill value instead.
  """
  rng = np.random.default_rng(seed)
  constants = constants or {}

  def fill(path, leaf):
    name = path[-1].key
    if name in constants:
      return np.full(leaf.shape, constants[name], np.float32)
    if name == "kernel":
      fan_in = int(np.prod(leaf.shape[:-1]))
      return (rng.normal(size=leaf.shape) / np.sqrt(fan_in)).astype(np.float32)
    if name in ("scale", "var"):
      return rng.uniform(0.5, 1.5, leaf.shape).astype(np.float32)
    return (0.1 * rng.normal(size=leaf.shape)).astype(np.float32)

  return jax.tree_util.tree_map_with_path(fill, abstract_variables(module, *inputs, **kwargs))


def lesion_batch(batch: int, height: int, width: int, channels: int = 3, seed: int = 0):
  """Dark elliptic lesions on a bright, noisy background: float32 images and {0, 1} masks."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[:height, :width] / np.array([height, width])[:, None, None]
  masks = []
  for _ in range(batch):
    centre_y, centre_x = rng.uniform(0.35, 0.65, 2)
    radius_y, radius_x = rng.uniform(0.15, 0.3, 2)
    masks.append(((yy - centre_y) / radius_y) ** 2 + ((xx - centre_x) / radius_x) ** 2 < 1)
  masks = np.stack(masks).astype(np.float32)
  noise = 0.3 * rng.normal(size=(batch, height, width, channels))
  images = np.where(masks[..., None] > 0, -1.0, 1.0) + noise
  return jnp.asarray(images, jnp.float32), jnp.asarray(masks)


class TrainingRun(NamedTuple):
  losses: list[float]  # before each step
  params: dict
  batch_stats: dict
  first_outputs: dict  # the model's outputs in the first step (train mode)


def train_steps(model, variables, images, masks, loss_name: str, steps: int, learning_rate: float):
  """`steps` Adam steps on one batch, one compile; heads named `aux_*` add the same loss."""
  loss_fn = get_loss(loss_name)
  optimizer = optax.adam(learning_rate)

  @jax.jit
  def step(params, batch_stats, opt_state, dropout_key):
    def compute_loss(params):
      outputs, updates = model.apply(
        {"params": params, "batch_stats": batch_stats},
        images,
        train=True,
        mutable=["batch_stats"],
        rngs={"dropout": dropout_key},
      )
      loss = sum(loss_fn(logits, masks) for logits in outputs.values())
      return loss, (updates["batch_stats"], outputs)

    (loss, (batch_stats, outputs)), grads = jax.value_and_grad(compute_loss, has_aux=True)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), batch_stats, opt_state, loss, outputs

  params, batch_stats = variables["params"], variables["batch_stats"]
  opt_state = optimizer.init(params)
  losses, first_outputs = [], None
  for dropout_key in jax.random.split(jax.random.key(0), steps):
    params, batch_stats, opt_state, loss, outputs = step(
      params, batch_stats, opt_state, dropout_key
    )
    losses.append(float(loss))
    first_outputs = outputs if first_outputs is None else first_outputs
  return TrainingRun(losses, params, batch_stats, first_outputs)


def torchvision_shapes(depth: int, width: int = 64) -> dict[str, tuple[int, ...]]:
  """torchvision's resnet{depth} state-dict keys and shapes (fc included)."""
  bottleneck = depth >= 50
  expansion = 4 if bottleneck else 1
  shapes = {"conv1.weight": (width, 3, 7, 7)}

  def batch_norm(name, channels):
    for field in ("weight", "bias", "running_mean", "running_var"):
      shapes[f"{name}.{field}"] = (channels,)
    shapes[f"{name}.num_batches_tracked"] = ()

  batch_norm("bn1", width)
  in_planes = width
  for stage, num_blocks in enumerate(TORCHVISION_STAGE_BLOCKS[depth]):
    planes = width * 2**stage
    for index in range(num_blocks):
      block = f"layer{stage + 1}.{index}"
      if bottleneck:
        shapes[f"{block}.conv1.weight"] = (planes, in_planes, 1, 1)
        shapes[f"{block}.conv2.weight"] = (planes, planes, 3, 3)
        shapes[f"{block}.conv3.weight"] = (planes * 4, planes, 1, 1)
        for i, channels in ((1, planes), (2, planes), (3, planes * 4)):
          batch_norm(f"{block}.bn{i}", channels)
      else:
        shapes[f"{block}.conv1.weight"] = (planes, in_planes, 3, 3)
        shapes[f"{block}.conv2.weight"] = (planes, planes, 3, 3)
        batch_norm(f"{block}.bn1", planes)
        batch_norm(f"{block}.bn2", planes)
      if index == 0 and (stage > 0 or in_planes != planes * expansion):
        shapes[f"{block}.downsample.0.weight"] = (planes * expansion, in_planes, 1, 1)
        batch_norm(f"{block}.downsample.1", planes * expansion)
      in_planes = planes * expansion
  shapes["fc.weight"] = (1000, in_planes)
  shapes["fc.bias"] = (1000,)
  return shapes


def torchvision_parameter_count(shapes: dict[str, tuple[int, ...]]) -> int:
  """Parameters of a torchvision state dict's `shapes`: its BatchNorm buffers left out."""
  return sum(
    int(np.prod(shape)) for key, shape in shapes.items() if not key.endswith(BATCH_NORM_BUFFERS)
  )


def synthetic_state_dict(
  shapes: dict[str, tuple[int, ...]], seed: int = 0
) -> dict[str, np.ndarray]:
  """A random torchvision state dict with `shapes`: positive running variances, int64 counters."""
  rng = np.random.default_rng(seed)
  state = {}
  for key, shape in shapes.items():
    if key.endswith("num_batches_tracked"):
      state[key] = np.asarray(7, dtype=np.int64)
    elif key.endswith("running_var"):
      state[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
    else:
      state[key] = rng.standard_normal(shape).astype(np.float32)
  return state


def synthetic_torchvision_state_dict(
  depth: int, width: int = 64, seed: int = 0
) -> dict[str, np.ndarray]:
  """A random state dict with torchvision's resnet{depth} keys and shapes."""
  return synthetic_state_dict(torchvision_shapes(depth, width), seed)
