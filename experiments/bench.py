r"""Benchmarks a config's model: FLOPs, train and inference images/s, compile time, memory.

  python -m experiments.bench --config cca_isic2017          # its paper batch and size
  python -m experiments.bench --config unet_synthetic --batch_size 8 --image_size 256
  python -m experiments.bench --all --table_out table.md
  python -m experiments.bench --all --config.dtype=bfloat16   # overrides apply to every row

Random inputs at the config's batch size and input size (or the flags'), so
the input pipeline is not measured (`bench_input` does that). GFLOP per image
are XLA's cost analysis of the forward pass and of one training step (a step
with gradient accumulation counts all its micro-batches). Memory is XLA's
memory analysis of the compiled training step (arguments + outputs +
temporaries; with accumulation, of its larger program, the micro-step), the
accelerator's peak where the backend reports one, else the process's peak
resident set size.

`--all` benchmarks every paper config (configs that share a network, input
and batch are one row) each in its own process, so that each row's peak
memory is its own, and prints one markdown table (docs/benchmarks.md).
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np
from absl import flags

from experiments import cli, configs
from jaxseg.atomic_files import write_text
from jaxseg.config_overrides import derive_config
from jaxseg.data import pipeline
from jaxseg.errors import UserError
from jaxseg.train import setup

_BATCH = flags.DEFINE_integer("batch_size", None, "Global batch size (default: the config's).")
_SIZE = flags.DEFINE_list("image_size", None, "H[,W] of the input (default: the config's).")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed steps after one warm-up step.")
_ALL = flags.DEFINE_bool("all", False, "Benchmark every paper config, one process each.")
_CONFIGS = flags.DEFINE_list("configs", None, "With --all: these configs instead.")
_TABLE_OUT = flags.DEFINE_string(
  "table_out", None, "With --all: also write the markdown table here."
)
_JSON = flags.DEFINE_string(
  "json_out", None, "Write the measurements as JSON here (with --all: a list, one per row)."
)


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


def _flops(lowered, compiled=None) -> float:
  """XLA's FLOP count of a program: from its HLO where the backend counts before
  compiling (CPU), else from the compiled program (GPU)."""
  cost = lowered.cost_analysis() or {}
  if "flops" not in cost:
    cost = (compiled or lowered.compile()).cost_analysis() or {}
    if isinstance(cost, list):  # one dict per program in older jax
      cost = cost[0] if cost else {}
  return float(cost.get("flops", 0.0))


def benchmark(config, steps: int) -> dict:
  """Every measurement of one config at its batch and input size."""
  height, width = config.input.image_size
  mesh = setup.create_mesh()
  run = setup.setup_run(config, mesh, total_steps=1000, steps_per_epoch=100, donate_state=False)
  state = run.state
  rng = np.random.default_rng(0)
  batch_arrays = {
    "image": random_images(config, rng),
    "mask": (rng.random((config.batch_size, height, width)) > 0.5).astype(np.uint8),
    "valid": np.ones(config.batch_size, np.float32),
  }
  batch = setup.put_batch(batch_arrays, mesh)

  # Each step as the programs one call runs (an accumulated train step: a
  # micro-step and an update), compiled ahead of time.
  compiled, compile_seconds, lowered, timed = {}, {}, {}, {}
  for name, step in (("train", run.train_step), ("inference", run.eval_step)):
    start = time.perf_counter()
    lowered[name] = step.lower_programs(state, batch)
    compiled[name] = [program.compile() for program in lowered[name]]
    compile_seconds[name] = time.perf_counter() - start
    timed[name] = step.with_compiled(compiled[name])
  forward_flops = _flops(lowered["inference"][0], compiled["inference"][0])
  train_flops = sum(
    calls * _flops(program, done)
    for calls, program, done in zip(
      run.train_step.program_calls, lowered["train"], compiled["train"], strict=True
    )
  )
  xla_bytes = max(
    memory.argument_size_in_bytes
    + memory.output_size_in_bytes
    + memory.temp_size_in_bytes
    - memory.alias_size_in_bytes
    for memory in (program.memory_analysis() for program in compiled["train"])
  )

  def seconds_per_step(step, n):
    jax.block_until_ready(step(state, batch))
    start = time.perf_counter()
    for _ in range(n):
      out = step(state, batch)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / n

  train_s = seconds_per_step(timed["train"], steps)
  infer_s = seconds_per_step(timed["inference"], steps)
  memory_mib, memory_kind = peak_memory_mib()
  n = config.batch_size
  return {
    "config": config.name,
    "model": config.model_name,
    "parameters": int(sum(x.size for x in jax.tree.leaves(state.params))),
    "device": f"{jax.device_count()} x {jax.devices()[0].device_kind}",
    "dtype": config.dtype,
    "batch_size": n,
    "image_size": [height, width],
    "grad_accum_steps": config.get("grad_accum_steps", 1),
    "remat": config.get("remat", "none"),
    "forward_gflop_per_image": forward_flops / n / 1e9,
    "train_gflop_per_image": train_flops / n / 1e9,
    "train_images_per_s": n / train_s,
    "inference_images_per_s": n / infer_s,
    "train_gflop_per_s": train_flops / train_s / 1e9,
    "compile_train_s": compile_seconds["train"],
    "compile_inference_s": compile_seconds["inference"],
    "xla_train_memory_gib": xla_bytes / 2**30,
    "peak_memory_mib": memory_mib,
    "peak_memory_kind": memory_kind,
  }


def print_report(result: dict) -> None:
  height, width = result["image_size"]
  model = f"{result['model']}, {result['parameters']:,} parameters"
  print(f"config            {result['config']}  ({model})")
  print(f"devices           {result['device']}")
  print(
    f"shape             batch {result['batch_size']} x {height}x{width}, dtype {result['dtype']}, "
    f"grad_accum_steps {result['grad_accum_steps']}, remat {result['remat']}"
  )
  print(
    f"GFLOP per image   forward {result['forward_gflop_per_image']:.1f}, "
    f"training step {result['train_gflop_per_image']:.1f}"
  )
  print(
    f"train             {result['train_images_per_s']:9.2f} images/s  "
    f"({result['train_gflop_per_s']:.0f} GFLOP/s)"
  )
  print(f"inference         {result['inference_images_per_s']:9.2f} images/s")
  print(
    f"compile           train {result['compile_train_s']:.1f} s, "
    f"inference {result['compile_inference_s']:.1f} s"
  )
  print(
    f"memory            XLA train step {result['xla_train_memory_gib']:.2f} GiB, "
    f"{result['peak_memory_mib']:.0f} MiB ({result['peak_memory_kind']})"
  )


def paper_configs() -> list[list[str]]:
  """The paper configs, grouped where they build the same network at the same shapes."""
  groups: dict[str, list[str]] = {}
  for name in configs.available():
    config = configs.get_config(name)
    if config.dataset.name == "synthetic_lesions":
      continue  # CPU-size and parity configs
    key = json.dumps(
      [
        config.model_name, config.model.to_dict(), list(config.input.image_size),
        pipeline.input_channels(config.input), config.batch_size, config.dtype,
        config.get("remat", "none"), config.get("grad_accum_steps", 1),
      ],
      sort_keys=True,
      default=str,
    )  # fmt: skip
    groups.setdefault(key, []).append(name)
  return list(groups.values())


TABLE_HEADER = (
  "| configs | parameters | input, batch, dtype | GFLOP/image forward, train step "
  "| train img/s | inference img/s | train GFLOP/s | compile train, inference (s) "
  "| memory: XLA train step, peak |\n|---|---|---|---|---|---|---|---|---|"
)


def table_row(names: list[str], result: dict) -> str:
  height, width = result["image_size"]
  accumulation = result["grad_accum_steps"]
  batch = f"{result['batch_size']}"
  if accumulation > 1:
    batch += f" ({accumulation} x {result['batch_size'] // accumulation})"
  return (
    f"| {', '.join(names)} | {result['parameters'] / 1e6:.2f} M "
    f"| {height}x{width}, {batch}, {result['dtype']} "
    f"| {result['forward_gflop_per_image']:.1f}, {result['train_gflop_per_image']:.1f} "
    f"| {result['train_images_per_s']:.2f} | {result['inference_images_per_s']:.2f} "
    f"| {result['train_gflop_per_s']:.0f} "
    f"| {result['compile_train_s']:.0f}, {result['compile_inference_s']:.0f} "
    f"| {result['xla_train_memory_gib']:.1f} GiB, {result['peak_memory_mib'] / 1024:.1f} GiB "
    f"({result['peak_memory_kind']}) |"
  )


def run_all(steps: int, only: list[str] | None, out: str | None, json_out: str | None) -> None:
  groups = [[name] for name in only] if only else paper_configs()
  overrides = [f"--config.{key}={value}" for key, value in cli.config_overrides().items()]
  rows, results = [TABLE_HEADER], []
  print(TABLE_HEADER, flush=True)
  with tempfile.TemporaryDirectory() as tmp:
    for names in groups:
      json_path = os.path.join(tmp, "result.json")
      command = [sys.executable, "-m", "experiments.bench", "--config", names[0]]
      command += ["--steps", str(steps), "--json_out", json_path, *overrides]
      finished = subprocess.run(command, capture_output=True, text=True)
      if finished.returncode != 0:
        lines = finished.stderr.strip().splitlines() or ["no output"]
        print("\n".join(lines[-30:]), file=sys.stderr, flush=True)  # why, for the log
        row = f"| {', '.join(names)} | failed: {lines[-1]} |"
        results.append({"configs": names, "error": lines[-1]})
      else:
        with open(json_path) as f:
          result = json.load(f)
        row = table_row(names, result)
        results.append({"configs": names, **result})
      rows.append(row)
      print(row, flush=True)
  if out:
    write_text(out, "\n".join(rows) + "\n")
  if json_out:
    write_text(json_out, json.dumps(results, indent=2))


def main():
  if _ALL.value:
    run_all(_STEPS.value, _CONFIGS.value, _TABLE_OUT.value, _JSON.value)
    return
  if flags.FLAGS["config"].value is None:
    raise UserError("--config NAME or --all is required.")
  overrides = {}
  if _SIZE.value:
    size = [int(s) for s in _SIZE.value]
    overrides["input.image_size"] = (size[0], size[0]) if len(size) == 1 else tuple(size)
  if _BATCH.value:
    overrides["batch_size"] = _BATCH.value
  result = benchmark(derive_config(cli.loaded_config(), overrides), _STEPS.value)
  print_report(result)
  if _JSON.value:
    write_text(_JSON.value, json.dumps(result, indent=2))


if __name__ == "__main__":
  cli.app_main(main)
