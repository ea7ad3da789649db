"""Colour channels against scalar references; contrast augmentation; normalisation."""

import colorsys

import numpy as np
import pytest

from jaxseg.data import colour, transforms


def _pixels(n=4000, seed=0):
  """Random uint8 pixels plus greys, pure and mixed primaries, black and white: [n', 3]."""
  rng = np.random.default_rng(seed)
  special = [[0, 0, 0], [255, 255, 255], [1, 1, 1], [10, 10, 10], [128, 128, 128], [254, 254, 254]]
  special += [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255]]
  special += [[255, 0, 1], [255, 1, 0], [3, 2, 2], [200, 200, 199], [0, 0, 1], [12, 11, 10]]
  greys = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
  rand = rng.integers(0, 256, (n, 3), dtype=np.uint8)
  return np.concatenate([np.array(special, np.uint8), greys, rand])


def _reference_lightness(r, g, b):
  """CIE L* of one sRGB pixel in [0, 1], straight from the formulas (D65, Yn = 1)."""

  def linear(c):
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

  y = 0.2126729 * linear(r) + 0.7151522 * linear(g) + 0.0721750 * linear(b)
  if y > 216 / 24389:
    return 116 * y ** (1 / 3) - 16
  return 24389 / 27 * y


def _hue_distance(a, b):
  d = np.abs(a - b)
  return np.minimum(d, 1 - d)


def test_hsv_matches_colorsys():
  pixels = _pixels()
  hsv = colour.rgb_to_hsv(pixels)
  assert hsv.dtype == np.float32 and hsv.shape == pixels.shape
  expected = np.array([colorsys.rgb_to_hsv(*(p / 255.0)) for p in pixels.astype(np.float64)])
  assert np.all(_hue_distance(hsv[:, 0], expected[:, 0]) < 1e-5)
  np.testing.assert_allclose(hsv[:, 1:], expected[:, 1:], atol=1e-6)
  assert hsv.min() >= 0 and hsv.max() <= 1
  # Float input in [0, 1] agrees with uint8 input.
  np.testing.assert_allclose(colour.rgb_to_hsv(pixels / 255.0), hsv, atol=1e-6)


def test_lightness_matches_cie_formulas():
  pixels = _pixels()
  lightness = colour.rgb_to_lightness(pixels)
  expected = np.array([_reference_lightness(*(p / 255.0)) for p in pixels.astype(np.float64)])
  np.testing.assert_allclose(lightness, expected, atol=2e-4)
  assert abs(colour.rgb_to_lightness(np.array([255, 255, 255], np.uint8)) - 100) < 1e-3
  assert colour.rgb_to_lightness(np.array([0, 0, 0], np.uint8)) == 0
  np.testing.assert_allclose(colour.rgb_to_lightness(pixels / 255.0), lightness, atol=2e-4)


def test_colour_channels_layout_and_range():
  pixels = _pixels(n=48 * 64 - 274)  # 274 fixed pixels: a 48 x 64 image
  image = pixels.reshape(48, 64, 3)
  seven = colour.colour_channels(image, "rgb_hsv_l")
  assert seven.shape == (48, 64, 7) and seven.dtype == np.float32
  assert seven.min() >= 0 and seven.max() <= 1
  np.testing.assert_allclose(seven[..., :3], image / 255.0, atol=1e-7)
  np.testing.assert_allclose(seven[..., 3:6], colour.rgb_to_hsv(image))
  np.testing.assert_allclose(seven[..., 6], colour.rgb_to_lightness(image) / 100, atol=1e-6)
  three = colour.colour_channels(image, "rgb")
  assert three.shape == (48, 64, 3) and three.dtype == np.float32
  assert colour.num_channels("rgb") == 3 and colour.num_channels("rgb_hsv_l") == 7
  assert set(colour.COLOUR_SPACES) == {"rgb", "rgb_hsv_l"}
  with pytest.raises(KeyError, match="rgb_hsv_l"):
    colour.colour_channels(image, "lab")
  with pytest.raises(KeyError, match="colour space"):
    colour.num_channels("hsv")


