"""VGG-16 and VGG-16-BN encoders in torchvision's layout (segnet, fcn8s).

Their ImageNet weights: docs/papers.md, "Pretrained weights".

torchvision's `vgg16` / `vgg16_bn` `features`: five stages of 3x3 convolutions
(padding 1, with bias), each followed by ReLU (VGG-16) or BatchNorm + ReLU
(VGG-16-BN), and a 2x2/2 max pool after every stage:

  stage   convolutions   width (base_width=64)   after its pool
  1       conv1_1..1_2   64                      1/2
  2       conv2_1..2_2   128                     1/4
  3       conv3_1..3_3   256                     1/8
  4       conv4_1..4_3   512                     1/16
  5       conv5_1..5_3   512                     1/32

With `fc_width` > 0 (FCN-8s) the classifier's fc6 and fc7 follow, "convolutionalised"
as in FCN (Long et al. 2015): fc6 a 7x7 convolution, fc7 a 1x1 convolution, each
+ ReLU + channel dropout (`fc_dropout`, torchvision's and FCN's 0.5). fc6 is
'SAME'-padded, so it keeps pool5's size (FCN pads conv1_1 by 100 instead and
crops later; see `jaxseg.models.fcn8s`).

Module and parameter names (Caffe/FCN's layer names, grouped by stage so that
`remat` can act per stage) and the torchvision keys they come from
(`jaxseg.models.convert_torchvision`):

  torchvision (vgg16_bn)                      flax (params / batch_stats)
  features.0.{weight,bias}                    stage1/conv1_1/{kernel,bias}
  features.1.{weight,bias}                    stage1/bn1_1/{scale,bias}
  features.1.running_{mean,var}               stage1/bn1_1/{mean,var}
  features.40.*                               stage5/conv5_3/*   (vgg16: features.28)
  classifier.0.* (Linear 25088 -> 4096)       fc6/* (7x7x512x4096 kernel)
  classifier.3.* (Linear 4096 -> 4096)        fc7/* (1x1x4096x4096 kernel)

Returns a dict: `conv1`..`conv5`, each stage's output before its pool (SegNet's
pooling indices come from these, see `max_pool_2x2_argmax`), `pool1`..`pool5`
after it, and `fc7` when `fc_width` > 0. `feature_channels` gives the widths.
`base_width` (torchvision: 64) scales every stage so tests can build tiny
networks; pretrained weights need 64.

Initialisation is torchvision's for kernels: convolutions Kaiming-normal
(fan-out, ReLU), fc6/fc7 normal(0, 0.01) (as its Linear layers), BN scale 1 /
bias 0. Biases keep `blocks.Conv`'s PyTorch-default U(+-1/sqrt(fan_in)) where
torchvision zeroes them: small either way, and ImageNet weights replace all of
it through `jaxseg.models.pretrained.load_pretrained_backbone`.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxseg.models.blocks import Conv, Dtype, batch_norm, rematerialized
from jaxseg.models.conv_lowering import max_pool

# Convolutions per stage and their width in units of base_width: torchvision's cfg "D".
VGG16_STAGES: tuple[tuple[int, int], ...] = ((2, 1), (2, 2), (3, 4), (3, 8), (3, 8))

# torchvision's kaiming_normal_(mode="fan_out", nonlinearity="relu") for VGG convolutions.
kaiming_fan_out = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def torchvision_feature_indices(batch_norm_layers: bool) -> dict[str, int]:
  """{flax module name: index in torchvision's `features`}, walking cfg "D" as `make_layers`."""
  indices, index = {}, 0
  for stage, (num_convs, _) in enumerate(VGG16_STAGES, start=1):
    for conv in range(1, num_convs + 1):
      indices[f"stage{stage}/conv{stage}_{conv}"] = index
      if batch_norm_layers:
        indices[f"stage{stage}/bn{stage}_{conv}"] = index + 1
      index += 3 if batch_norm_layers else 2  # conv, [BN,] ReLU
    index += 1  # the max pool
  return indices


def max_pool_2x2_argmax(x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """2x2/2 max pool of NHWC `x` and the one-hot mask of where each maximum sat.

  The mask ([B, H, W, C], x's dtype) is SegNet's pooling indices in a form
  that needs no scatter: `max_unpool_2x2` multiplies the upsampled values with
  it. Ties go to the first position in row-major order, as PyTorch's
  `max_pool2d(return_indices=True)` picks them (frequent after ReLU: all-zero
  windows). The mask is a constant for differentiation, as indices are.
  """
  batch, height, width, channels = x.shape
  windows = x.reshape(batch, height // 2, 2, width // 2, 2, channels)
  windows = windows.transpose(0, 1, 3, 5, 2, 4).reshape(batch, height // 2, width // 2, channels, 4)
  pooled = windows.max(axis=-1)
  winner = jax.nn.one_hot(jnp.argmax(windows, axis=-1), 4, dtype=x.dtype)
  mask = winner.reshape(batch, height // 2, width // 2, channels, 2, 2)
  mask = mask.transpose(0, 1, 4, 2, 5, 3).reshape(batch, height, width, channels)
  return pooled, jax.lax.stop_gradient(mask)


def max_unpool_2x2(x: jax.Array, mask: jax.Array) -> jax.Array:
  """Places each value of NHWC `x` where `max_pool_2x2_argmax`'s `mask` says, zeros elsewhere."""
  upsampled = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
  return upsampled * mask.astype(x.dtype)


class VGGStage(nn.Module):
  """One VGG stage before its pool: `num_convs` 3x3 convolutions (+ BN) + ReLU."""

  stage: int
  num_convs: int
  features: int
  batch_norm: bool = True
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    for index in range(1, self.num_convs + 1):
      x = Conv(
        self.features,
        (3, 3),
        padding=((1, 1), (1, 1)),
        kernel_init=kaiming_fan_out,
        dtype=self.dtype,
        param_dtype=jnp.float32,
        name=f"conv{self.stage}_{index}",
      )(x)
      if self.batch_norm:
        x = batch_norm(train, self.dtype, name=f"bn{self.stage}_{index}")(x)
      x = nn.relu(x)
    return x


class VGG(nn.Module):
  """torchvision-layout VGG-16(-BN) encoder returning every stage's features.

  Attributes:
    batch_norm: VGG-16-BN (True) or plain VGG-16 (False).
    base_width: stage 1's width (torchvision: 64); stages are 1, 2, 4, 8, 8 times it.
    fc_width: 0 for the convolutional features only (SegNet); otherwise the
      width of the convolutionalised fc6/fc7 (FCN: torchvision's 4096).
    fc_dropout: channel dropout after fc6 and fc7 (FCN's Dropout2d, 0.5).
    dtype: compute dtype; parameters stay float32.
    remat: `blocks.REMAT_POLICIES` name applied to each stage.
  """

  batch_norm: bool = True
  base_width: int = 64
  fc_width: int = 0
  fc_dropout: float = 0.5
  dtype: Dtype = jnp.float32
  remat: str = "none"

  @property
  def feature_channels(self) -> dict[str, int]:
    """Channels of each returned feature map."""
    channels = {}
    for stage, (_, multiple) in enumerate(VGG16_STAGES, start=1):
      channels[f"conv{stage}"] = channels[f"pool{stage}"] = self.base_width * multiple
    if self.fc_width:
      channels["fc7"] = self.fc_width
    return channels

  @nn.compact
  def __call__(self, images, train: bool = False) -> dict[str, jnp.ndarray]:
    stage_class = rematerialized(VGGStage, self.remat)
    x = images.astype(self.dtype)
    features = {}
    for stage, (num_convs, multiple) in enumerate(VGG16_STAGES, start=1):
      x = stage_class(
        stage,
        num_convs,
        self.base_width * multiple,
        batch_norm=self.batch_norm,
        dtype=self.dtype,
        name=f"stage{stage}",
      )(x, train)
      features[f"conv{stage}"] = x
      x = max_pool(x, (2, 2), strides=(2, 2))
      features[f"pool{stage}"] = x
    if self.fc_width:
      for name, kernel in (("fc6", 7), ("fc7", 1)):
        x = Conv(
          self.fc_width,
          (kernel, kernel),
          padding="SAME",
          kernel_init=nn.initializers.normal(0.01),
          dtype=self.dtype,
          param_dtype=jnp.float32,
          name=name,
        )(x)
        # Dropout2d: whole channels per image (dimensions 1, 2 share the draw).
        x = nn.Dropout(self.fc_dropout, broadcast_dims=(1, 2), deterministic=not train)(nn.relu(x))
      features["fc7"] = x
    return features


__all__ = [
  "VGG",
  "VGG16_STAGES",
  "VGGStage",
  "max_pool_2x2_argmax",
  "max_unpool_2x2",
  "torchvision_feature_indices",
]
