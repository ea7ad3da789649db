"""The papers' ablation tables as data: which runs make each one, and what the paper reports.

One `tables.PaperTable` per paper (`ABLATIONS`, keyed by the paper's network):
a config name pattern, one `tables.Row` per line of the paper's table (the
config overrides that switch the model into that line's variant, the paper's
numbers per dataset), and sweeps such as paper 000's training-set-size table.
`experiments.ablate` trains the rows (`experiments/table_runs.py`). Adding a
paper is one `ABLATIONS` entry; every ablation is a config switch of the one
model (docs/papers.md, "Conventions").
"""

from experiments.tables import PaperTable, Row, Sweep, printed

# --- paper 000: cca ---------------------------------------------------------------

_CCA_SWITCHES = ("model.use_cca", "model.use_cgl", "model.aux_head")


def _cca_switches(use_cca: bool, use_cgl: bool, aux_head: bool) -> dict[str, bool]:
  return dict(zip(_CCA_SWITCHES, (use_cca, use_cgl, aux_head), strict=True))


_CCA_BASELINE = _cca_switches(False, False, False)
_CCA_FULL = _cca_switches(True, True, True)

# The full model's line ("ours") in paper 000 Tables 1 (ISIC 2016), 5 (ISIC
# 2018) and 6 (PH2, the ISIC 2017 model); its ISIC 2017 line is Table 7's last.
_CCA_FULL_ELSEWHERE = {
  "isic2016": printed("AC DI JA SE SP", "96.1 92.6 87.1 94.6 96.7"),
  "isic2018": printed("AC DI JA SE SP", "95.9 89.9 83.4 93.6 96.7"),
  "ph2": printed("AC DI JA SE SP", "95.4 92.5 86.6 98.6 94.7"),
}


def _cca_table7_row(label: str, switches: dict[str, bool], di_ja: str, **elsewhere) -> Row:
  # Paper 000 Table 7 (ISIC 2017 test): columns CCA, CGL, AL ticks, then DI, JA.
  return Row(label, switches, {"isic2017": printed("DI JA", di_ja), **elsewhere})


# Paper 000 Table 8 (ISIC 2017 test), "Numbers" = training images; columns AC DI JA SE SP.
_CCA_TABLE8 = {
  "baseline": (
    (100, "90.2 78.8 69.7 83.6 90.5"),
    (500, "91.5 81.7 73.0 89.5 91.8"),
    (1000, "91.6 83.6 75.5 90.5 91.6"),
    (1500, "93.5 85.8 77.6 86.4 94.4"),
    (2000, "94.2 86.1 77.9 85.2 96.2"),
  ),
  "ours": (
    (100, "90.6 79.6 70.6 84.4 90.6"),
    (500, "92.3 83.1 74.8 88.6 92.1"),
    (1000, "92.6 84.2 76.1 89.7 93.0"),
    (1500, "94.0 86.7 79.1 88.6 94.2"),
    (2000, "94.6 87.8 80.3 88.6 96.4"),
  ),
}
# 2000 is all of ISIC 2017's training set ("from 100 to the whole training
# set", section 4.7; Table 8's 2000 lines repeat Table 7's baseline and full
# model), so it is train_size 0 (all): the same config as those Table 7 rows,
# which ablate.py then trains only once.
_ISIC2017_TRAIN_IMAGES = 2000


def _cca_table8_rows():
  for method, switches in (("baseline", _CCA_BASELINE), ("ours", _CCA_FULL)):
    for size, numbers in _CCA_TABLE8[method]:
      train_size = 0 if size == _ISIC2017_TRAIN_IMAGES else size
      yield Row(
        f"{method} {size}",
        {**switches, "dataset.train_size": train_size},
        {"isic2017": printed("AC DI JA SE SP", numbers)},
      )


CCA = PaperTable(
  config="cca_{dataset}",
  source="paper 000 Table 7 (ISIC 2017 test)",
  metrics=("DI", "JA"),
  rows=(
    _cca_table7_row("Baseline (ResNet+ASPP)", _CCA_BASELINE, "86.1 77.9"),
    # Table 7's second line: CGL's affinity on the ASPP features alone (its note).
    _cca_table7_row("+CGL (w/o CCA)", _cca_switches(False, True, False), "87.2 79.5"),
    _cca_table7_row("+CCA", _cca_switches(True, False, False), "87.2 79.4"),
    _cca_table7_row("+CCA+CGL", _cca_switches(True, True, False), "87.5 80.0"),
    _cca_table7_row("+CCA+CGL+AL", _CCA_FULL, "87.8 80.3", **_CCA_FULL_ELSEWHERE),
  ),
  sweeps={
    "train_size": Sweep(
      source="paper 000 Table 8 (ISIC 2017 test, by number of training images)",
      metrics=("AC", "DI", "JA", "SE", "SP"),
      rows=tuple(_cca_table8_rows()),
    ),
  },
)


# --- paper 001: ulffn --------------------------------------------------------------

