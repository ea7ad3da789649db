"""What every manual builder does with its dummy data: built, read back, and broken on purpose.

Parametrised over the registered manual builders (`tfds_builders.BUILDERS`),
so a new one is tested by adding it there and writing its dummy data; what
the dummy data holds, and where, comes from its `dummy_data_writer.py`. Its
own quirks are tested in `<name>/<name>_dataset_builder_test.py`. Plain pytest
rather than tfds.testing, which needs TensorFlow; built with
allow_count_mismatch=True, as the dummy splits are tiny, and read through
`tfds.data_source`.
"""

import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

import tfds_builders
from tfds_builders import dummy_lesion_archives, lesion_features
from tfds_builders import manual_lesion_builder_testing as testing

MANUAL_DATASETS = testing.MANUAL_DATASETS
LABELLED_DATASETS = tuple(name for name in MANUAL_DATASETS if testing.dummy_data(name).label_files)
# Published image formats the `original` config stores byte for byte.
_STORED_AS_PUBLISHED = ("JPEG", "PNG")


def _largest(dataset: str) -> tuple[str, dummy_lesion_archives.DummyImage]:
  """(split, image) of the dataset's largest dummy image, the one `max512` resizes."""
  return max(
    ((split, image) for split, images in testing.dummy_data(dataset).images.items()
     for image in images),
    key=lambda found: max(found[1].height, found[1].width),
  )  # fmt: skip


def _build_broken(dataset: str, manual_dir, data_dir, config: str = "original") -> str:
  """Builds from a broken copy of the dummy data; returns the SourceDataError's message."""
  with pytest.raises(lesion_features.SourceDataError) as error:
    testing.build(f"{dataset}/{config}", manual_dir, data_dir, allow_count_mismatch=True)
  return str(error.value)


def test_the_manual_builders_are_found():
  assert set(MANUAL_DATASETS) >= {"isic2016", "isic2017", "isic2018", "ph2"}
  assert set(testing.ISIC_DATASETS) >= {"isic2016", "isic2017", "isic2018"}
  assert "ph2" not in testing.ISIC_DATASETS


@pytest.mark.parametrize("dataset", MANUAL_DATASETS)
def test_splits_hold_the_dummy_images_and_no_stray_files(built_dummy_data, dataset):
  expected = {
    split: sorted(image.id for image in images)
    for split, images in testing.dummy_data(dataset).images.items()
  }
  for config in testing.CONFIGS:
    examples = built_dummy_data(dataset).examples[config]
    assert {split: sorted(found) for split, found in examples.items()} == expected


@pytest.mark.parametrize("dataset", MANUAL_DATASETS)
def test_features_are_the_shared_ones(built_dummy_data, dataset):
  data_dir = built_dummy_data(dataset).data_dir
  for config in testing.CONFIGS:
    builder = tfds.builder(f"{dataset}/{config}", data_dir=data_dir)
    testing.check_feature_definition(builder, list(tfds_builders.BUILDERS[dataset].DIAGNOSES))


@pytest.mark.parametrize("dataset", MANUAL_DATASETS)
def test_diagnoses_and_sizes_are_those_of_the_dummy_images(built_dummy_data, dataset):
  names = tfds_builders.BUILDERS[dataset].DIAGNOSES
  for config in testing.CONFIGS:
    examples = built_dummy_data(dataset).examples[config]
    for split, images in testing.dummy_data(dataset).images.items():
      for image in images:
        example = examples[split][image.id]
        assert names[example["diagnosis"]] == image.diagnosis, (config, image.id)
        assert (example["original_height"], example["original_width"]) == (
          image.height,
          image.width,
        )
        testing.check_decoded_example(example, downsized=config == "max512")


@pytest.mark.parametrize("dataset", MANUAL_DATASETS)
def test_original_config_stores_the_published_images_and_binarised_masks(built_dummy_data, dataset):
  built, dummy = built_dummy_data(dataset), testing.dummy_data(dataset)
  manual_dir = testing.dummy_data_dir(dataset)
  undecoded = testing.read_examples(
    f"{dataset}/original", built.data_dir, decoders={"image": tfds.decode.SkipDecoding()}
  )
  for split, images in dummy.images.items():
    for image in images:
      stored = built.examples["original"][split][image.id]
      published = testing.read_source(manual_dir, dummy.image_file(split, image.id))
      if testing.image_format(published) in _STORED_AS_PUBLISHED:
        assert undecoded[split][image.id]["image"] == published, image.id
      else:  # Re-encoded losslessly (PH2's BMP).
        np.testing.assert_array_equal(stored["image"], testing.decoded(published, "RGB"))
      # "L": 1-bit masks (PH2) to 0/255.
      mask = testing.decoded(testing.read_source(manual_dir, dummy.mask_file(split, image.id)), "L")
      if image.soft_mask_border:
        assert set(np.unique(mask)) > {0, 255}, image.id  # So binarising is tested.
      np.testing.assert_array_equal(stored["mask"], testing.binarised(mask))


@pytest.mark.parametrize("dataset", MANUAL_DATASETS)
def test_max512_downsizes_only_large_images_and_keeps_the_full_mask(built_dummy_data, dataset):
  examples = built_dummy_data(dataset).examples
  split, largest = _largest(dataset)
  assert max(largest.height, largest.width) > 512  # The dummy data has one to resize.
  assert max(examples["max512"][split][largest.id]["image"].shape[:2]) == 512
  for split, images in testing.dummy_data(dataset).images.items():
    for image in images:
      testing.check_downsized_matches_original(
        examples["original"][split][image.id], examples["max512"][split][image.id]
      )


@pytest.mark.parametrize("dataset", MANUAL_DATASETS)
def test_tensorflow_is_never_imported(built_dummy_data, dataset):
  built_dummy_data(dataset)  # Built and read by now.
  assert "tensorflow" not in sys.modules


