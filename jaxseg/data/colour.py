"""Colour-space channels on the host: RGB -> HSV and CIELAB L, vectorised numpy.

cdnn (paper 003, Sec. II; docs/papers.md, "cdnn (paper 003)") feeds the
network 7 channels, RGB, HSV and the CIELAB lightness L, each scaled to
[0, 1]. The conversions follow the
conventions of `skimage.color.rgb2hsv` / `colorsys.rgb_to_hsv` (H = hue / 360,
S and V in [0, 1]) and `skimage.color.rgb2lab` (sRGB gamma linearisation, D65
white, L in [0, 100]; here divided by 100), without depending on either.
"""

import numpy as np

from jaxseg.errors import ConfigError

# space name -> number of channels. "rgb8" (uint8 RGB, normalised on the
# device) is handled by the pipeline and never converted here.
_CHANNELS = {"rgb": 3, "rgb_hsv_l": 7}
COLOUR_SPACES = tuple(_CHANNELS)

# Row Y of the sRGB (D65) -> XYZ matrix; the D65 white has Y = 1.
_Y_FROM_LINEAR_RGB = np.array([0.2126729, 0.7151522, 0.0721750], np.float32)
_EPSILON = 216.0 / 24389.0  # (6/29)^3: below it L is linear in Y
_KAPPA = 24389.0 / 27.0  # (29/3)^3


def _check_space(space: str) -> None:
  if space not in _CHANNELS:
    raise ConfigError(f"Unknown colour space {space!r}; choose from {sorted(COLOUR_SPACES)}.")


def num_channels(space: str) -> int:
  """Channels that `colour_channels(image, space)` returns."""
  _check_space(space)
  return _CHANNELS[space]


def to_unit_float(rgb: np.ndarray) -> np.ndarray:
  """uint8 -> float32 x / 255; floating input (assumed in [0, 1]) -> float32 as is."""
  rgb = np.asarray(rgb)
  if rgb.dtype == np.uint8:
    return rgb.astype(np.float32) * np.float32(1.0 / 255.0)
  if not np.issubdtype(rgb.dtype, np.floating):
    raise TypeError(f"Expected uint8 or floating RGB in [0, 1], got {rgb.dtype}.")
  return rgb.astype(np.float32, copy=False)


def _planes(rgb: np.ndarray) -> np.ndarray:
  """[..., 3] -> contiguous [3, ...] (uint8 kept, else float32): numpy's reductions and
  elementwise work over a length-3 last axis are many times slower than over planes."""
  rgb = np.asarray(rgb)
  if rgb.dtype != np.uint8:
    rgb = to_unit_float(rgb)
  return np.ascontiguousarray(np.moveaxis(rgb, -1, 0))


def _hsv_planes(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Planes from `_planes` -> float32 H, S, V planes (see `rgb_to_hsv`)."""
  if planes.dtype == np.uint8:  # exact integer numerators
    planes = planes.astype(np.int16)
    scale = np.float32(1.0 / 255.0)
  else:
    scale = np.float32(1.0)
  red, green, blue = planes
  value = np.maximum(np.maximum(red, green), blue)
  delta = value - np.minimum(np.minimum(red, green), blue)
  # Hue numerator, in units of delta: sector offset x delta + difference.
  numerator = np.where(
    red == value,
    green - blue,
    np.where(green == value, 2 * delta + blue - red, 4 * delta + red - green),
  )
  numerator = np.where(numerator < 0, numerator + 6 * delta, numerator)  # red sector wraps
  hue = np.zeros(numerator.shape, np.float32)  # greys: 0
  np.divide(numerator, (6 * delta).astype(np.float32), out=hue, where=delta > 0)
  hue[hue >= 1] = 0  # float rounding at the wrap
  saturation = np.zeros(value.shape, np.float32)  # black: 0
  np.divide(delta, value.astype(np.float32), out=saturation, where=value > 0)
  return hue, saturation, value.astype(np.float32) * scale


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
  """RGB [..., 3] (uint8, or float in [0, 1]) -> float32 HSV [..., 3], every channel in [0, 1].

  H is hue / 360 (0 for greys), S = (max - min) / max (0 for black), V = max.
  Sectors of the hexcone: red max -> (G - B) / delta, green -> 2 + (B - R) / delta,
  blue -> 4 + (R - G) / delta, ties to red then green (colorsys's order; the
  formulas agree on ties anyway); H = that / 6 mod 1.
  """
  return np.stack(_hsv_planes(_planes(rgb)), axis=-1)


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
  """sRGB companding undone: c / 12.92 below 0.04045, else ((c + 0.055) / 1.055) ** 2.4."""
  rgb = to_unit_float(rgb)
  return np.where(
    rgb <= 0.04045, rgb / np.float32(12.92), ((rgb + np.float32(0.055)) / np.float32(1.055)) ** 2.4
  ).astype(np.float32, copy=False)


# uint8 input: the linearisation is a 256-entry table.
_LINEAR_LUT = srgb_to_linear(np.arange(256, dtype=np.uint8))


def _lightness_plane(planes: np.ndarray) -> np.ndarray:
  """Planes from `_planes` -> float32 CIELAB L plane in [0, 100]."""
  linear = np.take(_LINEAR_LUT, planes) if planes.dtype == np.uint8 else srgb_to_linear(planes)
  weights = _Y_FROM_LINEAR_RGB
  y = weights[0] * linear[0] + weights[1] * linear[1] + weights[2] * linear[2]  # Y / Yn, Yn = 1
  lightness = np.where(
    y > _EPSILON, np.float32(116.0) * np.cbrt(y) - np.float32(16.0), np.float32(_KAPPA) * y
  )
  return lightness.astype(np.float32, copy=False)


def rgb_to_lightness(rgb: np.ndarray) -> np.ndarray:
  """RGB [..., 3] (uint8, or float in [0, 1]) -> float32 CIELAB L [...] in [0, 100] (D65)."""
  return _lightness_plane(_planes(rgb))


def colour_channels(image: np.ndarray, space: str) -> np.ndarray:
  """RGB image [H, W, 3] (uint8, or float in [0, 1]) -> float32 [H, W, C] in [0, 1].

  "rgb": RGB / 255 (3 channels). "rgb_hsv_l": RGB / 255, H, S, V, L / 100 (7).
  """
  _check_space(space)
  if space == "rgb":
    return np.ascontiguousarray(to_unit_float(image))
  planes = _planes(image)
  rgb = planes * np.float32(1.0 / 255.0) if planes.dtype == np.uint8 else planes
  lightness = _lightness_plane(planes) * np.float32(0.01)
  out = np.stack([*rgb, *_hsv_planes(planes), lightness], axis=-1)
  return np.clip(out, 0.0, 1.0, out=out)
