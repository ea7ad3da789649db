"""The papers' reported numbers; the leaderboard over a directory of runs in the real layouts.

One file of ~460 lines: its tests share one set of fake runs in every layout
(single, cross-validation with ensemble, ablation row, unfinished, corrupt).
"""

import csv
import importlib
import json
import os
import re

import numpy as np
import pytest

from experiments import (
  ablations,
  configs,
  leaderboard,
  paper_match,
  reported_results,
  run_finder,
  tables,
)
from jaxseg import atomic_files, metrics, run_layout
from jaxseg.config_overrides import derive_config
from jaxseg.train import checkpoints, crossval, evaluators
from tests.run_testing import run_module

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# --- experiments/reported_results.py ------------------------------------------------


@pytest.mark.parametrize("entry", reported_results.REPORTED_RESULTS, ids=lambda e: e.config)
def test_reported_result_names_a_config_and_the_file_it_writes(entry):
  assert entry.config in configs.available()
  config = configs.get_config(entry.config)
  expected = paper_match.expected_protocol(config, entry.results_file)
  assert expected is not None, f"{entry.config} writes no {entry.results_file}"
  assert (expected["dataset"], expected["split"]) == (entry.dataset, entry.split)
  assert set(entry.metrics) <= set(metrics.METRIC_KEYS[:5])
  assert set(entry.std) <= set(entry.metrics)
  assert all(0 < value <= 100 for value in entry.numbers().values())
  assert reported_results.reported_result(entry.config, entry.results_file) is entry


def _normalised(text: str) -> str:
  return " ".join(text.replace(",", " ").replace("±", "+-").split())


@pytest.mark.parametrize("entry", reported_results.REPORTED_RESULTS, ids=lambda e: e.config)
def test_reported_result_agrees_with_its_config_docstring(entry):
  docstring = _normalised(importlib.import_module(f"experiments.configs.{entry.config}").__doc__)
  quoted = " ".join(
    f"{metric} {value}" + (f" +- {entry.std[metric]}" if metric in entry.std else "")
    for metric, value in entry.metrics.items()
  )
  assert quoted in docstring


def test_reported_results_agree_with_docs_papers_md():
  with open(os.path.join(_REPO, "docs", "papers.md")) as f:
    text = f.read()
  section = text[text.index("## Reported results") :]
  table = {}
  for line in section.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) == 7 and re.fullmatch(r"[\d.]+", cells[4]):
      table[(cells[0], cells[1])] = dict(
        zip(("AC", "DI", "JA", "SE", "SP"), cells[2:], strict=True)
      )
  docs_rows = {
    ("cca_isic2016", run_layout.RESULTS_FILE): ("cca", "ISIC 2016 test"),
    ("cca_isic2017", run_layout.RESULTS_FILE): ("cca", "ISIC 2017 test"),
    ("cca_isic2018", run_layout.RESULTS_FILE): ("cca", "ISIC 2018, 20% held out"),
    ("cca_ph2", run_layout.RESULTS_FILE): ("cca", "PH2, all 200 (ISIC 2017 model)"),
    ("ulffn_isic2016", run_layout.RESULTS_FILE): ("ulffn", "ISIC 2016 test"),
    ("ulffn_isic2016", run_layout.dataset_results_file("isic2017", "test")): (
      "ulffn",
      "ISIC 2017 test",
    ),
    ("rmsm_isic2017", run_layout.RESULTS_FILE): ("rmsm", "ISIC 2017 test"),
    ("rmsm_isic2018", run_layout.RESULTS_FILE): ("rmsm", "ISIC 2018, 594 held out"),
    ("cdnn_isic2017_cv", run_layout.ensemble_results_file("test")): (
      "cdnn",
      "ISIC 2017 test (six-model ensemble)",
    ),
    ("asnet_isic2018_cv", run_layout.RESULTS_FILE): ("asnet", "ISIC 2018, 5-fold"),
  }
  assert len(table) == len(docs_rows)
  for entry in reported_results.REPORTED_RESULTS:
    key = (entry.config, entry.results_file)
    if key not in docs_rows:  # cdnn's validation line is in the notes under the table
      assert "95.3, 86.5, 78.3, 87.9, 97.9" in section
      assert entry.metrics == tables.printed("AC DI JA SE SP", "95.3 86.5 78.3 87.9 97.9")
      continue
    printed = {m: v for m, v in table[docs_rows[key]].items() if v != "-"}
    assert entry.metrics == printed, key
  assert "AC 96.00 ± 0.228, DI 88.88 ± 0.390" in section
  asnet = reported_results.reported_result("asnet_isic2018_cv", run_layout.RESULTS_FILE)
  assert asnet.std == {"JA": "0.328", "DI": "0.390", "AC": "0.228"}


