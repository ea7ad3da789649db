"""ph2's dummy data: the folder `PH2Dataset/` that `PH2Dataset.rar` extracts to, four images.

Quirks kept: ids skip numbers (there is no IMD001); BMP images and masks, one
mask 1-bit and the others 8-bit; `_roi` folders beside some lesions; the
`||`-separated table with its legend and Windows line ends. One image is
28x520, so `max512` resizes it.
"""

import dataclasses

from etils import epath

from tfds_builders import lesion_features
from tfds_builders.dummy_lesion_archives import DummyImage, draw_lesion, encoded

_ROOT = "PH2Dataset"
_IMAGES_FOLDER = "PH2 Dataset images"
_TABLE = f"{_ROOT}/PH2_dataset.txt"


@dataclasses.dataclass(frozen=True)
class Ph2DummyData:
  """PH2's dummy data (a `DummyManualData`); PH2 has the one split `train`."""

  train_images: tuple[DummyImage, ...]
  # The ids of the images that have `_roi` folders, as some PH2 images do.
  ids_with_roi: tuple[str, ...]
  seed: int

  @property
  def images(self) -> dict[str, tuple[DummyImage, ...]]:
    return {"train": self.train_images}

  @property
  def label_files(self) -> dict[str, str]:
    return {"train": _TABLE}

  def image_file(self, split: str, file_id: str) -> lesion_features.SourceFile:
    del split  # Only `train`.
    name = f"{_IMAGES_FOLDER}/{file_id}/{file_id}_Dermoscopic_Image/{file_id}.bmp"
    return lesion_features.SourceFile(_ROOT, name)

  def mask_file(self, split: str, file_id: str) -> lesion_features.SourceFile:
    del split  # Only `train`.
    name = f"{_IMAGES_FOLDER}/{file_id}/{file_id}_lesion/{file_id}_lesion.bmp"
    return lesion_features.SourceFile(_ROOT, name)

  def write(self, manual_dir: epath.Path) -> None:
    for index, dummy in enumerate(self.train_images):
      pixels, mask = draw_lesion(dummy.height, dummy.width, self.seed + index)
      image_path = manual_dir / _ROOT / self.image_file("train", dummy.id).name
      mask_path = manual_dir / _ROOT / self.mask_file("train", dummy.id).name
      image_path.parent.mkdir(parents=True)
      mask_path.parent.mkdir()
      image_path.write_bytes(encoded(pixels, "BMP"))
      mask_path.write_bytes(encoded(mask, "BMP", mode="1" if dummy.one_bit_mask else None))
      if dummy.id in self.ids_with_roi:
        roi_folder = image_path.parent.parent / f"{dummy.id}_roi"
        roi_folder.mkdir()
        (roi_folder / f"{dummy.id}_R1_Label4.bmp").write_bytes(encoded(mask, "BMP", mode="1"))
    # The published table: `||` between column groups, `|` between the
    # dermoscopic criteria, then a legend; Windows line ends.
    lines = [
      "||   Name || Histological Diagnosis || Clinical Diagnosis || Asymmetry | "
      "Pigment Network | Dots/Globules | Streaks | Regression Areas | Blue-Whitish Veil "
      "||           Colors ||"
    ]
    for dummy in self.train_images:
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
    (manual_dir / _TABLE).write_bytes("\r\n".join(lines).encode())


DUMMY_DATA = Ph2DummyData(
  train_images=(
    DummyImage("IMD002", 40, 56, "common_nevus", label="0", one_bit_mask=True),
    DummyImage("IMD003", 28, 520, "atypical_nevus", label="1"),
    DummyImage("IMD004", 36, 48, "melanoma", label="2"),
    DummyImage("IMD010", 48, 36, "common_nevus", label="0"),
  ),
  ids_with_roi=("IMD003", "IMD004"),
  seed=2,
)
