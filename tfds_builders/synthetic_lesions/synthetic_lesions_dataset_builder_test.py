"""Tests for the synthetic_lesions builder: built, read back, and redrawn.

Plain pytest rather than tfds.testing, which needs TensorFlow. The `tiny`
config is built once per module and read through `tfds.data_source`, the
TensorFlow-free path the training pipeline uses.
"""

import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

import tfds_builders  # noqa: F401  (registers synthetic_lesions)
from tfds_builders.synthetic_lesions import render
from tfds_builders.synthetic_lesions import synthetic_lesions_dataset_builder as builder_lib

TINY = next(config for config in builder_lib.Builder.BUILDER_CONFIGS if config.name == "tiny")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("tfds_data")
  builder = tfds.builder("synthetic_lesions/tiny", data_dir=data_dir)
  builder.download_and_prepare(file_format="array_record")
  return data_dir


@pytest.fixture(scope="module")
def examples(data_dir) -> dict[str, list[dict]]:
  """Every stored example of every split, decoded."""
  sources = {
    split: tfds.data_source("synthetic_lesions/tiny", split=split, data_dir=data_dir)
    for split in builder_lib.SPLITS
  }
  return {split: [source[i] for i in range(len(source))] for split, source in sources.items()}


def _every_example(examples):
  return [example for split in builder_lib.SPLITS for example in examples[split]]


def _id_number(example) -> int:
  example_id = example["id"].decode() if isinstance(example["id"], bytes) else example["id"]
  assert example_id.startswith(builder_lib.ID_PREFIX)
  return int(example_id.removeprefix(builder_lib.ID_PREFIX))


def test_split_sizes_match_the_config(examples):
  assert {split: len(examples[split]) for split in builder_lib.SPLITS} == {
    "train": 24,
    "validation": 8,
    "test": 12,
  }


def test_features_are_those_of_the_isic_builders(data_dir):
  features = tfds.builder("synthetic_lesions/tiny", data_dir=data_dir).info.features
  assert set(features.keys()) == {
    "image",
    "mask",
    "id",
    "diagnosis",
    "original_height",
    "original_width",
  }
  assert isinstance(features["image"], tfds.features.Image)
  assert features["image"].shape == (None, None, 3)
  assert features["image"].np_dtype == np.uint8
  assert isinstance(features["mask"], tfds.features.Image)
  assert features["mask"].shape == (None, None, 1)
  assert features["mask"].np_dtype == np.uint8
  assert isinstance(features["id"], tfds.features.Text)
  assert features["diagnosis"].names == ["benign", "melanoma"]
  assert features["original_height"].np_dtype == np.int32
  assert features["original_width"].np_dtype == np.int32


def test_decoded_examples_have_the_right_dtypes_and_shapes(examples):
  for example in _every_example(examples):
    assert example["image"].dtype == np.uint8
    assert example["image"].shape == (TINY.height, TINY.width, 3)
    assert example["mask"].dtype == np.uint8
    assert example["mask"].shape == (TINY.height, TINY.width, 1)
    assert example["original_height"] == example["image"].shape[0]
    assert example["original_width"] == example["image"].shape[1]
    assert example["diagnosis"] in (0, 1)


def test_masks_are_binary_and_cover_five_to_45_percent(examples):
  for example in _every_example(examples):
    assert set(np.unique(example["mask"])) <= {0, 255}
    covered = np.mean(example["mask"] == 255)
    # The generator fixes the covered fraction exactly, up to rounding.
    assert render.MIN_AREA_FRACTION - 0.005 <= covered <= render.MAX_AREA_FRACTION + 0.005


def test_ids_are_unique_and_numbered_across_splits(examples):
  numbers = [_id_number(example) for example in _every_example(examples)]
  assert sorted(numbers) == list(range(len(numbers)))
  for split in builder_lib.SPLITS:
    first = builder_lib.first_id_number(TINY, split)
    assert {_id_number(e) for e in examples[split]} == set(
      range(first, first + len(examples[split]))
    )


def test_both_diagnoses_are_present(examples):
  assert {example["diagnosis"] for example in _every_example(examples)} == {0, 1}


def test_stored_examples_are_the_rendered_ones(examples):
  """PNG is lossless, so the files hold exactly what render_split_example draws."""
  for split in builder_lib.SPLITS:
    first = builder_lib.first_id_number(TINY, split)
    for example in examples[split]:
      drawn = builder_lib.render_split_example(TINY, split, _id_number(example) - first)
      np.testing.assert_array_equal(example["image"], drawn.image)
      np.testing.assert_array_equal(example["mask"][..., 0], np.where(drawn.mask, 255, 0))
      assert example["diagnosis"] == int(drawn.is_melanoma)


def test_synthetic_builder_never_imports_tensorflow(examples):
  del examples  # Built and read by now.
  assert "tensorflow" not in sys.modules


