"""Upper and lower layers feature fusing network, ULFFN (paper 001).

The paper's details and how its ambiguities are read: docs/papers.md,
"ulffn (paper 001)".

An input convolution (3 -> 64), four residual code units (128, 256, 512, 1024
channels; the first three end in a stride-2 convolution), ASPP at the bottom,
four decode units that each fuse the decoder input with the outputs of every
shallower code unit and of the input convolution, a channel attention module
(CAM) with average and variance pooling, and a two-channel softmax head.
Trained from scratch with `cross_entropy`.

  python -m experiments.run --config ulffn_isic2016 --workdir runs/ulffn_isic2016

Table 4 rows are the switches `use_aspp` and `use_cam`:
  WO-AC  (False, False)    W-A  (True, False)    W-C  (False, True)    W-AC  (True, True)

Level sizes and widths for an H x W input and `base_width` b (paper: b = 64):

  unit          input        works at   output                 fused with
  input conv    3            H          b       @ H            -
  code_1        b            H          2b      @ H/2          -
  code_2        2b           H/2        4b      @ H/4          -
  code_3        4b           H/4        8b      @ H/8          -
  code_4        8b           H/8        16b     @ H/8          -
  aspp          16b          H/8        16b     @ H/8          -
  decode_4      16b          H/8        16b     @ H/8          input conv, code_1..3
  decode_3      16b          H/8        8b      @ H/4          input conv, code_1..2
  decode_2      8b           H/4        4b      @ H/2          input conv, code_1
  decode_1      4b           H/2        2b      @ H            input conv
  cam, head     2b           H          2       @ H            -

Total stride 8, so H and W must be divisible by 8.

Choices beyond the paper (figures 1 and 2 are missing from the text we have):
- Every convolution is conv (with bias, as BN follows the ReLU) -> ReLU -> BN,
  the order of §3.2 and Fig. 2. The shared `ASPP` keeps its conv-BN-ReLU order.
- A code unit's output is its stride-2 map ("after fusion, the output performs
  downsampling", §3.2), so decode unit k works at the size of code unit k's
  output, and mirrors its width. "All upper-layer code units" (§1, §3.1) are
  the strictly shallower ones plus the input convolution: with these, every
  resize goes down (average pooling) or is the identity.
- Fusion: concatenation -> 1x1 conv-ReLU-BN to the decode unit's width -> two
  3x3 conv-ReLU-BN with a residual sum, the same residual block as a code unit.
- Sub-pixel upsampling (§3.1, ESPCN): 3x3 conv-ReLU-BN to 4C, then
  depth-to-space in PyTorch's `PixelShuffle` channel order, giving C channels
  at twice the size (C = the decode unit's width).
- ASPP (§3.3, Fig. 4): 1x1, 3x3 at rates 6/12/18 and image pooling, 4b = 256
  channels each, projected back to 16b = 1024. Without ASPP (`use_aspp=False`)
  the bottom is the identity: code_4's output goes straight to decode_4, so
  the switch removes exactly the ASPP parameters.
- CAM (§3.4, Fig. 5): z = concat(mean, population variance) over H, W; two
  dense layers (with bias) of C // 16 (at least 1) and C channels, ReLU
  between, sigmoid after; out = x + x * w. Pooling runs in float32.
- Head: a 1x1 convolution (with bias) to 2 logits (softmax; docs/papers.md, "Conventions").
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxseg.models.base import SegmentationModel
from jaxseg.models.blocks import (
  ASPP,
  ConvNormLayer,
  Dense,
  Dtype,
  batch_norm,
  check_input_size,
  conv_with_bias,
  rematerialized,
)

NUM_CODE_UNITS = 4
TOTAL_STRIDE = 2 ** (NUM_CODE_UNITS - 1)


class ConvReLUBN(ConvNormLayer):
  """Convolution (with bias) -> ReLU -> BatchNorm, the paper's order (§3.2)."""

  @nn.compact
  def __call__(self, x, train: bool):
    x = nn.relu(self.convolve(x, use_bias=True))
    return batch_norm(train, self.dtype)(x)


class ResidualUnit(nn.Module):
  """Projection to `features` (1x1, when the width differs), plus two 3x3 layers on top."""

  features: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    if x.shape[-1] != self.features:
      x = ConvReLUBN(self.features, (1, 1), dtype=self.dtype, name="project")(x, train)
    y = ConvReLUBN(self.features, dtype=self.dtype, name="conv_a")(x, train)
    y = ConvReLUBN(self.features, dtype=self.dtype, name="conv_b")(y, train)
    return x + y


