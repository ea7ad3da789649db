"""ASNet, the adaptive scale network (paper 004; docs/papers.md, "asnet (paper 004)").

An ImageNet ResNet34 encoder (c1 = stem at 1/2, c2..c5 = layer1..layer4 at
1/4..1/32), the adaptive scale module (ASM) on c5, and a light U-shaped decoder
that adds the encoder skips back in, deepest first:

  c5 (8w, 1/32) -> ASM -> x
  decoder_4: [extra blocks], up x2, 1x1 to 4w, + c4, ReLU       -> 1/16
  decoder_3: [extra blocks], 3x3, up x2, 1x1 to 2w, + c3, ReLU  -> 1/8
  decoder_2: [extra blocks], 3x3, up x2, 1x1 to w,  + c2, ReLU  -> 1/4
  decoder_1: [extra blocks], 3x3, up x2, 1x1 to w,  + c1, ReLU  -> 1/2
  head:      up x2, 1x1 to 32 BN ReLU, 3x3 32 BN ReLU, 1x1 to 1 -> logits (H, W)

with w = `resnet_width` (64 gives the paper's 512, 256, 128, 64, 64). Every
"3x3" / "1x1" above is conv (no bias) + BN + ReLU; the 3x3 keeps the level's
input width, the 1x1 maps to the skip's width (so other ResNet depths work
too); the head's widths are 32 * w / 64. Upsampling is bilinear with half-pixel
centres (PyTorch's align_corners=False). H and W must be divisible by 32.

ASM (§2.2): ONE 3x3 convolution kernel K (C -> C, no bias) applied to c5 at
dilations 1, 2 and 4 (`asm_dilations`), each branch with its own BN + ReLU:
b_i = ReLU(BN_i(conv(x, K, dilation d_i))). The branches are fused by two
cascaded scale-aware modules, fused = SAM_2(SAM_1(b_1, b_2), b_3), and the
module returns conv1x1-BN-ReLU(ReLU(beta * fused + (1 - beta) * x)), beta a
learned scalar starting at 0 (so the ASM starts as the identity path).

SAM (§2.3, eq. 1-2): from concat(M_A, M_B) (2C), conv1x1 to C, ReLU, conv3x3
to C/2, ReLU, conv3x3 to 2 maps (A, B); softmax over those two per pixel gives
a_A + a_B = 1 and the output is a_A * M_A + a_B * M_B. The attention maps are
sown as `intermediates/.../attention` ([B, h, w, 2], channel 0 = a_A).

Table 2 rows are switches of this one model:
  Baseline           use_asm=False                     c5 goes straight to the decoder
  ASM w/o DI         asm_dilations=(1, 1, 1)           same parameters, no dilation
  ASM w/o SA         scale_aware_fusion=False          branches averaged, no SAM parameters
  Baseline-Wide      use_asm=False,                    extra residual decoder blocks that
                     decoder_extra_blocks=1            bring it to ASNet's parameter count
  ASNet              defaults

Choices beyond the paper (why: docs/papers.md, "asnet (paper 004)"):
- The SAM convolutions have biases and no BN (their maps feed a softmax),
  with ReLUs between them.
- Two SAMs have separate weights by default; `share_sam_weights` uses the
  first one twice (the authors' later code), dropping `sam_2`'s parameters.
- The shared kernel starts from the same Kaiming-normal (fan-out) init as the
  ResNet's convolutions; the other convolutions use PyTorch's default (blocks.py).
- With `scale_aware_fusion` off the three branches are averaged, and the beta
  residual and the output conv1x1-BN-ReLU stay, so the row removes only SAM.
- Baseline-Wide (footnote 11 gives no details): `decoder_extra_blocks` = n puts
  n ResNet BasicBlocks (conv3x3-BN-ReLU-conv3x3-BN + identity, ReLU) at the
  input of every decoder level, at that level's width (8w, 4w, 2w, w before
  decoder_4..decoder_1). n = 1 (`BASELINE_WIDE_EXTRA_BLOCKS`) gives
  28,519,009 parameters at w = 64 against ASNet's 28,292,454 (the counts:
  docs/papers.md, "asnet (paper 004)").
- Skips are added and followed by a ReLU (a no-op on the non-negative sums
  of post-ReLU maps, kept for fidelity).
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxseg.errors import ConfigError
from jaxseg.models import conv_lowering
from jaxseg.models.base import SegmentationModel
from jaxseg.models.blocks import (
  ConvBNReLU,
  Dtype,
  batch_norm,
  check_input_size,
  conv_with_bias,
  rematerialized,
  upsample_bilinear2x,
)
from jaxseg.models.resnet import BasicBlock, kaiming_fan_out, resnet_backbone

TOTAL_STRIDE = 32
HEAD_WIDTH = 32  # at resnet_width 64
# Residual blocks per decoder level that bring Baseline-Wide (use_asm=False)
# within 1% of ASNet's parameter count at the paper's width (module docstring).
BASELINE_WIDE_EXTRA_BLOCKS = 1
# Decoder levels, deepest first: (name, skip feature, whether it has the 3x3 conv).
DECODER_LEVELS = (
  ("decoder_4", "layer3", False),
  ("decoder_3", "layer2", True),
  ("decoder_2", "layer1", True),
  ("decoder_1", "stem", True),
)


class SharedDilatedConv(nn.Module):
  """One bias-free 3x3 kernel (C -> `features`) applied at each of `dilations`.

  Returns one output per dilation, each 'same' padded (padding = dilation).
  """

  features: int
  dilations: Sequence[int] = (1, 2, 4)
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x) -> list[jax.Array]:
    kernel = self.param("kernel", kaiming_fan_out, (3, 3, x.shape[-1], self.features), jnp.float32)
    x = x.astype(self.dtype)
    kernel = kernel.astype(self.dtype)
    return [
      conv_lowering.conv_general_dilated(
        x,
        kernel,
        window_strides=(1, 1),
        padding=((d, d), (d, d)),
        rhs_dilation=(d, d),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
      )
      for d in self.dilations
    ]


class ScaleAwareModule(nn.Module):
  """SAM (eq. 1-2): a_A * M_A + a_B * M_B with per-pixel softmax weights from both."""

  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, a, b):
    channels = a.shape[-1]
    both = jnp.concatenate([a, b], axis=-1)
    y = nn.relu(conv_with_bias(channels, 1, self.dtype, "conv1x1")(both))
    y = nn.relu(conv_with_bias(max(1, channels // 2), 3, self.dtype, "conv3x3_1")(y))
    scores = conv_with_bias(2, 3, self.dtype, "conv3x3_2")(y)
    attention = jax.nn.softmax(scores.astype(jnp.float32), axis=-1)
    self.sow("intermediates", "attention", attention)
    attention = attention.astype(self.dtype)
    return attention[..., 0:1] * a + attention[..., 1:2] * b


class AdaptiveScaleModule(nn.Module):
  """ASM (§2.2): shared-kernel dilated branches, cascaded SAM fusion, beta residual."""

  dilations: Sequence[int] = (1, 2, 4)
  scale_aware_fusion: bool = True
  share_sam_weights: bool = False
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    x = x.astype(self.dtype)
    channels = x.shape[-1]
    convs = SharedDilatedConv(channels, tuple(self.dilations), self.dtype, name="shared_conv")(x)
    branches = [
      nn.relu(batch_norm(train, self.dtype, name=f"bn_{i}")(y)) for i, y in enumerate(convs)
    ]
    if self.scale_aware_fusion:
      if len(branches) != 3:
        raise ConfigError(
          f"Scale-aware fusion cascades two SAMs over three branches; got "
          f"asm_dilations={tuple(self.dilations)}. Give three dilations or set "
          "scale_aware_fusion=False."
        )
      first = ScaleAwareModule(self.dtype, name="sam_1")
      second = first if self.share_sam_weights else ScaleAwareModule(self.dtype, name="sam_2")
      fused = second(first(branches[0], branches[1]), branches[2])
    else:
      fused = sum(branches) / len(branches)
    beta = self.param("beta", nn.initializers.zeros, (), jnp.float32).astype(self.dtype)
    y = nn.relu(beta * fused + (1 - beta) * x)
    return ConvBNReLU(channels, (1, 1), dtype=self.dtype, name="project")(y, train)


class DecoderLevel(nn.Module):
  """[extra BasicBlocks], [3x3 conv-BN-ReLU], bilinear x2, 1x1 conv-BN-ReLU, + skip, ReLU."""

  extra_blocks: int = 0
  use_conv3x3: bool = True
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, skip, train: bool):
    width = x.shape[-1]
    for index in range(self.extra_blocks):
      x = BasicBlock(planes=width, dtype=self.dtype, name=f"extra_{index}")(x, train)
    if self.use_conv3x3:
      x = ConvBNReLU(width, (3, 3), dtype=self.dtype, name="conv3x3")(x, train)
    x = upsample_bilinear2x(x)
    x = ConvBNReLU(skip.shape[-1], (1, 1), dtype=self.dtype, name="conv1x1")(x, train)
    return nn.relu(x + skip.astype(self.dtype))


class ASNet(SegmentationModel):
  """Adaptive scale network; see the module docstring for the Table 2 switches.

  Attributes:
    resnet_depth: encoder depth (paper: 34).
    resnet_width: ResNet base width; 64 for ImageNet weights, every decoder
      and head width scales with it.
    use_asm: False is Table 2's Baseline (c5 straight to the decoder).
    asm_dilations: the shared kernel's dilations; (1, 1, 1) is "ASM w/o DI".
    scale_aware_fusion: False is "ASM w/o SA" (branches averaged).
    share_sam_weights: one SAM used twice instead of two.
    decoder_extra_blocks: residual blocks at the input of every decoder level;
      `BASELINE_WIDE_EXTRA_BLOCKS` with use_asm=False is Baseline-Wide.
  """

  resnet_depth: int = 34
  resnet_width: int = 64
  use_asm: bool = True
  asm_dilations: Sequence[int] = (1, 2, 4)
  scale_aware_fusion: bool = True
  share_sam_weights: bool = False
  decoder_extra_blocks: int = 0

  smoke_fields = {"resnet_width": 4}

  @nn.compact
  def __call__(self, images, train: bool = False):
    check_input_size(images, TOTAL_STRIDE, "ASNet")
    if self.decoder_extra_blocks < 0:
      raise ConfigError(f"decoder_extra_blocks must be >= 0; got {self.decoder_extra_blocks}.")
    images = images.astype(self.dtype)
    features = resnet_backbone(self)(images, train)
    x = features["layer4"]
    if self.use_asm:
      x = AdaptiveScaleModule(
        tuple(self.asm_dilations),
        self.scale_aware_fusion,
        self.share_sam_weights,
        self.dtype,
        name="asm",
      )(x, train)
    for name, skip, use_conv3x3 in DECODER_LEVELS:
      x = rematerialized(DecoderLevel, self.remat, train_argnum=3)(
        self.decoder_extra_blocks, use_conv3x3, self.dtype, name=name
      )(x, features[skip], train)
    head_width = max(1, HEAD_WIDTH * self.resnet_width // 64)
    x = upsample_bilinear2x(x)
    x = ConvBNReLU(head_width, (1, 1), dtype=self.dtype, name="head_conv1x1")(x, train)
    x = ConvBNReLU(head_width, (3, 3), dtype=self.dtype, name="head_conv3x3")(x, train)
    logits = conv_with_bias(1, 1, self.dtype, "head")(x)
    return {"logits": logits.astype(jnp.float32)}


__all__ = [
  "BASELINE_WIDE_EXTRA_BLOCKS",
  "ASNet",
  "AdaptiveScaleModule",
  "DecoderLevel",
  "ScaleAwareModule",
  "SharedDilatedConv",
]