def test_reported_results_agree_with_the_ablation_tables():
  """The full model's line of each ablation table is the paper's main result."""
  cca = {row.label: row for row in ablations.ABLATIONS["cca"].rows}["+CCA+CGL+AL"]
  for dataset in ("isic2016", "isic2017", "isic2018", "ph2"):
    name = "cca_ph2" if dataset == "ph2" else f"cca_{dataset}"
    entry = reported_results.reported_result(name, run_layout.RESULTS_FILE)
    assert {m: entry.metrics[m] for m in cca.paper[dataset]} == cca.paper[dataset]
  cdnn = ablations.ABLATIONS["cdnn"].rows[-1]
  cdnn_entry = reported_results.reported_result("cdnn_isic2017", run_layout.RESULTS_FILE)
  assert cdnn_entry.metrics == cdnn.paper["isic2017"]
  asnet = ablations.ABLATIONS["asnet"].rows[-1].paper["isic2018"]
  entry = reported_results.reported_result("asnet_isic2018_cv", run_layout.RESULTS_FILE)
  assert asnet == {m: f"{entry.metrics[m]}±{entry.std[m]}" for m in entry.metrics}
  # ulffn prints fractions (0.92876); the reported table rounds them to two decimals.
  ulffn = ablations.ABLATIONS["ulffn"].rows[-1].paper["isic2016"]
  entry = reported_results.reported_result("ulffn_isic2016", run_layout.RESULTS_FILE)
  for metric, value in entry.numbers().items():
    assert float(ulffn[metric]) == pytest.approx(value, abs=0.005 + 1e-9)


def test_every_ablation_dataset_says_where_it_was_scored():
  for paper, ablation in ablations.ABLATIONS.items():
    for row in ablation.all_rows(tuple(ablation.sweeps)):
      for dataset in row.paper:
        assert dataset in reported_results.ABLATION_SPLITS[paper], (paper, dataset)


# --- a directory of runs --------------------------------------------------------------

_TEST_IDS = [f"ISIC_{i:07d}" for i in range(6)]
_ASNET_FOLD_JA = [0.80, 0.82, 0.84, 0.82, 0.82]


def _accumulator(ja_values, ids):
  """Per-image counts whose JA is `ja_values` (tp of 100 foreground-or-predicted pixels)."""
  accumulator = metrics.MetricAccumulator()
  tp = [round(100 * ja) for ja in ja_values]
  counts = np.array([[t, 100 - t, 0, 900] for t in tp])
  accumulator.update(counts, ids=ids)
  return accumulator


def _write_results(
  run_dir, config, ja, ids=_TEST_IDS, results_file=run_layout.RESULTS_FILE, **extra
):
  """A results file as evaluators.evaluate_and_write writes it (its entry of `config`)."""
  entry = next(e for e in config.evals.values() if e.at_end and e.results_file == results_file)
  height, width = config.input.image_size
  extra = {
    "resolution": "original" if entry.resolution == "original" else f"input {height}x{width}",
    "postprocess": entry.postprocess,
    "step": 100,
    "train_seconds_this_run": 10.0,
    "num_parameters": 1_500_000,
    **extra,
  }
  dataset = evaluators.dataset_config(config, entry).name
  return evaluators.write_results(
    os.path.join(run_dir, results_file),
    config,
    dataset,
    entry.split,
    _accumulator([ja] * len(ids), ids),
    extra,
  )


