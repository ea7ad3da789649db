"""Ablation registry, tables, resuming, override errors, and one real smoke ablation."""

import csv
import json
import os

import pytest

from experiments import ablate, ablations, configs, tables
from jaxseg import metrics, run_layout
from jaxseg.config_overrides import derive_config
from jaxseg.errors import ConfigError
from jaxseg.train import setup
from tests.run_testing import write_fake_results

_CCA_MODEL_SWITCHES = ("use_cca", "use_cgl", "aux_head")


def _config_for(ablation):
  """The smoke config an ablation's rows switch."""
  return configs.get_config(ablation.config.format(dataset="synthetic") + ":smoke")


@pytest.mark.parametrize("paper", sorted(ablations.ABLATIONS))
def test_registry_is_well_formed(paper):
  ablation = ablations.ABLATIONS[paper]
  assert "{dataset}" in ablation.config
  base = _config_for(ablation)
  rows = ablation.all_rows(tuple(ablation.sweeps))
  assert len({row.label for row in rows}) == len(rows)
  assert len({row.slug for row in rows}) == len(rows)
  for table in (ablation, *ablation.sweeps.values()):
    assert set(table.metrics) <= set(metrics.METRIC_KEYS)
    for row in table.rows:
      derive_config(base, row.overrides)  # every key exists, with a value of its type
      for dataset, numbers in row.paper.items():
        assert f"{ablation.config.format(dataset=dataset)}" in configs.available()
        assert set(numbers) <= set(metrics.METRIC_KEYS)
        for number in numbers.values():
          mean, _, std = number.partition("±")  # cross-validated rows print mean±std
          assert 0 < float(mean) <= 100
          assert not std or 0 <= float(std) < 10


def test_cca_transcription_is_consistent():
  cca = ablations.ABLATIONS["cca"]
  assert [row.slug for row in cca.rows] == [
    "baseline_resnet_aspp",
    "cgl_w_o_cca",
    "cca",
    "cca_cgl",
    "cca_cgl_al",
  ]
  switches = [tuple(row.overrides[f"model.{k}"] for k in _CCA_MODEL_SWITCHES) for row in cca.rows]
  assert switches == [
    (False, False, False),
    (False, True, False),
    (True, False, False),
    (True, True, False),
    (True, True, True),
  ]
  # Table 8's lines at all 2000 images repeat Table 7's baseline and full model.
  sweep = {row.label: row for row in cca.sweeps["train_size"].rows}
  for table7_row, table8_label in ((cca.rows[0], "baseline 2000"), (cca.rows[-1], "ours 2000")):
    table8_row = sweep[table8_label]
    for metric in ("DI", "JA"):
      assert table7_row.paper["isic2017"][metric] == table8_row.paper["isic2017"][metric]
    assert {**table7_row.overrides, "dataset.train_size": 0} == table8_row.overrides
  assert sweep["baseline 100"].overrides["dataset.train_size"] == 100
  assert sweep["ours 1500"].paper["isic2017"]["JA"] == "79.1"


