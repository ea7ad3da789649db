"""SegNet (Badrinarayanan, Kendall and Cipolla 2017; docs/papers.md, "Baselines").

Encoder: VGG-16-BN's 13 convolutions (`jaxseg.models.vgg`, the submodule
"backbone", so torchvision's ImageNet `vgg16_bn` weights load through
`config.pretrained_backbone`; convert without `--fc6-fc7`). Each of its five
2x2 max pools remembers where every maximum came from. Decoder: the encoder
mirrored, each stage starting with a max-unpooling that puts the values back
where the matching encoder pool found its maxima (no learned upsampling, no
skip features), then 3x3 convolution + BN + ReLU layers; a 3x3 convolution to
the logits closes it.

Source followed: the authors' Caffe model (github.com/alexgkendall/caffe-segnet,
Models/segnet_train.prototxt), layer for layer:

  decoder stage   layers (width at base_width=64)
  5               conv5_3_D 512, conv5_2_D 512, conv5_1_D 512
  4               conv4_3_D 512, conv4_2_D 512, conv4_1_D 256
  3               conv3_3_D 256, conv3_2_D 256, conv3_1_D 128
  2               conv2_2_D 128, conv2_1_D 64
  1               conv1_2_D 64
  classifier      conv1_1_D: 3x3 to num_classes, no BN (Caffe's conv1_1_D)

All convolutions have biases, as in Caffe (and torchvision's VGG). The widely
used PyTorch port (github.com/yassouali/pytorch-segmentation,
models/segnet.py) has one more 64-channel conv-BN-ReLU before the classifier.

Pooling indices without a scatter: `vgg.max_pool_2x2_argmax` gives a one-hot
mask of each 2x2 window's maximum (ties to the first, as PyTorch), and
`vgg.max_unpool_2x2` multiplies the nearest-upsampled values with it, which
is `MaxUnpool2d` with those indices.

Parameters at num_classes 1 and 3 input channels: the Caffe layout above
29,443,585 (ours, the same layers: equal; pinned in tests/test_segnet.py);
yassouali's port 29,480,641 (its extra 64-channel layer). Our changes: input
H and W must be divisible by 32 (five exact 2x2 pools; Caffe's upsample layers
take the encoder's size instead); decoder kernels He-normal (Caffe's "msra"),
biases PyTorch's default uniform rather than Caffe's zeros.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxseg.models.base import SegmentationModel
from jaxseg.models.blocks import Conv, Dtype, batch_norm, check_input_size, rematerialized
from jaxseg.models.vgg import VGG, max_pool_2x2_argmax, max_unpool_2x2

# Decoder stage -> widths of its conv-BN-ReLU layers in units of base_width, in order.
DECODER_WIDTHS: dict[int, tuple[int, ...]] = {
  5: (8, 8, 8),
  4: (8, 8, 4),
  3: (4, 4, 2),
  2: (2, 1),
  1: (1,),
}

# Caffe's "msra" filler: He normal, fan-in.
he_normal = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


class SegNetDecoderStage(nn.Module):
  """3x3 convolution + BN + ReLU layers named as Caffe's (conv{stage}_{n}_D, n counting down)."""

  stage: int
  widths: Sequence[int]
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    for position, width in enumerate(self.widths):
      name = f"conv{self.stage}_{len(self.widths) + (self.stage == 1) - position}_D"
      x = Conv(
        width,
        (3, 3),
        padding="SAME",
        kernel_init=he_normal,
        dtype=self.dtype,
        param_dtype=jnp.float32,
        name=name,
      )(x)
      x = nn.relu(batch_norm(train, self.dtype, name=f"{name}_bn")(x))
    return x


class SegNet(SegmentationModel):
  """SegNet with a VGG-16-BN encoder; `base_width` (64: the paper's, ImageNet weights) scales it.

  `remat` rematerialises each encoder and decoder stage.
  """

  base_width: int = 64
  num_classes: int = 1

  smoke_fields = {"base_width": 4}

  stride = 32

  @nn.compact
  def __call__(self, images, train: bool = False):
    check_input_size(images, self.stride, "SegNet")
    features = VGG(
      batch_norm=True,
      base_width=self.base_width,
      dtype=self.dtype,
      remat=self.remat,
      name="backbone",
    )(images, train)
    decoder_stage = rematerialized(SegNetDecoderStage, self.remat)
    x = features["pool5"]
    for stage in (5, 4, 3, 2, 1):
      _, mask = max_pool_2x2_argmax(features[f"conv{stage}"])
      x = max_unpool_2x2(x, mask)
      widths = tuple(self.base_width * multiple for multiple in DECODER_WIDTHS[stage])
      x = decoder_stage(stage, widths, dtype=self.dtype, name=f"decoder{stage}")(x, train)
    logits = Conv(
      self.num_classes,
      (3, 3),
      padding="SAME",
      kernel_init=he_normal,
      dtype=self.dtype,
      param_dtype=jnp.float32,
      name="classifier",
    )(x)
    return {"logits": logits.astype(jnp.float32)}


__all__ = ["DECODER_WIDTHS", "SegNet", "SegNetDecoderStage"]
