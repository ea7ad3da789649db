"""CDNN-29 convolutional-deconvolutional network (paper 003, Yuan & Lo).

A plain encoder-decoder without skip connections. Every convolution and
"deconvolution" is 'same'-padded, stride 1, without bias, followed by BN and
ReLU; pool is 2x2 max pooling, ups 2x2 nearest-neighbour upsampling. Table I,
widths at the default base_width 16 (each is base_width times the multiplier
in `LAYERS`):

  conv-1-1 3x3 16, conv-1-2 3x3 32, pool-1        -> H/2
  conv-2-1 3x3 64, conv-2-2 3x3 64, pool-2        -> H/4
  conv-3-1 3x3 128, conv-3-2 4x4 128, pool-3      -> H/8
  dropout, conv-4-1 3x3 256, conv-4-2 3x3 256, pool-4 -> H/16
  conv-5 3x3 512
  decv-1 3x3 256, ups-1                           -> H/8
  decv-2-1 3x3 256, decv-2-2 3x3 128, ups-2       -> H/4
  decv-3-1 4x4 128, decv-3-2 3x3 128, ups-3       -> H/2
  decv-4-1 3x3 64, decv-4-2 3x3 32, ups-4         -> H
  dropout, decv-5-1 3x3 16
  output 1x1 -> 1 logit (with bias)

H and W must be divisible by 16 (the paper uses 192x256). Input channels are
free: 7 for the paper's RGB+HSV+L input, 3 for the RGB ablation (Tables IV, V).
Parameters are named after Table I (`conv_1_1`, ..., `decv_5_1`, `output`).

Choices beyond the paper (why: docs/papers.md, "cdnn (paper 003)"):
- The stride-1 "decv" layers are written as convolutions (the same thing).
- Conv layers carry no bias because BN follows (as Lasagne's `batch_norm`
  helper does); BN has a learnable scale and offset.
- Output layer: a 1x1 convolution (Table I's flattened text reads "I x3").
- Dropout p = 0.5 "before conv-4-1 and decv-5-1" (Sec. III-B): after pool-3
  and after ups-4.
- The 4x4 layers (conv-3-2, decv-3-1) use flax's 'SAME' padding (1 before,
  2 after); the authors' exact padding is unknown.
- 5,036,865 trainable parameters at paper size (7 input channels,
  base_width 16; 5,036,289 with RGB input), plus 4,928 BN statistics; the
  paper states 5,042,589, which no reading of Table I reproduces.
"""

import flax.linen as nn
import jax.numpy as jnp

from jaxseg.models.base import SegmentationModel
from jaxseg.models.blocks import (
  ConvBNReLU,
  check_input_size,
  conv_with_bias,
  rematerialized,
  upsample_nearest2x,
)
from jaxseg.models.conv_lowering import max_pool

TOTAL_STRIDE = 16

# Table I in order: (name, kernel size, width / base_width), or "pool", "ups",
# "dropout". The encoder ends at conv_5; the decoder starts at decv_1.
LAYERS = (
  ("conv_1_1", 3, 1),
  ("conv_1_2", 3, 2),
  "pool",
  ("conv_2_1", 3, 4),
  ("conv_2_2", 3, 4),
  "pool",
  ("conv_3_1", 3, 8),
  ("conv_3_2", 4, 8),
  "pool",
  "dropout",
  ("conv_4_1", 3, 16),
  ("conv_4_2", 3, 16),
  "pool",
  ("conv_5", 3, 32),
  ("decv_1", 3, 16),
  "ups",
  ("decv_2_1", 3, 16),
  ("decv_2_2", 3, 8),
  "ups",
  ("decv_3_1", 4, 8),
  ("decv_3_2", 3, 8),
  "ups",
  ("decv_4_1", 3, 4),
  ("decv_4_2", 3, 2),
  "ups",
  "dropout",
  ("decv_5_1", 3, 1),
)


class CDNN(SegmentationModel):
  """CDNN-29 (Table I); see the module docstring for the layers and choices."""

  base_width: int = 16
  dropout_rate: float = 0.5

  smoke_fields = {"base_width": 2}

  @nn.compact
  def __call__(self, images, train: bool = False):
    check_input_size(images, TOTAL_STRIDE, "CDNN")
    x = images.astype(self.dtype)
    for layer in LAYERS:
      if layer == "pool":
        x = max_pool(x, (2, 2), strides=(2, 2))
      elif layer == "ups":
        x = upsample_nearest2x(x)  # Lasagne's Upscale2DLayer, mode 'repeat'
      elif layer == "dropout":
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
      else:
        name, kernel, multiplier = layer
        layer_class = rematerialized(ConvBNReLU, self.remat)
        x = layer_class(
          self.base_width * multiplier, (kernel, kernel), dtype=self.dtype, name=name
        )(x, train)
    logits = conv_with_bias(1, 1, self.dtype, "output")(x)
    return {"logits": logits.astype(jnp.float32)}
