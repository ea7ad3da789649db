"""PyTorch twins of jaxseg models: the same networks written the way a PyTorch user would.

Each twin has exactly the layers, widths, paddings and parameter count of the
jaxseg model it mirrors (`tests/test_parity.py` copies jaxseg's weights into
it and compares outputs), and everything a PyTorch user does not choose is
left at PyTorch's defaults: `nn.Conv2d`, `nn.ConvTranspose2d` and
`nn.BatchNorm2d` initialise themselves, and the ResNet encoder is initialised
as torchvision's (`docs/parity.md`).

- `ResNetEncoder`: torchvision's ResNet-18/34/50/101 layout (output stride 32,
  or 16 / 8 with torchvision's `replace_stride_with_dilation` for ResNet-50/101)
  returning every stage, like `jaxseg.models.resnet.ResNet`; written out here
  because PyPI's torchvision does not import beside the CPU build of torch.
- `ASNetBaselineTwin`: `jaxseg.models.asnet.ASNet` with `use_asm=False`
  (paper 004 Table 2's Baseline): the encoder and the U-shaped decoder.
- `UNetTwin`: `jaxseg.models.unet.UNet`.

`flax_like_init` re-initialises a twin's non-encoder layers as flax's defaults
would (LeCun-normal kernels, zero biases): the harness's way to show what the
initialisation alone changes (`python -m experiments.parity --peer_init flax`).
"""

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# Blocks per stage, as torchvision's constructors (and jaxseg.models.resnet).
STAGE_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.1  # PyTorch's convention; flax's 0.9 is the same average


