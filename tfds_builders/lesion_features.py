"""The features every lesion-segmentation dataset stores, and how their values are made.

All of the project's builders (`synthetic_lesions`, `isic2016`, `isic2017`,
`isic2018`, `ph2`, `folder`) store the same features, so every pipeline and model reads
any of them unchanged:

| key | feature | value |
|---|---|---|
| `image` | `Image(shape=(None, None, 3))`, uint8 | RGB |
| `mask` | `Image(shape=(None, None, 1))`, uint8 | 0 background, 255 lesion; the image's size |
| `id` | `Text()` | the dataset's own image id |
| `diagnosis` | `ClassLabel` | the dataset's own names |
| `original_height`, `original_width` | `Scalar(np.int32)` | the size of the image as published |
| `original_mask` | `Image(shape=(None, None, 1))`, uint8 | downsized configs: the full-size mask |

`original_mask` exists only where `image` and `mask` were downsized, so that
scores at the original resolution (the challenge protocol, docs/papers.md, "Metrics") can be
computed from a downsized dataset; where it is absent, `mask` is already at
the original resolution.

`encode_image_and_mask` turns an image file and its mask file, as bytes, into
the values of `image`, `mask`, `original_mask` and the original size. It
returns encoded bytes, never arrays, because TFDS encodes arrays with
TensorFlow and building must not need it; every decoding error names the file
it came from.
"""

import dataclasses
import io
from collections.abc import Sequence

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

# Ground truth is lesion where its value is above 127 (docs/papers.md, "Metrics").
MASK_THRESHOLD = 127
SUPERVISED_KEYS = ("image", "mask")
# Quality of downsized images; high, because the models see these pixels.
JPEG_QUALITY = 95
# PIL's `thumbnail` default: JPEG decoding at a reduced scale stops at twice
# the target size, and LANCZOS does the last factor of two or more, so the
# fast DCT-domain reduction never replaces the antialiased one.
DRAFT_REDUCING_GAP = 2


def features(
  diagnoses: Sequence[str], *, with_original_mask: bool = False
) -> tfds.features.FeaturesDict:
  """The feature definition of a lesion dataset whose diagnosis labels are `diagnoses`."""
  feature_map = {
    "image": tfds.features.Image(shape=(None, None, 3)),
    "mask": tfds.features.Image(shape=(None, None, 1)),
    "id": tfds.features.Text(),
    "diagnosis": tfds.features.ClassLabel(names=list(diagnoses)),
    "original_height": tfds.features.Scalar(np.int32),
    "original_width": tfds.features.Scalar(np.int32),
  }
  if with_original_mask:
    feature_map["original_mask"] = tfds.features.Image(shape=(None, None, 1))
  return tfds.features.FeaturesDict(feature_map)


class SourceDataError(ValueError):
  """The user's copy of a dataset is damaged: a file unreadable, incomplete or inconsistent.

  Raised for problems the user fixes by downloading (or extracting) again, never
  for bugs; the message names the files and says what to do. Missing files are
  FileNotFoundError instead.
  """


@dataclasses.dataclass(frozen=True)
class SourceFile:
  """Where an image or mask file came from, for errors: a zip member or a file in a folder."""

  container: str  # The zip archive, or the folder the file's `name` is relative to.
  name: str

  def __str__(self) -> str:
    return f"{self.name!r} in {self.container}"

  @property
  def remedy(self) -> str:
    """What to do when the file is broken: get its archive, or folder, afresh."""
    container_name = self.container.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    if container_name.lower().endswith(".zip"):
      return f"download {container_name} again"
    return f"extract {container_name} again from the archive it came in (or download that again)"


def downsized_size(width: int, height: int, max_size: int) -> tuple[int, int] | None:
  """(width, height) with the longer side `max_size`, aspect kept; None if it already fits."""
  longer = max(width, height)
  if longer <= max_size:
    return None
  scale = max_size / longer
  return max(1, round(width * scale)), max(1, round(height * scale))


