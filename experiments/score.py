r"""Scores mask files made by anything against ground-truth mask files, the ISIC way.

  python -m experiments.score --predictions DIR --truth DIR [--out scores.json]
  python -m experiments.score --predictions preds --truth "PH2 Dataset images" \
    --suffix _lesion.bmp

A mask's id is its file name without the suffix (`ISIC_0000000_segmentation.png`
-> `ISIC_0000000`); both folders are searched with their subfolders, so PH2's
`<id>/<id>_lesion/<id>_lesion.bmp` is found where it was extracted.
`--truth_suffix` gives the truth files another ending than `--suffix`.

Every truth id is scored with `jaxseg.metrics` (per image AC, DI, JA, SE, SP;
their mean over images and JA_thresholded; pixel-pooled scores), printed as a
table and, with `--out`, written in the layout of a run's `results.json`. A
mask is lesion where its grey value is above 127 (`metrics.binarize_mask`;
1-bit, palette and RGB masks are read as grey first, as the dataset builders
do). The official `isic-challenge-scoring` package gives the same numbers
(tests/test_score.py), except where a mask holds the grey value 128 exactly,
which it reads as background (it binarises at > 128); it also accepts only
grey and 1-bit masks.

A truth id without a prediction is scored as an empty prediction, as it
would be for a model that found no lesion; predictions without truth are
ignored. Both are listed on stderr and in the JSON.
"""

import os
import sys
from typing import Any

import numpy as np
from absl import flags
from PIL import Image

from experiments import cli
from jaxseg import atomic_files, metrics
from jaxseg.errors import DataError

_PREDICTIONS = flags.DEFINE_string("predictions", None, "Folder of predicted masks.")
_TRUTH = flags.DEFINE_string("truth", None, "Folder of ground-truth masks.")
_OUT = flags.DEFINE_string("out", None, "Write the scores as JSON here (results.json layout).")
DEFAULT_SUFFIX = "_segmentation.png"
_SUFFIX = flags.DEFINE_string(
  "suffix", DEFAULT_SUFFIX, "File-name ending of the masks; the rest is the image id."
)
_TRUTH_SUFFIX = flags.DEFINE_string(
  "truth_suffix", None, "File-name ending of the truth masks, if not --suffix."
)

# Modes PIL converts to 8-bit grey without losing what a mask means; 16- and
# 32-bit grey would be clipped, so they are refused instead.
_MASK_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA")
_EXAMPLE_FILES = 5


def find_mask_files(folder: str, suffix: str, role: str) -> dict[str, str]:
  """{id: path} of the files under `folder` (and its subfolders) whose names end with `suffix`.

  Hidden files are skipped: macOS archives carry `._<name>` copies that are not images.
  """
  if not os.path.isdir(folder):
    what = "is not a folder" if os.path.exists(folder) else "does not exist"
    raise DataError(f"The {role} folder {folder} {what}; give --{role} DIR.")
  found: dict[str, str] = {}
  for root, dirs, files in os.walk(folder):
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    for name in sorted(files):
      if name.startswith(".") or not name.endswith(suffix) or name == suffix:
        continue
      image_id = name[: len(name) - len(suffix)]
      path = os.path.join(root, name)
      if image_id in found:
        raise DataError(
          f"Two {role} masks for the id {image_id!r}: {found[image_id]} and {path}; keep one."
        )
      found[image_id] = path
  return found


def _none_found_error(folder: str, suffix: str, role: str, flag: str) -> DataError:
  examples = []
  for root, dirs, files in os.walk(folder):
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    examples += [os.path.relpath(os.path.join(root, f), folder) for f in sorted(files)]
    if len(examples) >= _EXAMPLE_FILES:
      break
  holds = f"it holds e.g. {', '.join(examples[:_EXAMPLE_FILES])}" if examples else "it is empty"
  return DataError(
    f"No file under the {role} folder {folder} ends with {suffix!r} ({holds}); give the "
    f"masks' file-name ending with {flag}."
  )


def read_mask(path: str) -> np.ndarray:
  """A mask file as bool [H, W]: lesion where its grey value is above 127."""
  try:
    with Image.open(path) as image:
      image.load()
      if image.mode not in _MASK_MODES:
        raise DataError(
          f"The mask {path} has the pixel mode {image.mode}; masks must be 8-bit grey "
          f"(0 background, 255 lesion) or 1-bit: save it as an 8-bit grey PNG."
        )
      grey = np.asarray(image if image.mode == "L" else image.convert("L"))
  except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
    # PIL reports truncated and corrupt files as OSError, some broken headers
    # as SyntaxError or ValueError.
    raise DataError(
      f"Cannot read the mask {path}: {type(error).__name__}: {error}. Is it an image file?"
    ) from error
  if grey.size and grey.max() == 1:
    # A 0/1 mask would silently score as empty.
    raise DataError(
      f"The mask {path} holds only the values 0 and 1; masks are read as 0/255 (lesion "
      f"where above 127): save it with 255 for lesion."
    )
  return metrics.binarize_mask(grey)


def _size_text(mask: np.ndarray) -> str:
  return f"{mask.shape[1]}x{mask.shape[0]}"


