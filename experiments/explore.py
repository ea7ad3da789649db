r"""Looks at a dataset: a contact sheet with mask outlines, and a stats file.

  python -m experiments.explore --dataset synthetic_lesions --split train --out runs/explore
  python -m experiments.explore --dataset isic2017 --builder_config max512 --split validation

Writes <out>/<dataset>_<split>_contact_sheet.png and <out>/<dataset>_<split>_stats.json
(counts, diagnosis distribution, image-size and lesion-area-fraction histograms).
"""

import collections
import json
import os

import numpy as np
import tensorflow_datasets as tfds
from absl import flags

from experiments import cli, dataset_flags
from jaxseg import atomic_files, overlays
from jaxseg.data import transforms

flags.adopt_module_key_flags(dataset_flags)  # --help lists them
_OUT = flags.DEFINE_string("out", "runs/explore", "Output directory.")
_NUM = flags.DEFINE_integer("num_images", 24, "Images on the contact sheet.")
_SEED = flags.DEFINE_integer("seed", 0, "Which images go on the sheet.")


def histogram(values, bins) -> dict:
  counts, edges = np.histogram(values, bins=bins)
  return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def main():
  name, split = dataset_flags.DATASET.value, dataset_flags.SPLIT.value
  # Statistics read masks only; images stay encoded.
  masks_only = dataset_flags.open_data_source({"image": tfds.decode.SkipDecoding()})
  labels = masks_only.dataset_info.features["diagnosis"].names
  sizes, fractions, diagnoses = [], [], collections.Counter()
  for i in range(len(masks_only)):
    example = masks_only[i]
    sizes.append((int(example["original_height"]), int(example["original_width"])))
    fractions.append(float(np.mean(example["mask"] > 127)))
    diagnoses[labels[example["diagnosis"]]] += 1
  heights, widths = np.array(sizes).T
  stats = {
    "dataset": name,
    "builder_config": dataset_flags.BUILDER_CONFIG.value,
    "split": split,
    "num_examples": len(masks_only),
    "diagnosis": dict(sorted(diagnoses.items())),
    "original_height": histogram(heights, 10),
    "original_width": histogram(widths, 10),
    "distinct_sizes": len(set(sizes)),
    "lesion_area_fraction": histogram(fractions, np.linspace(0, 1, 11)),
    "lesion_area_fraction_mean": float(np.mean(fractions)),
    "empty_masks": int(sum(f == 0 for f in fractions)),
  }

  source = dataset_flags.open_data_source()
  rng = np.random.default_rng(_SEED.value)
  chosen = sorted(rng.choice(len(source), min(_NUM.value, len(source)), replace=False))
  tiles = []
  for i in chosen:
    example = source[int(i)]
    example_id = transforms.id_text(example["id"])
    label = f"{example_id} {labels[example['diagnosis']]}"
    tiles.append(overlays.thumbnail(example["image"], example["mask"][..., 0] > 127, label))

  os.makedirs(_OUT.value, exist_ok=True)
  stem = os.path.join(_OUT.value, f"{name}_{split}")
  overlays.contact_sheet(tiles).save(f"{stem}_contact_sheet.png")
  atomic_files.write_json(f"{stem}_stats.json", stats)
  print(json.dumps({k: v for k, v in stats.items() if not isinstance(v, dict)}, indent=1))
  print(f"Wrote {stem}_contact_sheet.png and {stem}_stats.json")


if __name__ == "__main__":
  cli.app_main(main, takes_config=False)
