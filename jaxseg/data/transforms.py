"""Per-example transforms on host numpy arrays (resize, augment), and normalisation.

Resizing and augmentation run inside grain workers, one example at a time, so
images never reach the device at their original size; normalisation runs on
the device, inside the jitted steps.
"""

import numpy as np
from PIL import Image, ImageFilter

from jaxseg.errors import ConfigError

RESIZE_METHODS = {
  "nearest": Image.Resampling.NEAREST,
  "bilinear": Image.Resampling.BILINEAR,
  "bicubic": Image.Resampling.BICUBIC,
  "area": Image.Resampling.BOX,
}

NORMALIZATIONS = {
  # (mean, std) applied to [0, 1] pixel values.
  "unit": (np.zeros(3, np.float32), np.ones(3, np.float32)),
  "imagenet": (
    np.array([0.485, 0.456, 0.406], np.float32),
    np.array([0.229, 0.224, 0.225], np.float32),
  ),
}

ID_LENGTH = 32  # ids travel as fixed-width bytes so batches can be all-gathered.


def resize(
  image: np.ndarray, mask: np.ndarray, size: tuple[int, int], method: str, crop: bool = False
):
  """Resizes an RGB image with `method` and its mask with nearest neighbour.

  `crop=False` stretches to `size`; `crop=True` keeps the aspect ratio, scales
  the image to cover `size` (the shorter side fits) and takes the centre
  (ulffn: "resize the shorter side to 512, centre crop").
  """
  if method not in RESIZE_METHODS:
    raise ConfigError(f"Unknown resize method {method!r}; choose from {sorted(RESIZE_METHODS)}.")
  height, width = size
  resized_height, resized_width, top, left = height, width, 0, 0
  if crop:
    resized_height, resized_width, top, left = cover_crop_geometry(image.shape[:2], size)
  if image.shape[:2] != (resized_height, resized_width):
    image = np.asarray(
      Image.fromarray(image).resize((resized_width, resized_height), RESIZE_METHODS[method])
    )
  if mask.shape[:2] != (resized_height, resized_width):
    resized = Image.fromarray(mask[..., 0]).resize(
      (resized_width, resized_height), Image.Resampling.NEAREST
    )
    mask = np.asarray(resized)[..., None]
  return image[top : top + height, left : left + width], mask[
    top : top + height, left : left + width
  ]


def cover_crop_geometry(image_size: tuple[int, int], size: tuple[int, int]):
  """(scaled height, scaled width, top, left) of `resize(..., crop=True)` for an image of
  `image_size`: the scaled image that covers `size`, and where its centre crop starts."""
  height, width = size
  scale = max(height / image_size[0], width / image_size[1])
  scaled_height = max(height, round(image_size[0] * scale))
  scaled_width = max(width, round(image_size[1] * scale))
  return scaled_height, scaled_width, (scaled_height - height) // 2, (scaled_width - width) // 2


