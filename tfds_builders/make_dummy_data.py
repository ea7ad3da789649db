r"""Writes the `dummy_data/` folders of the isic2016, isic2017, isic2018 and ph2 builders.

Run from the repository root:

    python -m tfds_builders.make_dummy_data

Each folder is a stand-in for the TFDS manual directory of its dataset: the
official archive, CSV and folder names, layouts and quirks (2016's
`_Segmentation.png` and its test CSV's `0.0`/`1.0` labels; 2017's superpixels
and metadata CSV; 2018's LICENSE.txt and ATTRIBUTION.txt; `__MACOSX` entries;
PH2's non-contiguous ids, `_roi` folders, 1-bit and 8-bit masks and its
`||`-separated table), holding two to four small images per split, one of
them larger than 512 on its longer side so the `max512` config resizes it.
The builders' tests build from these folders.

Pixels come from fixed seeds and zip entries carry a fixed timestamp, so
re-running the script rewrites identical files (given the same Pillow, libjpeg
and zlib). It deletes and rewrites the four `dummy_data/` folders entirely.
"""

import dataclasses
import io
import shutil
import zipfile

import numpy as np
from etils import epath
from PIL import Image

BUILDERS_DIR = epath.Path(__file__).parent
# Zip entries carry a modification time; a fixed one keeps the bytes stable.
ZIP_TIMESTAMP = (2018, 1, 1, 0, 0, 0)
# Quality of the dummy JPEGs: like the published ones, and small.
JPEG_QUALITY = 90


@dataclasses.dataclass(frozen=True)
class DummyImage:
  id: str
  height: int
  width: int
  label: str = ""  # As the dataset's label file writes it.
  # Mask values strictly between 0 and 255 along the lesion border, as an
  # anti-aliased mask would have; the builders binarise at > 127.
  soft_mask_border: bool = False
  one_bit_mask: bool = False  # PH2 only: a 1-bit BMP rather than an 8-bit one.


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


def _encoded(pixels: np.ndarray, image_format: str, mode: str | None = None) -> bytes:
  image = Image.fromarray(pixels)
  if mode:
    image = image.convert(mode)
  buffer = io.BytesIO()
  if image_format == "JPEG":
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
  else:
    image.save(buffer, format=image_format)
  return buffer.getvalue()


def _write_zip(path: epath.Path, members: dict[str, bytes | None]) -> None:
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


@dataclasses.dataclass(frozen=True)
class IsicSplit:
  data_zip: str  # Without `.zip`, which is also the archive's top folder.
  mask_zip: str
  mask_suffix: str
  images: tuple[DummyImage, ...]
  extra_data_members: tuple[str, ...] = ()  # Stray files, by name below the top folder.
  extra_mask_members: tuple[str, ...] = ()
  superpixels: bool = False  # ISIC 2017 data zips hold `<id>_superpixels.png` per image.


_STRAY_TEXT = {
  "LICENSE.txt": b"Creative Commons Attribution-NonCommercial 4.0 International (dummy).\n",
  "ATTRIBUTION.txt": b"ISIC Archive contributors (dummy attribution).\n",
}


