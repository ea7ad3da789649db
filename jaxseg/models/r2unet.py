"""R2U-Net baseline (Alom et al. 2018, "Recurrent Residual Convolutional Neural Network based on
U-Net (R2U-Net) for Medical Image Segmentation").

Source followed: class `R2U_Net` of github.com/LeeJunHyun/Image_Segmentation (`network.py`), the
PyTorch version skin-lesion papers compare against, with t = 2:

  encoder   RRCNN blocks, widths w, 2w, 4w, 8w, 16w (w = base_width, 64 by default), 2x2 max pool
  for level 3, 2, 1, 0 (width c = w * 2**level):
            d = UpConv(c)(x)                         nearest x2 upsampling, 3x3 conv-BN-ReLU
            x = RRCNN(c)(concat(skip, d))
  head      1x1 conv (bias) to num_classes logits (one, sigmoid, by default)

H and W must be divisible by 16.

RRCNN block (`RRCNN_block`): x = conv1x1(x) (bias, no BN); return x + RCL(RCL(x)), two recurrent
convolutional layers. A recurrent layer (`Recurrent_block`) has ONE 3x3 conv-BN-ReLU, applied
t + 1 times with the same weights (and the same BatchNorm): y = f(x), then t times y = f(x + y).
Its BatchNorm statistics are thus updated t + 1 times per training step, as in PyTorch.

What we changed: the 3x3 convolutions followed by BatchNorm have no bias (the reference's are
redundant there: BN subtracts them again; the project's `ConvBNReLU` convention), so we have
exactly those biases fewer parameters: at 3 input channels and 1 class the reference has
39,091,393 parameters, we have 39,084,545 (6,848 pre-BN biases). Outputs are the reference's for
the same weights. 'SAME' padding as the reference's padding=1.
"""

import flax.linen as nn
import jax.numpy as jnp

from jaxseg.models.base import SegmentationModel
from jaxseg.models.blocks import (
  ConvBNReLU,
  Dtype,
  UpConv,
  check_input_size,
  conv_with_bias,
  rematerialized,
)
from jaxseg.models.conv_lowering import max_pool

DEPTH = 4  # pooling steps, as the reference


class RecurrentConv(nn.Module):
  """Recurrent convolutional layer: one conv-BN-ReLU applied `steps` + 1 times, shared weights."""

  features: int
  steps: int = 2
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    # One module called repeatedly: flax shares its parameters, as the reference reuses self.conv.
    recurrent = ConvBNReLU(self.features, dtype=self.dtype, name="recurrent")
    y = recurrent(x, train)
    for _ in range(self.steps):
      y = recurrent(x + y, train)
    return y


class RRCNNBlock(nn.Module):
  """Recurrent residual unit: a 1x1 projection plus two recurrent layers on it."""

  features: int
  steps: int = 2
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    x = conv_with_bias(self.features, 1, self.dtype, name="projection")(x)
    y = RecurrentConv(self.features, self.steps, self.dtype, name="recurrent_0")(x, train)
    y = RecurrentConv(self.features, self.steps, self.dtype, name="recurrent_1")(y, train)
    return x + y


class R2UNet(SegmentationModel):
  """R2U-Net; `base_width` channels (64 in the reference); t is `recurrent_steps`."""

  base_width: int = 64
  recurrent_steps: int = 2
  num_classes: int = 1

  smoke_fields = {"base_width": 4}

  stride = 2**DEPTH

  @nn.compact
  def __call__(self, images, train: bool = False):
    check_input_size(images, self.stride, "R2UNet")
    x = images.astype(self.dtype)
    rrcnn = rematerialized(RRCNNBlock, self.remat)
    up_conv = rematerialized(UpConv, self.remat)
    steps = self.recurrent_steps
    # Explicit names: flax's automatic ones would change under nn.remat.
    skips = []
    for level in range(DEPTH):
      x = rrcnn(self.base_width * 2**level, steps, self.dtype, name=f"encoder_{level}")(x, train)
      skips.append(x)
      x = max_pool(x, (2, 2), strides=(2, 2))
    x = rrcnn(self.base_width * 2**DEPTH, steps, self.dtype, name="bottleneck")(x, train)
    for level in reversed(range(DEPTH)):
      width_here = self.base_width * 2**level
      x = up_conv(width_here, dtype=self.dtype, name=f"up_{level}")(x, train)
      x = jnp.concatenate([skips[level], x], axis=-1)
      x = rrcnn(width_here, steps, self.dtype, name=f"decoder_{level}")(x, train)
    logits = conv_with_bias(self.num_classes, 1, self.dtype, name="head")(x)
    return {"logits": logits.astype(jnp.float32)}
