"""DeepLabv3+ baseline (Chen et al. 2018, "Encoder-Decoder with Atrous Separable Convolution for
Semantic Image Segmentation"), with a ResNet encoder.

Source followed: the paper's ResNet variant as the widely used PyTorch port builds it,
`deeplabv3plus_resnet50` of github.com/VainF/DeepLabV3Plus-Pytorch (`network/modeling.py`,
`network/_deeplab.py`: `DeepLabHeadV3Plus`, `ASPP`), with the paper's decoder:

  encoder   torchvision ResNet-50 (`resnet_depth` 50 or 101) as "backbone", output stride 16
            (layer4 dilated by 2) or 8 (layer3 and layer4 dilated by 2 and 4)
  ASPP      on layer4: 1x1 conv, three 3x3 atrous convs (rates 6, 12, 18 at output stride 16,
            doubled at 8), image pooling; each 256 channels with BN + ReLU, concatenated,
            projected by a 1x1 conv-BN-ReLU to 256, dropout 0.1 (`blocks.ASPP`)
  decoder   layer1 (stride 4) projected by a 1x1 conv-BN-ReLU to 48 channels; ASPP output
            upsampled bilinearly to stride 4; concatenated (low-level first); two 3x3
            conv-BN-ReLU to 256; 1x1 classifier (bias) to `num_classes` logits
  output    bilinear upsampling of the logits to the input size (align_corners=False)

H and W must be divisible by the output stride.

Differences from the reference (VainF's `deeplabv3plus_resnet50`):
- The decoder has the paper's two 3x3 conv-BN-ReLU layers (paper Sec. 3.1, and the authors'
  tensorflow/models research/deeplab, and jfzhang95/pytorch-deeplab-xception); VainF's
  `DeepLabHeadV3Plus` has one. That second layer is our only extra parameters:
  9 * 256 * 256 + 2 * 256 = 590,336. At 3 input channels and 1 class the reference has
  39,756,705 parameters (measured by instantiating its classes on torchvision's resnet50 with
  `replace_stride_with_dilation=[False, False, True]`), we have 40,347,041.
- Dropout 0.1 after the ASPP projection as in VainF's and the authors' TF code (keep_prob 0.9);
  no dropout in the decoder (jfzhang95's port adds 0.5 and 0.1 there, and 0.5 in ASPP).
- Plain (not depthwise-separable) 3x3 convolutions in ASPP and decoder, as both PyTorch ports
  for ResNet; the paper's separable convolutions belong to its Xception variant.
- Convolutions are initialised as PyTorch's defaults (`blocks.Conv`), the encoder as
  torchvision's; VainF re-initialises its head with Kaiming-normal.
"""

import flax.linen as nn
import jax.numpy as jnp

from jaxseg.errors import ConfigError
from jaxseg.models.base import SegmentationModel
from jaxseg.models.blocks import (
  ASPP,
  ConvBNReLU,
  Dtype,
  check_input_size,
  conv_with_bias,
  rematerialized,
  resize_to,
)
from jaxseg.models.resnet import resnet_backbone

# ASPP atrous rates of the paper (and both ports) per output stride.
ASPP_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}


class DeepLabV3PlusDecoder(nn.Module):
  """Low-level projection, upsampled ASPP features, two 3x3 conv-BN-ReLU layers."""

  width: int = 256
  low_level_width: int = 48
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, aspp_features, low_level, train: bool):
    low_level = ConvBNReLU(
      self.low_level_width, (1, 1), dtype=self.dtype, name="low_level_projection"
    )(low_level, train)
    upsampled = resize_to(aspp_features, *low_level.shape[1:3])
    x = jnp.concatenate([low_level, upsampled.astype(low_level.dtype)], axis=-1)
    for index in range(2):
      x = ConvBNReLU(self.width, (3, 3), dtype=self.dtype, name=f"conv_{index}")(x, train)
    return x


class DeepLabV3Plus(SegmentationModel):
  """DeepLabv3+ with a torchvision-layout ResNet encoder; see the module docstring."""

  resnet_depth: int = 50
  resnet_width: int = 64
  output_stride: int = 16
  # ASPP and decoder channels (256), and the low-level projection's (48).
  width: int = 256
  low_level_width: int = 48
  aspp_dropout_rate: float = 0.1
  num_classes: int = 1

  smoke_fields = {"resnet_depth": 18, "resnet_width": 4, "width": 8, "low_level_width": 4}

  @nn.compact
  def __call__(self, images, train: bool = False):
    if self.output_stride not in ASPP_RATES:
      raise ConfigError(
        f"DeepLabV3Plus output_stride must be one of {sorted(ASPP_RATES)}; "
        f"got {self.output_stride}."
      )
    height, width = check_input_size(
      images, self.output_stride, f"DeepLabV3Plus at output stride {self.output_stride}"
    )
    backbone = resnet_backbone(self, output_stride=self.output_stride)
    features = backbone(images.astype(self.dtype), train)
    aspp = rematerialized(ASPP, self.remat)(
      features=self.width,
      projection_features=self.width,
      atrous_rates=ASPP_RATES[self.output_stride],
      dropout_rate=self.aspp_dropout_rate,
      dtype=self.dtype,
      name="aspp",
    )(features["layer4"], train)
    decoded = rematerialized(DeepLabV3PlusDecoder, self.remat, train_argnum=3)(
      self.width, self.low_level_width, self.dtype, name="decoder"
    )(aspp, features["layer1"], train)
    logits = conv_with_bias(self.num_classes, 1, self.dtype, "classifier")(decoded)
    return {"logits": resize_to(logits, height, width).astype(jnp.float32)}