def conv_bn_relu(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
  """Bias-free convolution ('same' padding) -> BatchNorm -> ReLU."""
  return nn.Sequential(
    nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
    nn.BatchNorm2d(out_channels, eps=BN_EPSILON, momentum=BN_MOMENTUM),
    nn.ReLU(inplace=True),
  )


def upsample2x(x: torch.Tensor) -> torch.Tensor:
  return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class BasicBlockTwin(nn.Module):
  expansion = 1

  def __init__(self, in_channels: int, planes: int, stride: int):
    super().__init__()
    self.conv1 = nn.Conv2d(in_channels, planes, 3, stride, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(planes)
    self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
    self.bn2 = nn.BatchNorm2d(planes)
    self.downsample = None
    if stride != 1 or in_channels != planes:
      self.downsample = nn.Sequential(
        nn.Conv2d(in_channels, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
      )

  def forward(self, x):
    shortcut = x if self.downsample is None else self.downsample(x)
    y = F.relu(self.bn1(self.conv1(x)))
    return F.relu(self.bn2(self.conv2(y)) + shortcut)


class BottleneckTwin(nn.Module):
  expansion = 4

  def __init__(self, in_channels: int, planes: int, stride: int, dilation: int = 1):
    super().__init__()
    out_channels = planes * self.expansion
    self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(planes)
    self.conv2 = nn.Conv2d(planes, planes, 3, stride, dilation, dilation, bias=False)
    self.bn2 = nn.BatchNorm2d(planes)
    self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
    self.bn3 = nn.BatchNorm2d(out_channels)
    self.downsample = None
    if stride != 1 or in_channels != out_channels:
      self.downsample = nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
      )

  def forward(self, x):
    shortcut = x if self.downsample is None else self.downsample(x)
    y = F.relu(self.bn1(self.conv1(x)))
    y = F.relu(self.bn2(self.conv2(y)))
    return F.relu(self.bn3(self.conv3(y)) + shortcut)


class ResNetEncoder(nn.Module):
  """torchvision's ResNet without its classifier; forward returns every stage.

  `output_stride` 16 or 8 (Bottleneck depths only) dilates layer4, or layer3
  and layer4, instead of striding: torchvision's `replace_stride_with_dilation`.
  """

  def __init__(self, depth: int = 34, base_width: int = 64, output_stride: int = 32):
    super().__init__()
    block = BasicBlockTwin if depth < 50 else BottleneckTwin
    dilate = {32: (False, False, False), 16: (False, False, True), 8: (False, True, True)}
    if output_stride != 32 and block is BasicBlockTwin:
      raise ValueError("torchvision's BasicBlock does not dilate: output_stride 32 only.")
    self.conv1 = nn.Conv2d(3, base_width, 7, 2, 3, bias=False)
    self.bn1 = nn.BatchNorm2d(base_width)
    self.maxpool = nn.MaxPool2d(3, 2, 1)
    in_channels = base_width
    self.channels = {"stem": base_width}
    dilation = 1
    for stage, num_blocks in enumerate(STAGE_BLOCKS[depth]):
      planes = base_width * 2**stage
      stage_stride, previous_dilation = 2 if stage > 0 else 1, dilation
      if stage > 0 and dilate[output_stride][stage - 1]:
        dilation, stage_stride = dilation * 2, 1
      blocks = []
      for index in range(num_blocks):
        stride = stage_stride if index == 0 else 1
        # As torchvision: a block's 3x3 takes the previous dilation where the stride was.
        extra = {} if block is BasicBlockTwin else {"dilation": previous_dilation}
        if index > 0 and block is BottleneckTwin:
          extra = {"dilation": dilation}
        blocks.append(block(in_channels, planes, stride, **extra))
        in_channels = planes * block.expansion
      setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
      self.channels[f"layer{stage + 1}"] = in_channels
    # torchvision.models.resnet.ResNet.__init__'s initialisation.
    for module in self.modules():
      if isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
      elif isinstance(module, nn.BatchNorm2d):
        nn.init.constant_(module.weight, 1)
        nn.init.constant_(module.bias, 0)

  def forward(self, x) -> dict[str, torch.Tensor]:
    x = F.relu(self.bn1(self.conv1(x)))
    features = {"stem": x}
    x = self.maxpool(x)
    for stage in range(1, 5):
      x = getattr(self, f"layer{stage}")(x)
      features[f"layer{stage}"] = x
    return features


class DecoderLevelTwin(nn.Module):
  """[3x3 conv-BN-ReLU], bilinear x2, 1x1 conv-BN-ReLU to the skip's width, + skip, ReLU."""

  def __init__(self, in_channels: int, skip_channels: int, use_conv3x3: bool):
    super().__init__()
    self.conv3x3 = conv_bn_relu(in_channels, in_channels, 3) if use_conv3x3 else None
    self.conv1x1 = conv_bn_relu(in_channels, skip_channels, 1)

  def forward(self, x, skip):
    if self.conv3x3 is not None:
      x = self.conv3x3(x)
    return F.relu(self.conv1x1(upsample2x(x)) + skip)


class ASNetBaselineTwin(nn.Module):
  """ASNet without its ASM (`jaxseg.models.asnet`, use_asm=False): encoder + U-shaped decoder."""

  # (skip feature, whether the level has the 3x3 conv), deepest first, as asnet.DECODER_LEVELS.
  LEVELS = (("layer3", False), ("layer2", True), ("layer1", True), ("stem", True))

  def __init__(self, resnet_depth: int = 34, resnet_width: int = 64):
    super().__init__()
    self.backbone = ResNetEncoder(resnet_depth, resnet_width)
    channels = self.backbone.channels
    width = channels["layer4"]
    self.decoder = nn.ModuleList()
    for skip, use_conv3x3 in self.LEVELS:
      self.decoder.append(DecoderLevelTwin(width, channels[skip], use_conv3x3))
      width = channels[skip]
    head_width = max(1, 32 * resnet_width // 64)
    self.head_conv1x1 = conv_bn_relu(width, head_width, 1)
    self.head_conv3x3 = conv_bn_relu(head_width, head_width, 3)
    self.head = nn.Conv2d(head_width, 1, 1)

  def forward(self, images):
    features = self.backbone(images)
    x = features["layer4"]
    for (skip, _), level in zip(self.LEVELS, self.decoder, strict=True):
      x = level(x, features[skip])
    x = self.head_conv3x3(self.head_conv1x1(upsample2x(x)))
    return self.head(x)


class DoubleConvTwin(nn.Sequential):
  def __init__(self, in_channels: int, out_channels: int):
    super().__init__(
      conv_bn_relu(in_channels, out_channels, 3), conv_bn_relu(out_channels, out_channels, 3)
    )


class UpLevel(nn.Module):
  """2x2/2 transposed convolution, concatenation after the skip, DoubleConvTwin."""

  def __init__(self, in_channels: int, width: int):
    super().__init__()
    self.up = nn.ConvTranspose2d(in_channels, width, 2, stride=2)
    self.convs = DoubleConvTwin(2 * width, width)

  def forward(self, x, skip):
    return self.convs(torch.cat([skip, self.up(x)], dim=1))


class UNetTwin(nn.Module):
  """`jaxseg.models.unet.UNet`: DoubleConvTwin levels, 2x2 max pool, 2x2/2 transposed convs."""

  def __init__(self, base_width: int = 64, depth: int = 4, num_classes: int = 1):
    super().__init__()
    self.down = nn.ModuleList()
    in_channels = 3
    for level in range(depth):
      self.down.append(DoubleConvTwin(in_channels, base_width * 2**level))
      in_channels = base_width * 2**level
    self.bottom = DoubleConvTwin(in_channels, base_width * 2**depth)
    in_channels = base_width * 2**depth
    self.up = nn.ModuleList()
    for level in reversed(range(depth)):
      self.up.append(UpLevel(in_channels, base_width * 2**level))
      in_channels = base_width * 2**level
    self.head = nn.Conv2d(in_channels, num_classes, 1)

  def forward(self, images):
    x, skips = images, []
    for level in self.down:
      x = level(x)
      skips.append(x)
      x = F.max_pool2d(x, 2)
    x = self.bottom(x)
    for level, skip in zip(self.up, reversed(skips), strict=True):
      x = level(x, skip)
    return self.head(x)


def create_twin(model_name: str, model_config: dict) -> nn.Module:
  """The twin of jaxseg model `model_name` built from the config's `model` fields."""
  if model_name == "asnet":
    if model_config.get("use_asm", True) or model_config.get("decoder_extra_blocks", 0):
      raise ValueError(
        "The asnet twin is Table 2's Baseline: set model.use_asm=False and "
        "model.decoder_extra_blocks=0."
      )
    return ASNetBaselineTwin(model_config["resnet_depth"], model_config["resnet_width"])
  if model_name == "unet":
    return UNetTwin(model_config["base_width"], model_config["depth"], model_config["num_classes"])
  raise KeyError(f"No PyTorch twin for model {model_name!r}; twins exist for asnet and unet.")


def flax_like_init(model: nn.Module) -> None:
  """Gives every convolution outside a ResNet encoder flax's default init.

  flax: kernels truncated-normal with variance 1 / fan_in (LeCun normal),
  biases 0. PyTorch: kernels and biases uniform in +-1 / sqrt(fan_in)
  (variance 1 / (3 fan_in) for kernels).
  """
  encoders = [m for m in model.modules() if isinstance(m, ResNetEncoder)]
  inside = {id(m) for e in encoders for m in e.modules()}
  for module in model.modules():
    if id(module) in inside or not isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
      continue
    weight = module.weight
    if isinstance(module, nn.ConvTranspose2d):  # flax: fan_in = kh * kw * in
      fan_in = weight.shape[0] * weight.shape[2] * weight.shape[3]
    else:
      fan_in = weight.shape[1] * weight.shape[2] * weight.shape[3]
    # flax's truncated normal is cut at 2 std and rescaled to keep the variance.
    std = math.sqrt(1.0 / fan_in) / 0.87962566103423978
    with torch.no_grad():
      nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)
      if module.bias is not None:
        module.bias.zero_()


def flax_layers(tree) -> list[dict]:
  """The leaf dicts of a flax variable tree (a conv's or a BN's), in creation order."""
  if any(not isinstance(v, dict) for v in tree.values()):
    return [tree]
  return [layer for value in tree.values() for layer in flax_layers(value)]


def in_creation_order(tree, order):
  return {k: in_creation_order(tree[k], order[k]) if isinstance(order[k], dict) else tree[k]
          for k in order}  # fmt: skip


def load_flax_variables(model: nn.Module, variables, creation_order=None) -> None:
  """Copies a jaxseg model's {"params", "batch_stats"} into its twin, layer by layer.

  Layers pair up in creation order (the twins register their modules in the
  order the flax models call theirs); kinds and shapes are checked.
  `model.init` returns variables in that order; jax transformations (jit,
  device_put, a train state) sort dict keys, so for variables that went
  through one pass `creation_order`: any `model.init` output of the model.
  """
  variables = jax_to_numpy(dict(variables))
  if creation_order is not None:
    variables = in_creation_order(variables, jax_to_numpy(dict(creation_order)))
  params = flax_layers(variables["params"])
  stats = iter(flax_layers(variables.get("batch_stats", {})) or [])
  layers = [
    m for m in model.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.BatchNorm2d)
  ]
  if len(layers) != len(params):
    raise ValueError(f"The twin has {len(layers)} layers, the flax model {len(params)}.")
  with torch.no_grad():
    for module, layer in zip(layers, params, strict=True):
      if isinstance(module, nn.BatchNorm2d):
        running = next(stats)
        values = {
          "weight": layer["scale"], "bias": layer["bias"],
          "running_mean": running["mean"], "running_var": running["var"],
        }  # fmt: skip
      else:
        kernel = layer["kernel"]
        # flax HWIO -> torch OIHW; flax's ConvTranspose (transpose_kernel=False)
        # correlates with the kernel that torch's convolves with: flip and IOHW.
        if isinstance(module, nn.ConvTranspose2d):
          weight = kernel[::-1, ::-1].transpose(2, 3, 0, 1)
        else:
          weight = kernel.transpose(3, 2, 0, 1)
        values = {"weight": weight}
        if "bias" in layer:
          values["bias"] = layer["bias"]
      for name, value in values.items():
        target = getattr(module, name)
        if target is None or tuple(target.shape) != value.shape:
          raise ValueError(f"{type(module).__name__}.{name}: cannot take shape {value.shape}.")
        target.copy_(torch.from_numpy(np.array(value, np.float32)))


def jax_to_numpy(tree):
  return {
    k: jax_to_numpy(dict(v)) if hasattr(v, "items") else np.asarray(v) for k, v in tree.items()
  }
