"""Vectorised numpy synthesis of dermoscopy-like images with exact lesion masks.

An example is a patch of skin seen through a dermoscope: a random skin tone
and tint with slow shading and a fine grain, one irregular pigmented lesion,
a few hairs crossing the picture, the dark circular rim of the dermoscope's
field of view, and sensor noise. The mask is the exact binary lesion shape;
the image blends across the lesion's border over a few pixels, and hairs and
the dark rim are drawn over the lesion without changing the mask, as in the
ISIC ground truth.

Every random choice is drawn, in a fixed order, from the one
`np.random.Generator` given to `render_example`, so a generator seeded with the
same values gives the same pixels (on the same numpy build and CPU; float
rounding may differ elsewhere). No step loops over pixels: the shape is a
closed-form field on the pixel grid, smooth random fields are lattice noise
interpolated by separable B-splines, the pigment network is Worley noise
over the 3 x 3 neighbouring cells, and hairs are a fixed stamp placed at
points along each curve. Arithmetic is float32, which halves the time over
float64, and images are channel-first (3, height, width) until the end:
numpy runs its inner loops over the last axis, and one of length 3 is
several times slower. About 10 ms an image at 192 x 256 on one core.

One module of ~450 lines: every drawing step takes its draws from the one
generator in a fixed order, and keeping them together keeps that order
visible (moving a step changes every image).
"""

import dataclasses
import functools
import math

import numpy as np

# ISIC 2016 and 2017 training sets are both about 19% melanoma.
MELANOMA_FRACTION = 0.2
# Fraction of the frame the lesion covers, drawn uniformly (the default range).
MIN_AREA_FRACTION = 0.05
MAX_AREA_FRACTION = 0.45
AREA_FRACTIONS = (MIN_AREA_FRACTION, MAX_AREA_FRACTION)
# Share of lesions whose colour is close to the skin's: the hard cases.
LOW_CONTRAST_FRACTION = 0.2
# Share of images with no hair at all.
HAIRLESS_FRACTION = 0.35
# Share of lesions showing a pigment network.
NETWORK_FRACTION = 0.6
# Share of images showing the dermoscope's black circular rim.
RIM_FRACTION = 0.65


def _rgb(red: float, green: float, blue: float) -> np.ndarray:
  """A colour shaped (3, 1, 1), to broadcast over channel-first images."""
  return np.array([red, green, blue], dtype=np.float32)[:, None, None]


# Skin tones (RGB in [0, 1]) between which the background is drawn, weighted
# towards fair skin, which dominates the ISIC archive.
_FAIR_SKIN = _rgb(0.92, 0.74, 0.66)
_TANNED_SKIN = _rgb(0.62, 0.43, 0.33)
# How erythema shifts the skin's channels: redder, less green and blue.
_REDNESS = _rgb(0.4, -0.5, -0.4)

# Pigments as the fraction of light they let through, per channel, so a
# lesion is darker than the skin under it whatever the skin tone
# (Beer-Lambert). Naevi stay in the browns; melanomas mix several of these.
_TAN = _rgb(0.85, 0.72, 0.62)
_LIGHT_BROWN = _rgb(0.70, 0.54, 0.44)
_DARK_BROWN = _rgb(0.42, 0.28, 0.22)
_BLACK_BROWN = _rgb(0.20, 0.15, 0.14)
_BLUE_GREY = _rgb(0.52, 0.55, 0.64)
_PINK_RED = _rgb(0.92, 0.66, 0.66)
_MELANOMA_PIGMENTS = np.stack(
  [_TAN, _LIGHT_BROWN, _DARK_BROWN, _BLACK_BROWN, _BLUE_GREY, _PINK_RED]
)
# Hair is dark brown to black, a little warm.
_HAIR_HUE = _rgb(1.0, 0.8, 0.7)


@dataclasses.dataclass(frozen=True)
class RenderedExample:
  """One synthetic dermoscopy image and its ground truth."""

  image: np.ndarray  # (height, width, 3) uint8 RGB.
  mask: np.ndarray  # (height, width) bool, True on the lesion.
  is_melanoma: bool
  is_low_contrast: bool


