"""Test helpers: lesion folders of tiny images and masks, laid out as a user would lay them out.

Each image is random RGB noise with a rectangular lesion mask; the pixels are
a function of the id, so a test can rewrite what the builder should have read.
"""

import pathlib
import zlib
from collections.abc import Mapping

import numpy as np
from PIL import Image

SMALL_SIZE = (50, 40)  # (width, height)
LARGE_SIZE = (640, 480)  # longer than 512: max512 downsizes it to 512x384
# id -> image file extension: six small images of every format, one large.
DEFAULT_IMAGES = {
  "lesion_a": ".jpg",
  "lesion_b": ".png",
  "lesion_c": ".bmp",
  "lesion_d": ".tif",
  "lesion_e": ".jpeg",
  "lesion_f": ".tiff",
  "lesion_large": ".jpg",
}
DEFAULT_MASK_SUFFIX = "_segmentation.png"


def size_of(file_id: str) -> tuple[int, int]:
  return LARGE_SIZE if "large" in file_id else SMALL_SIZE


def image_pixels(file_id: str, size: tuple[int, int] | None = None) -> np.ndarray:
  """(H, W, 3) uint8 noise, the same for the same id and size."""
  width, height = size or size_of(file_id)
  rng = np.random.default_rng(zlib.crc32(file_id.encode()))
  return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def mask_pixels(file_id: str, size: tuple[int, int] | None = None) -> np.ndarray:
  """(H, W) uint8, 255 inside a rectangle that depends on the id, else 0."""
  width, height = size or size_of(file_id)
  offset = zlib.crc32(file_id.encode()) % 5
  mask = np.zeros((height, width), np.uint8)
  mask[height // 4 + offset : 3 * height // 4, width // 4 : 3 * width // 4 - offset] = 255
  return mask


def write_lesion_folder(
  root: pathlib.Path,
  images: Mapping[str, str] = DEFAULT_IMAGES,
  *,
  mask_suffix: str = DEFAULT_MASK_SUFFIX,
) -> pathlib.Path:
  """`root/images/<id><extension>` and `root/masks/<id><mask_suffix>` for each of `images`."""
  (root / "images").mkdir(parents=True, exist_ok=True)
  (root / "masks").mkdir(parents=True, exist_ok=True)
  for file_id, extension in images.items():
    Image.fromarray(image_pixels(file_id)).save(root / "images" / f"{file_id}{extension}")
    Image.fromarray(mask_pixels(file_id)).save(root / "masks" / f"{file_id}{mask_suffix}")
  return root
