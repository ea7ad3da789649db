"""Building blocks shared by every model.

Conventions (docs/papers.md, "Conventions"): NHWC, float32 parameters,
compute dtype a module field, BatchNorm with epsilon 1e-5 and flax momentum
0.9 so that weights ported from PyTorch give identical outputs.

Initialisation follows PyTorch's defaults, the framework of paper 000 and of
the reference implementations (docs/parity.md): `Conv`, `ConvTranspose` and
`Dense` are flax's layers with PyTorch's default kernel and bias
initialisation, and every model builds its layers from them (the ResNet
encoder has torchvision's own init). flax's default (LeCun-normal kernels,
zero biases) draws kernels sqrt(3) times larger; docs/parity.md has what that
changes in training.
"""

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxseg.errors import ConfigError
from jaxseg.models.conv_lowering import CpuConvLowering, conv_transpose

Dtype = Any
Initializer = nn.initializers.Initializer

# PyTorch's kaiming_uniform_(a=sqrt(5)) for nn.Conv2d and nn.Linear weights:
# U(-b, b) with b = 1 / sqrt(fan_in), i.e. variance 1 / (3 fan_in).
torch_kernel_init = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")
# nn.ConvTranspose2d takes fan_in from its weight's second axis: kh * kw * out.
torch_transpose_kernel_init = nn.initializers.variance_scaling(
  1 / 3, "fan_in", "uniform", in_axis=-1, out_axis=-2
)


def _uniform(bound: float) -> Initializer:
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


class _TorchBias:
  """Biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as PyTorch's, fan_in read off the kernel."""

  def _fan_in(self, kernel_shape) -> int:
    return math.prod(kernel_shape[:-1])

  def param(self, name, init_fn, *args, **kwargs):
    if name == "bias":
      fan_in = self._fan_in(self.get_variable("params", "kernel").shape)
      init_fn = _uniform(1 / math.sqrt(fan_in))
    return super().param(name, init_fn, *args, **kwargs)


class Conv(_TorchBias, nn.Conv):
  """`nn.Conv` initialised as PyTorch's `nn.Conv2d`, lowered by `conv_lowering`."""

  kernel_init: Initializer = torch_kernel_init
  conv_general_dilated_cls: Any = CpuConvLowering


class ConvTranspose(_TorchBias, nn.Module):
  """flax's `nn.ConvTranspose` ('SAME' padding, same parameters and result), initialised as
  PyTorch's `nn.ConvTranspose2d`, lowered by `conv_lowering.conv_transpose`."""

  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int]
  use_bias: bool = True
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  kernel_init: Initializer = torch_transpose_kernel_init

  def _fan_in(self, kernel_shape) -> int:
    return math.prod(kernel_shape[:-2]) * kernel_shape[-1]

  @nn.compact
  def __call__(self, x):
    shape = (*self.kernel_size, x.shape[-1], self.features)
    kernel = self.param("kernel", self.kernel_init, shape, self.param_dtype)
    dtype = self.dtype or x.dtype
    y = conv_transpose(x.astype(dtype), kernel.astype(dtype), self.strides)
    if self.use_bias:
      bias = self.param("bias", nn.initializers.zeros, (self.features,), self.param_dtype)
      y = y + bias.astype(dtype)
    return y


class Dense(_TorchBias, nn.Dense):
  """`nn.Dense` initialised as PyTorch's `nn.Linear`."""

  kernel_init: Initializer = torch_kernel_init


# config.remat: jax's checkpoint policy for what a block keeps for the backward
# pass (docs/decisions.md, "Memory: rematerialisation and gradient accumulation").
REMAT_POLICIES = {
  "none": None,  # keep everything (no rematerialisation)
  "nothing_saveable": jax.checkpoint_policies.nothing_saveable,  # keep block inputs only
  "dots_saveable": jax.checkpoint_policies.dots_saveable,  # keep matmul outputs too
}