def score_mask_folders(
  predictions: str, truth: str, suffix: str = DEFAULT_SUFFIX, truth_suffix: str | None = None
) -> dict[str, Any]:
  """Scores every truth mask under `truth` against its prediction under `predictions`.

  Args:
    predictions: folder of predicted masks, `<id><suffix>`.
    truth: folder of ground-truth masks, `<id><truth_suffix>`.
    suffix: file-name ending of the predictions (and of the truth, by default).
    truth_suffix: file-name ending of the truth masks, if not `suffix`.

  Returns:
    The `results.json` layout (config, dataset, split, resolution, metrics,
    pooled, num_images, per_image), the folders and suffixes, and
    `missing_predictions` (truth ids scored as empty predictions) and
    `unmatched_predictions` (prediction files without truth, ignored).

  Raises:
    DataError: a folder missing or without masks, a mask unreadable, or a
      prediction whose size differs from its truth's.
  """
  truth_suffix = suffix if truth_suffix is None else truth_suffix
  truth_files = find_mask_files(truth, truth_suffix, "truth")
  if not truth_files:
    raise _none_found_error(truth, truth_suffix, "truth", "--truth_suffix (or --suffix)")
  prediction_files = find_mask_files(predictions, suffix, "predictions")
  if not prediction_files:
    # Scoring every image as empty is never what was meant; the suffix is wrong.
    raise _none_found_error(predictions, suffix, "predictions", "--suffix")

  accumulator = metrics.MetricAccumulator()
  missing = []
  for image_id, truth_file in sorted(truth_files.items()):
    truth_mask = read_mask(truth_file)
    prediction_file = prediction_files.get(image_id)
    if prediction_file is None:
      missing.append(image_id)
      predicted = np.zeros_like(truth_mask)
    else:
      predicted = read_mask(prediction_file)
      if predicted.shape != truth_mask.shape:
        raise DataError(
          f"The prediction {prediction_file} is {_size_text(predicted)} pixels but its truth "
          f"{truth_file} is {_size_text(truth_mask)}; a prediction must have its truth's size "
          f"(the challenge scores masks at the image's original size)."
        )
    # A 0/1 float map thresholds at 0.5 to exactly `predicted`; same sizes, so no resize.
    counts = metrics.counts_at_original_resolution(predicted.astype(np.float32), truth_mask)
    accumulator.update(counts[None], ids=[image_id])

  summary = accumulator.summary()
  return {
    "config": "",
    "dataset": truth,
    "split": "",
    # Each mask at its own size, as the challenge scores.
    "resolution": "original",
    "metrics": summary["mean"],
    "pooled": summary["pooled"],
    "num_images": summary["num_images"],
    "predictions": predictions,
    "suffix": suffix,
    "truth_suffix": truth_suffix,
    "missing_predictions": missing,
    "unmatched_predictions": sorted(
      path for image_id, path in prediction_files.items() if image_id not in truth_files
    ),
    "per_image": accumulator.per_image(),
  }


def format_score_table(record: dict[str, Any]) -> str:
  """Per-image rows, then the mean over images and the pixel-pooled scores."""
  keys = metrics.METRIC_KEYS
  missing = set(record["missing_predictions"])
  id_width = max([len("pooled")] + [len(row["id"]) for row in record["per_image"]])
  widths = [max(8, len(key)) for key in keys]

  def line(label: str, values: list[str], note: str = "") -> str:
    cells = (value.rjust(width) for value, width in zip(values, widths, strict=False))
    return " ".join([label.ljust(id_width), *cells]) + note

  lines = [line("id", list(keys))]
  for row in record["per_image"]:
    # Per image, JA_thresholded is JA where JA reaches the threshold, else 0.
    thresholded = row["JA"] if row["JA"] >= metrics.JA_THRESHOLD else 0.0
    values = [f"{row[k]:.4f}" for k in keys[:-1]] + [f"{thresholded:.4f}"]
    lines.append(line(row["id"], values, "  (no prediction)" if row["id"] in missing else ""))
  lines.append(
    line(f"mean of {record['num_images']}", [f"{record['metrics'][k]:.4f}" for k in keys])
  )
  lines.append(line("pooled", [f"{record['pooled'][k]:.4f}" for k in keys[:-1]]))
  return "\n".join(lines)


def main():
  record = score_mask_folders(_PREDICTIONS.value, _TRUTH.value, _SUFFIX.value, _TRUTH_SUFFIX.value)
  print(format_score_table(record))
  if record["missing_predictions"]:
    print(
      f"warning: truth ids without a prediction, scored as empty predictions "
      f"({len(record['missing_predictions'])}): {', '.join(record['missing_predictions'])}",
      file=sys.stderr,
    )
  if record["unmatched_predictions"]:
    print(
      f"warning: predictions without truth, ignored ({len(record['unmatched_predictions'])}): "
      f"{', '.join(record['unmatched_predictions'])}",
      file=sys.stderr,
    )
  if _OUT.value:
    atomic_files.write_json(_OUT.value, record)
    print(f"Wrote {_OUT.value}")


if __name__ == "__main__":
  cli.app_main(main, takes_config=False, required=("predictions", "truth"))
