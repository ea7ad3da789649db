"""grain input pipelines: an endless shuffled training stream and a padded eval pass.

Multi-host: every process builds the same global stream (same seed, same
shuffle, augmentation keyed on the global position) and takes its own rows of
each global batch, so the global batch is identical whatever the process count.
"""

import dataclasses
import math

import grain
import numpy as np

from jaxseg.data import colour, transforms
from jaxseg.errors import ConfigError

# input.colour_space: "rgb8" sends uint8 RGB to the device (normalised there);
# the others are float32 [0, 1] channels computed on the host (colour.py).
COLOUR_SPACES = ("rgb8", *colour.COLOUR_SPACES)


class ProcessRows(grain.MapDataset):
  """The rows of each global batch that belong to one process, in order."""

  def __init__(self, parent, global_batch: int, process_index: int, process_count: int):
    super().__init__(parent)
    if global_batch % process_count:
      raise ValueError(
        f"Global batch {global_batch} is not divisible by the {process_count} processes."
      )
    self._global_batch = global_batch
    self._local_batch = global_batch // process_count
    self._offset = process_index * self._local_batch

  def __len__(self):
    return len(self._parent) // self._global_batch * self._local_batch

  def __getitem__(self, index):
    if isinstance(index, slice):
      return self.slice(index)
    batch, row = divmod(index, self._local_batch)
    return self._parent[batch * self._global_batch + self._offset + row]

  def __str__(self):
    return f"ProcessRows(global_batch={self._global_batch}, offset={self._offset})"


@dataclasses.dataclass(frozen=True)
class Preprocess(grain.transforms.Map):
  """Decoded TFDS example -> fixed-size uint8 image, {0,1} uint8 mask, id bytes.

  Images stay uint8 through the geometric augmentation; with colour space
  "rgb8" (the default) until the device normalises them (`steps.model_inputs`):
  a quarter of the host work and of the host-to-device bytes of float32.
  Other colour spaces become float32 channels on the host (`ColourChannels`).
  """

  image_size: tuple[int, int]
  resize_method: str
  crop: bool = False

  def map(self, example):
    image, mask = transforms.resize(
      example["image"], example["mask"], self.image_size, self.resize_method, self.crop
    )
    return {
      "image": image,
      "mask": (mask[..., 0] > 127).astype(np.uint8),
      "valid": np.float32(1.0),
      "id": transforms.encode_id(example["id"]),
      "diagnosis": np.int32(example.get("diagnosis", -1)),
    }


@dataclasses.dataclass(frozen=True)
class Augment(grain.transforms.RandomMap):
  """Geometric training augmentation on uint8 RGB; image and mask move together.

  Each enabled augmentation is applied independently with probability 1/2:
  flips, rotation by U[0, rotate_degrees], shift by up to `shift_fraction` of
  the height/width, scaling about the centre by U[scale_range] and sharpening
  (rmsm applies these online rather than precomputing copies; cdnn adds
  shifts and scaling; docs/papers.md, "rmsm (paper 002)", "cdnn (paper 003)").
  """

  hflip: bool
  vflip: bool
  rotate_degrees: float = 0.0
  sharpen: bool = False
  shift_fraction: float = 0.0
  scale_range: tuple[float, float] = (1.0, 1.0)

  def random_map(self, element, rng: np.random.Generator):
    image, mask = transforms.random_flips(
      element["image"], element["mask"], rng, self.hflip, self.vflip
    )
    image, mask = transforms.random_rotation(image, mask, rng, self.rotate_degrees)
    image, mask = transforms.random_shift_scale(
      image, mask, rng, self.shift_fraction, self.scale_range
    )
    if self.sharpen:
      image = transforms.random_sharpen(image, rng)
    return {**element, "image": image, "mask": mask}


@dataclasses.dataclass(frozen=True)
class ColourChannels(grain.transforms.Map):
  """uint8 RGB image -> float32 [0, 1] channels of `space` ("rgb" or "rgb_hsv_l")."""

  space: str

  def map(self, element):
    return {**element, "image": colour.colour_channels(element["image"], self.space)}


