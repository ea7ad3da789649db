"""folder: layouts, formats, the build-time checks, one directory per folder, changes detected."""

import io
import os
import pickle
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

import tfds_builders
from tfds_builders import lesion_features
from tfds_builders.folder import folder_dataset_builder as builder_lib
from tfds_builders.folder import folder_testing as testing

SourceDataError = lesion_features.SourceDataError


def _build(folder, data_dir, config="original", **builder_kwargs):
  builder = tfds.builder(
    f"folder/{config}", folder=str(folder), data_dir=data_dir, **builder_kwargs
  )
  builder.download_and_prepare(file_format="array_record")
  return builder


def _examples(builder, split="train") -> dict[str, dict]:
  source = builder.as_data_source(split=split)
  return {source[i]["id"].decode(): source[i] for i in range(len(source))}


def test_the_builder_is_registered_and_its_spec_declared():
  assert tfds_builders.BUILDERS["folder"] is builder_lib.Builder
  assert builder_lib.Builder.DIAGNOSES == ("unknown",)
  assert builder_lib.Builder.MELANOMA_DIAGNOSIS is None
  assert [config.name for config in builder_lib.Builder.BUILDER_CONFIGS] == ["original", "max512"]


@pytest.mark.parametrize("config", ["original", "max512"])
def test_every_image_format_is_read_with_its_mask(tmp_path, config):
  folder = testing.write_lesion_folder(tmp_path / "lesions")
  builder = _build(folder, tmp_path / "tfds", config)
  examples = _examples(builder)
  assert sorted(examples) == sorted(testing.DEFAULT_IMAGES)
  for file_id, extension in testing.DEFAULT_IMAGES.items():
    example = examples[file_id]
    width, height = testing.size_of(file_id)
    assert (example["original_width"], example["original_height"]) == (width, height)
    assert example["diagnosis"] == 0
    if config == "max512" and file_id == "lesion_large":
      assert example["image"].shape == (384, 512, 3)
      assert set(np.unique(example["mask"])) <= {0, 255}
      continue
    assert example["image"].shape == (height, width, 3)
    np.testing.assert_array_equal(example["mask"][..., 0], testing.mask_pixels(file_id))
    expected = testing.image_pixels(file_id)
    if extension in (".jpg", ".jpeg"):
      # JPEG is lossy: what is stored is the file's own decoding.
      path = folder / "images" / f"{file_id}{extension}"
      expected = np.asarray(Image.open(path).convert("RGB"))
    np.testing.assert_array_equal(example["image"], expected)
  if config == "max512":
    assert "original_mask" in builder.info.features
  assert builder.info.features["diagnosis"].names == ["unknown"]


def test_max512_keeps_the_full_size_mask(tmp_path):
  folder = testing.write_lesion_folder(tmp_path / "lesions", {"lesion_large": ".png"})
  source = _build(folder, tmp_path / "tfds", "max512").as_data_source(split="train")
  np.testing.assert_array_equal(
    source[0]["original_mask"][..., 0], testing.mask_pixels("lesion_large")
  )


def test_split_subfolders_are_the_splits(tmp_path):
  folder = tmp_path / "lesions"
  testing.write_lesion_folder(folder / "test", {"t1": ".png"})
  testing.write_lesion_folder(folder / "train", {"a1": ".png", "a2": ".jpg"})
  testing.write_lesion_folder(folder / "validation", {"v1": ".bmp"})
  (folder / "notes").mkdir()  # No images/ in it: not a split.
  assert builder_lib.split_names_of(folder) == ("train", "validation", "test")
  builder = _build(folder, tmp_path / "tfds")
  assert list(builder.info.splits) == ["train", "validation", "test"]
  assert sorted(_examples(builder, "train")) == ["a1", "a2"]
  assert list(_examples(builder, "validation")) == ["v1"]
  assert list(_examples(builder, "test")) == ["t1"]


def test_without_subfolders_every_image_is_in_train(tmp_path):
  folder = testing.write_lesion_folder(tmp_path / "lesions")
  assert builder_lib.split_names_of(folder) == ("train",)
  assert list(_build(folder, tmp_path / "tfds").info.splits) == ["train"]


def test_ph2_style_lesion_bmp_masks(tmp_path):
  folder = testing.write_lesion_folder(
    tmp_path / "ph2", {"IMD002": ".bmp", "IMD003": ".bmp"}, mask_suffix="_lesion.bmp"
  )
  examples = _examples(_build(folder, tmp_path / "tfds", mask_suffix="_lesion.bmp"))
  assert sorted(examples) == ["IMD002", "IMD003"]
  np.testing.assert_array_equal(examples["IMD002"]["mask"][..., 0], testing.mask_pixels("IMD002"))


def test_the_mask_suffix_is_matched_in_any_case(tmp_path):
  folder = testing.write_lesion_folder(tmp_path / "isic2016", mask_suffix="_Segmentation.png")
  assert len(_examples(_build(folder, tmp_path / "tfds"))) == len(testing.DEFAULT_IMAGES)


