"""The fields of one entry of `config.evals`: what an evaluator scores, how and when.

`EvaluatorEntry` is the one list of the fields, their defaults and meanings;
configs make entries with `experiments/configs/common.evaluator` (a
ConfigDict of these fields) and `jaxseg/train/evaluators.py` checks and runs
them. JAX-free, since configs import it.
"""

import dataclasses

from jaxseg import run_layout

RESOLUTIONS = ("input", "original")


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvaluatorEntry:
  """One named evaluator of a config.

  Attributes:
    dataset: "" for the config's own dataset, or another registered one
      (ulffn: isic2017).
    split: an official split, or protocol:heldout / protocol:train of the
      config's protocol.
    resolution: "input": against the mask at the model's input size (the
      papers' protocol); "original": probabilities resized to each mask's own
      size (the challenge's).
    postprocess: "none" (foreground where probability >= 0.5) or a
      jaxseg.postprocess name (cdnn: dual_threshold), applied at the
      resolution being scored.
    every_steps: > 0: also during training, every that many steps
      (TensorBoard `<name>/...`).
    at_end: after training (or on `evaluate_checkpoint`'s model), write
      `results_file`.
    results_file: in the run's workdir: results.json,
      results_isic2017_test.json, ... ("" writes none).
    ensemble: k-fold runs only: score the bagging ensemble of the fold models
      and an all-data model instead (jaxseg/train/crossval.py).
    select: this evaluator (every_steps > 0) picks the checkpoint the final
      evaluators score: the best by mean JA (jaxseg/train/selection.py).
  """

  dataset: str = ""
  split: str
  resolution: str = "input"
  postprocess: str = "none"
  every_steps: int = 0
  at_end: bool = True
  results_file: str = run_layout.RESULTS_FILE
  ensemble: bool = False
  select: bool = False


FIELDS = tuple(field.name for field in dataclasses.fields(EvaluatorEntry))


def scored_resolution(entry, image_size) -> str:
  """What a results file records as its `resolution`: "original" or "input HxW"."""
  if entry.resolution == "original":
    return "original"
  height, width = image_size
  return f"input {height}x{width}"
