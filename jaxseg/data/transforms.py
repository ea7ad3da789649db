"""Per-example transforms on host numpy arrays (resize, augment), and normalisation.

Resizing and augmentation run inside grain workers, one example at a time, so
images never reach the device at their original size; normalisation runs on
the device, inside the jitted steps.
"""

import numpy as np
from PIL import Image

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


def resize(image: np.ndarray, mask: np.ndarray, size: tuple[int, int], method: str):
  """Resizes an RGB image with `method` and its mask with nearest neighbour."""
  if method not in RESIZE_METHODS:
    raise KeyError(f"Unknown resize method {method!r}; choose from {sorted(RESIZE_METHODS)}.")
  height, width = size
  if image.shape[:2] != (height, width):
    image = np.asarray(Image.fromarray(image).resize((width, height), RESIZE_METHODS[method]))
  if mask.shape[:2] != (height, width):
    resized = Image.fromarray(mask[..., 0]).resize((width, height), Image.Resampling.NEAREST)
    mask = np.asarray(resized)[..., None]
  return image, mask


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


def random_flips(image, mask, rng: np.random.Generator, horizontal: bool, vertical: bool):
  """Flips image and mask together, each axis with probability 1/2."""
  if horizontal and rng.random() < 0.5:
    image, mask = image[:, ::-1], mask[:, ::-1]
  if vertical and rng.random() < 0.5:
    image, mask = image[::-1], mask[::-1]
  return np.ascontiguousarray(image), np.ascontiguousarray(mask)