def _write_isic_split(manual_dir: epath.Path, split: IsicSplit, seed: int) -> None:
  data = {f"{split.data_zip}/": None}
  masks = {f"{split.mask_zip}/": None}
  for index, dummy in enumerate(split.images):
    pixels, mask = draw_lesion(
      dummy.height, dummy.width, seed + index, soft_border=dummy.soft_mask_border
    )
    data[f"{split.data_zip}/{dummy.id}.jpg"] = _encoded(pixels, "JPEG")
    if split.superpixels:
      # Real superpixel maps encode segment indices in RGB; any RGB PNG will do.
      data[f"{split.data_zip}/{dummy.id}_superpixels.png"] = _encoded(pixels // 64 * 64, "PNG")
    masks[f"{split.mask_zip}/{dummy.id}{split.mask_suffix}"] = _encoded(mask, "PNG")
  for archive, extras in ((data, split.extra_data_members), (masks, split.extra_mask_members)):
    top = split.data_zip if archive is data else split.mask_zip
    for extra in extras:
      if extra.endswith("_metadata.csv"):
        rows = ["image_id,age_approximate,sex"]
        rows += [f"{dummy.id},55,female" for dummy in split.images]
        archive[f"{top}/{extra}"] = ("\n".join(rows) + "\n").encode()
      elif extra in _STRAY_TEXT:
        archive[f"{top}/{extra}"] = _STRAY_TEXT[extra]
      elif extra == "__MACOSX":
        # macOS zip tools add `._name` resource forks under `__MACOSX/`.
        first = split.images[0].id + (".jpg" if archive is data else split.mask_suffix)
        archive[f"__MACOSX/{top}/._{first}"] = b"\x00\x05\x16\x07 resource fork"
      else:
        raise ValueError(f"Unknown stray file {extra!r}.")
  _write_zip(manual_dir / f"{split.data_zip}.zip", data)
  _write_zip(manual_dir / f"{split.mask_zip}.zip", masks)


ISIC2016_SPLITS = {
  "train": IsicSplit(
    data_zip="ISBI2016_ISIC_Part1_Training_Data",
    mask_zip="ISBI2016_ISIC_Part1_Training_GroundTruth",
    mask_suffix="_Segmentation.png",
    images=(
      DummyImage("ISIC_0000000", 40, 60, "benign"),
      DummyImage("ISIC_0000001", 400, 600, "malignant"),
      DummyImage("ISIC_0000002", 30, 45, "benign"),
    ),
    extra_data_members=("__MACOSX",),
  ),
  "test": IsicSplit(
    data_zip="ISBI2016_ISIC_Part1_Test_Data",
    mask_zip="ISBI2016_ISIC_Part1_Test_GroundTruth",
    mask_suffix="_Segmentation.png",
    images=(
      DummyImage("ISIC_0000003", 45, 30, "0.0"),
      DummyImage("ISIC_0000004", 36, 48, "1.0"),
    ),
  ),
}
ISIC2016_LABEL_CSVS = {
  "train": "ISBI2016_ISIC_Part3_Training_GroundTruth.csv",
  "test": "ISBI2016_ISIC_Part3_Test_GroundTruth.csv",
}

# ISIC 2017 labels as the Part 3 CSV writes them: "melanoma,seborrheic_keratosis".
_NEVUS, _MELANOMA, _KERATOSIS = "0.0,0.0", "1.0,0.0", "0.0,1.0"
ISIC2017_SPLITS = {
  "train": IsicSplit(
    data_zip="ISIC-2017_Training_Data",
    mask_zip="ISIC-2017_Training_Part1_GroundTruth",
    mask_suffix="_segmentation.png",
    images=(
      DummyImage("ISIC_0000000", 40, 60, _NEVUS),
      DummyImage("ISIC_0000001", 30, 45, _MELANOMA),
      DummyImage("ISIC_0000002", 36, 48, _KERATOSIS),
    ),
    extra_data_members=("ISIC-2017_Training_Data_metadata.csv",),
    superpixels=True,
  ),
  "validation": IsicSplit(
    data_zip="ISIC-2017_Validation_Data",
    mask_zip="ISIC-2017_Validation_Part1_GroundTruth",
    mask_suffix="_segmentation.png",
    images=(
      DummyImage("ISIC_0001769", 450, 620, _MELANOMA),
      DummyImage("ISIC_0001852", 30, 45, _NEVUS),
    ),
    extra_data_members=("ISIC-2017_Validation_Data_metadata.csv",),
    superpixels=True,
  ),
  "test": IsicSplit(
    data_zip="ISIC-2017_Test_v2_Data",
    mask_zip="ISIC-2017_Test_v2_Part1_GroundTruth",
    mask_suffix="_segmentation.png",
    images=(
      DummyImage("ISIC_0012086", 40, 60, _KERATOSIS),
      DummyImage("ISIC_0012092", 45, 30, _NEVUS),
    ),
    extra_data_members=("ISIC-2017_Test_v2_Data_metadata.csv",),
    superpixels=True,
  ),
}
ISIC2017_LABEL_CSVS = {
  "train": "ISIC-2017_Training_Part3_GroundTruth.csv",
  "validation": "ISIC-2017_Validation_Part3_GroundTruth.csv",
  "test": "ISIC-2017_Test_v2_Part3_GroundTruth.csv",
}

_ISIC2018_STRAYS = ("LICENSE.txt", "ATTRIBUTION.txt")
ISIC2018_SPLITS = {
  "train": IsicSplit(
    data_zip="ISIC2018_Task1-2_Training_Input",
    mask_zip="ISIC2018_Task1_Training_GroundTruth",
    mask_suffix="_segmentation.png",
    images=(
      DummyImage("ISIC_0000000", 40, 60),
      DummyImage("ISIC_0000001", 30, 45, soft_mask_border=True),
      DummyImage("ISIC_0000003", 36, 48),
    ),
    extra_data_members=_ISIC2018_STRAYS,
    extra_mask_members=(*_ISIC2018_STRAYS, "__MACOSX"),
  ),
  "validation": IsicSplit(
    data_zip="ISIC2018_Task1-2_Validation_Input",
    mask_zip="ISIC2018_Task1_Validation_GroundTruth",
    mask_suffix="_segmentation.png",
    images=(DummyImage("ISIC_0012255", 30, 45), DummyImage("ISIC_0012346", 40, 60)),
    extra_data_members=_ISIC2018_STRAYS,
    extra_mask_members=_ISIC2018_STRAYS,
  ),
  "test": IsicSplit(
    data_zip="ISIC2018_Task1-2_Test_Input",
    mask_zip="ISIC2018_Task1_Test_GroundTruth",
    mask_suffix="_segmentation.png",
    images=(
      DummyImage("ISIC_0012236", 600, 400, soft_mask_border=True),
      DummyImage("ISIC_0036309", 30, 45),
    ),
    extra_data_members=_ISIC2018_STRAYS,
    extra_mask_members=_ISIC2018_STRAYS,
  ),
}

# PH2: the label is the clinical diagnosis code (0 common nevus, 1 atypical
# nevus, 2 melanoma). Ids skip numbers, as PH2's do (there is no IMD001).
PH2_IMAGES = (
  DummyImage("IMD002", 40, 56, "0", one_bit_mask=True),
  DummyImage("IMD003", 28, 520, "1"),
  DummyImage("IMD004", 36, 48, "2"),
  DummyImage("IMD010", 48, 36, "0"),
)
# The ids of the images that have `_roi` folders, as some PH2 images do.
PH2_IMAGES_WITH_ROI = ("IMD003", "IMD004")


def _write_isic(
  builders_dir: epath.Path,
  name: str,
  splits: dict[str, IsicSplit],
  label_csvs: dict[str, str] | None,
  csv_header: str | None,
  seed: int,
) -> None:
  manual_dir = _fresh_dummy_data_dir(builders_dir, name)
  for split_index, (split, files) in enumerate(splits.items()):
    _write_isic_split(manual_dir, files, seed + 10 * split_index)
    if label_csvs:
      rows = [csv_header] if csv_header else []
      rows += [f"{dummy.id},{dummy.label}" for dummy in files.images]
      (manual_dir / label_csvs[split]).write_text("\n".join(rows) + "\n")


def _write_ph2(builders_dir: epath.Path, seed: int) -> None:
  root = _fresh_dummy_data_dir(builders_dir, "ph2") / "PH2Dataset"
  images_dir = root / "PH2 Dataset images"
  for index, dummy in enumerate(PH2_IMAGES):
    pixels, mask = draw_lesion(dummy.height, dummy.width, seed + index)
    folder = images_dir / dummy.id
    (folder / f"{dummy.id}_Dermoscopic_Image").mkdir(parents=True)
    (folder / f"{dummy.id}_lesion").mkdir()
    (folder / f"{dummy.id}_Dermoscopic_Image" / f"{dummy.id}.bmp").write_bytes(
      _encoded(pixels, "BMP")
    )
    (folder / f"{dummy.id}_lesion" / f"{dummy.id}_lesion.bmp").write_bytes(
      _encoded(mask, "BMP", mode="1" if dummy.one_bit_mask else None)
    )
    if dummy.id in PH2_IMAGES_WITH_ROI:
      (folder / f"{dummy.id}_roi").mkdir()
      (folder / f"{dummy.id}_roi" / f"{dummy.id}_R1_Label4.bmp").write_bytes(
        _encoded(mask, "BMP", mode="1")
      )
  # The published table: `||` between column groups, `|` between the
  # dermoscopic criteria, then a legend; Windows line ends.
  lines = [
    "||   Name || Histological Diagnosis || Clinical Diagnosis || Asymmetry | "
    "Pigment Network | Dots/Globules | Streaks | Regression Areas | Blue-Whitish Veil "
    "||           Colors ||"
  ]
  for dummy in PH2_IMAGES:
    histology = "Melanoma" if dummy.label == "2" else ""
    lines.append(
      f"|| {dummy.id} || {histology:>22} || {dummy.label:>18} ||         0 |               T |"
      "             A |       A |                A |                 A ||             3  4 ||"
    )
  lines += [
    "",
    "Legends:",
    "",
    "Clinical Diagnosis:",
    "\t0 - Common Nevus;",
    "\t1 - Atypical Nevus;",
    "\t2 - Melanoma.",
    "",
  ]
  (root / "PH2_dataset.txt").write_bytes("\r\n".join(lines).encode())


def _fresh_dummy_data_dir(builders_dir: epath.Path, name: str) -> epath.Path:
  directory = builders_dir / name / "dummy_data"
  if directory.exists():
    shutil.rmtree(directory)
  directory.mkdir(parents=True)
  return directory


def write_dummy_data(builders_dir: epath.Path = BUILDERS_DIR) -> None:
  """Writes `<builders_dir>/<dataset>/dummy_data/` for the four datasets, replacing them."""
  _write_isic(builders_dir, "isic2016", ISIC2016_SPLITS, ISIC2016_LABEL_CSVS, None, seed=2016)
  _write_isic(
    builders_dir,
    "isic2017",
    ISIC2017_SPLITS,
    ISIC2017_LABEL_CSVS,
    "image_id,melanoma,seborrheic_keratosis",
    seed=2017,
  )
  _write_isic(builders_dir, "isic2018", ISIC2018_SPLITS, None, None, seed=2018)
  _write_ph2(builders_dir, seed=2)


if __name__ == "__main__":
  write_dummy_data()