def test_matches_skimage_if_installed():
  skcolor = pytest.importorskip("skimage.color")
  image = _pixels(n=48 * 64 - 274).reshape(48, 64, 3)
  hsv = skcolor.rgb2hsv(image)
  ours = colour.rgb_to_hsv(image)
  assert np.all(_hue_distance(ours[..., 0], hsv[..., 0]) < 1e-5)
  np.testing.assert_allclose(ours[..., 1:], hsv[..., 1:], atol=1e-5)
  np.testing.assert_allclose(
    colour.rgb_to_lightness(image), skcolor.rgb2lab(image)[..., 0], atol=0.01
  )


def test_contrast_stays_in_range_and_changes_channels():
  rng = np.random.default_rng(0)
  image = colour.colour_channels(rng.integers(40, 200, (24, 32, 3), dtype=np.uint8), "rgb_hsv_l")
  changed = 0
  for seed in range(10):
    out = transforms.random_contrast(image, np.random.default_rng(seed))
    assert out.dtype == np.float32 and out.shape == image.shape
    assert out.min() >= 0 and out.max() <= 1
    changed += not np.array_equal(out, image)
  assert changed > 0
  # Probability 1, no jitter: every channel is stretched to the [5, 95] percentile window.
  out = transforms.random_contrast(image, np.random.default_rng(0), jitter=0.0, probability=1.0)
  for c in range(7):
    p5, p95 = np.percentile(image[..., c], [5, 95])
    expected = np.clip((image[..., c] - p5) / (p95 - p5), 0, 1)
    np.testing.assert_allclose(out[..., c], expected, atol=1e-5)
  # Probability 0: untouched.
  np.testing.assert_array_equal(
    transforms.random_contrast(image, np.random.default_rng(0), probability=0.0), image
  )


def test_contrast_percentiles_match_numpy_with_jitter():
  image = np.random.default_rng(1).random((17, 23, 4)).astype(np.float32)
  out = transforms.random_contrast(image, np.random.default_rng(5), probability=1.0, jitter=5.0)
  draws = np.random.default_rng(5)
  draws.random(4)
  lo, hi = draws.uniform(0, 10, 4), draws.uniform(90, 100, 4)
  for c in range(4):
    p_lo, p_hi = np.percentile(image[..., c], [lo[c], hi[c]])
    expected = np.clip((image[..., c] - p_lo) / (p_hi - p_lo), 0, 1)
    np.testing.assert_allclose(out[..., c], expected, atol=1e-5)


def test_contrast_leaves_flat_channel_and_uint8():
  image = np.random.default_rng(2).random((16, 16, 3)).astype(np.float32)
  image[..., 1] = 0.3
  before = image.copy()
  out = transforms.random_contrast(image, np.random.default_rng(0), probability=1.0)
  np.testing.assert_array_equal(image, before)  # not in place
  single = transforms.random_contrast(image[..., :1], np.random.default_rng(0), probability=1.0)
  assert not np.array_equal(single, image[..., :1])
  np.testing.assert_array_equal(out[..., 1], image[..., 1])
  assert not np.array_equal(out[..., 0], image[..., 0])
  as_uint8 = (image * 255).astype(np.uint8)
  out8 = transforms.random_contrast(as_uint8, np.random.default_rng(0), probability=1.0)
  assert out8.dtype == np.uint8 and out8.max() == 255 and out8.min() == 0


def test_normalize_float_channels():
  images = np.random.default_rng(0).random((2, 4, 4, 7)).astype(np.float32)
  np.testing.assert_array_equal(transforms.normalize(images, "unit"), images)
  with pytest.raises(ValueError, match="7"):
    transforms.normalize(images, "imagenet")
  rgb = images[..., :3]
  expected = (rgb - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
  np.testing.assert_allclose(transforms.normalize(rgb, "imagenet"), expected, rtol=1e-5)
  as_uint8 = (rgb * 255).astype(np.uint8)
  np.testing.assert_allclose(transforms.normalize(as_uint8, "unit"), as_uint8 / 255.0, rtol=1e-6)


def test_normalize_under_jit():
  jax = pytest.importorskip("jax")
  images = np.random.default_rng(0).random((2, 4, 4, 7)).astype(np.float32)
  out = jax.jit(lambda x: transforms.normalize(x, "unit"))(images)
  np.testing.assert_allclose(np.asarray(out), images)
  as_uint8 = (images[..., :3] * 255).astype(np.uint8)
  out = jax.jit(lambda x: transforms.normalize(x, "imagenet"))(as_uint8)
  assert out.dtype == np.float32 and out.shape == (2, 4, 4, 3)