# Paper 001 Table 4 (ISIC 2016 test), printed as fractions (0.88924); here in
# percent with the same digits. Columns Accuracy, Dice, JSI, Sensitivity, Specificity.
ULFFN = PaperTable(
  config="ulffn_{dataset}",
  source="paper 001 Table 4 (ISIC 2016 test)",
  metrics=("AC", "DI", "JA", "SE", "SP"),
  rows=tuple(
    Row(
      label,
      {"model.use_aspp": aspp, "model.use_cam": cam},
      {"isic2016": printed("AC DI JA SE SP", numbers)},
    )  # fmt: skip
    for label, aspp, cam, numbers in (
      ("WO-AC", False, False, "88.924 87.978 82.551 88.703 86.894"),
      ("W-A", True, False, "90.924 89.932 84.898 90.782 88.796"),
      ("W-C", False, True, "91.632 90.638 85.647 91.033 89.921"),
      ("W-AC", True, True, "92.876 93.044 87.360 92.725 90.040"),
    )
  ),
)


# --- paper 002: rmsm ---------------------------------------------------------------

# Paper 002 Table II (ISBI 2017 *validation* set; our rmsm_isic2017 scores the
# test set): columns DC, JSI, REC (= DI, JA, SE). The flattened table lists the
# four baselines column by column, then the proposed model; the text's
# comparisons (EF-RAM's JSI above DF-RAM's, DF-RAM's DC above EF-RAM's,
# EF-RAM's recall slightly below DF-RAM's) confirm that reading.
RMSM = PaperTable(
  config="rmsm_{dataset}",
  source="paper 002 Table II (ISIC 2017 validation)",
  metrics=("DI", "JA", "SE"),
  rows=tuple(
    Row(
      label,
      {"model.block": block, "model.use_df_ram": df, "model.use_ef_ram": ef},
      {"isic2017": printed("DI JA SE", numbers)},
    )  # fmt: skip
    for label, block, df, ef, numbers in (
      ("UNet", "unet", False, False, "90.4 77.6 84.92"),
      ("RMSM UNet", "rmsm", False, False, "91.29 80 87.62"),
      ("RMSM UNet + DF-RAM", "rmsm", True, False, "93.45 81.74 91"),
      ("RMSM UNet + EF-RAM", "rmsm", False, True, "92.98 82.53 90.9"),
      ("RMSM UNet + DF-RAM + EF-RAM", "rmsm", True, True, "94.53 84.19 94.9"),
    )
  ),
)


# --- paper 003: cdnn ---------------------------------------------------------------

# Paper 003 Table IV (ISIC 2017 validation, one CDNN-29 model), printed as
# fractions (0.953); here in percent with the same digits. Table V (test) has
# RGB 93.1 84.0 75.4 81.3 97.6 and RGB+HSV+L 93.4 84.9 76.5 82.5 97.5.
CDNN = PaperTable(
  config="cdnn_{dataset}",
  source="paper 003 Table IV (ISIC 2017 validation)",
  metrics=("AC", "DI", "JA", "SE", "SP"),
  rows=tuple(
    Row(label, {"input.colour_space": space}, {"isic2017": printed("AC DI JA SE SP", numbers)})
    for label, space, numbers in (
      ("RGB", "rgb", "95.1 84.8 76.5 86.8 97.6"),
      ("RGB+HSV+L", "rgb_hsv_l", "95.3 86.5 78.3 87.9 97.9"),
    )
  ),
)


# --- paper 004: asnet --------------------------------------------------------------

_ASNET_FULL = {
  "model.use_asm": True,
  "model.asm_dilations": (1, 2, 4),
  "model.scale_aware_fusion": True,
  "model.decoder_extra_blocks": 0,
}

# Paper 004 Table 2 (ISIC 2018 train, 5-fold cross-validation, mean +- std);
# columns Jaccard, Dice, Accuracy. MultiResU-Net (JA 80.30 +- 0.372) is not
# built here.
ASNET = PaperTable(
  config="asnet_{dataset}_cv",
  source="paper 004 Table 2 (ISIC 2018, 5-fold cross-validation, mean ± std)",
  metrics=("JA", "DI", "AC"),
  rows=tuple(
    Row(label, {**_ASNET_FULL, **changes}, {"isic2018": printed("JA DI AC", numbers)})
    for label, changes, numbers in (
      (
        "U-Net",
        {"model_name": "unet", "model": {"base_width": 64, "depth": 4}},
        "78.70±0.317 86.58±0.376 95.06±0.251",
      ),
      ("Baseline", {"model.use_asm": False}, "81.12±0.551 87.90±0.561 95.69±0.617"),
      (
        "Baseline_ASM_w/o_DI",
        {"model.asm_dilations": (1, 1, 1)},
        "81.56±0.353 88.25±0.433 95.80±0.305",
      ),
      (
        "Baseline_ASM_w/o_SA",
        {"model.scale_aware_fusion": False},
        "81.79±0.425 88.46±0.532 95.92±0.359",
      ),
      (
        "Baseline_Wide",
        {"model.use_asm": False, "model.decoder_extra_blocks": 1},
        "81.73±0.376 88.41±0.438 95.90±0.342",
      ),
      ("ASNet", {}, "82.15±0.328 88.88±0.390 96.00±0.228"),
    )
  ),
)


ABLATIONS: dict[str, PaperTable] = {
  "asnet": ASNET,
  "cca": CCA,
  "cdnn": CDNN,
  "rmsm": RMSM,
  "ulffn": ULFFN,
}