def uncrop_probabilities(prob: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
  """Probabilities of a centre crop (`resize(..., crop=True)`) -> the scaled image's canvas.

  The crop goes back to its place in the shorter-side-scaled image; outside it,
  which the model never saw, is background (probability 0). Resizing the
  canvas to `image_size` then inverts the crop's geometry exactly.
  """
  prob = np.asarray(prob, np.float32)
  scaled_height, scaled_width, top, left = cover_crop_geometry(image_size, prob.shape[:2])
  canvas = np.zeros((scaled_height, scaled_width), np.float32)
  canvas[top : top + prob.shape[0], left : left + prob.shape[1]] = prob
  return canvas


def normalize(images, normalization: str):
  """Images -> float32 (x - mean) / std on [0, 1] pixels; numpy or jax arrays.

  uint8 images (the "rgb8" colour space) are divided by 255 first; floating
  images are taken as already in [0, 1] (host colour channels, any count). The
  branch is on the dtype, static under jit. "unit" is then x itself for any
  channel count; "imagenet" has RGB statistics and needs exactly 3 channels.
  """
  if normalization not in NORMALIZATIONS:
    raise ConfigError(
      f"Unknown normalization {normalization!r}; choose from {sorted(NORMALIZATIONS)}."
    )
  if np.issubdtype(np.dtype(images.dtype), np.integer):
    images = images.astype(np.float32) / 255.0
  else:  # float32, float16, bfloat16, ...
    images = images.astype(np.float32)
  if normalization == "unit":
    return images
  channels = images.shape[-1]
  mean, std = NORMALIZATIONS[normalization]
  if channels != len(mean):
    raise ValueError(
      f"normalization {normalization!r} has statistics for {len(mean)} channels but the images "
      f"have {channels}; use normalization 'unit' with colour space 'rgb_hsv_l'."
    )
  return (images - mean) / std


def encode_id(example_id) -> np.ndarray:
  raw = example_id.encode() if isinstance(example_id, str) else bytes(example_id)
  if len(raw) > ID_LENGTH:
    raise ValueError(f"Example id {raw!r} is longer than {ID_LENGTH} bytes.")
  return np.frombuffer(raw.ljust(ID_LENGTH, b"\0"), np.uint8).copy()


def id_text(value) -> str:
  """An example's `id` as TFDS returns it (bytes) or as given (str) -> str."""
  return value.decode() if isinstance(value, bytes) else str(value)


def decode_ids(encoded: np.ndarray) -> list[str]:
  return [bytes(row).rstrip(b"\0").decode() for row in np.asarray(encoded, np.uint8)]


def random_rotation(image, mask, rng: np.random.Generator, max_degrees: float):
  """With probability 1/2, rotates image (bilinear) and mask (nearest) by U[0, max_degrees].

  Corners that come from outside the image are black and background.
  """
  if max_degrees <= 0 or rng.random() >= 0.5:
    return image, mask
  angle = float(rng.uniform(0.0, max_degrees))
  image = np.asarray(Image.fromarray(image).rotate(angle, Image.Resampling.BILINEAR))
  mask = np.asarray(Image.fromarray(mask).rotate(angle, Image.Resampling.NEAREST))
  return image, mask


def random_sharpen(image, rng: np.random.Generator):
  """With probability 1/2, PIL's 3x3 sharpening filter (rmsm's "sharpening")."""
  if rng.random() >= 0.5:
    return image
  return np.asarray(Image.fromarray(image).filter(ImageFilter.SHARPEN))


def random_flips(image, mask, rng: np.random.Generator, horizontal: bool, vertical: bool):
  """Flips image and mask together, each axis with probability 1/2."""
  if horizontal and rng.random() < 0.5:
    image, mask = image[:, ::-1], mask[:, ::-1]
  if vertical and rng.random() < 0.5:
    image, mask = image[::-1], mask[::-1]
  return np.ascontiguousarray(image), np.ascontiguousarray(mask)


def random_shift_scale(
  image, mask, rng: np.random.Generator, max_shift: float, scale_range: tuple[float, float]
):
  """Random translation and zoom about the centre; image bilinear, mask nearest neighbour.

  Shifting (by U[-max_shift, max_shift] of the height and, independently, of
  the width) and scaling (by U[scale_range]; > 1 zooms in) are each applied
  with probability 1/2, as one affine warp. Pixels from outside the image are
  black and background. Disabled parts draw no random numbers, so streams
  without them are unchanged.
  """
  low, high = float(scale_range[0]), float(scale_range[1])
  if low <= 0 or high < low:
    raise ValueError(f"scale_range must be 0 < low <= high, got {tuple(scale_range)}.")
  shift_y = shift_x = 0.0
  scale = 1.0
  if max_shift > 0 and rng.random() < 0.5:
    shift_y, shift_x = rng.uniform(-max_shift, max_shift, size=2)
  if (low, high) != (1.0, 1.0) and rng.random() < 0.5:
    scale = float(rng.uniform(low, high))
  if shift_y == shift_x == 0.0 and scale == 1.0:
    return image, mask
  height, width = image.shape[:2]
  # Output pixel (x, y) samples input ((x - cx - tx) / s + cx, (y - cy - ty) / s + cy); PIL
  # samples at pixel centres, so the centre of the image is (width / 2, height / 2).
  centre_x, centre_y = width / 2, height / 2
  shift_x, shift_y = float(shift_x) * width, float(shift_y) * height
  coefficients = (
    1 / scale,
    0.0,
    centre_x - (centre_x + shift_x) / scale,
    0.0,
    1 / scale,
    centre_y - (centre_y + shift_y) / scale,
  )
  affine = Image.Transform.AFFINE
  image = np.asarray(
    Image.fromarray(image).transform(
      (width, height), affine, coefficients, Image.Resampling.BILINEAR
    )
  )
  mask = np.asarray(
    Image.fromarray(mask).transform((width, height), affine, coefficients, Image.Resampling.NEAREST)
  )
  return image, mask


def random_contrast(
  image,
  rng: np.random.Generator,
  window: tuple[float, float] = (5.0, 95.0),
  jitter: float = 5.0,
  probability: float = 0.5,
):
  """Per-channel random percentile contrast stretch (cdnn, paper 003 Fig. 1).

  Each channel independently, with `probability`: lo ~ U[window[0] +- jitter],
  hi ~ U[window[1] +- jitter] (percentiles, clipped to [0, 100]), then
  (x - P_lo) / (P_hi - P_lo) clipped to [0, 1]. A flat channel (P_hi == P_lo)
  is left unchanged. Every channel is treated alike, hue included, as the
  paper normalises "each channel"; for hue this rescales the angle linearly
  (not circularly), one more colour perturbation.

  `image` [H, W, C] is float in [0, 1] (float32 out) or uint8 (stretched in
  float, rounded back to uint8). The draws are the same whatever the result,
  three vectors of length C, so the random stream does not depend on the data.
  """
  channels = image.shape[-1]
  apply = rng.random(channels) < probability
  lo = np.clip(rng.uniform(window[0] - jitter, window[0] + jitter, channels), 0.0, 100.0)
  hi = np.clip(rng.uniform(window[1] - jitter, window[1] + jitter, channels), 0.0, 100.0)
  lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
  if not apply.any():
    return image
  is_uint8 = image.dtype == np.uint8
  # Planar [C, H * W]: numpy is many times slower over a short last axis.
  planes = np.array(image.reshape(-1, channels).T, dtype=np.float32, order="C")  # a copy
  if is_uint8:
    planes *= np.float32(1.0 / 255.0)
  selected = np.flatnonzero(apply)
  # np.percentile's "linear" method; one (SIMD) sort per selected channel beats
  # np.percentile's partitions several times over at 192 x 256.
  ordered = np.sort(planes[selected], axis=-1)
  size = planes.shape[1]
  positions = np.stack([lo[selected], hi[selected]], axis=-1) / 100.0 * (size - 1)
  below = np.floor(positions).astype(np.int64)
  above = np.minimum(below + 1, size - 1)
  lower = np.take_along_axis(ordered, below, axis=-1)
  upper = np.take_along_axis(ordered, above, axis=-1)
  percentiles = lower + (upper - lower) * (positions - below)
  for row, (low, high) in zip(selected, percentiles, strict=True):
    if high > low:  # a flat channel stays as it is
      plane = planes[row]
      np.subtract(plane, np.float32(low), out=plane)
      np.divide(plane, np.float32(high - low), out=plane)
      np.clip(plane, 0.0, 1.0, out=plane)
  out = np.ascontiguousarray(planes.T).reshape(image.shape)
  if is_uint8:
    return np.round(out * 255.0).astype(np.uint8)
  return out
