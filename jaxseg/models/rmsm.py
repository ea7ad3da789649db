"""Residual multi-scale dual-attention U-Net (paper 002; docs/papers.md, "rmsm (paper 002)").

A ResUNet-style network (encoder, bridge, decoder) built from residual
multi-scale modules (RMSM), with two attention modules: DF-RAM refines each
encoder skip with the decoder feature before concatenation, EF-RAM refines the
output of each decoder RMSM. Head: 1x1 convolution to one logit (sigmoid).

  input (H, W)      encoder_0  RMSM  64w, stride 1 -> H,   W      (skip 0)
                    encoder_1  RMSM 128w, stride 2 -> H/2, W/2    (skip 1)
                    encoder_2  RMSM 256w, stride 2 -> H/4, W/4    (skip 2)
                    bridge     RMSM 512w, stride 2 -> H/8, W/8
  for level 2, 1, 0: x = concat(DF-RAM(skip, x), upsample2x(x)); RMSM; EF-RAM
                    head       conv1x1 -> 1 logit at (H, W)

where w = base_width / 64 (base_width 64 gives the paper's widths). H and W
must be divisible by 8.

Table II rows are the switches `block`, `use_df_ram` and `use_ef_ram`:
  UNet                          ("unet", False, False)
  RMSM UNet                     ("rmsm", False, False)
  RMSM UNet + DF-RAM            ("rmsm", True,  False)
  RMSM UNet + EF-RAM            ("rmsm", False, True)
  RMSM UNet + DF-RAM + EF-RAM   ("rmsm", True,  True)   the proposed model

Choices beyond the paper (why: docs/papers.md, "rmsm (paper 002)"):
- RMSM (eq. 1 and §III-A): the 1x1, 3x3 and 5x5 branches are conv (no bias)
  -> BN -> ReLU; the fusing 1x1 "bottleneck" conv has a bias and no BN. The
  residual is added, as in ResUNet (eq. 1 writes a concatenation):
  ReLU(fused + proj(x)), proj a 1x1 conv (with bias, no BN) only when width
  or stride changes. The fusing conv and proj take the stride (§III-C), the
  branches run at full resolution.
- block="unet" replaces every RMSM by U-Net's conv-BN-ReLU double conv; a
  stride-2 level then max-pools 2x2 first, as U-Net does. Everything else
  (bilinear upsampling, widths, head) stays, so the row isolates the block.
- DF-RAM's decoder feature D is the map *before* upsampling (the previous
  decoder block's output, or the bridge's). Upsampling is bilinear x2
  throughout (§III-B2).
- Channel attention MLP (eq. 2 and 5): Dense(C_in / 16) -> ReLU -> Dense(C_out)
  with biases, as in CBAM; C_in is the pooled map's width (D for DF-RAM, S
  for EF-RAM), C_out that of S. Reduced widths never go below 1 so tiny test
  models stay well formed. The DF-RAM text says max pooling, eq. 2 says GAP:
  GAP by default, `attention_pooling="max"` switches DF-RAM to max pooling
  (EF-RAM is GAP in both text and eq. 5, so it always uses GAP).
- Spatial attention (eq. 3 and 6): the 1x1 squeezes (to C/16) and the 3x3,
  5x5, 7x7, 9x9 convs to one channel have biases and no BN or activation;
  the four maps are summed before the sigmoid. Eq. 6's "Con9x7" is read as
  9x9, as the text lists.
"""

from typing import Literal

import flax.linen as nn
import jax.numpy as jnp

from jaxseg.errors import ConfigError
from jaxseg.models.base import SegmentationModel
from jaxseg.models.blocks import (
  ConvBNReLU,
  Dense,
  DoubleConv,
  Dtype,
  check_input_size,
  conv_with_bias,
  rematerialized,
  upsample_bilinear2x,
)
from jaxseg.models.conv_lowering import max_pool

REDUCTION = 16
SPATIAL_KERNELS = (3, 5, 7, 9)
ENCODER_WIDTHS = (64, 128, 256)  # at base_width 64
ENCODER_STRIDES = (1, 2, 2)
BRIDGE_WIDTH = 512
TOTAL_STRIDE = 8