def encode_image_and_mask(
  image_bytes: bytes,
  image_file: SourceFile,
  mask_bytes: bytes,
  mask_file: SourceFile,
  *,
  max_size: int | None,
  image_format: str,
) -> dict[str, bytes | int]:
  """Stored values of `image`, `mask`, `original_height`, `original_width` (and `original_mask`).

  Args:
    image_bytes: the image file as published (JPEG, PNG or BMP).
    image_file: where `image_bytes` came from, named in errors.
    mask_bytes: its mask file as published.
    mask_file: where `mask_bytes` came from, named in errors.
    max_size: None keeps the original resolution; otherwise images whose
      longer side exceeds it are downsized to it, and `original_mask` is added.
    image_format: "JPEG" or "PNG", how an image is encoded when it cannot be
      stored as published: when it is downsized, not JPEG or PNG (BMP), or not
      RGB. JPEG is encoded at quality `JPEG_QUALITY`.

  Returns:
    Encoded image and mask bytes and the original size, as the features take them.

  Raises:
    SourceDataError: a file is not a readable image, or the mask's size is not the image's.
  """
  image = _open(image_bytes, image_file)
  mask_image = _open(mask_bytes, mask_file)
  if image.size != mask_image.size:
    raise SourceDataError(
      f"The mask {mask_file} is {_size_text(mask_image.size)} but its image {image_file} is "
      f"{_size_text(image.size)}; a mask must have its image's size. The files were "
      f"modified or mixed with another release's: {mask_file.remedy}."
    )
  width, height = image.size
  mask = _binarised(_load(mask_image, mask_file))
  mask_png = mask_bytes if _is_binary_grey_png(mask_image) else _png(mask)
  values: dict[str, bytes | int] = {"original_height": height, "original_width": width}

  target_size = None if max_size is None else downsized_size(width, height, max_size)
  if target_size is None:
    values["image"] = _full_size_image(image, image_bytes, image_file, image_format)
    values["mask"] = mask_png
  else:
    if image.format == "JPEG":
      # Decode at 1/2, 1/4 or 1/8 scale where that still leaves twice the
      # target: a 6700x4500 ISIC JPEG then decodes and resizes in 0.14 s
      # rather than 0.56 s (measured on one CPU core).
      image.draft(None, tuple(DRAFT_REDUCING_GAP * side for side in target_size))
    rgb = _load(image, image_file).convert("RGB")
    values["image"] = _encode(rgb.resize(target_size, Image.Resampling.LANCZOS), image_format)
    values["mask"] = _png(_binarised(mask.resize(target_size, Image.Resampling.NEAREST)))
  if max_size is not None:
    values["original_mask"] = mask_png
  return values


def _open(data: bytes, source: SourceFile) -> Image.Image:
  """Reads the header only: format, mode and size."""
  try:
    return Image.open(io.BytesIO(data))
  except (OSError, ValueError, Image.DecompressionBombError) as error:
    raise _unreadable(source, error) from error


def _load(image: Image.Image, source: SourceFile) -> Image.Image:
  """Decodes every pixel (at the draft scale, if one was set)."""
  try:
    image.load()
  except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
    # PIL reports truncated and corrupt files as OSError, some broken headers
    # as SyntaxError or ValueError.
    raise _unreadable(source, error) from error
  return image


def _unreadable(source: SourceFile, error: Exception) -> SourceDataError:
  return SourceDataError(
    f"Cannot read the image {source}: {type(error).__name__}: {error}. The file is corrupt or "
    f"truncated; {source.remedy}."
  )


def _full_size_image(
  image: Image.Image, image_bytes: bytes, source: SourceFile, image_format: str
) -> bytes:
  """The published bytes when they are an RGB or grey JPEG or PNG, else the pixels re-encoded."""
  # Grey decodes to (H, W), which TFDS repeats to (H, W, 3); other modes
  # (CMYK, palette, alpha) would decode to other shapes.
  if image.format in ("JPEG", "PNG") and image.mode in ("RGB", "L"):
    if image.format == "JPEG":
      # Decoding at 1/8 scale still reads every byte of the compressed data,
      # so corrupt or truncated files fail here, at a fraction of the cost.
      image.draft(None, (max(1, image.width // 8), max(1, image.height // 8)))
    _load(image, source)
    return image_bytes
  # BMP (PH2), or a mode TFDS cannot decode to (H, W, 3).
  return _encode(_load(image, source).convert("RGB"), image_format)


def _binarised(mask: Image.Image) -> Image.Image:
  """One channel, 255 where the mask is above MASK_THRESHOLD, else 0."""
  # 1-bit masks convert to 0/255; RGB and palette masks to their grey value.
  grey = np.asarray(mask if mask.mode == "L" else mask.convert("L"))
  return Image.fromarray(np.where(grey > MASK_THRESHOLD, np.uint8(255), np.uint8(0)))


def _is_binary_grey_png(published: Image.Image) -> bool:
  """Whether the published mask file is already what we store (so its bytes can be kept)."""
  if published.format != "PNG" or published.mode != "L":
    return False
  histogram = published.histogram()
  return sum(histogram) == histogram[0] + histogram[255]


def _png(image: Image.Image) -> bytes:
  buffer = io.BytesIO()
  image.save(buffer, format="PNG")
  return buffer.getvalue()


def _encode(image: Image.Image, image_format: str) -> bytes:
  if image_format == "PNG":
    return _png(image)
  if image_format != "JPEG":
    raise ValueError(f"image_format must be 'JPEG' or 'PNG', got {image_format!r}.")
  buffer = io.BytesIO()
  image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
  return buffer.getvalue()


def _size_text(size: tuple[int, int]) -> str:
  width, height = size
  return f"{width}x{height} (width x height)"