def render_example(
  rng: np.random.Generator,
  height: int,
  width: int,
  area_fractions: tuple[float, float] = AREA_FRACTIONS,
) -> RenderedExample:
  """Draws one image of the given size and its exact lesion mask from `rng`.

  The lesion covers U[area_fractions] of the frame.
  """
  is_melanoma = bool(rng.random() < MELANOMA_FRACTION)
  is_low_contrast = bool(rng.random() < LOW_CONTRAST_FRACTION)
  grid = _PixelGrid(height, width)

  skin = _skin(rng, grid)
  shape = _lesion_shape(rng, grid, is_melanoma, area_fractions)
  transmittance = _pigment_transmittance(rng, grid, shape, is_melanoma)
  coverage = _border_coverage(rng, grid, shape)
  # A low-contrast lesion absorbs only a fraction of what its pigment would.
  contrast = rng.uniform(0.25, 0.45) if is_low_contrast else rng.uniform(0.8, 1.0)
  absorbed = (contrast * coverage) * (1.0 - transmittance)
  image = skin * (1.0 - absorbed)

  image = _draw_hairs(rng, grid, image)
  image = _vignette(rng, grid, image)
  # Uniform sensor noise: as mild as Gaussian at this level, and a quarter of
  # the cost to draw.
  noise_amplitude = rng.uniform(0.008, 0.02)
  image += noise_amplitude * (rng.random(image.shape, dtype=np.float32) - 0.5)
  image = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
  return RenderedExample(
    image=np.ascontiguousarray(image.transpose(1, 2, 0)),
    mask=shape.mask,
    is_melanoma=is_melanoma,
    is_low_contrast=is_low_contrast,
  )


class _PixelGrid:
  """Pixel-centre coordinates, and the image's size for scaling lengths."""

  def __init__(self, height: int, width: int):
    self.height = height
    self.width = width
    self.y = (np.arange(height, dtype=np.float32) + 0.5)[:, None]
    self.x = (np.arange(width, dtype=np.float32) + 0.5)[None, :]
    # Lengths are fractions of the short side, so every image size of a
    # config shows the same kind of picture.
    self.short_side = min(height, width)
    self.half_diagonal = 0.5 * float(np.hypot(height, width))

  @property
  def shape(self) -> tuple[int, int]:
    return (self.height, self.width)


def _smooth_noise(rng: np.random.Generator, grid: _PixelGrid, feature_size: float) -> np.ndarray:
  """A unit-variance random field whose blobs are about `feature_size` pixels wide.

  White noise on a lattice with spacing `feature_size / 2`, interpolated to
  the pixels by a cubic B-spline, one axis at a time: four weighted rows,
  then four weighted columns. This is elementwise work only; matrix
  products would hand it to a multithreaded BLAS, which stalls badly when
  the machine is busy.
  """
  spacing = max(feature_size / 2.0, 0.5)
  row_index, row_weight = _bspline_taps(grid.height, spacing)
  column_index, column_weight = _bspline_taps(grid.width, spacing)
  lattice = rng.standard_normal(
    (int(row_index.max()) + 1, int(column_index.max()) + 1), dtype=np.float32
  )
  rows = np.einsum("yk,ykx->yx", row_weight, lattice[row_index])
  return np.einsum("xk,yxk->yx", column_weight, rows[:, column_index])


@functools.lru_cache(maxsize=64)
def _bspline_taps(length: int, spacing: float) -> tuple[np.ndarray, np.ndarray]:
  """Lattice indices and weights, (length, 4) each, of the cubic B-spline at each pixel."""
  position = (np.arange(length, dtype=np.float32) + 0.5) / spacing
  cell = np.floor(position)
  f = (position - cell)[:, None]
  # The four cubic B-spline weights, times 6 (the normalisation below takes
  # any constant factor out).
  weights = np.concatenate(
    [
      (1.0 - f) ** 3,
      3.0 * f**3 - 6.0 * f**2 + 4.0,
      -3.0 * f**3 + 3.0 * f**2 + 3.0 * f + 1.0,
      f**3,
    ],
    axis=1,
  )
  # Unit-norm weights make the field unit variance at every pixel, not only
  # at the lattice points.
  weights /= np.linalg.norm(weights, axis=1, keepdims=True)
  # Taps cell-1 .. cell+2, shifted by one so the first index is 0.
  indices = cell.astype(np.int64)[:, None] + np.arange(4)
  # Every call with the same size shares these through the cache.
  indices.flags.writeable = False
  weights.flags.writeable = False
  return indices, weights


