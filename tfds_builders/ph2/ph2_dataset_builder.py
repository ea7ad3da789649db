"""ph2: the PH2 dermoscopy database, lesion segmentation with clinical diagnoses.

PH2 is published as `PH2Dataset.rar`, which TFDS cannot open; the builder
reads the folder the user extracts from it, `<manual_dir>/PH2Dataset/`:
`PH2 Dataset images/IMDxxx/IMDxxx_Dermoscopic_Image/IMDxxx.bmp` and
`IMDxxx_lesion/IMDxxx_lesion.bmp` (the `IMDxxx_roi/` folders of colour
regions are ignored), and the table `PH2_dataset.txt`, whose "Clinical
Diagnosis" column codes 0 common nevus, 1 atypical nevus, 2 melanoma. Ids are
not contiguous (there is no IMD001). PH2 has no official split, so all 200
images are in `train`, as TFDS does for such datasets. Images are BMP and are
stored as PNG (lossless) in every config.

The stored format is array_record, read without TensorFlow through
`tfds.data_source`; see README.md for the calls.
"""

import re

import tensorflow_datasets as tfds
from etils import epath

from tfds_builders import lesion_features, manual_lesion_builder

# Indexed by the table's clinical diagnosis code.
DIAGNOSES = ("common_nevus", "atypical_nevus", "melanoma")
ARCHIVE = "PH2Dataset.rar"
# The folder `ARCHIVE` extracts to, in the manual directory, and what it holds.
FOLDER = "PH2Dataset"
TABLE = "PH2_dataset.txt"
IMAGES_FOLDER = "PH2 Dataset images"
# Matched against a file's base name, so the `_roi` files are left out.
IMAGE_PATTERN = re.compile(r"(?P<id>IMD\d{3})\.bmp", re.IGNORECASE)
MASK_PATTERN = re.compile(r"(?P<id>IMD\d{3})_lesion\.bmp", re.IGNORECASE)
_NAME_COLUMN = "Name"
_DIAGNOSIS_COLUMN = "Clinical Diagnosis"
_DOWNLOAD_PAGE = "https://www.fc.up.pt/addi/ph2%20database.html"


def read_ph2_diagnoses(table_path: epath.Path) -> dict[str, str]:
  """id -> diagnosis name from `PH2_dataset.txt`.

  The table's rows start with `||`, which also separates its column groups
  (the dermoscopic criteria inside one group are `|`-separated); the first
  such row is the header, and the columns are found by their names there.
  The legend below the table is skipped.
  """
  header: list[str] | None = None
  diagnoses = {}
  # latin-1 reads any byte; the cells needed are ASCII.
  for line_number, line in enumerate(table_path.read_bytes().decode("latin-1").splitlines(), 1):
    if not line.lstrip().startswith("||"):
      continue
    cells = [cell.strip() for cell in line.strip().split("||")]
    if header is None:
      header = cells
      if _NAME_COLUMN not in header or _DIAGNOSIS_COLUMN not in header:
        raise lesion_features.SourceDataError(
          f"{table_path}: the table's first row has no {_NAME_COLUMN!r} and "
          f"{_DIAGNOSIS_COLUMN!r} columns: {line!r}. Extract {TABLE} from {ARCHIVE} again."
        )
      continue
    file_id = cells[header.index(_NAME_COLUMN)].upper() if len(cells) == len(header) else ""
    code = cells[header.index(_DIAGNOSIS_COLUMN)] if file_id else ""
    if not code.isdigit() or int(code) >= len(DIAGNOSES):
      raise lesion_features.SourceDataError(
        f"{table_path}, line {line_number}: expected {len(header)} `||`-separated cells with a "
        f"clinical diagnosis of 0, 1 or 2, got {line!r}. Extract {TABLE} from {ARCHIVE} again."
      )
    diagnoses[file_id] = DIAGNOSES[int(code)]
  return diagnoses


def _missing_folder_error(manual_dir: epath.Path) -> FileNotFoundError:
  root = manual_dir / FOLDER
  expected = f"{root / TABLE} and {root / IMAGES_FOLDER}/"
  for archive in (manual_dir / ARCHIVE, root / ARCHIVE):
    if archive.exists():
      relative = archive.relative_to(manual_dir)
      return FileNotFoundError(
        f"ph2: found {archive} but not the folder extracted from it ({expected}). TFDS "
        f"cannot read .rar archives; extract it where it is, in the manual directory:\n"
        f"  cd '{manual_dir}' && unrar x '{relative}'\n"
        f"(or `7z x '{relative}'`), which creates {FOLDER}/ there."
      )
  return FileNotFoundError(
    f"ph2: {expected} not found in the manual directory {manual_dir}. Download {ARCHIVE} "
    f"from {_DOWNLOAD_PAGE}, put it in {manual_dir} and extract it there (`unrar x {ARCHIVE}` "
    f"or `7z x {ARCHIVE}`), or pass download_config=tfds.download.DownloadConfig("
    f"manual_dir=...) naming the directory that holds {FOLDER}/."
  )


class Builder(manual_lesion_builder.ManualLesionBuilder):
  """DatasetBuilder for ph2."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
  Download {ARCHIVE} from {_DOWNLOAD_PAGE}, put it in the TFDS
  manual directory, `<data_dir>/downloads/manual/`
  (`~/tensorflow_datasets/downloads/manual/` with the default data_dir), or in
  a directory passed as `download_config=tfds.download.DownloadConfig(
  manual_dir=...)`, and extract it there, since TFDS cannot read .rar archives:

    cd ~/tensorflow_datasets/downloads/manual && unrar x {ARCHIVE}

  (or `7z x {ARCHIVE}`). This creates `{FOLDER}/`, holding `{TABLE}` and
  `{IMAGES_FOLDER}/`, which is what the builder reads; the .rar itself may
  then be deleted.
  """
  BUILDER_CONFIGS = manual_lesion_builder.lesion_configs("BMP pixels, stored as PNG")
  DIAGNOSES = DIAGNOSES
  MELANOMA_DIAGNOSIS = "melanoma"
  OFFICIAL_SPLIT_SIZES = {"train": 200}
  # BMP cannot be stored as published; PNG keeps every pixel.
  IMAGE_FORMAT = "PNG"
  HOMEPAGE = _DOWNLOAD_PAGE

  def _find_examples(self, manual_dir: epath.Path):
    root = manual_dir / FOLDER
    if not ((root / TABLE).is_file() and (root / IMAGES_FOLDER).is_dir()):
      raise _missing_folder_error(manual_dir)
    table_path = root / TABLE
    diagnoses = read_ph2_diagnoses(table_path)
    names = sorted(
      (folder / file_name).relative_to(root).as_posix()
      for folder, _, file_names in (root / IMAGES_FOLDER).walk()
      for file_name in file_names
    )
    images = manual_lesion_builder.files_by_id(names, IMAGE_PATTERN, str(root))
    masks = manual_lesion_builder.files_by_id(names, MASK_PATTERN, str(root))
    images_from = f"{root / IMAGES_FOLDER}/*/*_Dermoscopic_Image/"
    masks_from = f"{root / IMAGES_FOLDER}/*/*_lesion/"
    pairs = manual_lesion_builder.pair_images_and_masks(images, masks, images_from, masks_from)
    return {
      "train": [
        manual_lesion_builder.ExampleFiles(
          id=file_id,
          diagnosis=manual_lesion_builder.label_of(file_id, diagnoses, str(table_path)),
          image=image,
          mask=mask,
        )
        for file_id, image, mask in pairs
      ]
    }
