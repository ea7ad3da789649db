"""What the papers report for their full models: one table, keyed by our config and results file.

`REPORTED_RESULTS` is the one machine-readable copy of docs/papers.md,
"Reported results" (the config docstrings quote the same numbers, and a test
keeps them in agreement). Each entry names the config whose run reproduces the
paper's row and the results file that run writes, with the dataset and split
that file records, so a run's numbers can be put beside the paper's
(`experiments.leaderboard`). Numbers are in percent, as the paper prints them
(strings, so "96.00" stays "96.00"; `tables.ReportedResult.numbers` gives floats).

Rows that are no config's default run are not here: the ablation tables'
lines are in `experiments/ablations.py`, and cdnn's single model has no test
number (its Table V RGB+HSV+L test line is the six-model ensemble, entered
under `cdnn_isic2017_cv`).
"""

from experiments.tables import ReportedResult, printed
from jaxseg import run_layout

_ALL = "AC DI JA SE SP"

REPORTED_RESULTS: tuple[ReportedResult, ...] = (
  # Paper 000 (cca), mean of per-image values.
  ReportedResult(
    "cca_isic2016", run_layout.RESULTS_FILE, "isic2016", "test",
    "paper 000 Table 1 (ISIC 2016 test)",
    printed(_ALL, "96.1 92.6 87.1 94.6 96.7"),
  ),
  ReportedResult(
    "cca_isic2017", run_layout.RESULTS_FILE, "isic2017", "test",
    "paper 000 Table 2 (ISIC 2017 test)",
    printed(_ALL, "94.6 87.8 80.3 88.6 96.4"),
  ),
  ReportedResult(
    "cca_isic2018", run_layout.RESULTS_FILE, "isic2018", "protocol:heldout",
    "paper 000 Table 5 (ISIC 2018, 20% of train held out)",
    printed(_ALL, "95.9 89.9 83.4 93.6 96.7"),
  ),
  ReportedResult(
    "cca_ph2", run_layout.RESULTS_FILE, "ph2", "train",
    "paper 000 Table 6 (PH2, all 200 images, the ISIC 2017 model)",
    printed(_ALL, "95.4 92.5 86.6 98.6 94.7"),
  ),
  # Paper 001 (ulffn), printed as fractions (0.92876), here in percent rounded to
  # two decimals; one model trained on 700 ISIC 2016 images, tested on both test sets.
  ReportedResult(
    "ulffn_isic2016", run_layout.RESULTS_FILE, "isic2016", "test",
    "paper 001 Table 2 (ISIC 2016 test)",
    printed(_ALL, "92.88 93.04 87.36 92.73 90.04"),
  ),
  ReportedResult(
    "ulffn_isic2016", "results_isic2017_test.json", "isic2017", "test",
    "paper 001 Table 3 (ISIC 2017 test)",
    printed(_ALL, "89.20 92.50 87.09 94.39 92.22"),
  ),
  # Paper 002 (rmsm), Table I: columns AC, SP, REC (= SE), DC (= DI), JSI (= JA).
  ReportedResult(
    "rmsm_isic2017", run_layout.RESULTS_FILE, "isic2017", "test",
    "paper 002 Table I (ISIC 2017 test)",
    printed(_ALL, "97.5 91.16 83.83 94.29 96.94"),
  ),
  ReportedResult(
    "rmsm_isic2018", run_layout.RESULTS_FILE, "isic2018", "protocol:heldout",
    "paper 002 Table I (ISIC 2018, 594 of train held out)",
    printed(_ALL, "95.92 91.52 85.41 95.37 97.0"),
  ),
  # Paper 003 (cdnn): one RGB+HSV+L model on validation (Table IV); the challenge
  # entry, the six-model ensemble, on test (Tables III, V, VI).
  ReportedResult(
    "cdnn_isic2017", run_layout.RESULTS_FILE, "isic2017", "validation",
    "paper 003 Table IV (ISIC 2017 validation, one model)",
    printed(_ALL, "95.3 86.5 78.3 87.9 97.9"),
  ),
  ReportedResult(
    "cdnn_isic2017_cv", run_layout.ensemble_results_file("test"), "isic2017", "test",
    "paper 003 Tables III, V, VI (ISIC 2017 test, six-model ensemble)",
    printed(_ALL, "93.4 84.9 76.5 82.5 97.5"),
  ),
  # Paper 004 (asnet), Table 2: mean +- std over five folds; no SE or SP.
  ReportedResult(
    "asnet_isic2018_cv", run_layout.RESULTS_FILE, "isic2018",
    run_layout.cross_validation_split("train", 5),
    "paper 004 Table 2 (ISIC 2018 train, 5-fold, mean ± std)",
    printed("JA DI AC", "82.15 88.88 96.00"),
    printed("JA DI AC", "0.328 0.390 0.228"),
  ),
)  # fmt: skip


# Where each paper's ablation rows (experiments/ablations.py `Row.paper`) were
# scored, as our results files record the split: paper -> dataset -> split. A
# row's numbers go beside ours only on that split: rmsm's Table II is on ISIC
# 2017 validation, while rmsm_isic2017 scores test.
ABLATION_SPLITS: dict[str, dict[str, str]] = {
  "asnet": {"isic2018": run_layout.cross_validation_split("train", 5)},
  "cca": {"isic2016": "test", "isic2017": "test", "isic2018": "protocol:heldout", "ph2": "train"},
  "cdnn": {"isic2017": "validation"},
  "rmsm": {"isic2017": "validation"},
  "ulffn": {"isic2016": "test"},
}


def reported_result(config: str, results_file: str) -> ReportedResult | None:
  """The paper's row that `config`'s `results_file` reproduces, if the paper reports one."""
  for entry in REPORTED_RESULTS:
    if (entry.config, entry.results_file) == (config, results_file):
      return entry
  return None
