"""CE-Net baseline (Gu et al. 2019, "CE-Net: Context Encoder Network for 2D Medical Image
Segmentation", IEEE TMI).

Source followed: class `CE_Net_` of the authors' code, github.com/Guzaiwang/CE-Net
(`networks/cenet.py` of the first submission; `src/lib/models/networks/cenet.py` now):

  encoder   torchvision ResNet-34 (`resnet_depth` 34; 18 for tests) as "backbone", so its
            ImageNet weights load; e1..e4 = layer1..layer4 (strides 4..32, 64..512 channels)
  DAC       dense atrous convolution on e4: with 3x3 convolutions d1, d3, d5 (dilations 1, 3,
            5; the reference's dilate1..3) and a 1x1 convolution p, all with bias, no BN, the
            weights shared between the branches as the reference does:
              x + relu(d1 x) + relu(p d3 x) + relu(p d3 d1 x) + relu(p d5 d3 d1 x)
  RMP       residual multi-kernel pooling: max pools of size = stride 2, 3, 5, 6, one shared
            1x1 convolution (bias) to 1 channel, bilinear upsampling to the map's size,
            concatenated with the map (512 + 4 channels)
  decoder   four blocks: 1x1 conv to in/4 channels, 3x3 stride-2 transposed conv, 1x1 conv to
            the next encoder level's width, each BN + ReLU; plus the skip (d4 + e3, d3 + e2,
            d2 + e1; the last block, to 64 channels at stride 2, has none)
  head      4x4 stride-2 transposed conv to `head_width` (32) + ReLU, 3x3 conv + ReLU, 3x3 conv
            to `num_classes` logits (the reference returns their sigmoid; we return logits)

H and W must be divisible by 32.

What we changed:
- Small inputs: the reference's pools floor the stride-32 map, so it needs that map at least
  6x6 (inputs of 192 or more) and fails below. Here each pool's window and stride are clamped
  to the map's height and width, which changes nothing at 6x6 and above and pools the whole axis
  below (our tests run at 32x64, a 1x2 map).
- Convolutions followed by BatchNorm have no bias (the project's `ConvBNReLU` convention; BN
  subtracts them again, so they change no output): we have their 994 parameters fewer. At 3
  input channels and 1 class the reference has 29,003,093 parameters (measured by instantiating
  `CE_Net_` on torchvision's resnet34), we have 29,002,099.
- Transposed convolutions use 'SAME' padding (`blocks.ConvTranspose`): the 4x4 ones pad as the
  reference's padding=1; the 3x3 ones pad the dilated input (2, 1) where the reference's
  padding=1, output_padding=1 pads (1, 2), the same output size, shifted by one pixel of the
  upsampled grid.
- Initialisation is PyTorch's default (`blocks.Conv`); the reference zeroes the DAC biases.
- DAC, RMP and the head are not rematerialised (`remat`): DAC and RMP run at stride 32, and
  `blocks.rematerialized` needs a `train` argument, which the BN-free head has not.
"""

import flax.linen as nn
import jax.numpy as jnp

from jaxseg.models.base import SegmentationModel
from jaxseg.models.blocks import (
  Conv,
  ConvBNReLU,
  ConvTranspose,
  Dtype,
  batch_norm,
  check_input_size,
  conv_with_bias,
  rematerialized,
  resize_to,
)
from jaxseg.models.conv_lowering import max_pool
from jaxseg.models.resnet import resnet_backbone

RMP_POOL_SIZES = (2, 3, 5, 6)


class DenseAtrousConvolution(nn.Module):
  """The DAC block: four cascades of shared atrous convolutions added to the input."""

  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]

    def atrous(dilation: int, name: str):
      return Conv(
        channels,
        (3, 3),
        kernel_dilation=dilation,
        padding="SAME",
        dtype=self.dtype,
        param_dtype=jnp.float32,
        name=name,
      )

    # The reference's names: dilate1, dilate2, dilate3 have dilations 1, 3, 5.
    dilate1, dilate2, dilate3 = atrous(1, "dilate1"), atrous(3, "dilate2"), atrous(5, "dilate3")
    conv1x1 = conv_with_bias(channels, 1, self.dtype, "conv1x1")
    d1 = dilate1(x)
    d3_d1 = dilate2(d1)
    return (
      x
      + nn.relu(d1)
      + nn.relu(conv1x1(dilate2(x)))
      + nn.relu(conv1x1(d3_d1))
      + nn.relu(conv1x1(dilate3(d3_d1)))
    )


class ResidualMultiKernelPooling(nn.Module):
  """The RMP block: max pools of several sizes, each to one channel, upsampled, concatenated."""

  pool_sizes: tuple[int, ...] = RMP_POOL_SIZES
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    height, width = x.shape[1:3]
    # One 1x1 convolution for every pool size, as the reference's `self.conv`.
    to_one_channel = conv_with_bias(1, 1, self.dtype, "conv")
    levels = []
    for size in self.pool_sizes:
      # Windows clamped to the map: the reference's pools need the map >= size (module docstring).
      window = (min(size, height), min(size, width))
      pooled = max_pool(x, window, strides=window, padding="VALID")
      levels.append(resize_to(to_one_channel(pooled), height, width).astype(x.dtype))
    return jnp.concatenate([*levels, x], axis=-1)


class DecoderBlock(nn.Module):
  """1x1 conv to in/4, 3x3 stride-2 transposed conv, 1x1 conv to `features`; BN + ReLU each."""

  features: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    reduced = x.shape[-1] // 4
    x = ConvBNReLU(reduced, (1, 1), dtype=self.dtype, name="conv1")(x, train)
    x = ConvTranspose(
      reduced, (3, 3), strides=(2, 2), use_bias=False, dtype=self.dtype, name="deconv2"
    )(x)
    x = nn.relu(batch_norm(train, self.dtype, name="norm2")(x))
    return ConvBNReLU(self.features, (1, 1), dtype=self.dtype, name="conv3")(x, train)


class CENet(SegmentationModel):
  """CE-Net: ResNet encoder, DAC + RMP context encoder, additive-skip decoder."""

  resnet_depth: int = 34
  resnet_width: int = 64
  # Channels of the head's transposed conv and 3x3 conv (the reference's 32).
  head_width: int = 32
  num_classes: int = 1

  smoke_fields = {"resnet_depth": 18, "resnet_width": 4, "head_width": 4}

  @nn.compact
  def __call__(self, images, train: bool = False):
    check_input_size(images, 32, "CENet")
    backbone = resnet_backbone(self)
    features = backbone(images.astype(self.dtype), train)
    channels = backbone.feature_channels

    x = DenseAtrousConvolution(self.dtype, name="dac")(features["layer4"])
    x = ResidualMultiKernelPooling(dtype=self.dtype, name="rmp")(x)

    decoder_block = rematerialized(DecoderBlock, self.remat)
    for level in (4, 3, 2):
      x = decoder_block(channels[f"layer{level - 1}"], self.dtype, name=f"decoder{level}")(x, train)
      x = x + features[f"layer{level - 1}"]
    x = decoder_block(channels["layer1"], self.dtype, name="decoder1")(x, train)

    x = ConvTranspose(
      self.head_width, (4, 4), strides=(2, 2), dtype=self.dtype, name="finaldeconv1"
    )(x)
    x = nn.relu(conv_with_bias(self.head_width, 3, self.dtype, "finalconv2")(nn.relu(x)))
    logits = conv_with_bias(self.num_classes, 3, self.dtype, "finalconv3")(x)
    return {"logits": logits.astype(jnp.float32)}