@dataclasses.dataclass(frozen=True)
class ContrastAugment(grain.transforms.RandomMap):
  """Per-channel random percentile contrast stretch (cdnn, `transforms.random_contrast`)."""

  probability: float
  window: tuple[float, float] = (5.0, 95.0)
  jitter: float = 5.0

  def random_map(self, element, rng: np.random.Generator):
    image = transforms.random_contrast(
      element["image"], rng, self.window, self.jitter, self.probability
    )
    return {**element, "image": image}


def make_preprocess(input_config) -> Preprocess:
  return Preprocess(
    tuple(input_config.image_size), input_config.resize_method, input_config.resize_crop
  )


def make_augment(input_config) -> Augment:
  return Augment(
    input_config.hflip,
    input_config.vflip,
    input_config.rotate_degrees,
    input_config.sharpen,
    float(input_config.shift_fraction),
    tuple(float(s) for s in input_config.scale_range),
  )


def colour_space(input_config) -> str:
  space = input_config.colour_space
  if space not in COLOUR_SPACES:
    raise ConfigError(f"Unknown colour space {space!r}; choose from {sorted(COLOUR_SPACES)}.")
  return space


def input_channels(input_config) -> int:
  """Channels of the images the pipeline yields (the model's input): 3 or 7."""
  space = colour_space(input_config)
  return 3 if space == "rgb8" else colour.num_channels(space)


def make_colour(input_config) -> ColourChannels | None:
  """The host colour conversion, or None for "rgb8" (uint8 to the device)."""
  space = colour_space(input_config)
  return None if space == "rgb8" else ColourChannels(space)


def make_contrast(input_config) -> ContrastAugment | None:
  """The contrast augmentation, or None when `contrast_probability` is 0."""
  probability = float(input_config.contrast_probability)
  if probability <= 0:
    return None
  window = tuple(float(w) for w in input_config.contrast_window)
  return ContrastAugment(probability, window, float(input_config.contrast_jitter))


def _read_options(input_config) -> grain.ReadOptions:
  return grain.ReadOptions(
    num_threads=input_config.num_threads, prefetch_buffer_size=input_config.prefetch
  )


def _derived_seed(seed: int, stream: int) -> int:
  return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


def train_dataset(
  source, input_config, global_batch: int, seed: int, process_index=0, process_count=1
) -> grain.IterDataset:
  """Endless stream of local batches; reshuffled every epoch; checkpointable."""
  ds = grain.MapDataset.source(source).shuffle(seed=seed).repeat()
  ds = ds.map(make_preprocess(input_config))
  ds = ds.random_map(make_augment(input_config), seed=seed)
  if (colour_map := make_colour(input_config)) is not None:
    ds = ds.map(colour_map)
  if (contrast := make_contrast(input_config)) is not None:
    # Its own seed, so its draws are not the geometric augmentation's.
    ds = ds.random_map(contrast, seed=_derived_seed(seed, 1))
  ds = ProcessRows(ds, global_batch, process_index, process_count)
  ds = ds.batch(global_batch // process_count, drop_remainder=True)
  return ds.to_iter_dataset(_read_options(input_config))


class _LoadOrPad(grain.transforms.Map):
  """Index -> example; indices past the end repeat example 0 with valid = 0."""

  def __init__(self, source, preprocess: Preprocess):
    self._source = source
    self._preprocess = preprocess

  def map(self, index):
    element = self._preprocess.map(self._source[min(index, len(self._source) - 1)])
    element["index"] = np.int64(index)
    if index >= len(self._source):
      element["valid"] = np.float32(0.0)
    return element


def eval_dataset(
  source, input_config, global_batch: int, process_index=0, process_count=1
) -> grain.IterDataset:
  """Every example exactly once, in order; the last global batch is padded."""
  padded_length = math.ceil(len(source) / global_batch) * global_batch
  ds = grain.MapDataset.range(padded_length).map(_LoadOrPad(source, make_preprocess(input_config)))
  if (colour_map := make_colour(input_config)) is not None:
    ds = ds.map(colour_map)
  ds = ProcessRows(ds, global_batch, process_index, process_count)
  ds = ds.batch(global_batch // process_count, drop_remainder=True)
  return ds.to_iter_dataset(_read_options(input_config))
