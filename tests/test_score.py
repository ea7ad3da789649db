"""experiments.score against numbers of the official `isic-challenge-scoring` package.

The masks are drawn here (`MASK_CASES`); the expected numbers were produced once
with isic-challenge-scoring 5.6.0 in a throwaway venv (never a jaxseg dependency):

  python3 -m venv /tmp/isic_venv && /tmp/isic_venv/bin/pip install isic-challenge-scoring==5.6.0
  .venv/bin/python -c "import pathlib, tests.test_score as t; \
    t.write_isic_masks(pathlib.Path('/tmp/cases/truth'), pathlib.Path('/tmp/cases/pred'), \
    empty_for_missing=True)"
  /tmp/isic_venv/bin/python - <<'EOF'
  import pathlib
  from isic_challenge_scoring import metrics
  from isic_challenge_scoring.confusion import create_binary_confusion_matrix
  from isic_challenge_scoring.load_image import iter_image_pairs
  from isic_challenge_scoring.segmentation import SegmentationScore
  truth, pred = pathlib.Path("/tmp/cases/truth"), pathlib.Path("/tmp/cases/pred")
  for pair in iter_image_pairs(truth, pred):  # SegmentationScore's own steps, per image
    cm = create_binary_confusion_matrix(pair.truth_image > 128, pair.prediction_image > 128)
    print(repr(pair.image_id), tuple(float(f(cm)) for f in (
      metrics.binary_accuracy, metrics.binary_dice, metrics.binary_jaccard,
      metrics.binary_sensitivity, metrics.binary_specificity, metrics.binary_threshold_jaccard)))
  print(SegmentationScore.from_dir(truth, pred).macro_average.to_dict())
  EOF

The official scorer refuses a truth mask without a prediction, so for it the
missing prediction (ISIC_0000007) was written as an empty mask, which is how
experiments.score scores it.
"""

import json
import pathlib
import re

import numpy as np
import pytest
from PIL import Image

from experiments import score
from jaxseg.errors import DataError
from tests.run_testing import run_module

ROOT = pathlib.Path(__file__).resolve().parent.parent
SUFFIX = "_segmentation.png"
KEYS = ("AC", "DI", "JA", "SE", "SP", "JA_thresholded")


def _rectangle(shape, top, left, bottom, right):
  mask = np.zeros(shape, np.uint8)
  mask[top:bottom, left:right] = 255
  return mask


def _disc(shape, centre, radius, edge_values=(255, 0)):
  """A disc; its 1-pixel rim gets edge_values[0] inside, edge_values[1] just outside.

  The rim values (anti-aliasing, as in real masks) lie on one side of 127 and
  128 both, the thresholds of jaxseg and of the official scorer.
  """
  rows, cols = np.mgrid[: shape[0], : shape[1]]
  distance = np.hypot(rows - centre[0], cols - centre[1])
  mask = np.zeros(shape, np.uint8)
  mask[distance <= radius + 1] = edge_values[1]
  mask[distance <= radius] = edge_values[0]
  mask[distance <= radius - 1] = 255
  return mask


# (case, truth, prediction or None for a missing one); the images are ISIC_0000001... in order.
MASK_CASES = (
  ("both empty", np.zeros((10, 14), np.uint8), np.zeros((10, 14), np.uint8)),
  ("empty truth, lesion predicted", np.zeros((10, 14), np.uint8), _rectangle((10, 14), 2, 3, 5, 7)),
  ("lesion, empty prediction", _disc((12, 16), (6, 8), 4), np.zeros((12, 16), np.uint8)),
  # The prediction is written as a 1-bit PNG.
  ("perfect", _disc((13, 11), (6, 5), 4, (200, 60)), _disc((13, 11), (6, 5), 4, (200, 60))),
  ("overlap, JA >= 0.65", _rectangle((14, 18), 2, 3, 12, 15), _rectangle((14, 18), 3, 3, 13, 16)),
  (
    "overlap, JA < 0.65",
    _disc((16, 16), (8, 7), 5, (200, 60)),
    _disc((16, 16), (9, 10), 4, (140, 100)),
  ),
  ("missing prediction", _rectangle((9, 12), 1, 2, 7, 9), None),
  ("all lesion", np.full((8, 10), 255, np.uint8), _disc((8, 10), (4, 5), 3)),
)

