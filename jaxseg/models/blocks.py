"""Building blocks shared by every model.

Conventions (SPEC §0): NHWC, float32 parameters, compute dtype a module field,
BatchNorm with epsilon 1e-5 and flax momentum 0.9 so that weights ported from
PyTorch give identical outputs.
"""

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

Dtype = Any

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


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


class ConvBNReLU(nn.Module):
  """Convolution (no bias, BN follows) -> BatchNorm -> ReLU."""

  features: int
  kernel_size: Sequence[int] = (3, 3)
  strides: Sequence[int] = (1, 1)
  dilation: int = 1
  activation: bool = True
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    x = nn.Conv(
      self.features,
      self.kernel_size,
      strides=self.strides,
      kernel_dilation=self.dilation,
      padding="SAME",
      use_bias=False,
      dtype=self.dtype,
      param_dtype=jnp.float32,
    )(x)
    x = batch_norm(train, self.dtype)(x)
    return nn.relu(x) if self.activation else x


class DoubleConv(nn.Module):
  """Two 3x3 ConvBNReLU layers: U-Net's unit at every level."""

  features: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    x = ConvBNReLU(self.features, dtype=self.dtype)(x, train)
    return ConvBNReLU(self.features, dtype=self.dtype)(x, train)