def test_a_user_made_config_builds_and_reads(tmp_path):
  config = builder_lib.SyntheticLesionsConfig(
    name="test_32x40", height=32, width=40, num_train=2, num_validation=1, num_test=1, seed=5
  )
  builder = tfds.builder("synthetic_lesions", config=config, data_dir=tmp_path)
  builder.download_and_prepare(file_format="array_record")
  test_split = tfds.data_source("synthetic_lesions/test_32x40", split="test", data_dir=tmp_path)
  assert len(test_split) == 1
  assert test_split[0]["image"].shape == (32, 40, 3)
  assert _id_number(test_split[0]) == 3


@pytest.mark.parametrize(
  "changes",
  [
    {"height": 8},
    {"width": 15},
    {"num_validation": 0},
    {"num_test": -1},
    {"seed": -1},
    {"min_area_fraction": 0.0},
    {"min_area_fraction": 0.3, "max_area_fraction": 0.2},
    {"max_area_fraction": 1.0},
  ],
  ids=lambda changes: ",".join(f"{key}={value}" for key, value in changes.items()),
)
def test_config_rejects_unusable_values(changes):
  with pytest.raises(ValueError):
    builder_lib.SyntheticLesionsConfig(name="bad", **changes)


def test_small_lesions_config_draws_lesions_of_one_to_eight_percent():
  small = next(c for c in builder_lib.Builder.BUILDER_CONFIGS if c.name == "small_lesions")
  assert (small.height, small.width) == (384, 512)
  assert (small.min_area_fraction, small.max_area_fraction) == (0.01, 0.08)
  # The same area rule at a quarter of the size, to keep the test fast.
  quarter = builder_lib.SyntheticLesionsConfig(
    name="small_quarter", height=96, width=128, min_area_fraction=0.01, max_area_fraction=0.08
  )
  covered = [np.mean(builder_lib.render_split_example(quarter, "train", i).mask) for i in range(12)]
  assert all(0.01 - 0.001 <= c <= 0.08 + 0.001 for c in covered)
  # Many are smaller than anything the default config draws (5% and up).
  assert np.mean(np.array(covered) < render.MIN_AREA_FRACTION) >= 0.4


def test_rendering_is_deterministic():
  first = builder_lib.render_split_example(TINY, "train", 3)
  again = builder_lib.render_split_example(TINY, "train", 3)
  np.testing.assert_array_equal(first.image, again.image)
  np.testing.assert_array_equal(first.mask, again.mask)


@pytest.mark.parametrize(
  ("config", "split", "index"),
  [
    (
      builder_lib.SyntheticLesionsConfig(name="other_seed", height=48, width=64, seed=1),
      "train",
      3,
    ),
    (TINY, "validation", 3),
    (TINY, "train", 4),
  ],
  ids=["other_seed", "other_split", "other_index"],
)
def test_other_seeds_splits_and_indices_draw_other_images(config, split, index):
  reference = builder_lib.render_split_example(TINY, "train", 3)
  other = builder_lib.render_split_example(config, split, index)
  assert not np.array_equal(reference.image, other.image)
  assert not np.array_equal(reference.mask, other.mask)


def _render_many(num_examples: int, height: int = 96, width: int = 128):
  return [
    render.render_example(np.random.default_rng([123, index]), height, width)
    for index in range(num_examples)
  ]


def _outline_ratio(mask: np.ndarray) -> float:
  """Border pixels squared over area: about 4 pi for a disc, larger when irregular."""
  interior = mask.copy()
  interior[1:-1, 1:-1] &= mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
  border = np.count_nonzero(mask & ~interior)
  return border**2 / np.count_nonzero(mask)


def test_melanomas_are_more_irregular_and_more_varied():
  drawn = _render_many(80)
  melanomas = [example for example in drawn if example.is_melanoma]
  benign = [example for example in drawn if not example.is_melanoma]
  assert melanomas and benign
  assert np.mean([_outline_ratio(e.mask) for e in melanomas]) > 1.15 * np.mean(
    [_outline_ratio(e.mask) for e in benign]
  )

  def colour_spread(example):
    # Spread of the lesion's chromaticity, which shading does not change.
    pixels = example.image[example.mask].astype(np.float64) + 1.0
    chromaticity = pixels / pixels.sum(axis=-1, keepdims=True)
    return chromaticity.std(axis=0).sum()

  assert np.mean([colour_spread(e) for e in melanomas]) > np.mean(
    [colour_spread(e) for e in benign]
  )


def test_lesions_are_darker_than_the_skin_around_them():
  for example in _render_many(40):
    # A ring of skin a few pixels outside the lesion (np.roll wraps, which
    # only adds a few edge pixels).
    grown = example.mask.copy()
    for _ in range(6):
      grown |= np.roll(grown, 1, 0) | np.roll(grown, -1, 0)
      grown |= np.roll(grown, 1, 1) | np.roll(grown, -1, 1)
    ring = grown & ~example.mask
    brightness = example.image.astype(np.float64).mean(axis=-1)
    assert np.median(brightness[example.mask]) < np.median(brightness[ring])