def rematerialized(block: type[nn.Module], remat: str, train_argnum: int = 2) -> type[nn.Module]:
  """`block`, or `nn.remat(block)` recomputing its insides in the backward pass.

  `remat` names a policy of `REMAT_POLICIES`; `train_argnum` is the position
  of `train` in `block.__call__` (self is 0), static so BatchNorm sees a bool.
  Parameter names do not change: callers name their blocks explicitly.
  """
  if remat not in REMAT_POLICIES:
    raise ConfigError(
      f"Unknown remat {remat!r} (config key remat); choose from {list(REMAT_POLICIES)}."
    )
  if remat == "none":
    return block
  return nn.remat(block, policy=REMAT_POLICIES[remat], static_argnums=(train_argnum,))


BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


def check_input_size(images, stride: int, model: str) -> tuple[int, int]:
  """(H, W) of NHWC `images`, which every model needs divisible by its total stride."""
  height, width = images.shape[1:3]
  if height % stride or width % stride:
    raise ValueError(
      f"{model} needs H and W divisible by {stride}; got {height}x{width}. "
      "Change the config's input.image_size."
    )
  return height, width


def batch_norm(train: bool, dtype: Dtype = jnp.float32, name: str | None = None) -> nn.BatchNorm:
  """BatchNorm with the project's PyTorch-compatible constants."""
  return nn.BatchNorm(
    use_running_average=not train,
    momentum=BN_MOMENTUM,
    epsilon=BN_EPSILON,
    dtype=dtype,
    param_dtype=jnp.float32,
    name=name,
  )


def conv_with_bias(
  features: int, kernel: int, dtype: Dtype, name: str | None = None, strides: int = 1
) -> Conv:
  """A kxk 'SAME' convolution with bias and float32 parameters (no BatchNorm follows)."""
  return Conv(
    features,
    (kernel, kernel),
    strides=(strides, strides),
    padding="SAME",
    dtype=dtype,
    param_dtype=jnp.float32,
    name=name,
  )


def upsample_bilinear2x(x: jax.Array) -> jax.Array:
  """Bilinear x2 upsampling of NHWC `x` (half-pixel centres, PyTorch align_corners=False)."""
  return _stretch_bilinear(_stretch_bilinear(x, 1, 2), 2, 2)


