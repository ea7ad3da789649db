"""The dataset explorer writes a contact sheet and consistent stats."""

import json

import numpy as np
from PIL import Image

from tests.run_testing import run_module


def test_explore_writes_contact_sheet_and_stats(tfds_dir, tmp_path):
  proc = run_module(
    "experiments.explore",
    *("--dataset", "synthetic_lesions", "--builder_config", "tiny", "--split", "validation"),
    *(f"--data_dir={tfds_dir}", f"--out={tmp_path}", "--num_images=5"),
    timeout=120,
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  stats = json.loads((tmp_path / "synthetic_lesions_validation_stats.json").read_text())
  assert stats["num_examples"] == 8
  assert sum(stats["diagnosis"].values()) == 8
  assert sum(stats["lesion_area_fraction"]["counts"]) == 8
  assert stats["distinct_sizes"] == 1  # every tiny image is 48x64
  edges = stats["original_height"]["edges"]
  assert edges[0] <= 48 <= edges[-1]
  sheet = Image.open(tmp_path / "synthetic_lesions_validation_contact_sheet.png")
  pixels = np.asarray(sheet.convert("RGB")).reshape(-1, 3)
  assert sheet.width > 0 and (pixels == (0, 255, 0)).all(axis=1).any()  # mask outlines are drawn
