"""U-Net baseline (docs/papers.md, "Baselines"; Ronneberger et al. 2015 with BatchNorm).

Widths base_width * 2**level (64..1024 by default), conv-BN-ReLU pairs, 2x2 max
pooling down, 2x2 stride-2 transposed convolutions up, skip concatenation,
1x1 head to one logit (sigmoid). 'SAME' padding, so the output has the input's
size whenever H and W are divisible by 2**depth.

Used as the comparison baseline by rmsm, asnet and ulffn; also the first model
of the default synthetic run (`python -m experiments.run --config unet_synthetic`).
"""

import flax.linen as nn
import jax.numpy as jnp

from jaxseg.models.base import SegmentationModel
from jaxseg.models.blocks import (
  ConvTranspose,
  DoubleConv,
  check_input_size,
  conv_with_bias,
  rematerialized,
)
from jaxseg.models.conv_lowering import max_pool


class UNet(SegmentationModel):
  """U-Net; `depth` pooling steps, `base_width` channels at the top level."""

  base_width: int = 64
  depth: int = 4
  num_classes: int = 1

  smoke_fields = {"base_width": 4}

  @property
  def stride(self) -> int:
    return 2**self.depth

  @nn.compact
  def __call__(self, images, train: bool = False):
    check_input_size(images, self.stride, f"UNet with depth {self.depth}")
    x = images.astype(self.dtype)
    double_conv = rematerialized(DoubleConv, self.remat)
    # Explicit names: flax's automatic ones would change under nn.remat.
    names = (f"DoubleConv_{index}" for index in range(2 * self.depth + 1))
    skips = []
    for level in range(self.depth):
      x = double_conv(self.base_width * 2**level, dtype=self.dtype, name=next(names))(x, train)
      skips.append(x)
      x = max_pool(x, (2, 2), strides=(2, 2))
    x = double_conv(self.base_width * 2**self.depth, dtype=self.dtype, name=next(names))(x, train)
    for level in reversed(range(self.depth)):
      width_here = self.base_width * 2**level
      x = ConvTranspose(
        width_here, (2, 2), strides=(2, 2), dtype=self.dtype, param_dtype=jnp.float32
      )(x)
      x = jnp.concatenate([skips[level], x], axis=-1)
      x = double_conv(width_here, dtype=self.dtype, name=next(names))(x, train)
    logits = conv_with_bias(self.num_classes, 1, self.dtype)(x)
    return {"logits": logits.astype(jnp.float32)}
