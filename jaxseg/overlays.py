"""Mask outlines drawn on images: overlays, labelled thumbnails and contact sheets.

`experiments.explore` draws a dataset's ground truth with these, `jaxseg.inference`
a model's predictions, so both look alike.
"""

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

OUTLINE_COLOUR = (0, 255, 0)
THUMBNAIL_WIDTH = 192
_TILE_GAP = 4


def mask_outline(mask: np.ndarray) -> np.ndarray:
  """Boundary pixels of a bool mask [H, W] (4-neighbourhood)."""
  padded = np.pad(mask, 1, mode="edge")
  interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:] & mask
  return mask & ~interior


def draw_outline(image: np.ndarray, mask: np.ndarray, thickness: int = 1) -> np.ndarray:
  """A copy of uint8 RGB `image` with the outline of bool `mask` drawn on it.

  A mask of another size is resized to the image's (nearest neighbour);
  `thickness` > 1 widens the line inwards and outwards.
  """
  if mask.shape != image.shape[:2]:
    resized = Image.fromarray(mask.astype(np.uint8) * 255).resize(
      (image.shape[1], image.shape[0]), Image.Resampling.NEAREST
    )
    mask = np.asarray(resized) > 127
  edge = mask_outline(mask)
  if thickness > 1:
    edge = ndimage.binary_dilation(edge, iterations=thickness - 1)
  out = np.array(image, np.uint8)
  out[edge] = OUTLINE_COLOUR
  return out


def outline_thickness(height: int, width: int) -> int:
  """A line width that stays visible on large images: 1 px up to 400 px, ~3 px at 1024."""
  return max(1, round(max(height, width) / 400))


def thumbnail(image: np.ndarray, mask: np.ndarray, label: str) -> Image.Image:
  """`image` scaled to THUMBNAIL_WIDTH with the outline of bool `mask` and `label` drawn on it."""
  height = max(1, round(image.shape[0] * THUMBNAIL_WIDTH / image.shape[1]))
  small = np.asarray(
    Image.fromarray(image).resize((THUMBNAIL_WIDTH, height), Image.Resampling.BILINEAR)
  )
  tile = Image.fromarray(draw_outline(small, mask))
  ImageDraw.Draw(tile).text((4, 4), label, fill=(255, 255, 255))
  return tile


def contact_sheet(tiles: list[Image.Image], columns: int = 6) -> Image.Image:
  """Tiles of THUMBNAIL_WIDTH in rows of `columns`."""
  rows = [tiles[i : i + columns] for i in range(0, len(tiles), columns)]
  row_heights = [max(t.height for t in row) for row in rows]
  sheet = Image.new(
    "RGB", (columns * (THUMBNAIL_WIDTH + _TILE_GAP), sum(h + _TILE_GAP for h in row_heights))
  )
  y = 0
  for row, height in zip(rows, row_heights, strict=True):
    for x, tile in enumerate(row):
      sheet.paste(tile, (x * (THUMBNAIL_WIDTH + _TILE_GAP), y))
    y += height + _TILE_GAP
  return sheet
