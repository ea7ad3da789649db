"""FCN-8s (Long, Shelhamer and Darrell 2015; docs/papers.md, "Baselines").

The VGG-16 classifier made fully convolutional (`jaxseg.models.vgg` with
`fc_width`, the submodule "backbone"): fc6 a 7x7 convolution (4096) + ReLU +
dropout, fc7 a 1x1 convolution (4096) + ReLU + dropout. Scores at three
scales are fused coarse to fine: score_fr (1x1 on fc7, 1/32) is upsampled x2
by a transposed convolution (upscore2) and added to score_pool4 (1x1 on pool4,
1/16); that sum is upsampled x2 (upscore_pool4) and added to score_pool3 (1x1
on pool3, 1/8); a x8 transposed convolution (upscore8) gives the logits at the
input size.

Source followed: wkentaro/pytorch-fcn, torchfcn/models/fcn8s.py (`FCN8s`, the
PyTorch port of the authors' Caffe model), layer for layer: transposed
convolutions 4x4/2, 4x4/2 and 16x16/8 without bias, initialised to bilinear
upsampling as the paper (and learned, as there); score layers initialised to
zero, as the paper; dropout is channel dropout (Dropout2d), 0.5.

Our changes, and why:
- 'SAME' padding, so every map keeps its size and the output has the input's
  size; the input's H and W must be divisible by 32. The reference pads conv1_1
  by 100 (so fc6's unpadded 7x7 fits small inputs) and crops each fused score
  map by fixed offsets (5, 9, 31); here fc6 is 'SAME'-padded 7x7 and nothing is
  cropped. The upsampling kernels are aligned as bilinear x2 / x8 resizing.
- The encoder is VGG-16-BN (BatchNorm after each of the 13 convolutions), not
  plain VGG-16: the model contract (`jaxseg.models.registry`) and the training
  loop keep BatchNorm statistics, and training from scratch needs them.
  ImageNet weights: torchvision's `vgg16_bn`, converted with `--fc6-fc7` (its
  classifier.0 / classifier.3 become fc6 / fc7, as FCN convolutionalised VGG).
- Score-layer biases and fc6/fc7 biases start from PyTorch's default uniform
  rather than zero (`blocks.Conv`).

Parameters at num_classes 1 and 3 input channels: the reference 134,265,699;
ours 134,274,147, the difference being the 13 BatchNorms' scale and offset
(2 x 4,224 = 8,448). Pinned in tests/test_fcn8s.py.
"""

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from jaxseg.models.base import SegmentationModel
from jaxseg.models.blocks import Conv, ConvTranspose, check_input_size
from jaxseg.models.vgg import VGG


def bilinear_upsampling_init(key, shape, dtype=jnp.float32):
  """A [k, k, C, C] transposed-convolution kernel doing bilinear upsampling per channel.

  FCN's (and pytorch-fcn's `get_upsampling_weight`) filter: each channel maps to
  itself through the separable triangle filter of a k x k window. `key` is unused.
  """
  del key
  size, _, in_channels, out_channels = shape
  factor = (size + 1) // 2
  centre = factor - 1 if size % 2 else factor - 0.5
  triangle = 1 - np.abs(np.arange(size) - centre) / factor
  kernel = np.zeros(shape, np.float32)
  for channel in range(min(in_channels, out_channels)):
    kernel[:, :, channel, channel] = np.outer(triangle, triangle)
  return jnp.asarray(kernel, dtype)


class FCN8s(SegmentationModel):
  """FCN-8s on VGG-16-BN; `base_width` (64) and `fc_width` (4096) are the paper's sizes.

  `remat` rematerialises each encoder stage.
  """

  base_width: int = 64
  fc_width: int = 4096
  dropout_rate: float = 0.5
  num_classes: int = 1

  smoke_fields = {"base_width": 4, "fc_width": 32}

  stride = 32

  def score(self, x, name: str):
    """A 1x1 class-score convolution, zero-initialised as FCN's."""
    return Conv(
      self.num_classes,
      (1, 1),
      kernel_init=nn.initializers.zeros,
      dtype=self.dtype,
      param_dtype=jnp.float32,
      name=name,
    )(x)

  def upsample(self, x, factor: int, name: str):
    """A bias-free transposed convolution, kernel 2 x factor, initialised to bilinear upsampling."""
    return ConvTranspose(
      self.num_classes,
      (2 * factor, 2 * factor),
      strides=(factor, factor),
      use_bias=False,
      kernel_init=bilinear_upsampling_init,
      dtype=self.dtype,
      name=name,
    )(x)

  @nn.compact
  def __call__(self, images, train: bool = False):
    check_input_size(images, self.stride, "FCN-8s")
    features = VGG(
      batch_norm=True,
      base_width=self.base_width,
      fc_width=self.fc_width,
      fc_dropout=self.dropout_rate,
      dtype=self.dtype,
      remat=self.remat,
      name="backbone",
    )(images, train)
    x = self.upsample(self.score(features["fc7"], "score_fr"), 2, "upscore2")
    x = x + self.score(features["pool4"], "score_pool4")
    x = self.upsample(x, 2, "upscore_pool4")
    x = x + self.score(features["pool3"], "score_pool3")
    logits = self.upsample(x, 8, "upscore8")
    return {"logits": logits.astype(jnp.float32)}


__all__ = ["FCN8s", "bilinear_upsampling_init"]
