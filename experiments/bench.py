r"""Benchmarks a config's model: train and inference images/s, compile time, peak memory.

  python -m experiments.bench --config unet_synthetic --batch_size 8 --image_size 256
  python -m experiments.bench --config unet_synthetic --config.model.base_width=64

Random inputs at the given shape, so the input pipeline is not measured (see
the data benchmark for that). Peak memory is the accelerator's peak where the
backend reports it, else the process's peak resident set size.
"""

import resource
import sys
import time

import jax
import numpy as np
from absl import flags

from experiments import cli
from jaxseg.config_overrides import derive_config
from jaxseg.data import pipeline
from jaxseg.train import setup

_BATCH = flags.DEFINE_integer("batch_size", 8, "Global batch size.")
_SIZE = flags.DEFINE_list("image_size", ["256"], "H[,W] of the input.")
_STEPS = flags.DEFINE_integer("steps", 10, "Timed steps after warm-up.")


def peak_memory_mib() -> tuple[float, str]:
  stats = jax.devices()[0].memory_stats() or {}
  if "peak_bytes_in_use" in stats:
    return stats["peak_bytes_in_use"] / 2**20, "device peak"
  scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is KiB on Linux
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20, "host peak RSS"


def random_images(config, rng) -> np.ndarray:
  """A batch as the input pipeline delivers it: uint8 RGB, or float channels (cdnn's 7)."""
  height, width = config.input.image_size
  shape = (config.batch_size, height, width, pipeline.input_channels(config.input))
  if pipeline.colour_space(config.input) == "rgb8":
    return rng.integers(0, 256, shape, np.uint8)
  return rng.random(shape, np.float32)


def main(argv):
  del argv
  size = [int(s) for s in _SIZE.value]
  height, width = (size[0], size[0]) if len(size) == 1 else size
  config = derive_config(
    cli.loaded_config(), {"input.image_size": (height, width), "batch_size": _BATCH.value}
  )
  mesh = setup.create_mesh()
  run = setup.setup_run(config, mesh, total_steps=1000, steps_per_epoch=100, donate_state=False)
  state, train, infer = run.state, run.train_step, run.eval_step
  rng = np.random.default_rng(0)
  batch = setup.put_batch(
    {
      "image": random_images(config, rng),
      "mask": (rng.random((config.batch_size, height, width)) > 0.5).astype(np.uint8),
      "valid": np.ones(config.batch_size, np.float32),
    },
    mesh,
  )

  compile_seconds = {}
  for name, step in (("train", train), ("inference", infer)):
    start = time.perf_counter()
    step.jitted.lower(state, batch).compile()
    compile_seconds[name] = time.perf_counter() - start

  def run(step, n):
    out = step(state, batch)
    jax.block_until_ready(out)
    start = time.perf_counter()
    for _ in range(n):
      out = step(state, batch)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / n

  train_s, infer_s = run(train, _STEPS.value), run(infer, _STEPS.value)
  params = sum(x.size for x in jax.tree.leaves(state.params))
  memory, memory_kind = peak_memory_mib()
  print(f"config            {config.name}  ({config.model_name}, {params:,} parameters)")
  print(f"devices           {jax.device_count()} x {jax.devices()[0].device_kind}")
  print(f"shape             batch {config.batch_size} x {height}x{width}, dtype {config.dtype}")
  print(
    f"train             {config.batch_size / train_s:9.1f} images/s  ({train_s * 1e3:.1f} ms/step)"
  )
  print(
    f"inference         {config.batch_size / infer_s:9.1f} images/s  ({infer_s * 1e3:.1f} ms/step)"
  )
  print(
    f"compile           train {compile_seconds['train']:.1f} s, "
    f"inference {compile_seconds['inference']:.1f} s"
  )
  print(f"peak memory       {memory:.0f} MiB ({memory_kind})")


if __name__ == "__main__":
  cli.app_main(main, config_default="unet_synthetic")