def _single_run(run_dir, spec, ja, overrides=None, **extra):
  """A run of experiments.run: config.json, and results.json unless `ja` is None (unfinished)."""
  config = configs.load_config(spec, overrides or {})
  os.makedirs(run_dir)
  checkpoints.write_run_config(str(run_dir), config)
  if ja is not None:
    _write_results(str(run_dir), config, ja, **extra)


def _ablation_row(workdir, spec, paper, slug, ja):
  """A row's run as experiments.ablate makes it: ablation_row.json and the row's run."""
  row = next(r for r in ablations.ABLATIONS[paper].rows if r.slug == slug)
  row_dir = workdir / slug
  row_dir.mkdir(parents=True)
  record = {"config": spec, "overrides": dict(row.overrides)}
  (row_dir / run_layout.ABLATION_ROW_FILE).write_text(json.dumps(record))
  config = derive_config(configs.get_config(spec), row.overrides)
  checkpoints.write_run_config(str(row_dir), config)
  if ja is not None:
    _write_results(str(row_dir), config, ja)


def _cross_validation(workdir, spec, fold_ja, train_ids):
  """A finished crossval.train_folds: folds, the summary, and (if it has them) the ensemble."""
  config = configs.get_config(spec)
  checkpoints.write_run_config(str(workdir), config)
  num_folds = config.dataset.protocol.num_folds
  held_out = [train_ids[k::num_folds] for k in range(num_folds)]
  fold_results = []
  for fold, ja in enumerate(fold_ja):
    fold_dir = run_layout.fold_dir(workdir, fold)
    fold_config = crossval.fold_config(config, fold)
    checkpoints.write_run_config(fold_dir, fold_config)
    fold_results.append(_write_results(fold_dir, fold_config, ja, held_out[fold]))
  summary = {  # as crossval.train_folds writes it
    "config": config.name,
    "dataset": config.dataset.name,
    "split": f"{config.dataset.protocol.source_split}, {num_folds}-fold held-out",
    "resolution": fold_results[0]["resolution"],
    "postprocess": fold_results[0]["postprocess"],
    **crossval.summarize_folds(fold_results),
  }
  atomic_files.write_json(os.path.join(workdir, run_layout.FOLDS_FILE), {"num_folds": num_folds})
  atomic_files.write_json(os.path.join(workdir, run_layout.RESULTS_FILE), summary)
  if crossval.ensemble_evaluators(config):
    all_data = os.path.join(workdir, run_layout.ALL_DATA_DIR)
    all_data_config = crossval.all_data_config(config)
    checkpoints.write_run_config(all_data, all_data_config)
    for entry in all_data_config.evals.values():
      if entry.at_end and entry.results_file:
        _write_results(all_data, all_data_config, 0.74, results_file=entry.results_file)
    members = [run_layout.fold_dir("/elsewhere", k) for k in range(num_folds)]
    for _, entry in crossval.ensemble_evaluators(config):
      _write_results(
        str(workdir),
        crossval.fold_config(config, 0),
        0.77,
        results_file=entry.results_file,
        ensemble_members=[*members, "/elsewhere/all_data"],
        step=[100] * (num_folds + 1),
      )
  return config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """A RUNS_DIR with every kind of run; returns (its path, the leaderboard's markdown)."""
  runs = tmp_path_factory.mktemp("runs")
  # Two runs of one protocol, an old one without config.json, one at another resolution.
  _single_run(runs / "cca_paper", "cca_isic2017", 0.80, {"pretrained_backbone": "/w/r50.npz"})
  (runs / "cca_paper" / "events.out.tfevents.1.host").write_text("")
  (runs / "cca_paper" / "events.out.tfevents.2.host").write_text("")
  _single_run(runs / "cca_lr", "cca_isic2017", 0.85, {"optimizer.lr": 1e-3})
  _single_run(runs / "cca_old", "cca_isic2017", 0.70)
  os.remove(runs / "cca_old" / run_layout.RUN_CONFIG)
  with open(runs / "cca_old" / run_layout.RESULTS_FILE) as f:
    results = json.load(f)
  del results["num_parameters"]
  atomic_files.write_json(str(runs / "cca_old" / run_layout.RESULTS_FILE), results)
  _single_run(runs / "cca_128", "cca_isic2017", 0.60, {"input.image_size": "128,128"})
  # Two hold-outs of ISIC 2018 of the same size but other images.
  _single_run(runs / "rmsm_a", "rmsm_isic2018", 0.8, ids=["a1", "a2"])
  _single_run(runs / "rmsm_b", "rmsm_isic2018", 0.8, ids=["b1", "b2"])
  # Cross-validations: asnet's mean +- std; cdnn's with all_data and the ensemble.
  asnet_train_ids = [f"ISIC_{i:07d}" for i in range(10)]
  _cross_validation(runs / "asnet_cv", "asnet_isic2018_cv", _ASNET_FOLD_JA, asnet_train_ids)
  _cross_validation(runs / "cdnn_cv", "cdnn_isic2017_cv", [0.7] * 5, _TEST_IDS * 2)
  # An ablation: two finished rows, one started.
  for slug, ja in (("baseline_resnet_aspp", 0.75), ("cca_cgl_al", 0.78), ("cca", None)):
    _ablation_row(runs / "cca_ablation", "cca_isic2017", "cca", slug, ja)
  (runs / "cca_ablation" / "ablation.md").write_text("# an ablation table\n")
  # rmsm's Table II is on validation; its rows score test.
  _ablation_row(runs / "rmsm_ablation", "rmsm_isic2017", "rmsm", "unet", 0.7)
  # Unfinished, and unreadable.
  _single_run(runs / "unet_unfinished", "unet_synthetic", None)
  (runs / "unet_unfinished" / run_layout.CHECKPOINTS_DIR / "4").mkdir(parents=True)
  (runs / "broken").mkdir()
  (runs / "broken" / run_layout.RESULTS_FILE).write_text('{"config": "cca_isic2017", "metr')
  markdown, paths = leaderboard.write_leaderboard(str(runs))
  assert paths == [str(runs / "leaderboard.md"), str(runs / "leaderboard.csv")]
  return runs, markdown