def _reduced(channels: int) -> int:
  return max(1, channels // REDUCTION)


class LevelBlock(nn.Module):
  """The fields of a level's block, so `RMSMUNet._block` builds either kind alike."""

  features: int
  strides: int = 1
  dtype: Dtype = jnp.float32


class RMSMBlock(LevelBlock):
  """Residual multi-scale module: ReLU(conv1x1(concat(b1, b3, b5)) + proj(x))."""

  @nn.compact
  def __call__(self, x, train: bool):
    branches = [
      ConvBNReLU(self.features, (k, k), dtype=self.dtype, name=f"branch_{k}x{k}")(x, train)
      for k in (1, 3, 5)
    ]
    fused = conv_with_bias(self.features, 1, self.dtype, "fuse", self.strides)(
      jnp.concatenate(branches, axis=-1)
    )
    shortcut = x
    if self.strides != 1 or x.shape[-1] != self.features:
      shortcut = conv_with_bias(self.features, 1, self.dtype, "projection", self.strides)(x)
    return nn.relu(fused + shortcut)


class PlainBlock(LevelBlock):
  """U-Net level for the Table II baseline: optional 2x2 max pool, then double conv."""

  @nn.compact
  def __call__(self, x, train: bool):
    if self.strides != 1:
      x = max_pool(x, (self.strides, self.strides), strides=(self.strides, self.strides))
    return DoubleConv(self.features, dtype=self.dtype, name="double_conv")(x, train)


class SqueezeExcitationWeights(nn.Module):
  """sigmoid(MLP(pool(x))): [B, H, W, C_in] -> [B, 1, 1, features]."""

  features: int
  pooling: Literal["avg", "max"] = "avg"
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    if self.pooling == "avg":
      pooled = jnp.mean(x, axis=(1, 2), keepdims=True)
    elif self.pooling == "max":
      pooled = jnp.max(x, axis=(1, 2), keepdims=True)
    else:
      raise ConfigError(f"attention pooling must be 'avg' or 'max'; got {self.pooling!r}.")
    hidden = Dense(_reduced(x.shape[-1]), dtype=self.dtype, param_dtype=jnp.float32, name="hidden")(
      pooled
    )
    out = Dense(self.features, dtype=self.dtype, param_dtype=jnp.float32, name="out")(
      nn.relu(hidden)
    )
    return nn.sigmoid(out)


class MultiKernelSpatialAttention(nn.Module):
  """sigmoid(sum over k in 3, 5, 7, 9 of conv_kxk(x) to one channel): [B, H, W, 1]."""

  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    total = sum(conv_with_bias(1, k, self.dtype, f"conv_{k}x{k}")(x) for k in SPATIAL_KERNELS)
    return nn.sigmoid(total)


class DFRAM(nn.Module):
  """Decoder feature refinement attention (eq. 2-4): S * CHA(D) * SPA(S, D).

  `skip` is S (the encoder feature); `decoder` is D at half S's resolution.
  """

  pooling: Literal["avg", "max"] = "avg"
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, skip, decoder):
    skip_width, decoder_width = skip.shape[-1], decoder.shape[-1]
    channel = SqueezeExcitationWeights(skip_width, self.pooling, self.dtype, name="channel")(
      decoder
    )
    skip_reduced = conv_with_bias(_reduced(skip_width), 1, self.dtype, "reduce_skip")(skip)
    decoder_reduced = upsample_bilinear2x(
      conv_with_bias(_reduced(decoder_width), 1, self.dtype, "reduce_decoder")(decoder)
    )
    spatial = MultiKernelSpatialAttention(self.dtype, name="spatial")(
      jnp.concatenate([skip_reduced, decoder_reduced], axis=-1)
    )
    return skip * channel * spatial


class EFRAM(nn.Module):
  """Encoder feature refinement attention (eq. 5-7): S * CHA(S) * SPA(S)."""

  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    channel = SqueezeExcitationWeights(x.shape[-1], "avg", self.dtype, name="channel")(x)
    reduced = conv_with_bias(_reduced(x.shape[-1]), 1, self.dtype, "reduce")(x)
    spatial = MultiKernelSpatialAttention(self.dtype, name="spatial")(reduced)
    return x * channel * spatial


class RMSMUNet(SegmentationModel):
  """Residual multi-scale dual-attention U-Net; see the module docstring for the switches."""

  base_width: int = 64
  block: Literal["unet", "rmsm"] = "rmsm"
  use_df_ram: bool = True
  use_ef_ram: bool = True
  attention_pooling: Literal["avg", "max"] = "avg"

  smoke_fields = {"base_width": 4}

  def _width(self, paper_width: int) -> int:
    return paper_width * self.base_width // 64

  def _block(self, paper_width: int, strides: int, name: str) -> nn.Module:
    if self.block == "rmsm":
      block = rematerialized(RMSMBlock, self.remat)
      return block(self._width(paper_width), strides, self.dtype, name=name)
    if self.block == "unet":
      block = rematerialized(PlainBlock, self.remat)
      return block(self._width(paper_width), strides, self.dtype, name=name)
    raise ConfigError(f"block must be 'unet' or 'rmsm'; got {self.block!r}.")

  @nn.compact
  def __call__(self, images, train: bool = False):
    height, width = check_input_size(images, TOTAL_STRIDE, "RMSMUNet")
    x = images.astype(self.dtype)
    skips = []
    for level, (paper_width, strides) in enumerate(
      zip(ENCODER_WIDTHS, ENCODER_STRIDES, strict=True)
    ):
      x = self._block(paper_width, strides, f"encoder_{level}")(x, train)
      skips.append(x)
    x = self._block(BRIDGE_WIDTH, 2, "bridge")(x, train)
    for level in reversed(range(len(ENCODER_WIDTHS))):
      skip = skips[level]
      if self.use_df_ram:
        # D is the coarse map, before upsampling (module docstring).
        skip = DFRAM(self.attention_pooling, self.dtype, name=f"df_ram_{level}")(skip, x)
      x = jnp.concatenate([skip, upsample_bilinear2x(x)], axis=-1)
      x = self._block(ENCODER_WIDTHS[level], 1, f"decoder_{level}")(x, train)
      if self.use_ef_ram:
        x = EFRAM(self.dtype, name=f"ef_ram_{level}")(x)
    logits = conv_with_bias(1, 1, self.dtype, "head")(x)
    return {"logits": logits.astype(jnp.float32)}