def _skin(rng: np.random.Generator, grid: _PixelGrid) -> np.ndarray:
  """Skin-tone background, (3, height, width) in [0, 1]."""
  tone = rng.random() ** 1.5
  tint = 1.0 + 0.04 * rng.standard_normal((3, 1, 1), dtype=np.float32)
  base = np.clip(((1.0 - tone) * _FAIR_SKIN + tone * _TANNED_SKIN) * tint, 0.0, 1.0)
  # Slow shading from uneven lighting, and the skin surface's mottled grain.
  shading = rng.uniform(0.02, 0.07) * _smooth_noise(rng, grid, 0.6 * grid.short_side)
  grain = rng.uniform(0.01, 0.025) * _smooth_noise(rng, grid, 0.03 * grid.short_side)
  # Patches of redness (erythema) on otherwise even skin.
  redness = rng.uniform(0.0, 0.08) * np.maximum(_smooth_noise(rng, grid, 0.3 * grid.short_side), 0)
  return base * (1.0 + shading + grain) * (1.0 + redness * _REDNESS)


@dataclasses.dataclass(frozen=True)
class _LesionShape:
  mask: np.ndarray  # (height, width) bool.
  # Approximate distance to the border in pixels, negative inside; good to a
  # few pixels from the border, which is where it is used.
  signed_distance: np.ndarray
  # 0 outside and at the border, rising to 1 at the lesion's centre.
  depth: np.ndarray


def _lesion_shape(
  rng: np.random.Generator,
  grid: _PixelGrid,
  is_melanoma: bool,
  area_fractions: tuple[float, float],
) -> _LesionShape:
  """Draws the lesion's outline.

  The lesion is star-shaped about its centre: its radius at angle t is
  r0 * g(t), g(t) = 1 + sum_k a_k cos(k t + phi_k), then it is stretched and
  rotated. Melanomas get more and stronger harmonics, and a ragged
  small-scale edge on top. r0 is read off the pixels so the lesion covers
  exactly the drawn fraction of the frame, also when it runs off the edge.
  """
  area_fraction = rng.uniform(*area_fractions)
  # Large lesions sit near the middle, small ones anywhere in the field.
  max_shift = 0.05 + 0.3 * (1.0 - min(area_fraction / MAX_AREA_FRACTION, 1.0))
  centre_y = grid.height * (0.5 + max_shift * rng.uniform(-1.0, 1.0))
  centre_x = grid.width * (0.5 + max_shift * rng.uniform(-1.0, 1.0))
  angle = rng.uniform(0.0, np.pi)
  aspect = rng.uniform(0.6, 1.0)

  if is_melanoma:
    num_harmonics, irregularity = int(rng.integers(4, 8)), rng.uniform(0.35, 0.55)
  else:
    num_harmonics, irregularity = int(rng.integers(2, 5)), rng.uniform(0.06, 0.25)
  orders = np.arange(2, 2 + num_harmonics)
  # Amplitudes decay with the order; they sum to `irregularity` < 1, which
  # keeps g > 0 and the shape star-shaped.
  amplitudes = rng.uniform(0.3, 1.0, size=num_harmonics) / orders
  amplitudes *= irregularity / amplitudes.sum()
  phases = rng.uniform(0.0, 2.0 * np.pi, size=num_harmonics)
  coefficients = (amplitudes * np.exp(1j * phases)).astype(np.complex64)

  # Coordinates in the lesion's own frame: rotate, then undo the stretch.
  # (math, not np, for scalars: a numpy float64 scalar would promote the
  # float32 arrays.)
  cos_angle, sin_angle = math.cos(angle), math.sin(angle)
  dy, dx = grid.y - centre_y, grid.x - centre_x
  along = cos_angle * dx + sin_angle * dy
  across = (cos_angle * dy - sin_angle * dx) / aspect
  radius = np.sqrt(along**2 + across**2)
  # exp(i t) without computing angles, then sum_k c_k exp(i k t) by Horner's
  # rule: one complex multiply per harmonic.
  unit = (along + 1j * across) / np.maximum(radius, 1e-6)
  series = np.zeros_like(unit)
  for coefficient in coefficients[::-1]:
    series = (series + coefficient) * unit
  series = series * unit  # The lowest harmonic is order 2, not 1.
  profile = 1.0 + series.real
  if is_melanoma:
    ragged_edge = _smooth_noise(rng, grid, 0.08 * grid.short_side)
    profile = profile * (1.0 + rng.uniform(0.02, 0.06) * ragged_edge)

  # The lesion is {radius / profile < r0}; r0 is the order statistic that
  # makes it cover the drawn fraction of the pixels.
  normalised_radius = radius / profile
  num_lesion_pixels = round(area_fraction * normalised_radius.size)
  r0 = float(np.partition(normalised_radius, num_lesion_pixels, axis=None)[num_lesion_pixels])
  mask = normalised_radius < r0
  # First-order distance to the border: level / |grad level|, in pixels.
  level = radius - r0 * profile
  gradient_y, gradient_x = np.gradient(level)
  gradient_norm = np.sqrt(gradient_y**2 + gradient_x**2)
  signed_distance = level / np.maximum(gradient_norm, 1e-3)
  # The sign must agree with the mask exactly, so the blend's midpoint is the
  # mask's edge.
  signed_distance = np.where(
    mask, np.minimum(signed_distance, 0.0), np.maximum(signed_distance, 0.0)
  )
  depth = np.maximum(1.0 - normalised_radius / r0, 0.0)
  return _LesionShape(mask=mask, signed_distance=signed_distance, depth=depth)


