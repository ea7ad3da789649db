"""Attention U-Net baseline (Oktay et al. 2018, "Attention U-Net: Learning Where to Look for the
Pancreas"), 2D, as skin-lesion papers use it.

Source followed: class `AttU_Net` of github.com/LeeJunHyun/Image_Segmentation (`network.py`), the
2D PyTorch version skin-lesion papers compare against:

  encoder   DoubleConv widths w, 2w, 4w, 8w, 16w (w = base_width, 64 by default), 2x2 max pool
  for level 3, 2, 1, 0 (width c = w * 2**level):
            d    = UpConv(c)(x)                      nearest x2 upsampling, 3x3 conv-BN-ReLU
            skip = AttentionGate(c / 2)(g=d, x=skip) additive attention, one weight per pixel
            x    = DoubleConv(c)(concat(skip, d))
  head      1x1 conv (bias) to num_classes logits (one, sigmoid, by default)

H and W must be divisible by 16.

Attention gate (the reference's `Attention_block`): psi = sigmoid(BN(conv1x1_1(ReLU(BN(W_g g) +
BN(W_x x))))), output x * psi; W_g and W_x are 1x1 convs to c / 2 channels.

What we changed: convolutions followed by BatchNorm have no bias (the reference's are redundant
there: BN subtracts them again; the project's `ConvBNReLU` convention), so we have exactly those
biases fewer parameters: at 3 input channels and 1 class the reference has 34,878,573 parameters,
we have 34,870,761 (7,812 pre-BN biases). Outputs are the reference's for the same weights. 'SAME'
padding as the reference's padding=1.

Differences from the authors' own code (github.com/ozan-oktay/Attention-Gated-Networks, 3D CT
networks), which the 2D reference simplifies: the authors use widths / 4 (16..256), gate only the
three deeper skips, take one gating signal for all gates from the bottleneck (a 1x1 conv-BN-ReLU),
compute the attention at half the skip's resolution (a strided 2x2 conv on x) and upsample the
coefficients bilinearly, add a 1x1 conv-BN after the gating, and upsample with transposed convs.
"""

import flax.linen as nn
import jax.numpy as jnp

from jaxseg.models.base import SegmentationModel
from jaxseg.models.blocks import (
  Conv,
  DoubleConv,
  Dtype,
  UpConv,
  batch_norm,
  check_input_size,
  conv_with_bias,
  rematerialized,
)
from jaxseg.models.conv_lowering import max_pool

DEPTH = 4  # pooling steps, as the reference


class AttentionGate(nn.Module):
  """Additive attention gate: the skip `x` weighted per pixel by a map from `x` and `gate`."""

  inter_features: int
  dtype: Dtype = jnp.float32

  def _conv_bn(self, features: int, name: str, x, train: bool):
    x = Conv(
      features, (1, 1), use_bias=False, dtype=self.dtype, param_dtype=jnp.float32, name=name
    )(x)
    return batch_norm(train, self.dtype, name=f"{name}_bn")(x)

  @nn.compact
  def __call__(self, gate, x, train: bool):
    both = self._conv_bn(self.inter_features, "gate_projection", gate, train)
    both = both + self._conv_bn(self.inter_features, "skip_projection", x, train)
    psi = nn.sigmoid(self._conv_bn(1, "psi", nn.relu(both), train))
    return x * psi


class AttentionUNet(SegmentationModel):
  """Attention U-Net (2D); `base_width` channels at the top level (64 in the reference)."""

  base_width: int = 64
  num_classes: int = 1

  smoke_fields = {"base_width": 4}

  stride = 2**DEPTH

  @nn.compact
  def __call__(self, images, train: bool = False):
    check_input_size(images, self.stride, "AttentionUNet")
    x = images.astype(self.dtype)
    double_conv = rematerialized(DoubleConv, self.remat)
    up_conv = rematerialized(UpConv, self.remat)
    attention_gate = rematerialized(AttentionGate, self.remat, train_argnum=3)
    # Explicit names: flax's automatic ones would change under nn.remat.
    skips = []
    for level in range(DEPTH):
      x = double_conv(self.base_width * 2**level, dtype=self.dtype, name=f"encoder_{level}")(
        x, train
      )
      skips.append(x)
      x = max_pool(x, (2, 2), strides=(2, 2))
    x = double_conv(self.base_width * 2**DEPTH, dtype=self.dtype, name="bottleneck")(x, train)
    for level in reversed(range(DEPTH)):
      width_here = self.base_width * 2**level
      x = up_conv(width_here, dtype=self.dtype, name=f"up_{level}")(x, train)
      skip = attention_gate(width_here // 2, dtype=self.dtype, name=f"attention_{level}")(
        x, skips[level], train
      )
      x = jnp.concatenate([skip, x], axis=-1)
      x = double_conv(width_here, dtype=self.dtype, name=f"decoder_{level}")(x, train)
    logits = conv_with_bias(self.num_classes, 1, self.dtype, name="head")(x)
    return {"logits": logits.astype(jnp.float32)}