def resize_to(x: jax.Array, height: int, width: int) -> jax.Array:
  """Bilinear resize of NHWC `x` to (height, width); identity when already there."""
  in_height, in_width = x.shape[1:3]
  if height % in_height == 0 and width % in_width == 0:
    return _stretch_bilinear(_stretch_bilinear(x, 1, height // in_height), 2, width // in_width)
  return jax.image.resize(x, (x.shape[0], height, width, x.shape[3]), "bilinear")


def _stretch_bilinear(x: jax.Array, axis: int, factor: int) -> jax.Array:
  """`jax.image.resize(..., "bilinear")` of one axis to `factor` times its length.

  Output pixel f i + p sits (p + 1/2) / f - 1/2 pixels from input pixel i, so
  each phase p blends pixel i with one neighbour at fixed weights (the edge
  pixel repeated past the borders, as jax and PyTorch clamp). jax.image.resize
  contracts each axis with a weight matrix instead: dots whose operands and
  gradients XLA's CPU backend transposes through memory (ASNet's x2 decoder
  upsampling at 96x128 x 64 channels, batch 12, forward and gradient: 365 ms
  that way, 94 ms this way).
  """
  if factor == 1:
    return x
  length = x.shape[axis]
  edge_first = jax.lax.slice_in_dim(x, 0, 1, axis=axis)
  edge_last = jax.lax.slice_in_dim(x, length - 1, length, axis=axis)
  previous = jnp.concatenate([edge_first, jax.lax.slice_in_dim(x, 0, length - 1, axis=axis)], axis)
  following = jnp.concatenate([jax.lax.slice_in_dim(x, 1, length, axis=axis), edge_last], axis)
  phases = []
  for phase in range(factor):
    offset = (phase + 0.5) / factor - 0.5
    neighbour = following if offset > 0 else previous
    phases.append(x if offset == 0 else (1 - abs(offset)) * x + abs(offset) * neighbour)
  stretched = jnp.stack(phases, axis=axis + 1)
  return stretched.reshape(*x.shape[:axis], length * factor, *x.shape[axis + 1 :])


class ConvNormLayer(nn.Module):
  """Fields and 'SAME' convolution of a conv + BatchNorm + ReLU layer, in either order."""

  features: int
  kernel_size: Sequence[int] = (3, 3)
  strides: Sequence[int] = (1, 1)
  dilation: int = 1
  dtype: Dtype = jnp.float32

  def convolve(self, x, use_bias: bool):
    return Conv(
      self.features,
      self.kernel_size,
      strides=self.strides,
      kernel_dilation=self.dilation,
      padding="SAME",
      use_bias=use_bias,
      dtype=self.dtype,
      param_dtype=jnp.float32,
    )(x)


class ConvBNReLU(ConvNormLayer):
  """Convolution (no bias, BN follows) -> BatchNorm -> ReLU."""

  @nn.compact
  def __call__(self, x, train: bool):
    x = self.convolve(x, use_bias=False)
    return nn.relu(batch_norm(train, self.dtype)(x))


class DoubleConv(nn.Module):
  """Two 3x3 ConvBNReLU layers: U-Net's unit at every level."""

  features: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    x = ConvBNReLU(self.features, dtype=self.dtype)(x, train)
    return ConvBNReLU(self.features, dtype=self.dtype)(x, train)


class ASPP(nn.Module):
  """Atrous spatial pyramid pooling (DeepLabv3; cca and ulffn, see docs/papers.md).

  Parallel branches, each `features` channels with BN + ReLU: a 1x1 convolution,
  one 3x3 convolution per atrous rate, and image pooling (global average pool,
  1x1 convolution, back to the feature size). Their concatenation is projected
  by a 1x1 convolution + BN + ReLU to `projection_features` (cca and DeepLabv3+
  use 256, ulffn 1024), then dropout (`dropout_rate`, 0 by default; DeepLabv3
  uses 0.5 and then needs a 'dropout' rng when training).
  """

  features: int = 256
  projection_features: int = 256
  atrous_rates: Sequence[int] = (6, 12, 18)
  dropout_rate: float = 0.0
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    x = x.astype(self.dtype)
    branches = [ConvBNReLU(self.features, (1, 1), dtype=self.dtype, name="conv1x1")(x, train)]
    for index, rate in enumerate(self.atrous_rates):
      branches.append(
        ConvBNReLU(self.features, (3, 3), dilation=rate, dtype=self.dtype, name=f"atrous_{index}")(
          x, train
        )
      )
    pooled = jnp.mean(x, axis=(1, 2), keepdims=True)
    pooled = ConvBNReLU(self.features, (1, 1), dtype=self.dtype, name="image_pooling")(
      pooled, train
    )
    # Bilinear upsampling of a 1x1 map is a constant map: broadcast it.
    branches.append(jnp.broadcast_to(pooled, (*x.shape[:3], self.features)))
    y = jnp.concatenate(branches, axis=-1)
    y = ConvBNReLU(self.projection_features, (1, 1), dtype=self.dtype, name="projection")(y, train)
    return nn.Dropout(self.dropout_rate, deterministic=not train)(y)


@jax.custom_vjp
def upsample_nearest2x(x: jax.Array) -> jax.Array:
  """Nearest-neighbour x2 upsampling of NHWC `x` (PyTorch's nn.Upsample(scale_factor=2)).

  Its gradient adds each 2x2 block's four cotangents as strided slices. The
  gradient of `jnp.repeat` is a reduce over the blocks, which XLA's CPU backend
  fuses with the convolution before it into a YNNPACK op that runs on one
  thread (CDNN's decoder: 200 ms for one 4x4 convolution's input gradient).
  """
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _upsample_nearest2x_forward(x):
  return upsample_nearest2x(x), None


def _upsample_nearest2x_backward(_, cotangent):
  return (
    cotangent[:, 0::2, 0::2]
    + cotangent[:, 0::2, 1::2]
    + cotangent[:, 1::2, 0::2]
    + cotangent[:, 1::2, 1::2],
  )


upsample_nearest2x.defvjp(_upsample_nearest2x_forward, _upsample_nearest2x_backward)


class UpConv(nn.Module):
  """Nearest x2 upsampling then a 3x3 ConvBNReLU: the decoder's up step of Attention U-Net
  and R2U-Net (`up_conv` of github.com/LeeJunHyun/Image_Segmentation, conv bias dropped as BN
  follows)."""

  features: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    return ConvBNReLU(self.features, dtype=self.dtype)(upsample_nearest2x(x), train)
