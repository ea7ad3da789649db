"""Comparison tables: every row builds under its paper's protocol, tables, weights, smoke runs."""

import csv
import json

import pytest

from experiments import ablations, compare, comparisons, configs, tables
from jaxseg import metrics, models, run_layout
from jaxseg.errors import ConfigError
from tests.run_testing import assert_one_user_error, run_module, write_fake_results


@pytest.mark.parametrize("paper", sorted(comparisons.COMPARISONS))
def test_tables_are_well_formed(paper):
  table = comparisons.COMPARISONS[paper]
  assert paper in ablations.ABLATIONS  # the same paper names as experiments.ablate
  assert len({row.slug for row in table.rows}) == len(table.rows)
  assert set(table.metrics) <= set(metrics.METRIC_KEYS)
  own_rows = [row for row in table.rows if row.overrides == {}]
  assert len(own_rows) == 1, "one line is the paper's own network, as configured"
  for dataset in table.datasets():
    base = configs.get_config(table.config.format(dataset=dataset))
    smoke = configs.get_config(table.config.format(dataset=dataset) + ":smoke")
    for row in table.rows:
      if row.built:
        for config, is_smoke in ((base, False), (smoke, True)):
          derived = tables.row_config(config, row.overrides, smoke=is_smoke)
          assert derived.model_name in models.MODELS
      for metric, number in row.paper.get(dataset, {}).items():
        assert metric in table.metrics or metric in metrics.METRIC_KEYS
        mean, _, std = number.partition("±")
        assert 0 < float(mean) <= 100 and (not std or 0 <= float(std) < 10)
  baselines = {row.overrides["model_name"] for row in table.rows if row.built and row.overrides}
  assert baselines <= set(models.MODELS)


def test_every_baseline_model_is_in_some_comparison():
  used = {
    row.overrides["model_name"]
    for table in comparisons.COMPARISONS.values()
    for row in table.rows
    if row.built and row.overrides
  }
  papers_networks = {"asnet", "cca", "cdnn", "rmsm", "ulffn"}
  assert set(models.MODELS) - papers_networks <= used


def test_table_with_not_built_rows_and_another_results_file(tmp_path):
  ulffn = comparisons.COMPARISONS["ulffn"]
  run_dirs = {row.slug: str(tmp_path / row.slug) for row in ulffn.rows}
  write_fake_results(run_dirs["ulffn"], 0.9, 0.8)  # ISIC 2016 test
  write_fake_results(
    run_dirs["ulffn"], 0.7, 0.6, run_layout.dataset_results_file("isic2017", "test")
  )
  tables.write_table(str(tmp_path), "t2017", "ulffn", ulffn, "isic2017", run_dirs)
  with open(tmp_path / "t2017.csv") as f:
    lines = list(csv.reader(f))
  ulffn_line = lines[-1]
  assert ulffn_line[0] == "ULFFN" and ulffn_line[3:5] == ["70.0", "92.502"]  # DI ours, paper

  rmsm = comparisons.COMPARISONS["rmsm"]
  run_dirs = {row.slug: str(tmp_path / row.slug) for row in rmsm.rows if row.built}
  tables.write_table(str(tmp_path), "rmsm", "rmsm", rmsm, "isic2017", run_dirs)
  table = (tmp_path / "rmsm.md").read_text()
  assert "| SLSDeep |  | 92.34 |  | 86.30 |  | 76.82 |  | 85.75 |  | 92.17 | not built |" in table


