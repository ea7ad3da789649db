"""Cascaded context enhancement network (paper 000; docs/papers.md, "cca (paper 000)").

ResNet encoder at output stride 8 -> ASPP on f4 gives fA. The cascaded context
aggregation (CCA) module fuses the input image and f1..f4 level by level
through gate units into the global context fG. The context-guided local
affinity (CGL) module gates fG into fA and applies position attention with the
plain inner product as similarity. The decoder fuses fG with the CGL output;
an auxiliary head on fG is trained with the same loss (paper eq. 12).

  python -m experiments.run --config cca_isic2017 --workdir runs/cca_isic2017

Table 7 rows are the switches `use_cca`, `use_cgl` and `aux_head`:
  baseline ResNet+ASPP   (False, False, False)   decoder on fA
  +CGL without CCA       (False, True,  False)   affinity on fA alone
  +CCA                   (True,  False, False)   decoder on concat(fG, fA)
  +CCA+CGL               (True,  True,  False)
  +CCA+CGL+aux loss      (True,  True,  True)

Choices beyond the paper (why: docs/papers.md, "cca (paper 000)"):
- f_{i,I} is a plain 3x3 convolution (with bias) of the bilinearly resized
  input image, as eq. 2 writes it; f'_i is 1x1 conv + BN + ReLU.
- Gate masks are 1x1 convolutions (with bias) and a sigmoid, 256 channels.
- With `use_cca` off, the decoder sees fA in place of fG (and CGL has no gate).
- Attention uses `jax.nn.dot_product_attention` with scale 1 (no 1/sqrt(d)),
  or, with `attention_query_chunk > 0`, query chunks of that many positions,
  so memory grows with chunk x HW rather than HW x HW.
"""

import flax.linen as nn
import jax
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

CONTEXT_WIDTH = 256


class GateUnit(nn.Module):
  """f_G = f' + a_I * f_I + a_G * g, with a_I, a_G = sigmoid(conv1x1(concat(f', g)))."""

  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, level, image_features, previous):
    both = jnp.concatenate([level, previous], axis=-1)
    gate_image = nn.sigmoid(conv_with_bias(level.shape[-1], 1, self.dtype, "gate_image")(both))
    gate_context = nn.sigmoid(conv_with_bias(level.shape[-1], 1, self.dtype, "gate_context")(both))
    return level + gate_image * image_features + gate_context * previous


class CascadedContextAggregation(nn.Module):
  """The CCA module: image and encoder levels fused from shallow to deep into fG."""

  width: int = CONTEXT_WIDTH
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, images, levels, train: bool):
    context = None
    for i, feature in enumerate(levels):
      height, width = feature.shape[1:3]
      level = ConvBNReLU(self.width, (1, 1), dtype=self.dtype, name=f"reduce_{i + 1}")(
        feature, train
      )
      if context is None:
        context = level  # f_{1,G} = f'_1
        continue
      image_features = conv_with_bias(self.width, 3, self.dtype, f"image_{i + 1}")(
        resize_to(images, height, width)
      )
      context = GateUnit(self.dtype, name=f"gate_{i + 1}")(
        level, image_features, resize_to(context, height, width)
      )
    return context


def position_attention(features: jax.Array, query_chunk: int = 0) -> jax.Array:
  """sum_q softmax_q(f_p . f_q) f_q for every position p; NHWC in, NHWC out."""
  batch, height, width, channels = features.shape
  tokens = features.reshape(batch, height * width, 1, channels)
  if not query_chunk or query_chunk >= height * width:
    out = jax.nn.dot_product_attention(tokens, tokens, tokens, scale=1.0)
    return out.reshape(features.shape)
  if (height * width) % query_chunk:
    raise ConfigError(f"attention_query_chunk {query_chunk} must divide H*W = {height * width}.")
  queries = tokens.reshape(batch, -1, query_chunk, 1, channels).swapaxes(0, 1)
  out = jax.lax.map(lambda q: jax.nn.dot_product_attention(q, tokens, tokens, scale=1.0), queries)
  return out.swapaxes(0, 1).reshape(features.shape)


class ContextGuidedLocalAffinity(nn.Module):
  """CGL: fL = fA + a_L * fG (when fG exists), then position attention on fL plus fA."""

  query_chunk: int = 0
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, aspp_features, context=None):
    local = aspp_features
    if context is not None:
      both = jnp.concatenate([aspp_features, context], axis=-1)
      gate = nn.sigmoid(conv_with_bias(aspp_features.shape[-1], 1, self.dtype, "gate")(both))
      local = aspp_features + gate * context
    return position_attention(local, self.query_chunk) + aspp_features


class CCANet(SegmentationModel):
  """Cascaded context enhancement network; see the module docstring for the switches."""

  resnet_depth: int = 50
  resnet_width: int = 64
  # Paper: layer3 and layer4 dilated by 2 without stride; DeepLab uses 2 and 4.
  layer_dilations: tuple[int, int] = (2, 2)
  aspp_rates: tuple[int, int, int] = (6, 12, 18)
  width: int = CONTEXT_WIDTH
  use_cca: bool = True
  use_cgl: bool = True
  aux_head: bool = True
  attention_query_chunk: int = 0

  smoke_fields = {"resnet_depth": 18, "resnet_width": 4, "width": 8}

  @nn.compact
  def __call__(self, images, train: bool = False):
    height, width = check_input_size(images, 8, "CCANet")
    images = images.astype(self.dtype)
    backbone = resnet_backbone(self, output_stride=8, layer_dilations=(1, 1, *self.layer_dilations))
    features = backbone(images, train)
    levels = [features[f"layer{i}"] for i in range(1, 5)]  # f1..f4 at 1/4, 1/8, 1/8, 1/8
    aspp = rematerialized(ASPP, self.remat)(
      atrous_rates=self.aspp_rates,
      features=self.width,
      projection_features=self.width,
      dtype=self.dtype,
      name="aspp",
    )(levels[-1], train)

    context = None
    if self.use_cca:
      aggregation = rematerialized(CascadedContextAggregation, self.remat, train_argnum=3)
      context = aggregation(self.width, self.dtype, name="cca")(images, levels, train)
    fused = aspp
    if self.use_cgl:
      fused = ContextGuidedLocalAffinity(self.attention_query_chunk, self.dtype, name="cgl")(
        aspp, context
      )
    decoder_input = fused if context is None else jnp.concatenate([context, fused], axis=-1)
    decoded = ConvBNReLU(self.width, dtype=self.dtype, name="decoder")(decoder_input, train)
    logits = conv_with_bias(1, 1, self.dtype, "head")(decoded)
    outputs = {"logits": resize_to(logits, height, width).astype(jnp.float32)}
    if self.aux_head and context is not None:
      aux = conv_with_bias(1, 1, self.dtype, "aux_head")(context)
      outputs["aux_logits"] = resize_to(aux, height, width).astype(jnp.float32)
    return outputs
