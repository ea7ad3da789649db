"""Whether a run is a paper's row: how its config differs from the named one, the paper's numbers.

Used by `experiments/run_finder.py`. A run's config.json is compared with
its named config (with an ablation row's overrides); paths, logging and
checkpoint cadence are not compared (`_UNCOMPARED_KEYS`); seed, dtype and
pretrained_backbone are shown but keep the paper's numbers
(`_SAME_PROTOCOL_KEYS`). The paper's numbers come from
`experiments/reported_results.py` for a config's default run and from
`experiments/ablations.py` for an ablation row, each only on the split the
paper scored.
"""

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from typing import Any

from experiments import ablations, configs, reported_results, tables
from jaxseg import run_layout
from jaxseg.errors import ConfigError
from jaxseg.train import evaluator_entry

# Config keys that say where things are and how a run logs, not what it trains or scores.
_UNCOMPARED_KEYS = frozenset({
  "name", "dataset.data_dir", "dataset.manual_dir", "evaluate_checkpoint", "progress_bar",
  "log_every_steps", "checkpoint_every_steps", "keep_checkpoints", "eval_batch_size",
  "input.num_threads", "input.prefetch",
})  # fmt: skip
# Periodic evaluation only logs, unless it selects the model (`select` is compared).
_UNCOMPARED_KEY_PATTERN = re.compile(r"evals\.[^.]+\.every_steps")
# Shown, but the run is still the paper's protocol: the papers' runs had a seed
# too, and start cca and asnet from ImageNet weights, which pretrained_backbone names.
_SAME_PROTOCOL_KEYS = frozenset({"seed", "dtype", "pretrained_backbone"})


@dataclasses.dataclass(frozen=True)
class PaperNumbers:
  source: str
  metrics: Mapping[str, str]  # in percent, as printed
  std: Mapping[str, str]


@dataclasses.dataclass(frozen=True)
class AblationMatch:
  paper: str  # its key in ablations.ABLATIONS
  spec: str  # the config the ablation ran, NAME[:smoke]
  dataset: str  # as the paper's numbers are keyed
  row: tables.Row
  source: str  # the row's table
  recorded_overrides: Mapping[str, Any]  # every override the run was made with


def flatten(record: Mapping, prefix: str = "") -> dict[str, Any]:
  flat = {}
  for key, value in record.items():
    if isinstance(value, Mapping):
      flat.update(flatten(value, f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = value
  return flat


def as_json(value: Any) -> Any:
  """As config.json holds it: tuples become lists."""
  return json.loads(json.dumps(value))


def flat_config(config) -> dict[str, Any]:
  return flatten(as_json(config.to_dict()))


def compared(key: str) -> bool:
  return key not in _UNCOMPARED_KEYS and not _UNCOMPARED_KEY_PATTERN.fullmatch(key)


def config_changes(run_config: dict, reference: dict) -> list[tuple[str, Any]]:
  """(key, the run's value) where the run's config differs from the flat reference.

  Keys only one side has are left out: they come from code changed since the run.
  """
  ours = flatten(run_config)
  return [
    (key, ours[key])
    for key in sorted(ours.keys() & reference.keys())
    if compared(key) and ours[key] != reference[key]
  ]


def ablation_match(record: dict, directory: str) -> AblationMatch | None:
  """The ablation row an experiments.ablate run directory trains: its config and name."""
  spec = str(record.get("config", ""))
  name = spec.partition(":")[0]
  overrides = record.get("overrides")
  for paper, ablation in ablations.ABLATIONS.items():
    prefix, _, suffix = ablation.config.partition("{dataset}")
    if not (name.startswith(prefix) and name.endswith(suffix)):
      continue
    for table in (ablation, *ablation.sweeps.values()):
      for row in table.rows:
        if row.slug == os.path.basename(directory):
          return AblationMatch(
            paper=paper,
            spec=spec,
            dataset=name[len(prefix) : len(name) - len(suffix)],
            row=row,
            source=table.source,
            recorded_overrides=overrides if isinstance(overrides, dict) else {},
          )
  return None


def reference_config(spec: str, row_overrides: Mapping[str, Any] | None = None):
  """The named config (NAME[:smoke]) with an ablation row's overrides; None if unknown."""
  try:
    base = configs.get_config(spec)
    return tables.row_config(base, row_overrides or {}, smoke=spec.endswith(":smoke"))
  except ConfigError:  # a config or key renamed since the run
    return None


def format_change(key: str, value: Any) -> str:
  """As --config.KEY=VALUE would set it."""
  if key == "pretrained_backbone" and value:
    value = os.path.basename(str(value))
  if isinstance(value, bool):
    text = str(value).lower()
  elif isinstance(value, list):
    text = ",".join(str(v) for v in value)
  elif isinstance(value, dict):
    text = json.dumps(value, sort_keys=True)
  else:
    text = str(value)
  return f"{key}={text}"


def paper_numbers(
  config_name: str,
  results_file: str,
  scored: Mapping[str, str],
  reference,
  changes: list[tuple[str, Any]] | None,
  is_default_model: bool,
  ablation: AblationMatch | None,
) -> PaperNumbers | None:
  """The paper's numbers where a results file is the paper's row, else None.

  It is where the run is the named config (not `:smoke`) or one of its
  ablation rows, changed in nothing but `_SAME_PROTOCOL_KEYS`, and `scored`
  (dataset, split, resolution, postprocess as the results file records them)
  is how that config scores `results_file`.
  """
  if ":" in config_name or reference is None:
    return None
  if changes and any(key not in _SAME_PROTOCOL_KEYS for key, _ in changes):
    return None
  if expected_protocol(reference, results_file) != scored:
    return None
  entry = reported_results.reported_result(config_name, results_file)
  if entry is not None and is_default_model:
    return PaperNumbers(entry.source, entry.metrics, entry.std)
  if ablation is None or results_file != run_layout.RESULTS_FILE:
    return None
  numbers = ablation.row.paper.get(ablation.dataset)
  expected_split = reported_results.ABLATION_SPLITS.get(ablation.paper, {}).get(ablation.dataset)
  if not numbers or expected_split != scored["split"]:
    return None
  means, stds = {}, {}
  for metric, printed in numbers.items():
    mean, _, std = printed.partition("±")  # cross-validated rows print mean±std
    means[metric] = mean.strip()
    if std:
      stds[metric] = std.strip()
  return PaperNumbers(f"{ablation.source}: {ablation.row.label}", means, stds)


def expected_protocol(config, results_file: str) -> dict[str, str] | None:
  """How `config`'s run scores `results_file`: dataset, split, resolution, postprocess.

  As the results file records them (jaxseg/train/evaluators.py; a
  cross-validation's results.json as jaxseg/train/crossval.py summarises it);
  None if no evaluator of `config` writes that file at the end.
  """
  for entry in config.evals.values():
    if not (entry.at_end and entry.results_file == results_file):
      continue
    split = entry.split
    if config.crossval.enabled and not entry.ensemble:
      protocol = config.dataset.protocol
      split = run_layout.cross_validation_split(protocol.source_split, protocol.num_folds)
    return {
      "dataset": entry.dataset or config.dataset.name,
      "split": split,
      "resolution": evaluator_entry.scored_resolution(entry, config.input.image_size),
      "postprocess": entry.postprocess,
    }
  return None
