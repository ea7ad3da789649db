"""The CPU rewrites of convolutions and max pools compute what lax does, values and gradients."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxseg.models import conv_lowering

NHWC = ("NHWC", "HWIO", "NHWC")


@pytest.mark.parametrize(
  ("kernel", "stride", "dilation", "padding", "size"),
  [
    (1, 1, 1, ((0, 0), (0, 0)), (9, 7)),  # matmul
    (1, 2, 1, ((0, 0), (0, 0)), (9, 7)),  # strided slice + matmul (odd sizes)
    (1, 1, 1, "SAME", (8, 8)),
    (3, 1, 2, ((2, 2), (2, 2)), (16, 16)),  # space to batch, rate 2
    (3, 1, 4, ((4, 4), (4, 4)), (35, 33)),  # rate 4, sizes not multiples of it
    (3, 1, 3, "SAME", (24, 26)),
    (3, 1, 4, ((4, 4), (4, 4)), (16, 16)),  # phases under MIN_PHASE_SIZE: lax
    (3, 2, 1, ((1, 1), (1, 1)), (9, 9)),  # strided: input gradient over phases
    (3, 2, 1, "SAME", (8, 10)),  # padding (0, 1)
    (7, 2, 1, ((3, 3), (3, 3)), (15, 16)),  # a ResNet stem
    (5, 3, 1, ((2, 2), (1, 0)), (13, 11)),  # stride 3; the last rows unread
    (2, 2, 1, "VALID", (8, 7)),  # kernel = stride: each phase a 1x1
    (3, 1, 2, ((1, 3), (2, 2)), (8, 8)),  # paddings not multiples of the rate: lax
    (3, 1, 6, ((6, 6), (6, 6)), (8, 8)),  # a quarter of the taps inside: tap matmuls
    (3, 1, 5, ((5, 5), (3, 7)), (9, 12)),  # tap matmuls, uneven padding, two sizes
    (3, 1, 18, "SAME", (8, 12)),  # only the centre tap reads the map
    (3, 1, 9, ((0, 0), (0, 0)), (20, 20)),  # VALID: every tap inside, so lax
  ],
)
def test_matches_lax_values_and_gradients(kernel, stride, dilation, padding, size):
  rng = np.random.default_rng(kernel * 100 + dilation)
  x = jnp.asarray(rng.standard_normal((2, *size, 5), np.float32))
  w = jnp.asarray(rng.standard_normal((kernel, kernel, 5, 6), np.float32))

  def conv(fn):
    return lambda x, w: fn(
      x, w, (stride, stride), padding, rhs_dilation=(dilation, dilation), dimension_numbers=NHWC
    )

  expected = conv(lax.conv_general_dilated)(x, w)
  got = jax.jit(conv(conv_lowering.conv_general_dilated))(x, w)
  assert got.shape == expected.shape
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
  cotangent = jnp.asarray(rng.standard_normal(expected.shape, np.float32))
  _, lax_vjp = jax.vjp(conv(lax.conv_general_dilated), x, w)
  _, our_vjp = jax.vjp(conv(conv_lowering.conv_general_dilated), x, w)
  for ours, theirs in zip(our_vjp(cotangent), lax_vjp(cotangent), strict=True):
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4)


def test_rewrites_what_it_claims_to():
  """The 1x1 becomes a dot and the atrous conv an undilated one: the lowered text says so."""
  x, w1, w3 = jnp.zeros((1, 16, 16, 4)), jnp.zeros((1, 1, 4, 4)), jnp.zeros((3, 3, 4, 4))

  def text(fn, *args):
    return jax.jit(fn).lower(*args).as_text()

  one = text(
    lambda x, w: conv_lowering.conv_general_dilated(x, w, (1, 1), "VALID", None, None, NHWC),
    x,
    w1,
  )
  assert "convolution" not in one and "dot_general" in one
  atrous = text(
    lambda x, w: conv_lowering.conv_general_dilated(
      x, w, (1, 1), ((2, 2), (2, 2)), None, (2, 2), NHWC
    ),
    x,
    w3,
  )
  assert "convolution" in atrous and "rhs_dilate = [2, 2]" not in atrous
  assert "4x8x8x4xf32" in atrous  # the 2 x 2 phases of the 16x16 input, in the batch
  # At rate 4 the 4x4 phases would be smaller than MIN_PHASE_SIZE: left dilated.
  small_phases = text(
    lambda x, w: conv_lowering.conv_general_dilated(
      x, w, (1, 1), ((4, 4), (4, 4)), None, (4, 4), NHWC
    ),
    x,
    w3,
  )
  assert "rhs_dilate = [4, 4]" in small_phases
  # At rate 12 over 16x16 a quarter of the taps read the map: one matmul per tap.
  far_rate = text(
    lambda x, w: conv_lowering.conv_general_dilated(
      x, w, (1, 1), ((12, 12), (12, 12)), None, (12, 12), NHWC
    ),
    x,
    w3,
  )
  assert "convolution" not in far_rate and far_rate.count("dot_general") == 9
  # A strided convolution's input gradient: stride-1 convolutions, no dilated input.
  strided_input_gradient = text(
    jax.grad(
      lambda x, w: conv_lowering.conv_general_dilated(
        x, w, (2, 2), ((1, 1), (1, 1)), None, None, NHWC
      ).sum()
    ),
    x,
    w3,
  )
  assert "convolution" in strided_input_gradient
  assert "lhs_dilate = [2, 2]" not in strided_input_gradient


@pytest.mark.parametrize(("kernel", "stride"), [(2, 2), (3, 3), (3, 2)])
def test_conv_transpose_matches_lax(kernel, stride):
  rng = np.random.default_rng(kernel + 10 * stride)
  x = jnp.asarray(rng.standard_normal((2, 5, 3, 4), np.float32))
  w = jnp.asarray(rng.standard_normal((kernel, kernel, 4, 6), np.float32))

  def ours(x, w):
    return conv_lowering.conv_transpose(x, w, (stride, stride))

  def theirs(x, w):
    return lax.conv_transpose(x, w, (stride, stride), "SAME", dimension_numbers=NHWC)

  np.testing.assert_allclose(jax.jit(ours)(x, w), theirs(x, w), rtol=1e-5, atol=1e-4)
  cotangent = jnp.asarray(rng.standard_normal(theirs(x, w).shape, np.float32))
  for a, b in zip(
    jax.vjp(ours, x, w)[1](cotangent), jax.vjp(theirs, x, w)[1](cotangent), strict=True
  ):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
  ("window", "stride", "padding", "size"),
  [
    (3, 2, ((1, 1), (1, 1)), (9, 7)),  # ResNet's stem pool, odd sizes
    (2, 2, "VALID", (9, 7)),  # U-Net's pool; VALID drops the last row
    (3, 3, "VALID", (8, 8)),  # CE-Net's pyramid pools: window = stride
    (3, 1, "SAME", (6, 5)),  # overlapping windows, every tap shared
  ],
)
def test_max_pool_matches_lax_with_ties(window, stride, padding, size):
  """Values and gradients are lax's, ties (integers after a ReLU) going to the same tap."""
  rng = np.random.default_rng(window * 10 + stride)
  x = jnp.asarray(np.maximum(np.round(rng.standard_normal((2, *size, 3)) * 2), 0), jnp.float32)

  def ours(x):
    return conv_lowering.max_pool(x, (window, window), (stride, stride), padding)

  def theirs(x):
    return nn.max_pool(x, (window, window), strides=(stride, stride), padding=padding)

  np.testing.assert_array_equal(jax.jit(ours)(x), theirs(x))
  cotangent = jnp.asarray(rng.standard_normal(theirs(x).shape, np.float32))
  ours_grad, theirs_grad = jax.vjp(ours, x)[1](cotangent), jax.vjp(theirs, x)[1](cotangent)
  # Overlapping windows add a pixel's cotangents in another order: rounding, not a wrong tap.
  np.testing.assert_allclose(ours_grad[0], theirs_grad[0], rtol=1e-6, atol=1e-6)
  lowered = jax.jit(jax.grad(lambda x: ours(x).sum())).lower(x).as_text()
  assert "select_and_scatter" not in lowered and "scatter" not in lowered
