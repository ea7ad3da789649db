"""The papers' comparison tables: their network against the baselines they retrained.

Each entry is a `tables.PaperTable` over the paper's own protocol config:
one `Row` per line of the paper's comparison table. A baseline's row switches
the config's network (`model_name` and its fields at the baseline's paper
size) and keeps everything else of the protocol: split, input size,
augmentation, epochs, loss, optimiser. Lines whose network jaxseg does not
build (the challenge teams, SLSDeep, AG-Net, DAGAN, ...) have no overrides
and show the paper's numbers and "not built". `experiments/compare.py` runs
them as `experiments.ablate` runs ablations (`experiments/table_runs.py`);
docs/papers.md, "Baselines", has the networks.

Numbers are as printed, in percent (paper 001 prints fractions: the same
digits here in percent).
"""

from experiments.tables import PaperTable, Row, printed
from jaxseg import run_layout

_ALL = "AC DI JA SE SP"


def _baseline(model_name: str, **fields) -> dict:
  """A row's overrides: another registered network, at its paper size plus `fields`."""
  return {"model_name": model_name, "model": fields}


# The U-Net baseline at its paper size (docs/papers.md, "Baselines").
_UNET = {"base_width": 64, "depth": 4}


def _not_built(label: str, dataset: str, columns: str, numbers: str) -> Row:
  return Row(label, None, {dataset: printed(columns, numbers)})


# --- paper 001: ulffn, Tables 2 (ISIC 2016 test) and 3 (ISIC 2017 test) --------------
# Every network trains on 700 ISIC 2016 training images (ulffn_isic2016's
# protocol) and is tested on both test sets; ulffn's two-class softmax
# cross-entropy loss needs two output channels, so every row has num_classes 2.


def _ulffn_row(label, overrides, isic2016, isic2017, backbone="") -> Row:
  numbers = {"isic2016": printed(_ALL, isic2016), "isic2017": printed(_ALL, isic2017)}
  return Row(label, overrides, numbers, backbone)


ULFFN = PaperTable(
  config="ulffn_isic2016",
  source="paper 001 Tables 2 (ISIC 2016 test) and 3 (ISIC 2017 test), trained on ISIC 2016",
  metrics=("AC", "DI", "JA", "SE", "SP"),
  rows=(
    _ulffn_row(
      "FCN",
      _baseline("fcn8s", num_classes=2),
      "90.876 91.918 85.735 91.333 83.751",
      "87.079 91.115 85.062 91.917 88.366",
      backbone="vgg16_bn_fc6_fc7",
    ),
    _ulffn_row(
      "SegNet",
      _baseline("segnet", num_classes=2),
      "90.108 91.374 84.626 89.920 87.160",
      "86.081 90.746 84.237 91.301 87.257",
      backbone="vgg16_bn",
    ),
    _ulffn_row(
      "U-Net",
      _baseline("unet", **_UNET, num_classes=2),
      "88.555 90.020 82.628 89.208 80.227",
      "85.062 90.062 83.202 91.259 80.385",
    ),
    _ulffn_row(
      "DeepLab v3+",
      _baseline("deeplabv3plus", num_classes=2),
      "91.283 92.317 86.085 91.203 88.278",
      "87.579 91.747 85.880 91.619 83.879",
      backbone="resnet50",
    ),
    _ulffn_row(
      "ULFFN", {}, "92.876 93.044 87.360 92.725 90.040", "89.199 92.502 87.085 94.386 92.224"
    ),
  ),
  results_files={"isic2017": run_layout.dataset_results_file("isic2017", "test")},
)


# --- paper 002: rmsm, Table I (ISIC 2017 test) -----------------------------------------
# Columns AC, SP, REC (= SE), DC (= DI), JSI (= JA). The flattened table lists
# the methods column by column; its ISIC 2018 half did not survive in the copy
# we read except for the JSI column, so only ISIC 2017 is here.
_RMSM_COLUMNS = "AC SP SE DI JA"


def _rmsm_row(label, overrides, numbers, backbone="") -> Row:
  return Row(label, overrides, {"isic2017": printed(_RMSM_COLUMNS, numbers)}, backbone)


RMSM = PaperTable(
  config="rmsm_{dataset}",
  source="paper 002 Table I (ISIC 2017 test)",
  metrics=("AC", "DI", "JA", "SE", "SP"),
  rows=(
    _rmsm_row("U-Net", _baseline("unet", **_UNET), "88.73 87.84 79.72 78.45 71.58"),
    _rmsm_row("CE-Net", _baseline("cenet"), "95.42 95.38 87.59 89.21 80.61", backbone="resnet34"),
    _rmsm_row("Attention-UNet", _baseline("attention_unet"), "94.76 94.03 87.16 87.75 78.49"),
    _rmsm_row(
      "DeepLab V3+",
      _baseline("deeplabv3plus"),
      "93.24 94 86.64 87.42 78.05",
      backbone="resnet50",
    ),
    _rmsm_row("R2U-Net", _baseline("r2unet"), "93.12 93.89 86 86.73 77.95"),
    _not_built("SLSDeep", "isic2017", _RMSM_COLUMNS, "92.34 92.17 85.75 86.30 76.82"),
    _rmsm_row("Proposed method", {}, "97.5 96.94 94.29 91.16 83.83"),
  ),
)