class CodeUnit(nn.Module):
  """Residual unit, then (unless the deepest) a stride-2 conv-ReLU-BN (Fig. 2)."""

  features: int
  downsample: bool = True
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    x = ResidualUnit(self.features, self.dtype, name="residual")(x, train)
    if self.downsample:
      x = ConvReLUBN(self.features, strides=(2, 2), dtype=self.dtype, name="downsample")(x, train)
    return x


def depth_to_space(x: jax.Array, factor: int) -> jax.Array:
  """[B, H, W, C*f*f] -> [B, H*f, W*f, C], channels in PyTorch's PixelShuffle order."""
  batch, height, width, channels = x.shape
  out_channels = channels // (factor * factor)
  x = x.reshape(batch, height, width, out_channels, factor, factor)
  x = x.transpose(0, 1, 4, 2, 5, 3)  # B, H, f_row, W, f_col, C
  return x.reshape(batch, height * factor, width * factor, out_channels)


class DecodeUnit(nn.Module):
  """Concatenates the shallower features (pooled to x's size), fuses, upsamples x2."""

  features: int
  upsample: bool = True
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, shallower: Sequence[jax.Array], train: bool):
    height = x.shape[1]
    pooled = []
    for feature in shallower:
      factor = feature.shape[1] // height
      if factor > 1:
        feature = nn.avg_pool(feature, (factor, factor), strides=(factor, factor))
      pooled.append(feature.astype(self.dtype))
    x = jnp.concatenate([x, *pooled], axis=-1)
    x = ResidualUnit(self.features, self.dtype, name="fuse")(x, train)
    if self.upsample:
      x = ConvReLUBN(4 * self.features, dtype=self.dtype, name="subpixel")(x, train)
      x = depth_to_space(x, 2)
    return x


def global_variance_pool(x: jax.Array) -> jax.Array:
  """Population variance over H and W, per image and channel: [B, H, W, C] -> [B, C]."""
  return jnp.var(x.astype(jnp.float32), axis=(1, 2))


class MeanVarianceChannelAttention(nn.Module):
  """CAM (§3.4): w = sigmoid(FC(ReLU(FC([GAP(x), GVP(x)])))), out = x + x * w."""

  reduction: int = 16
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    # Pool in float32: a bfloat16 variance of a large map loses most of its digits.
    z = jnp.concatenate([jnp.mean(x.astype(jnp.float32), axis=(1, 2)), global_variance_pool(x)], -1)
    hidden = max(channels // self.reduction, 1)
    z = nn.relu(Dense(hidden, dtype=self.dtype, param_dtype=jnp.float32, name="squeeze")(z))
    w = nn.sigmoid(Dense(channels, dtype=self.dtype, param_dtype=jnp.float32, name="excite")(z))
    return x + x * w[:, None, None, :].astype(x.dtype)


class ULFFN(SegmentationModel):
  """ULFFN; see the module docstring for the level table and the Table 4 switches."""

  base_width: int = 64
  aspp_rates: tuple[int, ...] = (6, 12, 18)
  use_aspp: bool = True
  use_cam: bool = True
  cam_reduction: int = 16
  num_classes: int = 2

  smoke_fields = {"base_width": 4}

  def code_widths(self) -> list[int]:
    """128, 256, 512, 1024 for base_width 64."""
    return [self.base_width * 2 ** (level + 1) for level in range(NUM_CODE_UNITS)]

  @nn.compact
  def __call__(self, images, train: bool = False):
    height, width = check_input_size(images, TOTAL_STRIDE, "ULFFN")
    widths = self.code_widths()
    x = ConvReLUBN(self.base_width, dtype=self.dtype, name="input_conv")(
      images.astype(self.dtype), train
    )
    encoder_outputs = [x]  # input conv, then code_1 .. code_4
    for level, features in enumerate(widths, start=1):
      code_unit = rematerialized(CodeUnit, self.remat)
      x = code_unit(features, level < NUM_CODE_UNITS, self.dtype, name=f"code_{level}")(x, train)
      encoder_outputs.append(x)

    if self.use_aspp:
      x = rematerialized(ASPP, self.remat)(
        features=4 * self.base_width,
        projection_features=widths[-1],
        atrous_rates=self.aspp_rates,
        dtype=self.dtype,
        name="aspp",
      )(x, train)

    for level in reversed(range(1, NUM_CODE_UNITS + 1)):
      x = rematerialized(DecodeUnit, self.remat, train_argnum=3)(
        widths[level - 1], upsample=level < NUM_CODE_UNITS, dtype=self.dtype, name=f"decode_{level}"
      )(x, encoder_outputs[:level], train)

    if self.use_cam:
      x = MeanVarianceChannelAttention(self.cam_reduction, self.dtype, name="cam")(x)
    logits = conv_with_bias(self.num_classes, 1, self.dtype, "head")(x)
    return {"logits": logits.astype(jnp.float32)}