@pytest.mark.parametrize("dataset", MANUAL_DATASETS)
def test_split_sizes_must_be_the_official_ones_unless_allowed(tmp_path, dataset):
  dummy, manual_dir = testing.dummy_data(dataset), testing.dummy_data_dir(dataset)
  with pytest.raises(lesion_features.SourceDataError) as error:
    testing.build(f"{dataset}/max512", manual_dir, tmp_path / "data")
  message = str(error.value)
  official = tfds_builders.BUILDERS[dataset].OFFICIAL_SPLIT_SIZES
  for split, images in dummy.images.items():
    assert f"{split}: {len(images)} images" in message
    assert f"officially {official[split]}" in message
    image_file = testing.located(manual_dir, dummy.image_file(split, images[0].id))
    assert image_file.container in message
  assert f'tfds.builder("{dataset}/max512", allow_count_mismatch=True' in message


@pytest.mark.parametrize("dataset", LABELLED_DATASETS)
def test_a_missing_label_names_the_id_and_the_label_file(tmp_path, dataset):
  manual_dir = testing.copy_dummy_data(dataset, tmp_path / "manual")
  split, image = _largest(dataset)
  label_file = manual_dir / testing.dummy_data(dataset).label_files[split]
  lines = label_file.read_bytes().split(b"\n")
  label_file.write_bytes(b"\n".join(line for line in lines if image.id.encode() not in line))
  message = _build_broken(dataset, manual_dir, tmp_path / "data")
  assert image.id in message and str(label_file) in message
  assert "download it again" in message


@pytest.mark.parametrize("dataset", MANUAL_DATASETS)
def test_an_image_without_a_mask_is_listed(tmp_path, dataset):
  manual_dir = testing.copy_dummy_data(dataset, tmp_path / "manual")
  dummy = testing.dummy_data(dataset)
  split, image = _largest(dataset)
  testing.replace_source(manual_dir, dummy.mask_file(split, image.id), None)
  message = _build_broken(dataset, manual_dir, tmp_path / "data")
  assert "without a mask" in message and f"['{image.id}']" in message
  for source in (dummy.image_file(split, image.id), dummy.mask_file(split, image.id)):
    assert source.container in message
  assert "download them again" in message


@pytest.mark.parametrize("config", testing.CONFIGS)
@pytest.mark.parametrize("dataset", MANUAL_DATASETS)
def test_a_mask_of_another_size_is_named_with_both_sizes(tmp_path, dataset, config):
  manual_dir = testing.copy_dummy_data(dataset, tmp_path / "manual")
  dummy = testing.dummy_data(dataset)
  split, image = _largest(dataset)
  mask_file = dummy.mask_file(split, image.id)
  published = testing.read_source(manual_dir, mask_file)
  smaller = np.zeros((image.height - 1, image.width), np.uint8)
  testing.replace_source(manual_dir, mask_file, testing.encoded_like(published, smaller))
  message = _build_broken(dataset, manual_dir, tmp_path / "data", config)
  located_mask = testing.located(manual_dir, mask_file)
  assert str(located_mask) in message
  assert str(testing.located(manual_dir, dummy.image_file(split, image.id))) in message
  assert f"{image.width}x{image.height - 1}" in message
  assert f"{image.width}x{image.height}" in message
  assert located_mask.remedy in message


@pytest.mark.parametrize(
  "config, corruption",
  [("original", "truncated"), ("max512", "truncated"), ("original", "not_an_image")],
)
@pytest.mark.parametrize("dataset", MANUAL_DATASETS)
def test_a_corrupt_image_is_named_with_its_container(tmp_path, dataset, config, corruption):
  """Truncated files fail while decoding (at reduced scale, or resizing), others on opening."""
  manual_dir = testing.copy_dummy_data(dataset, tmp_path / "manual")
  split, image = _largest(dataset)
  image_file = testing.dummy_data(dataset).image_file(split, image.id)
  published = testing.read_source(manual_dir, image_file)
  broken = published[: len(published) // 2] if corruption == "truncated" else b"<html>503</html>"
  testing.replace_source(manual_dir, image_file, broken)
  message = _build_broken(dataset, manual_dir, tmp_path / "data", config)
  located_image = testing.located(manual_dir, image_file)
  assert str(located_image) in message and located_image.remedy in message


@pytest.mark.parametrize("dataset", testing.ISIC_DATASETS)
def test_a_missing_archive_is_named_with_its_directory(tmp_path, dataset):
  manual_dir = testing.copy_dummy_data(dataset, tmp_path / "manual")
  split_files = tfds_builders.BUILDERS[dataset].SPLIT_FILES
  first, *_, last = split_files.values()
  missing = [name for name in (last.masks, last.labels) if name]
  for name in missing:
    (manual_dir / name).unlink()
  with pytest.raises(FileNotFoundError) as error:
    testing.build(f"{dataset}/original", manual_dir, tmp_path / "data", allow_count_mismatch=True)
  message = str(error.value)
  assert all(name in message for name in missing)
  assert first.images not in message  # Only what is missing.
  assert str(manual_dir) in message and "DownloadConfig(manual_dir=" in message


@pytest.mark.parametrize("dataset", testing.ISIC_DATASETS)
def test_a_missing_manual_directory_names_every_file(tmp_path, dataset):
  with pytest.raises(FileNotFoundError) as error:
    testing.build(f"{dataset}/original", tmp_path / "nowhere", tmp_path / "data")
  message = str(error.value)
  for split_files in tfds_builders.BUILDERS[dataset].SPLIT_FILES.values():
    for name in split_files.names:
      assert name in message
  assert str(tmp_path / "nowhere") in message
