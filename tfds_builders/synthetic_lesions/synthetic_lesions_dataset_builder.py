"""synthetic_lesions: dermoscopy-like images with exact lesion masks, drawn from a seed.

Stands in for the ISIC and PH2 datasets in tests and in the default run
(docs/papers.md, "Datasets and splits"): nothing to download, and the
features are the ISIC builders' own (`lesion_features.features`), so every
pipeline and model reads it unchanged.

Example `index` of split `split` is drawn from
`np.random.default_rng([seed, split_index, index])`, `split_index` being the
split's position in `SPLITS`, so a config always produces the same pixels,
masks, ids and labels, whatever order or parallelism generates it.

The stored format is array_record, read without TensorFlow through
`tfds.data_source`; see README.md for the calls.
"""

import dataclasses
import io

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from tfds_builders import lesion_builder, lesion_features
from tfds_builders.synthetic_lesions import render

SPLITS = ("train", "validation", "test")
DIAGNOSES = ("benign", "melanoma")
# Ids look like ISIC's (`ISIC_0000042`) and count across splits, so they are
# unique in the whole dataset.
ID_PREFIX = "SYN_"


@dataclasses.dataclass
class SyntheticLesionsConfig(tfds.core.BuilderConfig):
  """Image size, number of examples per split, and seed of one synthetic dataset.

  These fields determine every byte of the data. TFDS keys the prepared files
  by the config's name alone, so a config with other values needs a name of
  its own.
  """

  height: int = 192
  width: int = 256
  num_train: int = 800
  num_validation: int = 100
  num_test: int = 200
  seed: int = 0
  # The lesion covers U[min, max] of the frame.
  min_area_fraction: float = render.MIN_AREA_FRACTION
  max_area_fraction: float = render.MAX_AREA_FRACTION

  def __post_init__(self):
    # Smaller images cannot hold a lesion of 5% of the frame with a border.
    if self.height < 16 or self.width < 16:
      raise ValueError(f"Images must be at least 16x16 pixels, got {self.height}x{self.width}.")
    if min(self.num_train, self.num_validation, self.num_test) < 1:
      # TFDS cannot write a split with no examples.
      raise ValueError(
        "Every split needs at least one example, got "
        f"{self.num_train} / {self.num_validation} / {self.num_test}."
      )
    if not 0.0 < self.min_area_fraction <= self.max_area_fraction < 1.0:
      raise ValueError(
        "Lesion area fractions must satisfy 0 < min <= max < 1, got "
        f"{self.min_area_fraction} and {self.max_area_fraction}."
      )
    if self.seed < 0:
      # np.random.default_rng rejects negative seed entries.
      raise ValueError(f"The seed must not be negative, got {self.seed}.")

  @property
  def split_sizes(self) -> dict[str, int]:
    return {
      "train": self.num_train,
      "validation": self.num_validation,
      "test": self.num_test,
    }


def first_id_number(config: SyntheticLesionsConfig, split: str) -> int:
  """The number in the id of the split's first example: the splits before it count first."""
  sizes = config.split_sizes
  return sum(sizes[earlier] for earlier in SPLITS[: SPLITS.index(split)])


def render_split_example(
  config: SyntheticLesionsConfig, split: str, index: int
) -> render.RenderedExample:
  """Draws example `index` of `split`; the one place the seeding rule lives."""
  rng = np.random.default_rng([config.seed, SPLITS.index(split), index])
  return render.render_example(
    rng, config.height, config.width, (config.min_area_fraction, config.max_area_fraction)
  )


def _png(pixels: np.ndarray) -> bytes:
  # TFDS would encode numpy images with TensorFlow; PNG bytes from PIL are
  # stored as given, so building needs no TensorFlow. zlib level 1: the
  # sensor noise leaves little to compress, and PIL's default level 6 takes
  # six times as long (30 ms an image, most of the build) for files 13%
  # smaller.
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
  return buffer.getvalue()


class Builder(lesion_builder.LesionBuilder):
  """DatasetBuilder for synthetic_lesions."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [
    SyntheticLesionsConfig(
      name="default",
      description="192x256 (4:3, as dermoscopy), 800 / 100 / 200 examples, seed 0.",
      height=192,
      width=256,
      num_train=800,
      num_validation=100,
      num_test=200,
      seed=0,
    ),
    SyntheticLesionsConfig(
      name="tiny",
      description="48x64, 24 / 8 / 12 examples, seed 0; for tests.",
      height=48,
      width=64,
      num_train=24,
      num_validation=8,
      num_test=12,
      seed=0,
    ),
    SyntheticLesionsConfig(
      name="small_lesions",
      description=(
        "384x512, lesions covering 1% to 8% of the frame (small lesions in larger images, as "
        "in much of ISIC 2017), 416 / 50 / 98 examples, seed 0; the parity harness's data."
      ),
      height=384,
      width=512,
      num_train=416,
      num_validation=50,
      num_test=98,
      seed=0,
      min_area_fraction=0.01,
      max_area_fraction=0.08,
    ),
  ]
  DEFAULT_CONFIG_NAME = "default"
  DIAGNOSES = DIAGNOSES
  MELANOMA_DIAGNOSIS = "melanoma"

  @classmethod
  def split_names(cls) -> tuple[str, ...]:
    return SPLITS

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
      features=lesion_features.features(DIAGNOSES),
      supervised_keys=lesion_features.SUPERVISED_KEYS,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Nothing to download.
    return {split: self._generate_examples(split) for split in SPLITS}

  def _generate_examples(self, split: str):
    config = self.builder_config
    first_id = first_id_number(config, split)
    for index in range(config.split_sizes[split]):
      example = render_split_example(config, split, index)
      example_id = f"{ID_PREFIX}{first_id + index:07d}"
      yield (
        example_id,
        {
          "image": _png(example.image),
          "mask": _png(np.where(example.mask, np.uint8(255), np.uint8(0))),
          "id": example_id,
          "diagnosis": DIAGNOSES[int(example.is_melanoma)],
          "original_height": config.height,
          "original_width": config.width,
        },
      )