def test_baselines_get_their_own_backbone_weights(tmp_path, fake_training):
  weights = {"resnet34": "r34.npz", "resnet50": "r50.npz"}
  compare.run_comparison(
    "rmsm", "isic2017", str(tmp_path), only=("u_net", "ce_net", "deeplab_v3"),
    backbone_weights=weights,
  )  # fmt: skip
  assert sorted(fake_training) == ["ce_net", "deeplab_v3", "u_net"]

  def recorded(slug):
    return json.loads((tmp_path / slug / run_layout.ABLATION_ROW_FILE).read_text())["overrides"]

  assert recorded("ce_net")["pretrained_backbone"] == "r34.npz"
  assert recorded("deeplab_v3")["pretrained_backbone"] == "r50.npz"
  assert "pretrained_backbone" not in recorded("u_net")  # no encoder: rmsm's own setting ("")
  assert recorded("u_net")["model"] == {"base_width": 64, "depth": 4}
  table = (tmp_path / "comparison.md").read_text()
  assert "# rmsm comparison on isic2017 (rmsm_isic2017)" in table

  # Weights the command line gives the paper's network are not a baseline's.
  compare.run_comparison(
    "rmsm", "isic2017", str(tmp_path / "given"), only=("u_net",),
    overrides={"pretrained_backbone": "paper_network.npz"},
  )  # fmt: skip
  given = json.loads((tmp_path / "given" / "u_net" / run_layout.ABLATION_ROW_FILE).read_text())
  assert given["overrides"]["pretrained_backbone"] == ""

  with pytest.raises(ConfigError, match="no row of rmsm's table starts from"):
    compare.run_comparison("rmsm", "isic2017", str(tmp_path), backbone_weights={"vgg16": "v"})
  with pytest.raises(ConfigError, match="reports \\['isic2017'\\], not 'isic2018'"):
    compare.run_comparison("rmsm", "isic2018", str(tmp_path))
  with pytest.raises(ConfigError, match="No comparison table for --paper 'cdnn'"):
    compare.run_comparison("cdnn", "isic2017", str(tmp_path))


def test_smoke_rows_switch_to_the_baselines_smoke_widths():
  smoke = configs.get_config("ulffn_isic2016:smoke")
  [fcn] = [row for row in comparisons.COMPARISONS["ulffn"].rows if row.label == "FCN"]
  config = tables.row_config(smoke, fcn.overrides, smoke=True)
  assert config.model_name == "fcn8s" and config.model.num_classes == 2
  for key, value in models.MODELS["fcn8s"].smoke_fields.items():
    assert config.model[key] == value


def test_command_line_errors_are_one_message(tmp_path):
  proc = run_module(
    "experiments.compare", "--paper", "rmsm", "--dataset", "isic2017", "--workdir", tmp_path,
    "--backbone_weights", "resnet34",
  )  # fmt: skip
  assert_one_user_error(proc, "not NAME=PATH")


# Each paper's table on the dataset its runs train on (ulffn's ISIC 2017 table
# reads the same runs' second results file).
SMOKE_TABLES = [
  ("asnet", "isic2018"),
  ("cca", "isic2017"),
  ("rmsm", "isic2017"),
  ("ulffn", "isic2016"),
]


@pytest.mark.slow
@pytest.mark.parametrize("paper,dataset", SMOKE_TABLES)
def test_smoke_comparison_end_to_end(paper, dataset, tmp_path, tfds_dir):
  """Every row a paper's table builds trains at smoke size; the rest is listed as not built."""
  path = compare.run_comparison(
    paper, dataset, str(tmp_path), smoke=True, overrides={"dataset.data_dir": str(tfds_dir)}
  )
  with open(path.removesuffix(".md") + ".csv") as f:
    header, *lines = list(csv.reader(f))
  table = comparisons.COMPARISONS[paper]
  own_model = configs.get_config(table.config.format(dataset=dataset)).model_name
  assert [line[0] for line in lines] == [row.label for row in table.rows]
  ours = [i for i, name in enumerate(header) if name.endswith("(ours)")]
  assert [header[i] for i in ours] == [f"{metric} (ours)" for metric in table.metrics]
  for row, line in zip(table.rows, lines, strict=True):
    if not row.built:
      assert line[-1] == tables.NOT_BUILT and all(line[i] == "" for i in ours), line
      continue
    assert line[-1] == row.slug
    # A cross-validated row is "mean ± std" over its folds.
    assert all(0 <= float(line[i].partition("±")[0]) <= 100 for i in ours), line
    config = json.loads((tmp_path / row.slug / run_layout.RUN_CONFIG).read_text())
    model_name = (row.overrides or {}).get("model_name", own_model)
    assert config["model_name"] == model_name
    # A baseline trains at its own smoke widths, not the paper network's.
    for key, value in models.MODELS[model_name].smoke_fields.items():
      assert config["model"][key] == value, (row.slug, key)
