"""MultiResUNet baseline (Ibtehaz and Rahman 2020, "MultiResUNet: Rethinking the U-Net
architecture for multimodal biomedical image segmentation", Neural Networks 121).

Source followed: the authors' Keras original, `tensorflow/MultiResUNet.py` of
github.com/nibtehaz/MultiResUNet (the code behind the paper's results); the same repository's
PyTorch port (`pytorch/MultiResUNet.py`) gives the reference parameter count and differs as listed
below.

  encoder   MultiRes blocks with U = u, 2u, 4u, 8u, 16u (u = base_width, 32 by default), 2x2 max
            pool; each skip goes through a ResPath of length 4, 3, 2, 1 (U channels out)
  for level 3, 2, 1, 0 (U = u * 2**level):
            x = MultiResBlock(U)(concat(ConvTranspose2x2(U, stride 2, bias)(x), ResPath(skip)))
  head      1x1 conv (no bias) -> BatchNorm (no scale) -> num_classes logits (sigmoid)

H and W must be divisible by 16.

MultiRes block (U, alpha = 1.67): W = alpha * U; a chain of three 3x3 conv-BN-ReLU layers with
int(0.167 W), int(0.333 W), int(0.5 W) channels (the factorised 3x3, 5x5, 7x7), concatenated
and batch-normalised; plus a 1x1 conv-BN shortcut to the same width; then ReLU, BatchNorm. The
channel counts are the authors' int() roundings, so the block is 51, 105, 212, 426, 853 channels
wide at u = 32 (not 1.67 U). ResPath step: ReLU(conv3x3-BN-ReLU(x) + conv1x1-BN(x)), BatchNorm.
Every conv-BN is the Keras `conv2d_bn`: conv without bias, BatchNorm without scale (beta only);
the BatchNorms after the concatenation and after each addition have scale and beta.

What we changed: BatchNorm constants are the project's (PyTorch's: epsilon 1e-5, momentum 0.9;
Keras defaults are 1e-3 and 0.99). Parameters are those of the Keras model: 7,238,228 trainable
at 3 input channels and 1 class, ours 7,238,228.

Where the authors' PyTorch port differs (its count at 3 inputs and 1 output channel,
`MultiResUnet(3, num_classes=0)`, is 7,251,322; with its default num_classes=1 it outputs 2
channels, 7,251,376): convs have biases and every BatchNorm a scale; the block order is
BN(concat) + shortcut -> BN -> ReLU (Keras: + shortcut -> ReLU -> BN); a ResPath step applies its
one BatchNorm twice (after the 3x3 conv-BN-ReLU, then after the addition, shared parameters and
statistics) where Keras has conv-BN-ReLU + shortcut -> ReLU -> BN; the head is conv-BN with
bias and scale to num_classes + 1 channels.
"""

import flax.linen as nn
import jax.numpy as jnp

from jaxseg.errors import ConfigError
from jaxseg.models.base import SegmentationModel
from jaxseg.models.blocks import (
  BN_EPSILON,
  BN_MOMENTUM,
  Conv,
  ConvTranspose,
  Dtype,
  check_input_size,
  rematerialized,
)
from jaxseg.models.conv_lowering import max_pool

DEPTH = 4  # pooling steps, as the reference
ALPHA = 1.67
RESPATH_LENGTHS = (4, 3, 2, 1)  # level 0 (full resolution) first


def multires_widths(features: int, alpha: float = ALPHA) -> tuple[int, int, int]:
  """Channels of a MultiRes block's three 3x3 layers, rounded down as the authors' int() does."""
  width = alpha * features
  return int(width * 0.167), int(width * 0.333), int(width * 0.5)


def _batch_norm(train: bool, dtype: Dtype, name: str, use_scale: bool = True) -> nn.BatchNorm:
  return nn.BatchNorm(
    use_running_average=not train,
    momentum=BN_MOMENTUM,
    epsilon=BN_EPSILON,
    use_scale=use_scale,
    dtype=dtype,
    param_dtype=jnp.float32,
    name=name,
  )


