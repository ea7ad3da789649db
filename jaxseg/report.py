"""Results reporting from a run's per-image rows (results.json `per_image`).

- `melanoma_breakdown`: mean scores for melanoma and non-melanoma images
  (paper 000 Tables 3 and 4).
- `write_ja_histogram`: a PNG histogram of per-image Jaccard index, for all
  images and, where the dataset has labels, melanoma and non-melanoma apart
  (paper 000 Fig. 5). Drawn with PIL, which is already a dependency.

Which diagnosis is melanoma is the dataset's to say (ISIC 2016 calls it
`malignant`): its builder's `MELANOMA_DIAGNOSIS`, which callers pass as
`melanoma_diagnosis=datasets.get_dataset_spec(name).melanoma_diagnosis`.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from jaxseg import metrics

UNKNOWN_LABEL = "unknown"
_SCORE_KEYS = ("AC", "DI", "JA", "SE", "SP")

Row = Mapping[str, Any]


# --- melanoma / non-melanoma ---------------------------------------------------


def _group_name(row: Row, diagnosis_names: Sequence[str] | None) -> str:
  group = row.get("group", UNKNOWN_LABEL)
  if isinstance(group, int | np.integer) and diagnosis_names is not None:
    group = diagnosis_names[group] if 0 <= group < len(diagnosis_names) else UNKNOWN_LABEL
  return str(group)


def _mean_scores(rows: Sequence[Row]) -> dict[str, Any] | None:
  if not rows:
    return None
  scores = {key: float(np.mean([row[key] for row in rows])) for key in _SCORE_KEYS}
  ja = np.array([row["JA"] for row in rows])
  scores["JA_thresholded"] = float(np.where(ja >= metrics.JA_THRESHOLD, ja, 0.0).mean())
  return {"num_images": len(rows), **scores}


def split_by_melanoma(
  per_image_rows: Sequence[Row],
  *,
  melanoma_diagnosis: str | None,
  diagnosis_names: Sequence[str] | None = None,
) -> dict[str, list[Row]] | None:
  """{"melanoma": rows, "non_melanoma": rows}; None where there is nothing to split.

  Rows labelled `melanoma_diagnosis` are melanoma; those labelled `unknown`
  (or without a `group`) are in neither list; every other label is
  non-melanoma. None where the dataset has no melanoma class
  (`melanoma_diagnosis` None, as ISIC 2018) or no row is labelled.
  `diagnosis_names` decodes integer groups.
  """
  if melanoma_diagnosis is None:
    return None
  split = {"melanoma": [], "non_melanoma": []}
  for row in per_image_rows:
    label = _group_name(row, diagnosis_names)
    if label != UNKNOWN_LABEL:
      split["melanoma" if label == melanoma_diagnosis else "non_melanoma"].append(row)
  if not split["melanoma"] and not split["non_melanoma"]:
    return None
  return split


def melanoma_breakdown(
  per_image_rows: Sequence[Row],
  *,
  melanoma_diagnosis: str | None,
  diagnosis_names: Sequence[str] | None = None,
) -> dict[str, dict[str, Any] | None] | None:
  """Mean per-image scores of melanoma and of non-melanoma images.

  Args:
    per_image_rows: results.json `per_image` rows: AC DI JA SE SP and, where
      the dataset has labels, `group` (a name, or an index into
      `diagnosis_names`).
    melanoma_diagnosis: the dataset's melanoma label (its builder's
      `MELANOMA_DIAGNOSIS`); None where it has none. Every other label except
      `unknown` is non-melanoma (nevi, seborrheic keratoses, benign).
    diagnosis_names: the dataset's label names, to decode integer groups.

  Returns:
    {"melanoma": scores, "non_melanoma": scores}, each scores dict holding
    `num_images` and the means of AC DI JA SE SP and JA_thresholded (as
    fractions, like results.json `metrics`), or None for a group without
    images; None altogether where the data has no melanoma labels (see
    `split_by_melanoma`).
  """
  split = split_by_melanoma(
    per_image_rows, melanoma_diagnosis=melanoma_diagnosis, diagnosis_names=diagnosis_names
  )
  if split is None:
    return None
  return {group: _mean_scores(rows) for group, rows in split.items()}


# --- JA histogram --------------------------------------------------------------

_PANEL_SIZE = (640, 440)  # width, height of one histogram
_MARGIN = {"left": 74, "right": 22, "top": 76, "bottom": 66}
_WHITE, _BLACK, _GREY, _LIGHT_GREY = (255, 255, 255), (30, 30, 30), (110, 110, 110), (225, 225, 225)
_ABOVE_COLOUR = (70, 120, 190)  # bins at or above the threshold
_BELOW_COLOUR = (225, 140, 60)  # bins that the thresholded Jaccard counts as 0
_THRESHOLD_COLOUR = (200, 30, 30)


def _font(size: int) -> ImageFont.ImageFont:
  try:
    return ImageFont.load_default(size=size)
  except (OSError, TypeError):  # Pillow built without FreeType: fixed bitmap font
    return ImageFont.load_default()


def _nice_step(max_count: int) -> int:
  """Tick spacing (1, 2 or 5 times a power of ten) giving at most about six ticks."""
  rough = max(max_count, 1) / 6
  magnitude = 10 ** int(np.floor(np.log10(rough))) if rough >= 1 else 1
  return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough)


def _text_centred(draw, xy, text, font, fill=_BLACK):
  draw.text(xy, text, font=font, fill=fill, anchor="mm")


def _draw_panel(image, origin, title, ja, edges):
  """One histogram of `ja` over `edges` into `image` at `origin` (top-left)."""
  draw = ImageDraw.Draw(image)
  small, medium = _font(13), _font(15)
  width, height = _PANEL_SIZE
  x0, y0 = origin[0] + _MARGIN["left"], origin[1] + _MARGIN["top"]
  x1, y1 = origin[0] + width - _MARGIN["right"], origin[1] + height - _MARGIN["bottom"]
  counts, _ = np.histogram(ja, bins=edges)
  step = _nice_step(int(counts.max(initial=0)))
  y_max = step * int(np.ceil(max(counts.max(initial=0), 1) / step))
  # Room above the tallest bar for its count.
  y_max += step if counts.max(initial=0) > 0.92 * y_max else 0

  def x_of(value):
    return x0 + (x1 - x0) * value

  def y_of(count):
    return y1 - (y1 - y0) * count / y_max

  # Title: what a reader wants before looking at the bars.
  _text_centred(draw, ((x0 + x1) / 2, origin[1] + 18), title, medium)
  summary = "no images"
  if len(ja):
    below = float(np.mean(ja < metrics.JA_THRESHOLD))
    summary = (
      f"n = {len(ja)}   mean JA = {np.mean(ja):.3f}   "
      f"below {metrics.JA_THRESHOLD} (orange): {below:.1%}"
    )
  _text_centred(draw, ((x0 + x1) / 2, origin[1] + 38), summary, small, _GREY)

  # Grid and y ticks.
  for count in range(0, y_max + 1, step):
    y = y_of(count)
    draw.line([(x0, y), (x1, y)], fill=_LIGHT_GREY)
    draw.text((x0 - 6, y), str(count), font=small, fill=_BLACK, anchor="rm")

  # Bars, coloured by which side of the threshold their centre falls on.
  for count, left, right in zip(counts, edges[:-1], edges[1:], strict=True):
    colour = _BELOW_COLOUR if (left + right) / 2 < metrics.JA_THRESHOLD else _ABOVE_COLOUR
    if count:
      draw.rectangle([x_of(left) + 1, y_of(count), x_of(right) - 1, y1], fill=colour)

  # The ISIC 2018 ranking threshold, dashed so bars stay visible behind it.
  x = x_of(metrics.JA_THRESHOLD)
  for y in range(int(y0), int(y1), 8):
    draw.line([(x, y), (x, min(y + 4, y1))], fill=_THRESHOLD_COLOUR, width=2)
  # Its label sits above the plot, where no bar or count can cover it.
  draw.text((x, y0 - 4), f"JA threshold {metrics.JA_THRESHOLD}", font=small,
            fill=_THRESHOLD_COLOUR, anchor="mb")  # fmt: skip

  # Counts last, on white, so neither the threshold line nor a neighbour hides them.
  for count, left, right in zip(counts, edges[:-1], edges[1:], strict=True):
    if count:
      xy = ((x_of(left) + x_of(right)) / 2, y_of(count) - 3)
      draw.rectangle(draw.textbbox(xy, str(count), font=small, anchor="mb"), fill=_WHITE)
      draw.text(xy, str(count), font=small, fill=_BLACK, anchor="mb")

  # Axes and x ticks every 0.1.
  draw.line([(x0, y0), (x0, y1), (x1, y1)], fill=_BLACK, width=1)
  for tick in np.linspace(0.0, 1.0, 11):
    x = x_of(tick)
    draw.line([(x, y1), (x, y1 + 5)], fill=_BLACK)
    draw.text((x, y1 + 8), f"{tick:.1f}", font=small, fill=_BLACK, anchor="mt")
  _text_centred(draw, ((x0 + x1) / 2, y1 + 44), "Jaccard index (JA) per image", medium)

  # The y label, drawn horizontally on its own image and rotated into place.
  label = "images"
  box = draw.textbbox((0, 0), label, font=medium)
  label_image = Image.new("RGB", (box[2] + 4, box[3] + 4), _WHITE)
  ImageDraw.Draw(label_image).text((2, 2), label, font=medium, fill=_BLACK)
  label_image = label_image.rotate(90, expand=True)
  image.paste(label_image, (origin[0] + 8, int((y0 + y1) / 2 - label_image.height / 2)))


def write_ja_histogram(
  per_image_rows: Sequence[Row],
  path: str,
  bins: int = 20,
  *,
  melanoma_diagnosis: str | None,
  diagnosis_names: Sequence[str] | None = None,
) -> tuple[int, int]:
  """Writes a PNG histogram of per-image JA over [0, 1]; returns its (width, height).

  One panel for all images; where the rows are labelled and the dataset has a
  melanoma label (see `split_by_melanoma`), melanoma and non-melanoma panels
  beside it, as in paper 000 Fig. 5. Each panel is 640 x 440 pixels. Bars below the 0.65
  threshold (the ISIC 2018 ranking score counts those images as 0) are
  orange, the others blue; each bar shows its count.
  """
  edges = np.linspace(0.0, 1.0, bins + 1)
  panels = [("All images", per_image_rows)]
  split = split_by_melanoma(
    per_image_rows, melanoma_diagnosis=melanoma_diagnosis, diagnosis_names=diagnosis_names
  )
  if split is not None:
    panels += [("Melanoma", split["melanoma"]), ("Non-melanoma", split["non_melanoma"])]
  size = (_PANEL_SIZE[0] * len(panels), _PANEL_SIZE[1])
  image = Image.new("RGB", size, _WHITE)
  for i, (title, rows) in enumerate(panels):
    # JA = 1.0 belongs in the last bin, which np.histogram closes on the right.
    ja = np.clip(np.array([row["JA"] for row in rows], dtype=np.float64), 0.0, 1.0)
    _draw_panel(image, (i * _PANEL_SIZE[0], 0), title, ja, edges)
  image.save(path, format="PNG")
  return size
