"""What the dummy-data writers of the manual builders share: drawn lesions, reproducible zips.

Each manual builder's folder has a `dummy_data_writer.py` whose `DUMMY_DATA`
(a `DummyManualData`) writes the folder's `dummy_data/`, a stand-in for the
TFDS manual directory with the official file names, layouts and quirks, and
tells the shared builder tests (`manual_builders_from_dummy_data_test.py`)
what is in it. `python -m tfds_builders.make_dummy_data` runs every writer.

Pixels come from fixed seeds and zip entries carry a fixed timestamp, so a
writer rewrites identical files every time (given the same Pillow, libjpeg
and zlib).
"""

import dataclasses
import io
import zipfile
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
from etils import epath
from PIL import Image

from tfds_builders import lesion_features

# Zip entries carry a modification time; a fixed one keeps the bytes stable.
ZIP_TIMESTAMP = (2018, 1, 1, 0, 0, 0)
# Quality of the dummy JPEGs: like the published ones, and small.
JPEG_QUALITY = 90


@dataclasses.dataclass(frozen=True)
class DummyImage:
  id: str
  height: int
  width: int
  diagnosis: str  # The diagnosis name the builder must read for it.
  label: str = ""  # The diagnosis as the dataset's label file writes it.
  # Mask values strictly between 0 and 255 along the lesion border, as an
  # anti-aliased mask would have; the builders binarise at > 127.
  soft_mask_border: bool = False
  one_bit_mask: bool = False  # A 1-bit mask file rather than an 8-bit one.


class DummyManualData(Protocol):
  """A manual builder's dummy data: how to write it, and what the builder must read from it."""

  # split -> the dummy images the builder must find in it.
  images: Mapping[str, Sequence[DummyImage]]
  # split -> its label file, relative to the manual directory (splits without one are absent).
  label_files: Mapping[str, str]

  def write(self, manual_dir: epath.Path) -> None:
    """Writes the dummy data into `manual_dir`, an empty directory."""

  def image_file(self, split: str, file_id: str) -> lesion_features.SourceFile:
    """Where an image is; the container is relative to the manual directory."""

  def mask_file(self, split: str, file_id: str) -> lesion_features.SourceFile:
    """Where a mask is; the container is relative to the manual directory."""


def draw_lesion(
  height: int, width: int, seed: int, *, soft_border: bool = False
) -> tuple[np.ndarray, np.ndarray]:
  """A skin-toned image with a darker elliptic lesion, and its uint8 mask (0/255)."""
  rng = np.random.default_rng(seed)
  rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
  centre_row, centre_col = rng.uniform(0.4, 0.6, size=2) * (height, width)
  radius_row, radius_col = rng.uniform(0.2, 0.35, size=2) * (height, width)
  distance = np.hypot((rows - centre_row) / radius_row, (cols - centre_col) / radius_col)
  inside = distance <= 1.0
  skin = np.array([224, 178, 150]) + rng.uniform(-15, 15, size=3)
  pigment = np.array([110, 70, 50]) + rng.uniform(-20, 20, size=3)
  weight = np.clip(1.2 - distance, 0.0, 1.0)[..., None]  # Soft edge, darker centre.
  image = skin * (1 - weight) + pigment * weight
  image += rng.normal(0, 3, size=image.shape) if height * width < 10_000 else 0
  mask = np.where(inside, 255, 0).astype(np.uint8)
  if soft_border:
    border = (distance > 0.9) & (distance <= 1.1)
    mask[border] = np.where(distance[border] <= 1.0, 200, 100)
  return np.clip(image, 0, 255).astype(np.uint8), mask


def encoded(pixels: np.ndarray, image_format: str, mode: str | None = None) -> bytes:
  """`pixels` as a file of `image_format` (JPEG at `JPEG_QUALITY`), converted to `mode` first."""
  image = Image.fromarray(pixels)
  if mode:
    image = image.convert(mode)
  buffer = io.BytesIO()
  if image_format == "JPEG":
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
  else:
    image.save(buffer, format=image_format)
  return buffer.getvalue()


def write_zip(path: epath.Path, members: dict[str, bytes | None]) -> None:
  """A zip of `members` (name -> bytes; None for a folder entry), written reproducibly."""
  with zipfile.ZipFile(path, "w") as archive:
    for name, data in members.items():
      info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
      if data is None:
        info.external_attr = (0o40755 << 16) | 0x10  # A directory, as zip tools mark one.
        archive.writestr(info, b"")
      else:
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, data)


