"""The models' resampling ops: bilinear ones are jax.image.resize's, nearest is jnp.repeat's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg.models.blocks import resize_to, upsample_bilinear2x, upsample_nearest2x


@pytest.mark.parametrize(
  ("in_size", "out_size"),
  [
    ((5, 7), (10, 14)),  # x2, odd sizes
    ((3, 4), (24, 12)),  # x8 and x3: even and odd phase counts
    ((1, 2), (4, 6)),  # a one-pixel axis: every phase is the edge
    ((6, 6), (9, 4)),  # not integer factors (and a downsample): jax.image.resize itself
  ],
)
def test_resize_to_matches_jax_image_resize(in_size, out_size):
  rng = np.random.default_rng(sum(in_size + out_size))
  x = jnp.asarray(rng.standard_normal((2, *in_size, 3)), jnp.float32)

  def ours(x):
    return resize_to(x, *out_size)

  def theirs(x):
    return jax.image.resize(x, (2, *out_size, 3), "bilinear")

  np.testing.assert_allclose(jax.jit(ours)(x), theirs(x), rtol=1e-5, atol=1e-5)
  cotangent = jnp.asarray(rng.standard_normal((2, *out_size, 3)), jnp.float32)
  ours_grad, theirs_grad = jax.vjp(ours, x)[1](cotangent), jax.vjp(theirs, x)[1](cotangent)
  np.testing.assert_allclose(ours_grad[0], theirs_grad[0], rtol=1e-5, atol=1e-5)


def test_upsample_bilinear2x_matches_and_keeps_bfloat16():
  x = jnp.asarray(np.random.default_rng(0).standard_normal((1, 4, 3, 2)), jnp.float32)
  np.testing.assert_allclose(
    upsample_bilinear2x(x), jax.image.resize(x, (1, 8, 6, 2), "bilinear"), rtol=1e-6, atol=1e-6
  )
  assert upsample_bilinear2x(x.astype(jnp.bfloat16)).dtype == jnp.bfloat16


def test_upsample_nearest2x_gradient_is_repeats():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.standard_normal((2, 3, 5, 4)), jnp.float32)

  def repeated(x):
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)

  np.testing.assert_array_equal(jax.jit(upsample_nearest2x)(x), repeated(x))
  cotangent = jnp.asarray(rng.standard_normal((2, 6, 10, 4)), jnp.float32)
  ours, theirs = jax.vjp(upsample_nearest2x, x)[1](cotangent), jax.vjp(repeated, x)[1](cotangent)
  np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6, atol=1e-6)
