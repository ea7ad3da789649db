"""ResNet-18/34/50/101 backbones in torchvision's layout (cca, asnet).

Their ImageNet weights: docs/papers.md, "Pretrained weights".

The layout follows torchvision exactly so that ImageNet weights converted from a
torchvision checkpoint (`jaxseg.models.convert_torchvision`) give the same
outputs: a 7x7/2 stem convolution (no bias) + BN + ReLU, a 3x3/2 max pool, then
four stages (`layer1`..`layer4`) of BasicBlocks (18, 34) or Bottlenecks (50,
101; stride on the 3x3 convolution, torchvision's "v1.5"), with a 1x1
convolution + BN shortcut where the block changes shape. Paddings are
torchvision's explicit symmetric ones, not 'SAME' (which pads strided
convolutions asymmetrically and would shift every feature by a pixel).

Module and parameter names mirror torchvision's state-dict keys:

  torchvision                     flax (params / batch_stats)
  conv1.weight                    conv1/kernel
  bn1.{weight,bias}               bn1/{scale,bias}
  bn1.running_{mean,var}          bn1/{mean,var}
  layer3.1.conv2.weight           layer3_1/conv2/kernel
  layer3.0.downsample.0.weight    layer3_0/downsample_conv/kernel
  layer3.0.downsample.1.*         layer3_0/downsample_bn/*

Output stride and dilation. `output_stride` 32 is the classification network;
16 and 8 follow DeepLab (torchvision's `replace_stride_with_dilation`): 16
replaces layer4's stride by dilation 2, 8 replaces layer3's stride by dilation 2
and layer4's by dilation 4. `layer_dilations` overrides that convention with an
explicit dilation per stage; a stage with dilation > 1 does not stride. CCA's
"atrous rate = 2" backbone (docs/papers.md, "cca (paper 000)") is

  ResNet(depth=50, output_stride=8, layer_dilations=(1, 1, 2, 2))

and `output_stride` must agree with the override (a consistency check, so a
config cannot silently build a different network than it names). As in
torchvision, the first block of a dilated stage uses the previous stage's
dilation for its first 3x3 convolution (where the stride used to be) and the
stage's dilation afterwards. torchvision's BasicBlock rejects dilation; here it
follows timm: the first 3x3 convolution of a block uses that "first" dilation,
the second the stage's.

Returns a dict of every stage's features: `stem` (after the stem ReLU, before
the max pool, 1/2 of the input), `layer1` (1/4), `layer2` (1/8), `layer3` and
`layer4` (1/16 and 1/32 at output stride 32). `feature_channels` gives their
widths. `base_width` (default 64, torchvision's) scales every width so tests can
build tiny networks; pretrained weights need 64.

Convolution kernels start from torchvision's Kaiming-normal (fan-out) init and
BN from scale 1 / bias 0; ImageNet weights replace both through
`jaxseg.models.pretrained.load_pretrained_backbone`.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxseg.errors import ConfigError
from jaxseg.models.blocks import Dtype, batch_norm, rematerialized
from jaxseg.models.conv_lowering import CpuConvLowering, max_pool

# Blocks per stage, as in torchvision's resnet18/34/50/101 constructors.
STAGE_BLOCKS: dict[int, tuple[int, int, int, int]] = {
  18: (2, 2, 2, 2),
  34: (3, 4, 6, 3),
  50: (3, 4, 6, 3),
  101: (3, 4, 23, 3),
}

# Stage dilations of the DeepLab convention for each output stride.
DEEPLAB_DILATIONS: dict[int, tuple[int, int, int, int]] = {
  32: (1, 1, 1, 1),
  16: (1, 1, 1, 2),
  8: (1, 1, 2, 4),
}

# torchvision's kaiming_normal_(mode="fan_out", nonlinearity="relu").
kaiming_fan_out = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def _torchvision_conv(
  features: int, kernel: int, stride: int, dilation: int, dtype: Dtype, name: str
):
  """A bias-free convolution padded like torchvision's (dilation * (k - 1) / 2 each side)."""
  pad = dilation * (kernel - 1) // 2
  return nn.Conv(
    features,
    (kernel, kernel),
    strides=(stride, stride),
    padding=((pad, pad), (pad, pad)),
    kernel_dilation=(dilation, dilation),
    use_bias=False,
    kernel_init=kaiming_fan_out,
    dtype=dtype,
    param_dtype=jnp.float32,
    conv_general_dilated_cls=CpuConvLowering,
    name=name,
  )