_STRAY_TEXT = {
  "LICENSE.txt": b"Creative Commons Attribution-NonCommercial 4.0 International (dummy).\n",
  "ATTRIBUTION.txt": b"ISIC Archive contributors (dummy attribution).\n",
}


@dataclasses.dataclass(frozen=True)
class IsicSplit:
  """One split of ISIC challenge dummy data: a zip of JPEG images and a zip of PNG masks."""

  data_zip: str  # Without `.zip`, which is also the archive's top folder.
  mask_zip: str
  images: tuple[DummyImage, ...]
  mask_suffix: str = "_segmentation.png"  # 2016's is `_Segmentation.png`.
  # Stray files, by name below the top folder; `__MACOSX` adds a resource fork entry.
  extra_data_members: tuple[str, ...] = ()
  extra_mask_members: tuple[str, ...] = ()
  superpixels: bool = False  # ISIC 2017 data zips hold `<id>_superpixels.png` per image.

  def image_file(self, file_id: str) -> lesion_features.SourceFile:
    return lesion_features.SourceFile(f"{self.data_zip}.zip", f"{self.data_zip}/{file_id}.jpg")

  def mask_file(self, file_id: str) -> lesion_features.SourceFile:
    return lesion_features.SourceFile(
      f"{self.mask_zip}.zip", f"{self.mask_zip}/{file_id}{self.mask_suffix}"
    )

  def write(self, manual_dir: epath.Path, seed: int) -> None:
    data = {f"{self.data_zip}/": None}
    masks = {f"{self.mask_zip}/": None}
    for index, dummy in enumerate(self.images):
      pixels, mask = draw_lesion(
        dummy.height, dummy.width, seed + index, soft_border=dummy.soft_mask_border
      )
      data[self.image_file(dummy.id).name] = encoded(pixels, "JPEG")
      if self.superpixels:
        # Real superpixel maps encode segment indices in RGB; any RGB PNG will do.
        data[f"{self.data_zip}/{dummy.id}_superpixels.png"] = encoded(pixels // 64 * 64, "PNG")
      masks[self.mask_file(dummy.id).name] = encoded(mask, "PNG")
    for archive, extras in ((data, self.extra_data_members), (masks, self.extra_mask_members)):
      top = self.data_zip if archive is data else self.mask_zip
      for extra in extras:
        if extra.endswith("_metadata.csv"):
          rows = ["image_id,age_approximate,sex"]
          rows += [f"{dummy.id},55,female" for dummy in self.images]
          archive[f"{top}/{extra}"] = ("\n".join(rows) + "\n").encode()
        elif extra in _STRAY_TEXT:
          archive[f"{top}/{extra}"] = _STRAY_TEXT[extra]
        elif extra == "__MACOSX":
          # macOS zip tools add `._name` resource forks under `__MACOSX/`.
          first = self.images[0].id + (".jpg" if archive is data else self.mask_suffix)
          archive[f"__MACOSX/{top}/._{first}"] = b"\x00\x05\x16\x07 resource fork"
        else:
          raise ValueError(f"Unknown stray file {extra!r}.")
    write_zip(manual_dir / f"{self.data_zip}.zip", data)
    write_zip(manual_dir / f"{self.mask_zip}.zip", masks)


@dataclasses.dataclass(frozen=True)
class IsicDummyData:
  """An ISIC challenge year's dummy data (a `DummyManualData`)."""

  splits: Mapping[str, IsicSplit]
  seed: int
  # split -> its label CSV's name; each row is `<id>,<label>`, after `csv_header` if given.
  label_files: Mapping[str, str] = dataclasses.field(default_factory=dict)
  csv_header: str | None = None

  @property
  def images(self) -> dict[str, tuple[DummyImage, ...]]:
    return {split: files.images for split, files in self.splits.items()}

  def image_file(self, split: str, file_id: str) -> lesion_features.SourceFile:
    return self.splits[split].image_file(file_id)

  def mask_file(self, split: str, file_id: str) -> lesion_features.SourceFile:
    return self.splits[split].mask_file(file_id)

  def write(self, manual_dir: epath.Path) -> None:
    for split_index, (split, files) in enumerate(self.splits.items()):
      files.write(manual_dir, self.seed + 10 * split_index)
      if split in self.label_files:
        rows = [self.csv_header] if self.csv_header else []
        rows += [f"{dummy.id},{dummy.label}" for dummy in files.images]
        (manual_dir / self.label_files[split]).write_text("\n".join(rows) + "\n")
