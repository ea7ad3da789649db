"""Melanoma / non-melanoma breakdown and the per-image JA histogram."""

import itertools

import numpy as np
import pytest
from PIL import Image

from jaxseg import report
from jaxseg.data import datasets

_IDS = itertools.count()


def _row(group, ja, **scores):
  row = {"id": f"ISIC_{next(_IDS):07d}", "JA": ja}
  row.update({key: scores.get(key, ja) for key in ("AC", "DI", "SE", "SP")})
  if group is not None:
    row["group"] = group
  return row


def test_breakdown_isic2017_names():
  rows = [
    _row("melanoma", 0.6, SE=0.5),
    _row("melanoma", 0.8, SE=0.7),
    _row("nevus", 0.9),
    _row("seborrheic_keratosis", 0.7),
    _row("unknown", 0.0),  # in neither group
  ]
  breakdown = report.melanoma_breakdown(rows, melanoma_diagnosis="melanoma")
  assert set(breakdown) == {"melanoma", "non_melanoma"}
  melanoma, other = breakdown["melanoma"], breakdown["non_melanoma"]
  assert melanoma["num_images"] == 2 and other["num_images"] == 2
  assert melanoma["JA"] == pytest.approx(0.7)
  assert melanoma["SE"] == pytest.approx(0.6)
  assert other["JA"] == pytest.approx(0.8)
  # 0.6 is below the 0.65 threshold and counts as 0.
  assert melanoma["JA_thresholded"] == pytest.approx(0.4)
  assert other["JA_thresholded"] == pytest.approx(0.8)
  assert set(melanoma) == {"num_images", "AC", "DI", "JA", "SE", "SP", "JA_thresholded"}


def test_breakdown_isic2016_says_malignant():
  """ISIC 2016's builder names its melanoma class; the registry passes that on."""
  spec = datasets.get_dataset_spec("isic2016")
  assert spec.melanoma_diagnosis == "malignant"
  rows = [_row("malignant", 0.5), _row("benign", 0.9), _row("benign", 0.7)]
  breakdown = report.melanoma_breakdown(rows, melanoma_diagnosis=spec.melanoma_diagnosis)
  assert breakdown["melanoma"]["num_images"] == 1
  assert breakdown["melanoma"]["JA"] == pytest.approx(0.5)
  assert breakdown["non_melanoma"]["JA"] == pytest.approx(0.8)


def test_breakdown_decodes_integer_groups():
  spec = datasets.get_dataset_spec("ph2")
  assert spec.diagnoses == ("common_nevus", "atypical_nevus", "melanoma")
  rows = [_row(2, 0.9), _row(0, 0.5), _row(1, 0.7), _row(-1, 0.1)]
  breakdown = report.melanoma_breakdown(
    rows, melanoma_diagnosis=spec.melanoma_diagnosis, diagnosis_names=spec.diagnoses
  )
  assert breakdown["melanoma"]["JA"] == pytest.approx(0.9)
  assert breakdown["non_melanoma"]["num_images"] == 2


def test_breakdown_is_none_without_labels():
  def breakdown(rows):
    return report.melanoma_breakdown(rows, melanoma_diagnosis="melanoma")

  assert breakdown([_row(None, 0.8), _row(None, 0.9)]) is None
  assert breakdown([_row("unknown", 0.8), _row("unknown", 0.9)]) is None
  assert breakdown([]) is None


def test_breakdown_is_none_for_a_dataset_without_a_melanoma_class():
  spec = datasets.get_dataset_spec("isic2018")
  assert spec.melanoma_diagnosis is None and spec.diagnoses == ("unknown",)
  rows = [_row(0, 0.8), _row("melanoma", 0.9)]
  assert report.melanoma_breakdown(rows, melanoma_diagnosis=None) is None


def test_only_the_datasets_melanoma_label_counts_as_melanoma():
  rows = [_row("malignant", 0.5), _row("melanoma", 0.9)]
  breakdown = report.melanoma_breakdown(rows, melanoma_diagnosis="melanoma")
  assert breakdown["melanoma"]["JA"] == pytest.approx(0.9)
  assert breakdown["non_melanoma"]["JA"] == pytest.approx(0.5)


def test_breakdown_group_without_images_is_none():
  breakdown = report.melanoma_breakdown([_row("nevus", 0.8)], melanoma_diagnosis="melanoma")
  assert breakdown["melanoma"] is None
  assert breakdown["non_melanoma"]["num_images"] == 1


def test_histogram_png(tmp_path):
  rng = np.random.default_rng(0)
  good = [_row(None, ja) for ja in rng.beta(8, 1.5, 200)]
  poor = [_row(None, ja) for ja in rng.beta(2, 2, 200)]
  paths = [tmp_path / "good.png", tmp_path / "poor.png"]
  for rows, path in zip((good, poor), paths, strict=True):
    assert report.write_ja_histogram(rows, str(path), melanoma_diagnosis="melanoma") == (640, 440)
  images = [np.asarray(Image.open(path).convert("RGB")) for path in paths]
  assert images[0].shape == (440, 640, 3)
  assert not np.array_equal(images[0], images[1])
  # Not blank: bars in both colours, text in black.
  assert (images[1] != 255).any(axis=-1).mean() > 0.05


def test_histogram_adds_melanoma_panels_for_labelled_data(tmp_path):
  rows = [_row("melanoma", 0.55), _row("benign", 0.9), _row("benign", 1.0)]
  path = tmp_path / "ja.png"
  size = report.write_ja_histogram(rows, str(path), bins=10, melanoma_diagnosis="melanoma")
  assert size == (3 * 640, 440)
  assert Image.open(path).size == (3 * 640, 440)


def test_histogram_has_one_panel_for_a_dataset_without_a_melanoma_class(tmp_path):
  rows = [_row("melanoma", 0.55), _row("benign", 0.9)]
  path = tmp_path / "ja.png"
  assert report.write_ja_histogram(rows, str(path), melanoma_diagnosis=None) == (640, 440)