class ResidualBlock(nn.Module):
  """The fields and shortcut both torchvision blocks share; subclasses compute the branch."""

  planes: int
  stride: int = 1
  first_dilation: int = 1
  dilation: int = 1
  downsample: bool = False
  dtype: Dtype = jnp.float32

  def add_shortcut(self, branch, x, train: bool):
    """ReLU(branch + x), x through a strided 1x1 conv + BN when `downsample`."""
    shortcut = x
    if self.downsample:
      shortcut = _torchvision_conv(
        self.planes * self.expansion, 1, self.stride, 1, self.dtype, "downsample_conv"
      )(x)
      shortcut = batch_norm(train, self.dtype, name="downsample_bn")(shortcut)
    return nn.relu(branch + shortcut)


class BasicBlock(ResidualBlock):
  """Two 3x3 convolutions with BN; ResNet-18/34's block (expansion 1)."""

  expansion = 1

  @nn.compact
  def __call__(self, x, train: bool):
    y = _torchvision_conv(self.planes, 3, self.stride, self.first_dilation, self.dtype, "conv1")(x)
    y = nn.relu(batch_norm(train, self.dtype, name="bn1")(y))
    y = _torchvision_conv(self.planes, 3, 1, self.dilation, self.dtype, "conv2")(y)
    y = batch_norm(train, self.dtype, name="bn2")(y)
    return self.add_shortcut(y, x, train)


class Bottleneck(ResidualBlock):
  """1x1 reduce, 3x3 (carrying stride and dilation), 1x1 expand x4; ResNet-50/101's block."""

  expansion = 4

  @nn.compact
  def __call__(self, x, train: bool):
    y = _torchvision_conv(self.planes, 1, 1, 1, self.dtype, "conv1")(x)
    y = nn.relu(batch_norm(train, self.dtype, name="bn1")(y))
    # The single 3x3 is where the stride, or the dilation that replaces it, sits.
    y = _torchvision_conv(self.planes, 3, self.stride, self.first_dilation, self.dtype, "conv2")(y)
    y = nn.relu(batch_norm(train, self.dtype, name="bn2")(y))
    y = _torchvision_conv(self.planes * self.expansion, 1, 1, 1, self.dtype, "conv3")(y)
    y = batch_norm(train, self.dtype, name="bn3")(y)
    return self.add_shortcut(y, x, train)


def resolve_stage_dilations(
  output_stride: int, layer_dilations: Sequence[int] | None = None
) -> tuple[int, int, int, int]:
  """The dilation of layer1..layer4 for an output stride and optional explicit override."""
  if output_stride not in DEEPLAB_DILATIONS:
    raise ValueError(
      f"ResNet output_stride must be one of {sorted(DEEPLAB_DILATIONS)}; got {output_stride}."
    )
  if layer_dilations is None:
    return DEEPLAB_DILATIONS[output_stride]
  dilations = tuple(int(d) for d in layer_dilations)
  if len(dilations) != 4 or min(dilations) < 1:
    raise ValueError(
      f"layer_dilations needs four positive dilations (layer1..layer4); got {layer_dilations}."
    )
  # layer1 never strides; each of layer2..4 halves the resolution unless dilated.
  implied_stride = 4 * 2 ** sum(d == 1 for d in dilations[1:])
  if implied_stride != output_stride:
    raise ValueError(
      f"layer_dilations={dilations} gives output stride {implied_stride}, but "
      f"output_stride={output_stride}; set output_stride={implied_stride} or change "
      "layer_dilations (a dilated stage does not stride)."
    )
  return dilations