def _tables(markdown: str) -> dict[str, list[list[str]]]:
  """Section title -> its table's rows (cells), header and rule left out."""
  tables, title = {}, None
  for line in markdown.splitlines():
    if line.startswith("## "):
      title = line[3:]
      tables[title] = []
    elif line.startswith("| ") and title is not None:
      tables[title].append([cell.strip() for cell in line.strip("|").split(" | ")])
  return {title: rows[1:] for title, rows in tables.items()}


def _column(name: str) -> int:
  return leaderboard.MARKDOWN_HEADER.index(name)


def test_runs_of_one_protocol_are_ranked_by_ja_with_the_papers_numbers(runs):
  runs_dir, markdown = runs
  assert (runs_dir / "leaderboard.md").read_text() == markdown
  rows = _tables(markdown)["isic2017 · test · input 256x256 · no post-processing · 6 images"]
  assert [row[:3] for row in rows] == [
    ["1", "cca_lr", "cca_isic2017"],
    ["2", "cca_paper", "cca_isic2017"],
    ["3", "cca_ablation/cca_cgl_al", "cca_isic2017, row '+CCA+CGL+AL'"],
    ["4", "cca_ablation/baseline_resnet_aspp", "cca_isic2017, row 'Baseline (ResNet+ASPP)'"],
    ["5", "cca_old", "cca_isic2017"],
  ]
  lr, paper, full_row, baseline_row, old = rows
  # Another learning rate is another experiment: no paper numbers beside it.
  assert lr[_column("JA")] == "85.00"
  assert lr[_column("changes")] == "optimizer.lr=0.001"
  assert lr[_column("paper")] == "-"
  # Where ImageNet weights come from keeps the paper's protocol.
  assert paper[_column("model")] == "cca"
  assert paper[_column("kind")] == "single"
  assert paper[_column("JA")] == "80.00 (80.3)"
  assert paper[_column("AC")].endswith(" (94.6)")
  assert paper[_column("JA_thr")] == "80.00"
  assert paper[_column("changes")] == "pretrained_backbone=r50.npz"
  assert paper[_column("paper")] == "paper 000 Table 2 (ISIC 2017 test)"
  assert paper[_column("params")] == "1.50M"
  assert paper[_column("train time")] == "10s*"  # two event files: started twice
  # Ablation rows: the full model's is the paper's main result, the others their table line.
  assert full_row[_column("JA")] == "78.00 (80.3)"
  assert full_row[_column("changes")] == "-"
  assert baseline_row[_column("JA")] == "75.00 (77.9)"
  assert baseline_row[_column("DI")].endswith(" (86.1)")
  assert "(" not in baseline_row[_column("AC")]  # Table 7 has DI and JA only
  assert baseline_row[_column("paper")] == (
    "paper 000 Table 7 (ISIC 2017 test): Baseline (ResNet+ASPP)"
  )
  # A run from before config.json: what is known, and "-" for the rest.
  assert old[_column("params")] == "-"
  assert old[_column("changes")] == "unknown"
  assert old[_column("model")] == "cca"
  assert old[_column("JA")] == "70.00 (80.3)"


