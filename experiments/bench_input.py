r"""Input-pipeline throughput: images/s delivered as device-ready training batches.

  python -m experiments.bench_input --dataset isic2018 --builder_config max512
  python -m experiments.bench_input --dataset synthetic_lesions --image_size 256
  python -m experiments.bench_input --input_of cdnn_isic2017 --image_size 192,256

Decoding, resizing, augmentation, batching and the host-to-device copy are all
measured; the model is not. Prints a breakdown of where one example's time goes.
"""

import time

import jax
import numpy as np
from absl import flags
from tensorflow_datasets.core.features import image_feature

from experiments import cli, configs, dataset_flags
from experiments.configs import common
from jaxseg.data import pipeline
from jaxseg.train import setup

flags.adopt_module_key_flags(dataset_flags)  # --help lists them
_SIZE = flags.DEFINE_list("image_size", ["256"], "H[,W] of the training input.")
_BATCH = flags.DEFINE_integer("batch_size", 16, "Global batch size.")
_BATCHES = flags.DEFINE_integer("batches", 40, "Timed batches (after 5 warm-up batches).")
_THREADS = flags.DEFINE_integer("num_threads", 0, "grain read threads (0: config default).")
_DECODER = flags.DEFINE_enum(
  "image_decoder",
  "default",
  ["default", "pil", "opencv"],
  "How TFDS decodes images: its default (OpenCV when installed, else PIL), or force one.",
)
_INPUT_OF = flags.DEFINE_string(
  "input_of", None, "Use this config's input section (e.g. cdnn_isic2017: 7 channels, contrast)."
)


def input_config(size: tuple[int, int], threads: int, config_name: str | None = None):
  if config_name:
    config = configs.get_config(config_name).input.copy_and_resolve_references()
  else:
    config = common.base_config().input
  config.image_size = size
  if threads:
    config.num_threads = threads
  return config


def per_example_breakdown(source, config, n=30) -> dict:
  """Mean milliseconds of each stage for one example, single thread."""
  preprocess = pipeline.make_preprocess(config)
  augment = pipeline.make_augment(config)
  colour = pipeline.make_colour(config)
  contrast = pipeline.make_contrast(config)
  rng = np.random.default_rng(0)
  totals = {"read+decode": 0.0, "resize": 0.0, "augment": 0.0}
  if colour is not None:
    totals["colour channels"] = 0.0
  if contrast is not None:
    totals["contrast"] = 0.0
  for i in range(n):
    t0 = time.perf_counter()
    example = source[i % len(source)]
    t1 = time.perf_counter()
    element = preprocess.map(example)
    t2 = time.perf_counter()
    element = augment.random_map(element, rng)
    t3 = time.perf_counter()
    totals["read+decode"] += t1 - t0
    totals["resize"] += t2 - t1
    totals["augment"] += t3 - t2
    if colour is not None:
      element = colour.map(element)
      totals["colour channels"] += time.perf_counter() - t3
    if contrast is not None:
      t4 = time.perf_counter()
      contrast.random_map(element, rng)
      totals["contrast"] += time.perf_counter() - t4
  return {k: 1e3 * v / n for k, v in totals.items()}


def use_image_decoder(name: str) -> None:
  """Forces TFDS's numpy image decoding through PIL or OpenCV (it picks OpenCV if importable)."""
  if name == "pil":
    image_feature.cv2 = None
  elif name == "opencv":
    import cv2  # an optional extra: opencv-python-headless

    image_feature.cv2 = cv2


def main():
  use_image_decoder(_DECODER.value)
  size = [int(s) for s in _SIZE.value]
  height, width = (size[0], size[0]) if len(size) == 1 else size
  config = input_config((height, width), _THREADS.value, _INPUT_OF.value)
  source = dataset_flags.open_data_source()
  mesh = setup.create_mesh()
  batches = iter(pipeline.train_dataset(source, config, _BATCH.value, seed=0))
  for _ in range(5):
    jax.block_until_ready(setup.put_batch(next(batches), mesh))
  start = time.perf_counter()
  for _ in range(_BATCHES.value):
    jax.block_until_ready(setup.put_batch(next(batches), mesh))
  seconds = time.perf_counter() - start
  example = source[0]
  print(
    f"dataset           {dataset_flags.DATASET.value}/{source.dataset_info.config_name} "
    f"[{dataset_flags.SPLIT.value}]"
    f", {len(source)} examples, first image {example['image'].shape}, "
    f"decoder {_DECODER.value}"
  )
  print(
    f"pipeline          {height}x{width}, batch {_BATCH.value}, "
    f"{config.num_threads} read threads, input of {_INPUT_OF.value or 'the defaults'} "
    f"({pipeline.colour_space(config)}, {pipeline.input_channels(config)} channels)"
  )
  print(
    f"throughput        {_BATCHES.value * _BATCH.value / seconds:.1f} images/s "
    f"(device-ready batches)"
  )
  for stage, ms in per_example_breakdown(source, config).items():
    print(f"  {stage:16s}{ms:6.2f} ms/example (one thread)")


if __name__ == "__main__":
  cli.app_main(main, takes_config=False)
