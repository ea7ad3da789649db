"""Tests for lesion_features: the shared feature definition and how image and mask become values."""

import io
from unittest import mock

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from tfds_builders import lesion_features
from tfds_builders.synthetic_lesions import synthetic_lesions_dataset_builder

IMAGE_FILE = lesion_features.SourceFile("/manual/Images.zip", "Images/ISIC_0000000.jpg")
MASK_FILE = lesion_features.SourceFile("/manual/Masks.zip", "Masks/ISIC_0000000_segmentation.png")


def _encoded(pixels: np.ndarray, image_format: str, **options) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format=image_format, **options)
  return buffer.getvalue()


def _decoded(data: bytes) -> np.ndarray:
  with Image.open(io.BytesIO(data)) as image:
    return np.asarray(image)


def _smooth_image(height: int, width: int) -> np.ndarray:
  """Gradients and a dark disc: content JPEG keeps well, so differences measure resizing."""
  rows, cols = np.mgrid[0:height, 0:width]
  disc = np.hypot(rows - height / 2, cols - width / 2) < min(height, width) / 3
  image = np.stack([200 - 80 * disc, 150 + 50 * rows / height, 120 + 60 * cols / width], -1)
  return image.astype(np.uint8)


def _disc_mask(height: int, width: int) -> np.ndarray:
  rows, cols = np.mgrid[0:height, 0:width]
  inside = np.hypot(rows - height / 2, cols - width / 2) < min(height, width) / 3
  return np.where(inside, 255, 0).astype(np.uint8)


def _encode(image_bytes, mask_bytes, max_size=None, image_format="JPEG"):
  return lesion_features.encode_image_and_mask(
    image_bytes,
    IMAGE_FILE,
    mask_bytes,
    MASK_FILE,
    max_size=max_size,
    image_format=image_format,
  )


def test_synthetic_lesions_uses_the_shared_features():
  builder = synthetic_lesions_dataset_builder.Builder(config="tiny", data_dir="/nonexistent")
  shared = lesion_features.features(synthetic_lesions_dataset_builder.DIAGNOSES)
  assert repr(builder.info.features) == repr(shared)
  assert "original_mask" not in builder.info.features


@pytest.mark.parametrize(
  ("size", "expected"),
  [
    ((600, 400), (512, 341)),
    ((400, 600), (341, 512)),
    ((6688, 4459), (512, 341)),
    ((512, 300), None),
    ((30, 45), None),
    ((5000, 4), (512, 1)),
  ],
)
def test_downsized_size_keeps_the_aspect(size, expected):
  assert lesion_features.downsized_size(*size, max_size=512) == expected


def test_full_resolution_keeps_the_published_bytes():
  jpeg = _encoded(_smooth_image(40, 60), "JPEG", quality=90)
  mask_png = _encoded(_disc_mask(40, 60), "PNG")
  values = _encode(jpeg, mask_png)
  assert values["image"] == jpeg
  assert values["mask"] == mask_png  # Already binary, one channel: kept.
  assert (values["original_height"], values["original_width"]) == (40, 60)
  assert "original_mask" not in values


def test_a_large_jpeg_is_decoded_at_reduced_scale_then_resized():
  # Decoding at half size still leaves twice the 512x256 target; a quarter would not.
  height, width = 1050, 2100
  pixels = _smooth_image(height, width)
  jpeg = _encoded(pixels, "JPEG", quality=95)
  draft_sizes = []
  original_draft = JpegImagePlugin.JpegImageFile.draft

  def recording_draft(image, mode, size):
    result = original_draft(image, mode, size)
    draft_sizes.append(image.size)
    return result

  with mock.patch.object(JpegImagePlugin.JpegImageFile, "draft", recording_draft):
    values = _encode(jpeg, _encoded(_disc_mask(height, width), "PNG"), max_size=512)
  assert draft_sizes == [(1050, 525)]
  resized = _decoded(values["image"])
  assert resized.shape == (256, 512, 3)
  reference = np.asarray(Image.fromarray(pixels).resize((512, 256), Image.Resampling.LANCZOS))
  assert np.abs(resized.astype(int) - reference.astype(int)).mean() < 2.0
  assert _decoded(values["mask"]).shape == (256, 512)
  assert _decoded(values["original_mask"]).shape == (height, width)


def test_masks_are_binarised_above_127_whatever_their_mode():
  grey = np.array([[0, 127, 128, 255]], np.uint8)
  expected = np.array([[0, 0, 255, 255]], np.uint8)
  image = _encoded(np.zeros((1, 4, 3), np.uint8), "PNG")
  for mask in (
    _encoded(grey, "PNG"),
    _encoded(np.repeat(grey[..., None], 3, axis=-1), "PNG"),  # RGB
    _encoded(grey, "BMP"),
  ):
    np.testing.assert_array_equal(_decoded(_encode(image, mask)["mask"]), expected)
  one_bit = io.BytesIO()
  Image.fromarray(grey > 127).save(one_bit, format="BMP")
  np.testing.assert_array_equal(_decoded(_encode(image, one_bit.getvalue())["mask"]), expected)


def test_images_not_stored_as_published_are_re_encoded_as_asked():
  pixels = _smooth_image(30, 40)
  mask = _encoded(_disc_mask(30, 40), "PNG")
  bmp = _encoded(pixels, "BMP")
  stored = _encode(bmp, mask, image_format="PNG")["image"]
  np.testing.assert_array_equal(_decoded(stored), pixels)  # PNG: lossless.
  cmyk = io.BytesIO()
  Image.fromarray(pixels).convert("CMYK").save(cmyk, format="JPEG", quality=95)
  stored = _encode(cmyk.getvalue(), mask)["image"]
  assert Image.open(io.BytesIO(stored)).mode == "RGB"
  grey_jpeg = _encoded(pixels[..., 0], "JPEG")
  assert _encode(grey_jpeg, mask)["image"] == grey_jpeg  # TFDS decodes grey to 3 channels.


def test_a_size_mismatch_names_both_files_and_sizes():
  with pytest.raises(lesion_features.SourceDataError) as error:
    _encode(_encoded(_smooth_image(30, 40), "JPEG"), _encoded(_disc_mask(40, 30), "PNG"))
  message = str(error.value)
  assert str(IMAGE_FILE) in message and str(MASK_FILE) in message
  assert "40x30" in message and "30x40" in message
  assert "download Masks.zip again" in message


@pytest.mark.parametrize("max_size", [None, 16])
def test_a_corrupt_image_names_its_file(max_size):
  jpeg = _encoded(_smooth_image(30, 40), "JPEG")
  with pytest.raises(lesion_features.SourceDataError) as error:
    _encode(jpeg[: len(jpeg) // 2], _encoded(_disc_mask(30, 40), "PNG"), max_size=max_size)
  assert str(IMAGE_FILE) in str(error.value) and "download Images.zip again" in str(error.value)