def test_protocols_are_never_ranked_together(runs):
  tables = _tables(runs[1])
  other_size = tables["isic2017 · test · input 128x128 · no post-processing · 6 images"]
  assert [row[1] for row in other_size] == ["cca_128"]
  assert other_size[0][_column("#")] == "1"
  assert other_size[0][_column("paper")] == "-"
  # Same split name and size, other images: two tables, each named by its image set.
  held_out = [t for t in tables if t.startswith("isic2018 · protocol:heldout · input 224x224")]
  assert len(held_out) == 2
  assert all(re.search(r"2 images · image set [0-9a-f]{8}$", t) for t in held_out)
  assert sorted(tables[t][0][1] for t in held_out) == ["rmsm_a", "rmsm_b"]
  # rmsm's Table II line is on validation: not beside a test score.
  rmsm = tables["isic2017 · test · input 224x224 · no post-processing · 6 images"]
  assert rmsm[0][1:3] == ["rmsm_ablation/unet", "rmsm_isic2017, row 'UNet'"]
  assert rmsm[0][_column("paper")] == "-"


def test_cross_validation_ensemble_and_all_data_rows(runs):
  tables = _tables(runs[1])
  asnet = tables[
    "isic2018 · train, 5-fold held-out · input 192x256 · no post-processing · 10 images"
  ]
  assert len(asnet) == 1
  row = asnet[0]
  assert row[1:5] == ["asnet_cv", "asnet_isic2018_cv", "asnet", "5-fold mean ± std"]
  assert row[_column("JA")] == "82.00 ± 1.26 (82.15 ± 0.328)"
  assert row[_column("SE")] == "100.00 ± 0.00"  # the paper reports no SE
  assert row[_column("train time")] == "50s"  # five folds of 10 s
  assert row[_column("paper")] == "paper 004 Table 2 (ISIC 2018 train, 5-fold, mean ± std)"

  test = tables["isic2017 · test · input 192x256 · post-processing dual_threshold · 6 images"]
  assert [(r[1], r[4]) for r in test] == [
    ("cdnn_cv/results_ensemble_test.json", "ensemble of 6"),
    # crossval.all_data_config: the first ensemble evaluator in split order
    # (validation) writes results.json, test results_isic2017_test.json.
    ("cdnn_cv/all_data/results_isic2017_test.json", "all-data model"),
  ]
  ensemble, all_data = test
  assert ensemble[_column("JA")] == "77.00 (76.5)"
  assert ensemble[_column("params")] == "6 × 1.50M"
  assert ensemble[_column("train time")] == "1m 00s"
  assert all_data[_column("paper")] == "-"
  validation = tables[
    "isic2017 · validation · input 192x256 · post-processing dual_threshold · 6 images"
  ]
  assert [r[1] for r in validation] == [
    "cdnn_cv/results_ensemble_validation.json",
    "cdnn_cv/all_data",
  ]
  assert validation[0][_column("paper")] == "-"  # the paper's validation line is one model
  cdnn_folds = tables[
    "isic2017 · train, 5-fold held-out · input 192x256 · post-processing dual_threshold · 12 images"
  ]
  assert [r[1] for r in cdnn_folds] == ["cdnn_cv"]
  assert not any("fold_" in row[1] for rows in tables.values() for row in rows)


