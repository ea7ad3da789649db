"""experiments.bench: one config's measurements, and the --all table over the paper configs."""

import json

import pytest

from experiments import bench, configs
from jaxseg.config_overrides import derive_config
from tests.run_testing import assert_one_user_error, run_module


@pytest.mark.slow
def test_all_writes_one_table_row_per_config_and_their_measurements(tmp_path):
  out, measured = tmp_path / "table.md", tmp_path / "bench.json"
  proc = run_module(
    "experiments.bench", "--all", "--configs", "unet_synthetic:smoke,no_such_config",
    "--steps", "1", "--table_out", str(out), "--json_out", str(measured),
    "--config.dtype=bfloat16",
  )  # fmt: skip
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = out.read_text().splitlines()
  assert lines[0].startswith("| configs | parameters |") and len(lines) == 4
  # Every row takes the command line's overrides.
  assert lines[2].startswith("| unet_synthetic:smoke | ") and ", bfloat16 |" in lines[2]
  assert lines[3].startswith("| no_such_config | failed: error: Unknown config")

  result, failed = json.loads(measured.read_text())
  assert failed == {"configs": ["no_such_config"], "error": lines[3].split("failed: ")[1][:-2]}
  smoke = configs.get_config("unet_synthetic:smoke")
  assert result["configs"] == ["unet_synthetic:smoke"] and result["dtype"] == "bfloat16"
  assert result["batch_size"] == smoke.batch_size
  assert result["image_size"] == list(smoke.input.image_size)
  # A training step costs about three forward passes (forward, two backward products).
  assert 0 < result["forward_gflop_per_image"] < result["train_gflop_per_image"]
  assert 2 < result["train_gflop_per_image"] / result["forward_gflop_per_image"] < 4
  assert result["train_images_per_s"] > 0 and result["inference_images_per_s"] > 0
  assert result["xla_train_memory_gib"] > 0 and result["peak_memory_mib"] > 0


@pytest.mark.slow
def test_accumulated_step_counts_every_micro_batch_and_the_memory_of_one():
  # 64x64, so that activations rather than parameters dominate the memory.
  config = derive_config(configs.get_config("unet_synthetic:smoke"), {"input.image_size": (64, 64)})
  batch = 2 * config.batch_size
  micro_sized = bench.benchmark(config, steps=1)
  whole = bench.benchmark(derive_config(config, {"batch_size": batch}), steps=1)
  accumulated = bench.benchmark(
    derive_config(config, {"batch_size": batch, "grad_accum_steps": 2}), steps=1
  )
  # Two micro-steps of half the batch do the work of the whole batch, plus the sums.
  ratio = accumulated["train_gflop_per_image"] / whole["train_gflop_per_image"]
  assert 1.0 <= ratio < 1.02
  assert accumulated["forward_gflop_per_image"] == whole["forward_gflop_per_image"]
  # A micro-step holds one micro-batch's activations, not the whole batch's.
  assert accumulated["xla_train_memory_gib"] <= micro_sized["xla_train_memory_gib"]
  assert accumulated["xla_train_memory_gib"] < 0.7 * whole["xla_train_memory_gib"]
  assert accumulated["train_images_per_s"] > 0


def test_paper_configs_cover_every_paper_config_once():
  groups = bench.paper_configs()
  names = [name for group in groups for name in group]
  assert len(names) == len(set(names))
  expected = {
    name for name in configs.available()
    if configs.get_config(name).dataset.name != "synthetic_lesions"
  }  # fmt: skip
  assert set(names) == expected and "ulffn_isic2016" in expected
  # The cca configs differ only in data and protocol: one network, one row.
  assert ["cca_isic2016", "cca_isic2017", "cca_isic2018", "cca_ph2"] in groups


def test_flops_count_the_compiled_program_where_the_hlo_has_no_cost():
  # XLA's GPU backend has no cost analysis before compiling (bench gave 0 GFLOP there).
  class Compiled:
    def cost_analysis(self):
      return [{"flops": 6.0e9}]

  class Lowered:
    def cost_analysis(self):
      return None

    def compile(self):
      return Compiled()

  assert bench._flops(Lowered()) == 6.0e9
  assert bench._flops(Lowered(), Compiled()) == 6.0e9


def test_bench_without_a_config_is_a_user_error():
  assert_one_user_error(run_module("experiments.bench"), "--config NAME or --all")