def test_a_missing_mask_is_named_and_another_suffix_suggested(tmp_path):
  folder = testing.write_lesion_folder(
    tmp_path / "ph2", {"IMD002": ".bmp", "IMD003": ".bmp"}, mask_suffix="_lesion.bmp"
  )
  with pytest.raises(SourceDataError) as error:
    _build(folder, tmp_path / "tfds")
  message = str(error.value)
  assert "IMD002_segmentation.png (for IMD002.bmp)" in message
  assert str(folder / "masks") in message
  assert "mask_suffix='_lesion.bmp'" in message


def test_a_mask_without_its_image_is_named(tmp_path):
  folder = testing.write_lesion_folder(tmp_path / "lesions", {"a": ".png", "b": ".png"})
  (folder / "images" / "b.png").unlink()
  with pytest.raises(SourceDataError, match=r"1 masks in .* have no image .*: b_segmentation\.png"):
    _build(folder, tmp_path / "tfds")


def test_a_mask_of_the_wrong_size_names_both_files(tmp_path):
  folder = testing.write_lesion_folder(tmp_path / "lesions", {"a": ".png", "b": ".jpg"})
  Image.fromarray(testing.mask_pixels("b", (30, 20))).save(folder / "masks" / "b_segmentation.png")
  with pytest.raises(SourceDataError) as error:
    _build(folder, tmp_path / "tfds")
  message = str(error.value)
  assert str(folder / "masks" / "b_segmentation.png") in message
  assert str(folder / "images" / "b.jpg") in message
  assert "30x20" in message and "50x40" in message


@pytest.mark.parametrize("config", ["original", "max512"])
def test_a_corrupt_image_is_named(tmp_path, config):
  folder = testing.write_lesion_folder(tmp_path / "lesions", {"a": ".png", "b": ".jpg"})
  path = folder / "images" / "b.jpg"
  path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
  with pytest.raises(SourceDataError, match=f"Cannot read the image {path}"):
    _build(folder, tmp_path / "tfds", config)