def test_unfinished_and_unreadable_runs_are_listed(runs):
  not_ranked = _tables(runs[1])["Not ranked"]
  assert not_ranked == [
    ["broken", "-", not_ranked[0][2]],
    ["cca_ablation/cca", "cca_isic2017", "unfinished: no results.json (no checkpoint yet)"],
    [
      "unet_unfinished",
      "unet_synthetic",
      "unfinished: no results.json (latest checkpoint: step 4)",
    ],
  ]
  assert not_ranked[0][2].startswith("results.json unreadable: ")


def test_csv_holds_every_row_in_percent_with_the_papers_numbers(runs):
  runs_dir, markdown = runs
  with open(runs_dir / "leaderboard.csv", newline="") as f:
    lines = list(csv.DictReader(f))
  assert list(lines[0]) == list(leaderboard.CSV_HEADER)
  finished = [line for line in lines if line["status"] == "finished"]
  ranked = [
    row for title, rows in _tables(markdown).items() if title != "Not ranked" for row in rows
  ]
  assert len(finished) == len(ranked) == 15
  paper = next(line for line in finished if line["run"] == "cca_paper")
  assert paper["rank"] == "2"
  assert (paper["dataset"], paper["split"], paper["resolution"], paper["postprocess"]) == (
    "isic2017", "test", "input 256x256", "none",
  )  # fmt: skip
  assert float(paper["JA"]) == pytest.approx(80.0)
  assert paper["paper_JA"] == "80.3"
  assert paper["num_parameters"] == "1500000"
  assert paper["started_more_than_once"] == "True"
  asnet = next(line for line in finished if line["run"] == "asnet_cv")
  fold_std = 100 * np.std(_ASNET_FOLD_JA)
  assert float(asnet["JA_std"]) == pytest.approx(fold_std, abs=1e-4)  # 4 decimals of percent
  assert (asnet["paper_JA"], asnet["paper_JA_std"], asnet["paper_SE"]) == ("82.15", "0.328", "")
  unfinished = [line for line in lines if line["status"].startswith("unfinished")]
  assert {line["run"] for line in unfinished} == {"cca_ablation/cca", "unet_unfinished"}


def test_command_line(runs, tmp_path):
  def leaderboard_command(*args):
    return run_module("experiments.leaderboard", *args, timeout=120)

  finished = leaderboard_command(runs[0])
  assert finished.returncode == 0, finished.stderr
  assert finished.stdout.startswith(runs[1])
  assert f"Wrote {runs[0] / 'leaderboard.md'} and {runs[0] / 'leaderboard.csv'}" in finished.stdout
  missing = leaderboard_command(tmp_path / "nowhere")
  assert missing.returncode == 2
  assert missing.stderr.strip().splitlines()[-1].startswith("error: ")
  assert "is not a directory" in missing.stderr
  (tmp_path / "empty" / "tensorboard").mkdir(parents=True)
  empty = leaderboard_command(tmp_path / "empty")
  assert empty.returncode == 2
  assert "error: No runs under" in empty.stderr
  assert not os.path.exists(tmp_path / "empty" / "leaderboard.md")


def test_a_trained_smoke_run(tfds_dir, tmp_path):
  from jaxseg.train import experiment
  from tests.run_testing import smoke_config

  experiment.run(smoke_config(tfds_dir), str(tmp_path / "a"))
  board = run_finder.find_runs(str(tmp_path))
  assert board.unranked == []
  (row,) = board.rows
  assert (row.run, row.config, row.model, row.kind) == (
    "a",
    "unet_synthetic:smoke",
    "unet",
    "single",
  )
  assert (row.dataset, row.split, row.postprocess) == ("synthetic_lesions", "test", "none")
  assert row.resolution == "input 32x32"
  assert row.changes == []  # dataset.data_dir says where the data is, not what is trained
  assert row.num_parameters > 0 and row.train_seconds > 0
  assert row.paper is None
  assert "| 1 | a | unet_synthetic:smoke | unet | single |" in leaderboard.render_markdown(board)
  assert leaderboard.render_csv(board).count("\n") == 2  # the header and the run