def test_table_layout(tmp_path):
  cca = ablations.ABLATIONS["cca"]
  run_dirs = {row.slug: str(tmp_path / row.slug) for row in cca.rows}
  write_fake_results(run_dirs["baseline_resnet_aspp"], 0.81234, 0.70049)
  write_fake_results(run_dirs["cca_cgl_al"], 0.85, 0.7499)
  tables.write_table(str(tmp_path), "ablation", "cca on isic2017", cca, "isic2017", run_dirs)

  markdown = (tmp_path / "ablation.md").read_text().splitlines()
  assert markdown[0] == "# cca on isic2017"
  assert "paper 000 Table 7" in markdown[2]
  assert "split test, 600 images, at input 256x256" in markdown[3]
  table = [line for line in markdown if line.startswith("|")]
  assert table == [
    "| Model | DI (ours) | DI (paper) | JA (ours) | JA (paper) | run |",
    "|---|---|---|---|---|---|",
    "| Baseline (ResNet+ASPP) | 81.2 | 86.1 | 70.0 | 77.9 | baseline_resnet_aspp |",
    "| +CGL (w/o CCA) |  | 87.2 |  | 79.5 | cgl_w_o_cca |",
    "| +CCA |  | 87.2 |  | 79.4 | cca |",
    "| +CCA+CGL |  | 87.5 |  | 80.0 | cca_cgl |",
    "| +CCA+CGL+AL | 85.0 | 87.8 | 75.0 | 80.3 | cca_cgl_al |",
  ]
  with open(tmp_path / "ablation.csv") as f:
    lines = list(csv.reader(f))
  assert lines[0] == ["Model", "DI (ours)", "DI (paper)", "JA (ours)", "JA (paper)", "run"]
  assert lines[1] == [
    "Baseline (ResNet+ASPP)",
    "81.2",
    "86.1",
    "70.0",
    "77.9",
    "baseline_resnet_aspp",
  ]

  # On ISIC 2018 the paper reports only its full model (Table 5).
  tables.write_table(str(tmp_path), "on2018", "cca on isic2018", cca, "isic2018", run_dirs)
  with open(tmp_path / "on2018.csv") as f:
    lines = list(csv.reader(f))
  assert [line[2] for line in lines[1:]] == ["", "", "", "", "89.9"]


def test_cross_validated_rows_show_mean_and_std(tmp_path):
  asnet = ablations.ABLATIONS["asnet"]
  run_dirs = {row.slug: str(tmp_path / row.slug) for row in asnet.rows}
  write_fake_results(run_dirs["asnet"], 0.8888, 0.8215)
  with open(os.path.join(run_dirs["asnet"], run_layout.RESULTS_FILE)) as f:
    results = json.load(f)
  results["std"] = {"AC": 0.00228, "DI": 0.0039, "JA": 0.00328}
  with open(os.path.join(run_dirs["asnet"], run_layout.RESULTS_FILE), "w") as f:
    json.dump(results, f)
  tables.write_table(str(tmp_path), "ablation", "asnet", asnet, "isic2018", run_dirs)
  table = (tmp_path / "ablation.md").read_text()
  assert "| ASNet | 82.15 ± 0.33 | 82.15±0.328 | 88.88 ± 0.39 | 88.88±0.390 |" in table
  assert "| Baseline |  | 81.12±0.551 |" in table


def test_asnet_baseline_wide_matches_asnet_parameter_count():
  """Table 2's Baseline-Wide is sized like ASNet, at paper width and input size."""
  import jax
  import jax.numpy as jnp

  asnet = {row.slug: row for row in ablations.ABLATIONS["asnet"].rows}
  base = configs.get_config("asnet_isic2018_cv")

  def count(slug):
    model = setup.build_model(derive_config(base, asnet[slug].overrides))
    shapes = jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, 192, 256, 3)), train=False)
    )
    return sum(x.size for x in jax.tree.leaves(shapes["params"]))

  full, wide, baseline = count("asnet"), count("baseline_wide"), count("baseline")
  assert baseline < 0.98 * full
  assert abs(wide / full - 1) <= 0.02


def test_resume_skips_finished_rows(tmp_path, fake_training):
  workdir = str(tmp_path)
  ablate.run_ablation("cca", "isic2017", workdir, smoke=True, only=("cca", "cca_cgl"))
  assert fake_training == ["cca", "cca_cgl"]

  # Table 8's 2000-image lines are Table 7 runs: 5 + 8 runs for 15 rows.
  paths = ablate.run_ablation("cca", "isic2017", workdir, smoke=True, sweeps=("train_size",))
  assert len(fake_training) == 2 + 3 + 8
  assert "cca" not in fake_training[2:] and "cca_cgl" not in fake_training[2:]
  assert "ours_2000" not in fake_training
  assert paths == [
    os.path.join(workdir, "ablation.md"),
    os.path.join(workdir, "sweep_train_size.md"),
  ]
  sweep = (tmp_path / "sweep_train_size.md").read_text()
  # The full model's run, with Table 8's numbers: AC DI JA SE SP, ours then the paper's.
  ours_2000 = "| 90.0 | 94.6 | 50.0 | 87.8 | 40.0 | 80.3 | 80.0 | 88.6 | 95.0 | 96.4 | cca_cgl_al |"
  assert f"| ours 2000 {ours_2000}" in sweep

  os.remove(tmp_path / "cca" / run_layout.RESULTS_FILE)
  ablate.run_ablation("cca", "isic2017", workdir, smoke=True)
  assert fake_training[13:] == ["cca"]