class ConvBN(nn.Module):
  """Keras `conv2d_bn`: 'SAME' conv without bias, BatchNorm without scale, optional ReLU."""

  features: int
  kernel: int
  relu: bool = True
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    x = Conv(
      self.features,
      (self.kernel, self.kernel),
      padding="SAME",
      use_bias=False,
      dtype=self.dtype,
      param_dtype=jnp.float32,
    )(x)
    x = _batch_norm(train, self.dtype, "BatchNorm_0", use_scale=False)(x)
    return nn.relu(x) if self.relu else x


class MultiResBlock(nn.Module):
  """Chained 3x3 conv-BN-ReLUs concatenated, plus a 1x1 shortcut; `features` is U."""

  features: int
  alpha: float = ALPHA
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    widths = multires_widths(self.features, self.alpha)
    shortcut = ConvBN(sum(widths), 1, relu=False, dtype=self.dtype, name="shortcut")(x, train)
    chain = []
    for index, width in enumerate(widths):
      x = ConvBN(width, 3, dtype=self.dtype, name=f"conv3x3_{index}")(x, train)
      chain.append(x)
    y = _batch_norm(train, self.dtype, "concat_bn")(jnp.concatenate(chain, axis=-1))
    return _batch_norm(train, self.dtype, "output_bn")(nn.relu(y + shortcut))


class ResPath(nn.Module):
  """`length` residual steps (3x3 conv-BN-ReLU + 1x1 conv-BN shortcut) on an encoder skip."""

  features: int
  length: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    for step in range(self.length):
      shortcut = ConvBN(self.features, 1, relu=False, dtype=self.dtype, name=f"shortcut_{step}")(
        x, train
      )
      x = ConvBN(self.features, 3, dtype=self.dtype, name=f"conv3x3_{step}")(x, train)
      x = _batch_norm(train, self.dtype, f"output_bn_{step}")(nn.relu(x + shortcut))
    return x


class MultiResUNet(SegmentationModel):
  """MultiResUNet; `base_width` is the top level's U (32 in the paper), widths double per level."""

  base_width: int = 32
  alpha: float = ALPHA
  num_classes: int = 1

  smoke_fields = {"base_width": 4}

  stride = 2**DEPTH

  @nn.compact
  def __call__(self, images, train: bool = False):
    check_input_size(images, self.stride, "MultiResUNet")
    if min(multires_widths(self.base_width, self.alpha)) < 1:
      raise ConfigError(
        f"MultiResUNet base_width {self.base_width} with alpha {self.alpha} gives a MultiRes "
        "layer of 0 channels; use base_width >= 4 (config key model.base_width)."
      )
    x = images.astype(self.dtype)
    multires = rematerialized(MultiResBlock, self.remat)
    respath = rematerialized(ResPath, self.remat)
    # Explicit names: flax's automatic ones would change under nn.remat.
    skips = []
    for level in range(DEPTH):
      features = self.base_width * 2**level
      x = multires(features, self.alpha, self.dtype, name=f"encoder_{level}")(x, train)
      skips.append(
        respath(features, RESPATH_LENGTHS[level], self.dtype, name=f"respath_{level}")(x, train)
      )
      x = max_pool(x, (2, 2), strides=(2, 2))
    x = multires(self.base_width * 2**DEPTH, self.alpha, self.dtype, name="bottleneck")(x, train)
    for level in reversed(range(DEPTH)):
      features = self.base_width * 2**level
      up = ConvTranspose(
        features,
        (2, 2),
        strides=(2, 2),
        dtype=self.dtype,
        param_dtype=jnp.float32,
        name=f"up_{level}",
      )(x)
      x = jnp.concatenate([up, skips[level]], axis=-1)
      x = multires(features, self.alpha, self.dtype, name=f"decoder_{level}")(x, train)
    # The authors' head: conv2d_bn(1, 1, 1, activation='sigmoid'), BatchNorm on the logits.
    logits = ConvBN(self.num_classes, 1, relu=False, dtype=self.dtype, name="head")(x, train)
    return {"logits": logits.astype(jnp.float32)}