class ResNet(nn.Module):
  """torchvision-layout ResNet backbone returning every stage's features.

  Attributes:
    depth: 18, 34 (BasicBlock) or 50, 101 (Bottleneck).
    output_stride: 32, 16 or 8; see the module docstring for the dilations.
    layer_dilations: explicit dilation of layer1..layer4 overriding the DeepLab
      convention; must imply `output_stride`. E.g. (1, 1, 2, 2) for CCA.
    base_width: stem and layer1 width (torchvision: 64); stage i has
      base_width * 2**(i-1) planes (times 4 for Bottleneck outputs).
    dtype: compute dtype; parameters stay float32.
    remat: `blocks.REMAT_POLICIES` name applied to each residual block.
  """

  depth: int = 50
  output_stride: int = 32
  layer_dilations: Sequence[int] | None = None
  base_width: int = 64
  dtype: Dtype = jnp.float32
  remat: str = "none"

  @property
  def block_class(self) -> type[nn.Module]:
    return BasicBlock if self.depth < 50 else Bottleneck

  @property
  def feature_channels(self) -> dict[str, int]:
    """Channels of each returned feature map."""
    expansion = self.block_class.expansion
    channels = {"stem": self.base_width}
    for stage in range(4):
      channels[f"layer{stage + 1}"] = self.base_width * 2**stage * expansion
    return channels

  @nn.compact
  def __call__(self, images, train: bool = False) -> dict[str, jnp.ndarray]:
    if self.depth not in STAGE_BLOCKS:
      raise ConfigError(f"ResNet depth must be one of {sorted(STAGE_BLOCKS)}; got {self.depth}.")
    stage_dilations = resolve_stage_dilations(self.output_stride, self.layer_dilations)
    block_class = rematerialized(self.block_class, self.remat)

    x = images.astype(self.dtype)
    x = _torchvision_conv(self.base_width, 7, 2, 1, self.dtype, "conv1")(x)
    x = nn.relu(batch_norm(train, self.dtype, name="bn1")(x))
    features = {"stem": x}
    x = max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))

    in_channels = self.base_width
    previous_dilation = 1
    for stage, (num_blocks, dilation) in enumerate(
      zip(STAGE_BLOCKS[self.depth], stage_dilations, strict=True)
    ):
      planes = self.base_width * 2**stage
      # layer1 follows the max pool and never strides; a dilated stage trades
      # its stride for the dilation.
      stride = 2 if stage > 0 and dilation == 1 else 1
      for index in range(num_blocks):
        first = index == 0
        x = block_class(
          planes=planes,
          stride=stride if first else 1,
          first_dilation=previous_dilation if first else dilation,
          dilation=dilation,
          # torchvision adds the projection shortcut whenever stride or width
          # changes, so dilated stages keep it (as a stride-1 1x1 convolution).
          downsample=first and (stride != 1 or in_channels != planes * self.block_class.expansion),
          dtype=self.dtype,
          name=f"layer{stage + 1}_{index}",
        )(x, train)
        in_channels = planes * self.block_class.expansion
      previous_dilation = dilation
      features[f"layer{stage + 1}"] = x
    return features


def resnet_backbone(model, **options) -> ResNet:
  """A segmentation model's ImageNet encoder: the submodule "backbone" pretrained weights fill.

  Sized by the model's `resnet_depth` and `resnet_width` fields, computing in
  its `dtype` with its `remat`; `options` are further ResNet fields
  (`output_stride`, `layer_dilations`). Built inside the model's compact
  `__call__`, which makes the model its parent.
  """
  return ResNet(
    depth=model.resnet_depth,
    base_width=model.resnet_width,
    dtype=model.dtype,
    remat=model.remat,
    name="backbone",
    **options,
  )


__all__ = [
  "DEEPLAB_DILATIONS",
  "STAGE_BLOCKS",
  "BasicBlock",
  "Bottleneck",
  "ResNet",
  "resnet_backbone",
  "resolve_stage_dilations",
]