def test_rerun_with_other_variant_is_an_error(tmp_path, fake_training):
  ablate.run_ablation("cca", "isic2017", str(tmp_path), smoke=True, only=("cca",))
  with pytest.raises(ConfigError, match="holds a run of"):
    ablate.run_ablation("cca", "isic2016", str(tmp_path), smoke=True, only=("cca",))


def test_unknown_names_are_errors(tmp_path, fake_training, monkeypatch):
  with pytest.raises(ConfigError, match="Unknown config key 'bad.key'"):
    ablate.run_ablation("cca", "synthetic", str(tmp_path), smoke=True, overrides={"bad.key": 1})
  bad_row = tables.PaperTable(
    "unet_{dataset}", "a test", ("JA",), (tables.Row("bad", {"model.widths": 3}),)
  )
  monkeypatch.setitem(ablations.ABLATIONS, "bad", bad_row)
  with pytest.raises(ConfigError, match="model.widths"):
    ablate.run_ablation("bad", "synthetic", str(tmp_path), smoke=True)
  with pytest.raises(ConfigError, match="No rows"):
    ablate.run_ablation("cca", "synthetic", str(tmp_path), smoke=True, only=("nope",))
  with pytest.raises(ConfigError, match="no sweep"):
    ablate.run_ablation("cca", "synthetic", str(tmp_path), smoke=True, sweeps=("nope",))
  assert fake_training == []


def test_command_line_overrides_reach_every_row_as_typed_values(tmp_path, fake_training):
  overrides = {"optimizer.lr": "3e-4", "input.hflip": "false"}  # text, as typed
  ablate.run_ablation(
    "cca", "isic2017", str(tmp_path), smoke=True, only=("cca",), overrides=overrides
  )
  record = json.loads((tmp_path / "cca" / run_layout.ABLATION_ROW_FILE).read_text())
  assert record["overrides"]["optimizer.lr"] == 3e-4
  assert record["overrides"]["input.hflip"] is False
  assert record["overrides"]["model.use_cca"] is True  # the row's own switch


@pytest.mark.slow
def test_smoke_ablation_end_to_end(tmp_path, tfds_dir, monkeypatch):
  widths = tables.PaperTable(
    config="unet_{dataset}",
    source="a test table",
    metrics=("DI", "JA"),
    rows=(
      tables.Row("U-Net width 4", {"model.base_width": 4}, {"synthetic": {"JA": "50.0"}}),
      tables.Row("U-Net width 8", {"model.base_width": 8}),
    ),
  )
  monkeypatch.setitem(ablations.ABLATIONS, "widths", widths)
  overrides = {"dataset.data_dir": str(tfds_dir)}
  ablate.run_ablation("widths", "synthetic", str(tmp_path), smoke=True, overrides=overrides)

  for slug in ("u_net_width_4", "u_net_width_8"):
    results = run_layout.read_results(str(tmp_path / slug))
    assert results["config"] == "unet_synthetic:smoke"
    assert 0 <= results["metrics"]["JA"] <= 1
  with open(tmp_path / "ablation.csv") as f:
    lines = list(csv.reader(f))
  assert [line[0] for line in lines[1:]] == ["U-Net width 4", "U-Net width 8"]
  assert [line[4] for line in lines[1:]] == ["50.0", ""]
  assert all(line[1] and line[3] for line in lines[1:])  # ours, filled in