def test_masks_of_zero_and_one_are_refused(tmp_path):
  folder = testing.write_lesion_folder(tmp_path / "lesions", {"a": ".png"})
  Image.fromarray(testing.mask_pixels("a") // 255).save(folder / "masks" / "a_segmentation.png")
  with pytest.raises(SourceDataError, match="0 and 1.*multiply them by 255"):
    _build(folder, tmp_path / "tfds")


def test_sixteen_bit_images_are_refused(tmp_path):
  folder = testing.write_lesion_folder(tmp_path / "lesions", {"a": ".tif"})
  grey16 = testing.image_pixels("a")[..., 0].astype(np.uint16) * 256
  Image.fromarray(grey16).save(folder / "images" / "a.tif")
  with pytest.raises(SourceDataError, match="a.tif has PIL mode 'I;16'"):
    _build(folder, tmp_path / "tfds")


def test_layout_errors_say_what_the_folder_needs(tmp_path):
  with pytest.raises(FileNotFoundError, match="is not a directory"):
    builder_lib.split_names_of(tmp_path / "absent")
  (tmp_path / "empty").mkdir()
  with pytest.raises(FileNotFoundError, match="holds no images/ folder"):
    builder_lib.split_names_of(tmp_path / "empty")
  no_masks = tmp_path / "no_masks"
  (no_masks / "images").mkdir(parents=True)
  with pytest.raises(FileNotFoundError, match="no masks folder"):
    builder_lib.split_names_of(no_masks)
  both = testing.write_lesion_folder(tmp_path / "both", {"a": ".png"})
  testing.write_lesion_folder(both / "test", {"b": ".png"})
  with pytest.raises(SourceDataError, match=r"both images/ and split subfolders \['test'\]"):
    builder_lib.split_names_of(both)
  bad_name = testing.write_lesion_folder(tmp_path / "bad_name" / "my-test", {"a": ".png"}).parent
  with pytest.raises(SourceDataError, match=r"\['my-test'\].*rename them"):
    builder_lib.split_names_of(bad_name)


def test_ids_must_be_unique_in_a_split_and_across_splits(tmp_path):
  folder = testing.write_lesion_folder(tmp_path / "twice", {"a": ".png"})
  shutil.copy(folder / "images" / "a.png", folder / "images" / "a.jpg")
  with pytest.raises(SourceDataError, match=r"a: \['a.jpg', 'a.png'\]"):
    _build(folder, tmp_path / "tfds")
  splits = tmp_path / "splits"
  testing.write_lesion_folder(splits / "train", {"a": ".png", "b": ".png"})
  testing.write_lesion_folder(splits / "test", {"a": ".png"})
  with pytest.raises(SourceDataError, match=r"more than one split: a \(train, test\)"):
    _build(splits, tmp_path / "tfds")


def test_other_files_are_ignored(tmp_path):
  folder = testing.write_lesion_folder(tmp_path / "lesions", {"a": ".png"})
  (folder / "images" / ".DS_Store").write_bytes(b"\0")
  (folder / "images" / "notes.txt").write_text("not an image")
  (folder / "masks" / "a_contour.png").write_bytes(b"not a mask")
  assert list(_examples(_build(folder, tmp_path / "tfds"))) == ["a"]


def test_different_folders_do_not_collide_in_one_data_dir(tmp_path):
  # Same folder name, different paths and contents.
  first = testing.write_lesion_folder(tmp_path / "one" / "lesions", {"a": ".png"})
  second = testing.write_lesion_folder(tmp_path / "two" / "lesions", {"b": ".png", "c": ".png"})
  data_dir = tmp_path / "tfds"
  built_first, built_second = _build(first, data_dir), _build(second, data_dir)
  assert built_first.data_dir != built_second.data_dir
  assert os.path.basename(os.path.dirname(built_first.data_dir)).startswith("original-lesions-")
  assert list(_examples(built_first)) == ["a"]
  assert sorted(_examples(built_second)) == ["b", "c"]
  # Reopened, each finds its own prepared copy.
  reopened = tfds.builder("folder/original", folder=str(first), data_dir=data_dir)
  assert reopened.is_prepared() and reopened.data_dir == built_first.data_dir
  # Another mask suffix reads other files of the folder: another dataset.
  other_suffix = tfds.builder("folder", folder=str(first), mask_suffix="_m.png", data_dir=data_dir)
  assert other_suffix.data_dir != built_first.data_dir


def test_a_changed_folder_is_detected(tmp_path):
  folder = testing.write_lesion_folder(tmp_path / "lesions", {"a": ".png", "b": ".png"})
  builder = _build(folder, tmp_path / "tfds")
  reopened = tfds.builder("folder", folder=str(folder), data_dir=tmp_path / "tfds")
  reopened.check_folder_unchanged()
  testing.write_lesion_folder(folder, {"c": ".png"})
  (folder / "images" / "a.png").unlink()
  Image.fromarray(testing.image_pixels("b", (60, 40))).save(folder / "images" / "b.png")
  with pytest.raises(SourceDataError) as error:
    reopened.check_folder_unchanged()
  message = str(error.value)
  assert "added: images/c.png, masks/c_segmentation.png" in message
  assert "removed: images/a.png" in message
  assert "modified: images/b.png" in message
  assert f"rm -r '{builder.data_dir}'" in message


def test_a_new_split_subfolder_is_a_change(tmp_path):
  folder = tmp_path / "lesions"
  testing.write_lesion_folder(folder / "train", {"a": ".png"})
  builder = _build(folder, tmp_path / "tfds")
  testing.write_lesion_folder(folder / "test", {"b": ".png"})
  with pytest.raises(SourceDataError, match=r"splits \['train'\] -> \['train', 'test'\]"):
    builder.check_folder_unchanged()


def test_without_a_folder_the_builder_exists_but_cannot_build(tmp_path):
  builder = tfds.builder("folder", data_dir=tmp_path)
  with pytest.raises(ValueError, match="no folder given.*folder=DIR"):
    builder.download_and_prepare(file_format="array_record")


def test_a_pickled_builder_keeps_its_folder(tmp_path):
  # TFDS re-creates builders in worker processes from their pickled arguments.
  folder = testing.write_lesion_folder(tmp_path / "lesions", {"a": ".png"})
  builder = tfds.builder(
    "folder/max512", folder=str(folder), mask_suffix="_s.png", data_dir=tmp_path
  )
  restored = pickle.loads(pickle.dumps(builder))
  assert restored.builder_config == builder.builder_config
  assert restored.data_dir == builder.data_dir


def test_the_stored_jpeg_of_a_downsized_jpeg_is_jpeg_and_of_a_png_is_png(tmp_path):
  folder = testing.write_lesion_folder(
    tmp_path / "lesions", {"jpeg_large": ".jpg", "png_large": ".png"}
  )
  source = _build(folder, tmp_path / "tfds", "max512").as_data_source(
    split="train", decoders={"image": tfds.decode.SkipDecoding()}
  )
  formats = {
    source[i]["id"].decode(): Image.open(io.BytesIO(source[i]["image"])).format for i in range(2)
  }
  assert formats == {"jpeg_large": "JPEG", "png_large": "PNG"}


def test_the_documented_data_source_calls_build_and_read(tmp_path):
  folder = testing.write_lesion_folder(tmp_path / "my_lesions", {"a": ".png", "b": ".jpg"})
  kwargs = {"folder": str(folder), "mask_suffix": "_segmentation.png"}
  source = tfds.data_source(
    "folder/max512", split="train", data_dir=tmp_path / "tfds", builder_kwargs=kwargs
  )
  assert len(source) == 2
  builder = tfds.builder("folder/max512", data_dir=tmp_path / "tfds", **kwargs)
  builder.check_folder_unchanged()
  by_name = tfds.data_source(
    f"folder/{builder.builder_config.name}", split="train", data_dir=tmp_path / "tfds"
  )
  assert sorted(by_name[i]["id"] for i in range(2)) == [b"a", b"b"]