# --- paper 000: cca, Table 2 (ISIC 2017 test) ------------------------------------------
# Most lines are other papers' and the challenge's numbers; "-" is not reported.


def _cca_row(label, overrides, numbers, backbone="") -> Row:
  return Row(label, overrides, {"isic2017": printed(_ALL, numbers)}, backbone)


def _cca_not_built(label, numbers) -> Row:
  return _not_built(label, "isic2017", _ALL, numbers)


CCA = PaperTable(
  config="cca_{dataset}",
  source="paper 000 Table 2 (ISIC 2017 test)",
  metrics=("AC", "DI", "JA", "SE", "SP"),
  rows=(
    _cca_not_built("Team-Mt.Sinai (*1)", "93.4 84.9 76.5 82.5 97.5"),
    _cca_not_built("Team-NLP LOGIX (*2)", "93.2 84.7 76.2 82.0 97.8"),
    _cca_not_built("Team-BMIT (*3)", "93.4 84.4 76.0 80.2 98.5"),
    _cca_not_built("Team-BMIT (*4)", "93.4 84.2 75.8 80.1 98.4"),
    _cca_not_built("Team-RECOD Titans (*5)", "93.1 83.9 75.4 81.7 97.0"),
    _cca_row("U-Net (Ronneberger et al., 2015)", _baseline("unet", **_UNET), "92.6 82.2 74.1 - -"),
    _cca_not_built("Navarro et al. (2018)", "95.5 85.4 76.9 - -"),
    _cca_not_built("Li et al. (2018)", "93.9 86.6 76.5 82.5 98.4"),
    _cca_not_built("Mirikharaji et al. (2018)", "93.8 85.7 77.3 85.5 96.6"),
    _cca_not_built("Bi et al. (2019a)", "- 85.1 77.1 - -"),
    _cca_not_built("Bi et al. (2019b)", "94.0 85.6 77.7 86.2 96.7"),
    _cca_not_built("Sarker et al. (2018)", "93.6 87.8 78.2 81.6 98.3"),
    _cca_not_built("Xue et al. (2018)", "94.1 86.7 78.5 - -"),
    _cca_not_built("Chen et al. (2018)", "94.4 86.8 78.7 - -"),
    _cca_not_built("FocusNet (Kaul et al., 2019)", "92.1 83.2 75.6 - -"),
    _cca_not_built("Xie et al. (2020)", "93.8 86.2 78.3 - -"),
    _cca_not_built("DSNet (Hasan et al., 2020)", "- - 77.5 87.5 95.5"),
    _cca_not_built("DAGAN (Lei et al., 2020)", "93.5 85.9 77.1 83.5 97.6"),
    _cca_not_built("AG-Net (Schlemper et al., 2019)", "93.5 85.3 76.9 83.5 97.4"),
    _cca_row(
      "MultiResUNet (Ibtehaz & Rahman, 2020)",
      _baseline("multiresunet"),
      "93.6 85.2 76.8 83.9 96.8",
    ),
    _cca_row(
      "CE-Net (Gu et al., 2019)", _baseline("cenet"), "94.0 86.5 78.5 86.9 96.4", "resnet34"
    ),
    _cca_row("ours", {}, "94.6 87.8 80.3 88.6 96.4", backbone="resnet50"),
  ),
)


# --- paper 004: asnet, Table 2 (ISIC 2018, 5-fold cross-validation) --------------------
# Columns Jaccard, Dice, Accuracy, mean ± std over folds; MultiResU-Net has
# only its Jaccard ("\\" for the others).
_ASNET_COLUMNS = "JA DI AC"

ASNET = PaperTable(
  config="asnet_{dataset}_cv",
  source="paper 004 Table 2 (ISIC 2018, 5-fold cross-validation, mean ± std)",
  metrics=("JA", "DI", "AC"),
  rows=(
    Row(
      "U-Net",
      _baseline("unet", **_UNET),
      {"isic2018": printed(_ASNET_COLUMNS, "78.70±0.317 86.58±0.376 95.06±0.251")},
    ),
    Row(
      "MultiResU-Net",
      _baseline("multiresunet"),
      {"isic2018": printed(_ASNET_COLUMNS, "80.30±0.372 - -")},
    ),
    Row(
      "ASNet",
      {},
      {"isic2018": printed(_ASNET_COLUMNS, "82.15±0.328 88.88±0.390 96.00±0.228")},
      backbone="resnet34",
    ),
  ),
)


COMPARISONS: dict[str, PaperTable] = {
  "asnet": ASNET,
  "cca": CCA,
  "rmsm": RMSM,
  "ulffn": ULFFN,
}