def _border_coverage(rng: np.random.Generator, grid: _PixelGrid, shape: _LesionShape) -> np.ndarray:
  """How much of the lesion each pixel shows: 1 inside, 0 outside, a ramp between.

  The ramp is centred on the border, so the exact mask is the 0.5 level of
  the blend. Its width changes along the border, sharp on one side and
  diffuse on another, as lesions are.
  """
  mean_width = grid.short_side * rng.uniform(0.006, 0.03)
  width_variation = np.exp(0.6 * _smooth_noise(rng, grid, 0.4 * grid.short_side))
  ramp_width = np.maximum(mean_width * width_variation, 0.5)
  return np.clip(0.5 - shape.signed_distance / ramp_width, 0.0, 1.0)


def _pigment_transmittance(
  rng: np.random.Generator, grid: _PixelGrid, shape: _LesionShape, is_melanoma: bool
) -> np.ndarray:
  """Per-pixel transmittance of the lesion's pigment, (3, height, width)."""
  if is_melanoma:
    # Several pigments in irregular patches: a sharpened softmax over smooth
    # random fields picks the pigment at each pixel.
    num_pigments = int(rng.integers(3, 5))
    chosen = rng.choice(len(_MELANOMA_PIGMENTS), size=num_pigments, replace=False)
    logits = np.stack(
      [_smooth_noise(rng, grid, 0.25 * grid.short_side) for _ in range(num_pigments)]
    )
    weights = np.exp(2.5 * (logits - logits.max(axis=0)))
    weights /= weights.sum(axis=0)
    colour = sum(
      weight * pigment for weight, pigment in zip(weights, _MELANOMA_PIGMENTS[chosen], strict=True)
    )
  else:
    # One brown, darker towards the middle as in most naevi.
    shade = rng.random()
    rim = (1.0 - shade) * _TAN + shade * _LIGHT_BROWN
    core = (1.0 - shade) * _LIGHT_BROWN + shade * _DARK_BROWN
    centre_weight = np.sqrt(np.minimum(shape.depth * rng.uniform(1.0, 3.0), 1.0))
    colour = rim + centre_weight * (core - rim)

  # Texture, one factor on all channels. Mottling first.
  texture = 1.0 + rng.uniform(0.03, 0.1) * _smooth_noise(rng, grid, 0.1 * grid.short_side)
  # The pigment network: darker lines around lighter holes, shown in patches
  # and fading out before the border; irregular, and with thicker and
  # thinner lines, in melanomas.
  if rng.random() < NETWORK_FRACTION:
    # It only shows on the lesion, so only the lesion's bounding box is drawn.
    rows = np.flatnonzero(shape.mask.any(axis=1))
    columns = np.flatnonzero(shape.mask.any(axis=0))
    box = np.s_[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
    hole_size = rng.uniform(0.035, 0.06) * grid.short_side
    border_distance = _cell_border_distance(
      rng, grid.y[box[0]], grid.x[:, box[1]], hole_size, is_melanoma
    )
    line_width = rng.uniform(0.1, 0.18) * hole_size
    if is_melanoma:
      line_width = line_width * np.exp(0.5 * _smooth_noise(rng, grid, 0.15 * grid.short_side)[box])
    lines = np.exp(-((border_distance / line_width) ** 2))
    patches = np.clip(0.5 + _smooth_noise(rng, grid, 0.3 * grid.short_side)[box], 0.0, 1.0)
    fade = np.minimum(shape.depth[box] * 4.0, 1.0)
    texture[box] *= 1.0 - rng.uniform(0.15, 0.4) * lines * patches * fade
  # Dots and globules: the peaks of a fine random field, kept off the border.
  dot_field = _smooth_noise(rng, grid, max(2.0, 0.025 * grid.short_side))
  dot_threshold = rng.uniform(1.6, 2.2) if is_melanoma else rng.uniform(2.2, 3.0)
  dots = np.clip((dot_field - dot_threshold) * 2.0, 0.0, 1.0) * (shape.depth > 0.1)
  texture *= 1.0 - 0.6 * dots
  return np.clip(colour * texture, 0.03, 1.0)


def _cell_border_distance(
  rng: np.random.Generator, y: np.ndarray, x: np.ndarray, cell_size: float, irregular: bool
) -> np.ndarray:
  """Half the gap between the nearest and second-nearest of jittered seed points.

  `y` (rows, 1) and `x` (1, columns) are the pixel centres to evaluate. One
  seed per cell of a square lattice, moved randomly within its cell (Worley
  noise). The value is 0 on the border between two seeds' regions, so its
  low values trace a honeycomb. Only the 3 x 3 cells around a pixel can hold
  its two nearest seeds, so nine passes over the pixels suffice.
  """
  jitter = 1.0 if irregular else rng.uniform(0.75, 0.95)
  num_rows = int(y.max() // cell_size) + 3
  num_columns = int(x.max() // cell_size) + 3
  # Seeds of cell (i, j), stored at [i + 1, j + 1] so neighbours never wrap.
  offsets = 0.5 + jitter * (rng.random((2, num_rows, num_columns), dtype=np.float32) - 0.5)
  seed_y = (np.arange(num_rows, dtype=np.float32)[:, None] - 1.0 + offsets[0]) * cell_size
  seed_x = (np.arange(num_columns, dtype=np.float32)[None, :] - 1.0 + offsets[1]) * cell_size
  # Flat indices into the seed arrays: np.take on them is several times
  # faster than indexing with a pair of broadcast index arrays.
  cell_index = (y // cell_size).astype(np.int64) * num_columns + (x // cell_size).astype(np.int64)
  seed_y, seed_x = seed_y.ravel(), seed_x.ravel()
  # Squared distances to the nearest and second-nearest seed so far.
  nearest = np.full(cell_index.shape, np.inf, dtype=np.float32)
  second = np.full(cell_index.shape, np.inf, dtype=np.float32)
  for row_step in (0, 1, 2):
    for column_step in (0, 1, 2):
      neighbour = cell_index + (row_step * num_columns + column_step)
      squared = (y - np.take(seed_y, neighbour)) ** 2 + (x - np.take(seed_x, neighbour)) ** 2
      second = np.minimum(second, np.maximum(nearest, squared))
      nearest = np.minimum(nearest, squared)
  return 0.5 * (np.sqrt(second) - np.sqrt(nearest))


def _draw_hairs(rng: np.random.Generator, grid: _PixelGrid, image: np.ndarray) -> np.ndarray:
  """Draws a few thin dark curved hairs over the image (they are not lesion)."""
  if rng.random() < HAIRLESS_FRACTION:
    return image
  num_hairs = int(rng.integers(1, 9))
  step = 0.5  # Pixels between points along a hair: close enough for no gaps.
  xs, ys, widths = [], [], []
  for _ in range(num_hairs):
    length = rng.uniform(0.3, 1.2) * 2.0 * grid.half_diagonal
    t = np.linspace(0.0, 1.0, int(np.ceil(length / step)), dtype=np.float32)
    # The heading turns steadily (a bend) and slowly wiggles.
    wiggle = rng.uniform(0.0, 0.3) * np.sin(
      2.0 * np.pi * rng.uniform(0.5, 2.0) * t + rng.uniform(0.0, 2.0 * np.pi)
    )
    heading = rng.uniform(0.0, 2.0 * np.pi) + rng.uniform(-1.5, 1.5) * t + wiggle
    # Start anywhere, also outside the frame, so hairs cross it.
    start_x = rng.uniform(-0.2, 1.2) * grid.width
    start_y = rng.uniform(-0.2, 1.2) * grid.height
    xs.append(start_x + step * np.cumsum(np.cos(heading)))
    ys.append(start_y + step * np.cumsum(np.sin(heading)))
    # Hairs thin out towards the tip.
    thickness = max(0.7, rng.uniform(0.005, 0.014) * grid.short_side)
    widths.append(thickness * (1.0 - 0.5 * t**2))
  xs, ys, widths = np.concatenate(xs), np.concatenate(ys), np.concatenate(widths)

  # Stamp each point onto the pixels around it: coverage is 1 within the
  # half-width and falls to 0 one pixel further out (antialiasing). A pixel
  # near several points keeps the largest coverage.
  reach = int(np.ceil(widths.max() / 2.0 + 1.0))
  offsets = np.arange(-reach, reach + 1, dtype=np.float32)
  pixel_y = np.floor(ys)[:, None, None] + offsets[None, :, None]
  pixel_x = np.floor(xs)[:, None, None] + offsets[None, None, :]
  distance = np.sqrt(
    (pixel_y + 0.5 - ys[:, None, None]) ** 2 + (pixel_x + 0.5 - xs[:, None, None]) ** 2
  )
  stamp = np.clip(widths[:, None, None] / 2.0 + 0.5 - distance, 0.0, 1.0)
  pixel_y, pixel_x = np.broadcast_arrays(pixel_y, pixel_x)
  drawn = (
    (stamp > 0.0)
    & (pixel_y >= 0)
    & (pixel_y < grid.height)
    & (pixel_x >= 0)
    & (pixel_x < grid.width)
  )
  flat_index = (pixel_y[drawn] * grid.width + pixel_x[drawn]).astype(np.int64)
  hair_coverage = np.zeros(grid.height * grid.width, dtype=np.float32)
  np.maximum.at(hair_coverage, flat_index, stamp[drawn])

  opacity = rng.uniform(0.75, 0.95) * hair_coverage.reshape(grid.shape)
  hair_colour = rng.uniform(0.04, 0.2) * _HAIR_HUE
  return image * (1.0 - opacity) + hair_colour * opacity


def _vignette(rng: np.random.Generator, grid: _PixelGrid, image: np.ndarray) -> np.ndarray:
  """Darkens towards the corners, often down to the dermoscope's black rim."""
  centre_y = grid.height * (0.5 + rng.uniform(-0.04, 0.04))
  centre_x = grid.width * (0.5 + rng.uniform(-0.04, 0.04))
  radius = np.sqrt((grid.y - centre_y) ** 2 + (grid.x - centre_x) ** 2) / grid.half_diagonal
  gain = 1.0 - rng.uniform(0.1, 0.35) * radius**2
  if rng.random() >= RIM_FRACTION:
    return image * gain
  # The edge of the field of view, in half-diagonals: below 1 it cuts the
  # corners, below width / diagonal (0.8 at 4:3) the sides too. Outside it
  # is the dermoscope's housing, near black.
  rim_radius = rng.uniform(0.72, 1.0)
  rim_softness = rng.uniform(0.01, 0.04)
  inside = np.clip((rim_radius - radius) / rim_softness + 0.5, 0.0, 1.0)
  housing = rng.uniform(0.0, 0.06) * (1.0 - inside)
  return image * (gain * inside) + housing