# Printed by the script in the module docstring: (AC, DI, JA, SE, SP, JA_thresholded).
OFFICIAL_PER_IMAGE = {
  "ISIC_0000001": (1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
  "ISIC_0000002": (0.9142857142857143, 0.0, 0.0, 1.0, 0.9142857142857143, 0.0),
  "ISIC_0000003": (0.7447916666666666, 0.0, 0.0, 0.0, 1.0, 0.0),
  "ISIC_0000004": (1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
  "ISIC_0000005": (
    0.8650793650793651, 0.864, 0.7605633802816901, 0.9, 0.8333333333333334, 0.7605633802816901
  ),
  "ISIC_0000006": (
    0.765625, 0.5384615384615384, 0.3684210526315789, 0.43209876543209874, 0.92, 0.0
  ),
  "ISIC_0000007": (0.6111111111111112, 0.0, 0.0, 0.0, 1.0, 0.0),
  "ISIC_0000008": (0.3625, 0.5321100917431193, 0.3625, 0.3625, 1.0, 0.0),
}  # fmt: skip
# SegmentationScore.macro_average, its names mapped to jaxseg's.
OFFICIAL_MEAN = {
  "AC": 0.7829241071428571,
  "SE": 0.5868248456790124,
  "SP": 0.958452380952381,
  "JA": 0.43643555411415863,
  "JA_thresholded": 0.34507042253521125,
  "DI": 0.49182145377558223,
}

ISIC_IDS = tuple(f"ISIC_{i:07d}" for i in range(1, len(MASK_CASES) + 1))
ONE_BIT_PREDICTION = "perfect"
MISSING_ID = ISIC_IDS[6]
# A prediction without truth, to be ignored.
EXTRA_PREDICTION_ID = f"ISIC_{len(MASK_CASES) + 1:07d}"


def write_isic_masks(
  truth_dir: pathlib.Path, prediction_dir: pathlib.Path, *, empty_for_missing=False
):
  """MASK_CASES as ISIC-named PNGs; `empty_for_missing` writes the missing prediction empty."""
  truth_dir.mkdir(parents=True, exist_ok=True)
  prediction_dir.mkdir(parents=True, exist_ok=True)
  for image_id, (case, truth, prediction) in zip(ISIC_IDS, MASK_CASES, strict=True):
    Image.fromarray(truth).save(truth_dir / f"{image_id}{SUFFIX}")
    if prediction is None:
      if not empty_for_missing:
        continue
      prediction = np.zeros_like(truth)
    image = Image.fromarray(prediction > 127 if case == ONE_BIT_PREDICTION else prediction)
    image.save(prediction_dir / f"{image_id}{SUFFIX}")
  Image.fromarray(_rectangle((6, 6), 1, 1, 4, 4)).save(
    prediction_dir / f"{EXTRA_PREDICTION_ID}{SUFFIX}"
  )


def _assert_official_numbers(record):
  assert [row["id"] for row in record["per_image"]] == list(ISIC_IDS)
  for row, image_id in zip(record["per_image"], ISIC_IDS, strict=True):
    expected = OFFICIAL_PER_IMAGE[image_id]
    thresholded = row["JA"] if row["JA"] >= 0.65 else 0.0
    got = (*(row[key] for key in KEYS[:-1]), thresholded)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, err_msg=image_id)
  np.testing.assert_allclose(
    [record["metrics"][key] for key in KEYS],
    [OFFICIAL_MEAN[key] for key in KEYS],
    rtol=1e-12,
    atol=1e-12,
  )
  assert record["num_images"] == len(MASK_CASES)


def test_mask_cases_cover_every_empty_mask_case_and_the_threshold():
  by_case = {case: i for i, (case, _, _) in enumerate(MASK_CASES)}
  expected = [OFFICIAL_PER_IMAGE[ISIC_IDS[i]] for i in range(len(MASK_CASES))]
  assert expected[by_case["both empty"]] == (1.0,) * 6
  assert expected[by_case["empty truth, lesion predicted"]][2:4] == (0.0, 1.0)  # JA 0, SE 1
  assert expected[by_case["lesion, empty prediction"]][2:5] == (0.0, 0.0, 1.0)  # JA, SE 0, SP 1
  assert expected[by_case["overlap, JA >= 0.65"]][5] == expected[by_case["overlap, JA >= 0.65"]][2]
  low = expected[by_case["overlap, JA < 0.65"]]
  assert 0 < low[2] < 0.65 and low[5] == 0.0
  assert expected[by_case["all lesion"]][4] == 1.0  # SP without negatives
  assert OFFICIAL_MEAN["JA_thresholded"] < OFFICIAL_MEAN["JA"]


def test_scores_agree_with_the_official_package(tmp_path):
  write_isic_masks(tmp_path / "truth", tmp_path / "pred")
  record = score.score_mask_folders(str(tmp_path / "pred"), str(tmp_path / "truth"))
  _assert_official_numbers(record)
  assert record["missing_predictions"] == [MISSING_ID]
  assert record["unmatched_predictions"] == [
    str(tmp_path / "pred" / f"{EXTRA_PREDICTION_ID}{SUFFIX}")
  ]
  for key in ("config", "dataset", "split", "resolution", "pooled", "per_image"):
    assert key in record
  counts = np.array([[row[k] for k in ("tp", "fp", "fn", "tn")] for row in record["per_image"]])
  tp, fp, fn, _ = counts.sum(axis=0)
  assert record["pooled"]["JA"] == pytest.approx(tp / (tp + fp + fn))


def _run_cli(*args):
  return run_module("experiments.score", *args, timeout=120)


def test_cli_prints_the_table_writes_json_and_lists_unmatched_masks(tmp_path):
  write_isic_masks(tmp_path / "truth", tmp_path / "pred")
  out = tmp_path / "scores" / "scores.json"
  proc = _run_cli("--predictions", tmp_path / "pred", "--truth", tmp_path / "truth", "--out", out)
  assert proc.returncode == 0, proc.stderr[-2000:]
  _assert_official_numbers(json.loads(out.read_text()))
  table = proc.stdout.splitlines()
  assert table[0].split() == ["id", *KEYS]
  assert f"{MISSING_ID}" in table[7] and "(no prediction)" in table[7]
  mean_row = next(line for line in table if line.startswith(f"mean of {len(MASK_CASES)}"))
  assert mean_row.split()[-1] == f"{OFFICIAL_MEAN['JA_thresholded']:.4f}"
  missing_line = next(line for line in proc.stderr.splitlines() if "without a prediction" in line)
  assert MISSING_ID in missing_line
  ignored_line = next(line for line in proc.stderr.splitlines() if "without truth" in line)
  assert f"{EXTRA_PREDICTION_ID}{SUFFIX}" in ignored_line


def test_cli_size_mismatch_names_both_files_and_exits_2(tmp_path):
  write_isic_masks(tmp_path / "truth", tmp_path / "pred")
  prediction = tmp_path / "pred" / f"{ISIC_IDS[4]}{SUFFIX}"
  Image.fromarray(np.zeros((14, 17), np.uint8)).save(prediction)
  proc = _run_cli("--predictions", tmp_path / "pred", "--truth", tmp_path / "truth")
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr
  assert proc.stderr.count("error: ") == 1
  error = proc.stderr[proc.stderr.index("error: ") :]
  assert str(prediction) in error and "17x14" in error
  assert str(tmp_path / "truth" / f"{ISIC_IDS[4]}{SUFFIX}") in error and "18x14" in error


@pytest.mark.parametrize("damage", ["not an image", "truncated"])
def test_an_unreadable_mask_is_named(tmp_path, damage):
  write_isic_masks(tmp_path / "truth", tmp_path / "pred")
  broken = tmp_path / "pred" / f"{ISIC_IDS[5]}{SUFFIX}"
  data = broken.read_bytes()
  broken.write_bytes(b"no pixels here" if damage == "not an image" else data[: len(data) // 2])
  with pytest.raises(DataError, match=re.escape(f"Cannot read the mask {broken}")):
    score.score_mask_folders(str(tmp_path / "pred"), str(tmp_path / "truth"))


def test_missing_or_empty_folders_are_user_errors(tmp_path):
  write_isic_masks(tmp_path / "truth", tmp_path / "pred")
  with pytest.raises(
    DataError, match=re.escape(f"truth folder {tmp_path / 'nowhere'} does not exist")
  ):
    score.score_mask_folders(str(tmp_path / "pred"), str(tmp_path / "nowhere"))
  (tmp_path / "empty").mkdir()
  with pytest.raises(DataError, match=r"No file under the truth folder .* \(it is empty\)"):
    score.score_mask_folders(str(tmp_path / "pred"), str(tmp_path / "empty"))
  with pytest.raises(DataError, match=r"ends with '_lesion.bmp' \(it holds e.g. ISIC_0000001_"):
    score.score_mask_folders(str(tmp_path / "pred"), str(tmp_path / "truth"), "_lesion.bmp")
  with pytest.raises(DataError, match="No file under the predictions folder .* --suffix"):
    score.score_mask_folders(str(tmp_path / "pred"), str(tmp_path / "truth"), "_x.png", SUFFIX)


def test_cli_without_folders_is_a_user_error():
  proc = _run_cli("--predictions", "somewhere")
  assert proc.returncode == 2 and "Traceback" not in proc.stderr
  assert "error: --truth is required: Folder of ground-truth masks." in proc.stderr


@pytest.mark.parametrize(
  "prediction_suffix, truth_suffix", [("_lesion.bmp", None), ("_prediction.png", "_lesion.bmp")]
)
def test_ph2_bmp_masks_in_ph2_folders_score_as_the_pngs(tmp_path, prediction_suffix, truth_suffix):
  """PH2's layout (<id>/<id>_lesion/<id>_lesion.bmp), truth as 1-bit BMPs, predictions 8-bit."""
  truth_root, prediction_dir = tmp_path / "PH2 Dataset images", tmp_path / "pred"
  prediction_dir.mkdir()
  ph2_ids = [f"IMD{i:03d}" for i in range(2, 2 + len(MASK_CASES))]
  for image_id, (_, truth, prediction) in zip(ph2_ids, MASK_CASES, strict=True):
    lesion_dir = truth_root / image_id / f"{image_id}_lesion"
    lesion_dir.mkdir(parents=True)
    Image.fromarray(truth > 127).save(lesion_dir / f"{image_id}_lesion.bmp")
    # PH2's folders also hold the image, which is no mask.
    Image.fromarray(np.zeros((*truth.shape, 3), np.uint8)).save(
      truth_root / image_id / f"{image_id}.bmp"
    )
    if prediction is not None:
      image = Image.fromarray(prediction)
      image.save(prediction_dir / f"{image_id}{prediction_suffix}")
  assert Image.open(truth_root / "IMD002" / "IMD002_lesion" / "IMD002_lesion.bmp").mode == "1"
  record = score.score_mask_folders(
    str(prediction_dir), str(truth_root), prediction_suffix, truth_suffix
  )
  assert record["missing_predictions"] == [ph2_ids[6]]
  record["per_image"] = [
    {**row, "id": isic_id} for row, isic_id in zip(record["per_image"], ISIC_IDS, strict=True)
  ]
  _assert_official_numbers(record)


def test_grey_values_split_above_127_and_0_1_masks_are_refused(tmp_path):
  (tmp_path / "truth").mkdir()
  (tmp_path / "pred").mkdir()
  Image.fromarray(np.array([[0, 127, 128, 255]], np.uint8)).save(tmp_path / "truth" / f"a{SUFFIX}")
  Image.fromarray(np.array([[0, 0, 255, 255]], np.uint8)).save(tmp_path / "pred" / f"a{SUFFIX}")
  record = score.score_mask_folders(str(tmp_path / "pred"), str(tmp_path / "truth"))
  # 128 is lesion here, as in jaxseg's datasets; the official scorer (> 128) disagrees only there.
  assert record["per_image"][0]["JA"] == 1.0
  Image.fromarray(np.array([[0, 0, 1, 1]], np.uint8)).save(tmp_path / "pred" / f"a{SUFFIX}")
  with pytest.raises(DataError, match="only the values 0 and 1.*save it with 255"):
    score.score_mask_folders(str(tmp_path / "pred"), str(tmp_path / "truth"))
  Image.fromarray(np.array([[0, 0, 65535, 65535]], np.uint16)).save(
    tmp_path / "pred" / f"a{SUFFIX}"
  )
  with pytest.raises(DataError, match=r"pixel mode I;16.*8-bit grey"):
    score.score_mask_folders(str(tmp_path / "pred"), str(tmp_path / "truth"))
