"""Per-example transforms on host numpy arrays (resize, augment), and normalisation.

Resizing and augmentation run inside grain workers, one example at a time, so
images never reach the device at their original size; normalisation runs on
the device, inside the jitted steps.
"""

import numpy as np
from PIL import Image, ImageFilter

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
    raise KeyError(f"Unknown resize method {method!r}; choose from {sorted(RESIZE_METHODS)}.")
  height, width = size
  resized_height, resized_width = height, width
  if crop:
    scale = max(height / image.shape[0], width / image.shape[1])
    resized_height = max(height, round(image.shape[0] * scale))
    resized_width = max(width, round(image.shape[1] * scale))
  if image.shape[:2] != (resized_height, resized_width):
    image = np.asarray(
      Image.fromarray(image).resize((resized_width, resized_height), RESIZE_METHODS[method])
    )
  if mask.shape[:2] != (resized_height, resized_width):
    resized = Image.fromarray(mask[..., 0]).resize(
      (resized_width, resized_height), Image.Resampling.NEAREST
    )
    mask = np.asarray(resized)[..., None]
  top, left = (resized_height - height) // 2, (resized_width - width) // 2
  return image[top : top + height, left : left + width], mask[
    top : top + height, left : left + width
  ]


def normalize(images, normalization: str):
  """uint8 pixels -> float32 (x / 255 - mean) / std; numpy or jax arrays."""
  if normalization not in NORMALIZATIONS:
    raise KeyError(
      f"Unknown normalization {normalization!r}; choose from {sorted(NORMALIZATIONS)}."
    )
  mean, std = NORMALIZATIONS[normalization]
  return (images.astype(np.float32) / 255.0 - mean) / std


def encode_id(example_id) -> np.ndarray:
  raw = example_id.encode() if isinstance(example_id, str) else bytes(example_id)
  if len(raw) > ID_LENGTH:
    raise ValueError(f"Example id {raw!r} is longer than {ID_LENGTH} bytes.")
  return np.frombuffer(raw.ljust(ID_LENGTH, b"\0"), np.uint8).copy()


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
