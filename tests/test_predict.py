"""experiments.predict and jaxseg.inference: masks in the ISIC format from a trained run."""

import csv
import io
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from experiments.configs import common
from jaxseg import inference, metrics, overlays
from jaxseg.config_overrides import derive_config
from jaxseg.data import splits, transforms
from jaxseg.errors import CheckpointError, DataError
from jaxseg.train import evaluators, experiment, setup
from tests.run_testing import run_module, smoke_config


@pytest.fixture(scope="module")
def trained_run(tfds_dir, tmp_path_factory):
  """A unet smoke run (32x32 input), trained enough that its masks are neither empty nor full
  (four steps give a constant 0.59), so that comparing masks says something."""
  workdir = tmp_path_factory.mktemp("predict_run")
  overrides = {"num_train_steps": 40, "optimizer.lr": 1e-2, "checkpoint_every_steps": 40}
  experiment.run(smoke_config(tfds_dir, overrides), str(workdir))
  return str(workdir)


@pytest.fixture(scope="module")
def loaded_run(trained_run):
  return inference.load_run_for_inference(trained_run)


@pytest.fixture(scope="module")
def cv_run(tfds_dir, tmp_path_factory):
  """unet smoke as 2-fold cross-validation with an all-data model (an ensemble evaluator)."""
  workdir = tmp_path_factory.mktemp("predict_cv")
  evals = {
    "test": common.evaluator("protocol:heldout"),
    "ensemble_validation": common.evaluator(
      "validation", results_file="results_ensemble_validation.json", ensemble=True
    ),
  }
  overrides = {
    "dataset.protocol.name": "kfold",
    "dataset.protocol.num_folds": 2,
    "crossval.enabled": True,
    "evals": evals,
    "num_train_steps": 2,
  }
  experiment.run(smoke_config(tfds_dir, overrides), str(workdir))
  return str(workdir)


def _rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
  """A dark blob on a skin-coloured, noisy background."""
  rng = np.random.default_rng(seed)
  rows, cols = np.mgrid[:height, :width]
  blob = ((rows - height / 2) / height) ** 2 + ((cols - width / 2) / width) ** 2 < 0.06
  image = np.where(blob[..., None], [90, 50, 30], [220, 170, 140]).astype(np.float32)
  return np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)


def _write_mixed_folder(folder) -> dict[str, tuple[int, int]]:
  """Images of several formats and modes and two broken files; id -> upright (height, width)."""
  folder.mkdir()
  Image.fromarray(_rgb(37, 53)).save(folder / "odd.jpg", quality=90)
  rgba = np.concatenate([_rgb(40, 30, 1), np.full((40, 30, 1), 128, np.uint8)], axis=-1)
  Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
  Image.fromarray(_rgb(33, 41, 2)[..., 0]).save(folder / "grey.png")
  Image.fromarray(_rgb(50, 70, 3)).save(folder / "bitmap.BMP")
  Image.fromarray(_rgb(45, 35, 4)).save(folder / "scan.tif")
  exif = Image.Exif()
  exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
  Image.fromarray(_rgb(30, 50, 5)).save(folder / "rotated.jpg", exif=exif)
  (folder / "notes.txt").write_text("not an image")
  (folder / "fake.png").write_text("not a png either")
  encoded = io.BytesIO()
  Image.fromarray(_rgb(120, 160, 6)).save(encoded, format="JPEG")
  (folder / "truncated.jpg").write_bytes(encoded.getvalue()[: len(encoded.getvalue()) // 2])
  return {
    "odd": (37, 53),
    "rgba": (40, 30),
    "grey": (33, 41),
    "bitmap": (50, 70),
    "scan": (45, 35),
    "rotated": (50, 30),
  }


def _predict_cli(*args, timeout=300) -> subprocess.CompletedProcess:
  # Compiles like this session's tests (conftest): about half the subprocess's time.
  env = {"JAX_DISABLE_MOST_OPTIMIZATIONS": "1"}
  return run_module("experiments.predict", *args, timeout=timeout, env=env)


def _read_csv(path) -> dict[str, dict]:
  with open(path) as f:
    return {row["id"]: row for row in csv.DictReader(f)}


def test_folder_of_mixed_images_through_the_cli(trained_run, tmp_path):
  sizes = _write_mixed_folder(tmp_path / "in")
  out = tmp_path / "out"
  proc = _predict_cli(
    "--workdir", trained_run, "--input", tmp_path / "in", "--out", out,
    "--overlays", "--save_probabilities",
  )  # fmt: skip
  # Two unreadable images: reported, the others predicted, exit status 1.
  assert proc.returncode == 1, proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr
  assert "truncated.jpg" in proc.stderr and "fake.png" in proc.stderr
  assert "notes.txt" in proc.stderr  # ignored and listed

  rows = _read_csv(out / "predictions.csv")
  assert set(rows) == {*sizes, "truncated", "fake"}
  for broken in ("truncated", "fake"):
    assert "cannot read" in rows[broken]["error"] and rows[broken]["width"] == ""
    assert not list(out.glob(f"{broken}_*"))
  for image_id, (height, width) in sizes.items():
    row = rows[image_id]
    assert (int(row["height"]), int(row["width"]), row["error"]) == (height, width, "")
    mask = np.asarray(Image.open(out / f"{image_id}_segmentation.png"))
    assert mask.shape == (height, width) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 255}
    assert float(row["lesion_area_fraction"]) == pytest.approx(np.mean(mask == 255), abs=1e-6)
    # The run thresholds at 0.5, so the 8-bit probability agrees with the mask exactly.
    prob = np.asarray(Image.open(out / f"{image_id}_probability.png"))
    assert prob.shape == (height, width)
    np.testing.assert_array_equal(prob >= 128, mask == 255)
    overlay = Image.open(out / f"{image_id}_overlay.jpg")
    assert (overlay.height, overlay.width, overlay.mode) == (height, width, "RGB")
  sheet = Image.open(out / "contact_sheet.jpg")
  assert sheet.width == 6 * (overlays.THUMBNAIL_WIDTH + 4)
  assert not [name for name in os.listdir(out) if ".tmp." in name]


def test_user_errors_are_one_message_and_status_2(trained_run, tmp_path):
  images = tmp_path / "images"
  images.mkdir()
  Image.fromarray(_rgb(20, 20)).save(images / "a.png")
  (tmp_path / "empty").mkdir()
  (tmp_path / "empty" / "readme.txt").write_text("no images here")
  (tmp_path / "a_file").write_text("")
  # A run that has not checkpointed: named by predict's flag, and left as it was.
  no_checkpoint = tmp_path / "no_checkpoint"
  no_checkpoint.mkdir()
  shutil.copy(os.path.join(trained_run, "config.json"), no_checkpoint)
  cases = {
    "holds no images": (trained_run, tmp_path / "empty", tmp_path / "o1"),
    "holds no config.json": (tmp_path / "empty", images, tmp_path / "o2"),
    "is a file": (trained_run, images, tmp_path / "a_file"),
    "--workdir must be the workdir of a finished": (no_checkpoint, images, tmp_path / "o3"),
  }
  # Concurrently: each is mostly the interpreter starting.
  procs = {
    message: subprocess.Popen(
      [sys.executable, "-m", "experiments.predict"]
      + [f"--workdir={workdir}", f"--input={folder}", f"--out={out}"],
      stderr=subprocess.PIPE,
      stdout=subprocess.PIPE,
      text=True,
    )
    for message, (workdir, folder, out) in cases.items()
  }
  for message, proc in procs.items():
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2, (message, stderr[-2000:])
    assert "Traceback" not in stderr
    error_lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1 and message in error_lines[0], stderr[-2000:]
  assert not (tmp_path / "o1" / "predictions.csv").exists()
  assert os.listdir(no_checkpoint) == ["config.json"]


def test_split_input_scores_as_original_resolution_evaluation(trained_run, loaded_run, tmp_path):
  """Masks predicted for a TFDS split are the ones the original-resolution evaluator scores."""
  config = loaded_run.config
  images, ignored = inference.images_of_input(config, "synthetic_lesions:validation")
  assert ignored == [] and len(images) == 8
  records = inference.write_predictions(loaded_run, images, str(tmp_path), progress=False)
  assert [r.error for r in records] == [""] * 8
  assert all(0 < r.lesion_area_fraction < 1 for r in records)  # the masks have outlines

  entry = derive_config(config.evals.test, {"split": "validation", "resolution": "original"})
  run = setup.setup_run(config, loaded_run.mesh)
  state = run.state.replace(
    params=jax.tree.map(lambda x: x[0], loaded_run.members["params"]),
    batch_stats=jax.tree.map(lambda x: x[0], loaded_run.members["batch_stats"]),
  )
  expected = evaluators.evaluate(state, run.eval_step, config, entry, loaded_run.mesh)
  truth = splits.open_split(config.dataset, "validation", ground_truth_only=True)
  predicted = metrics.MetricAccumulator()
  for k in range(len(truth)):
    example = truth[k]
    target = example["mask"][..., 0] > 127
    mask = np.asarray(Image.open(tmp_path / f"{example['id'].decode()}_segmentation.png")) > 127
    counts = [mask & target, mask & ~target, ~mask & target, ~mask & ~target]
    predicted.update(np.array([[np.count_nonzero(c) for c in counts]]), ids=[example["id"]])
  without_group = [{k: v for k, v in row.items() if k != "group"} for row in expected.per_image()]
  assert predicted.per_image() == without_group


def test_flip_tta_is_the_mean_over_flips_and_compiles_once(trained_run):
  run = inference.load_run_for_inference(trained_run)  # its own trace counter
  rng = np.random.default_rng(0)
  height, width = run.config.input.image_size
  # More than one batch, and a partial one.
  inputs = rng.integers(0, 256, (run.batch_size + 3, height, width, 3), dtype=np.uint8)
  plain = run.predict_model_inputs(inputs)
  hflip = run.predict_model_inputs(inputs[:, :, ::-1].copy())[:, :, ::-1]
  vflip = run.predict_model_inputs(inputs[:, ::-1].copy())[:, ::-1]
  tta = run.predict_model_inputs(inputs, "flip")
  np.testing.assert_allclose(tta, (plain + hflip + vflip) / 3, atol=1e-5)
  assert run.num_traces == 2  # once per mode, whatever the number of batches

  images = [_rgb(40, 60), _rgb(90, 50, 1)]
  probs = inference.predict_probabilities(run, images, tta="flip")
  assert [p.shape for p in probs] == [(40, 60), (90, 50)]
  assert run.num_traces == 2


def test_cross_validation_workdir_predicts_with_the_mean_of_its_models(cv_run, tmp_path):
  ensemble_run = inference.load_run_for_inference(cv_run)
  expected_dirs = [os.path.join(cv_run, d) for d in ("fold_0", "fold_1", "all_data")]
  assert ensemble_run.member_dirs == expected_dirs
  images = [_rgb(48, 64), _rgb(31, 45, 1)]
  together = inference.predict_probabilities(ensemble_run, images)
  apart = [
    inference.predict_probabilities(inference.load_run_for_inference(d), images)
    for d in expected_dirs
  ]
  for k in range(len(images)):
    np.testing.assert_allclose(together[k], np.mean([m[k] for m in apart], axis=0), atol=1e-5)

  unfinished = tmp_path / "unfinished"
  shutil.copytree(os.path.join(cv_run, "fold_0"), unfinished / "fold_0")
  shutil.copy(os.path.join(cv_run, "config.json"), unfinished)
  with pytest.raises(CheckpointError, match="has not trained fold_1"):
    inference.load_run_for_inference(str(unfinished))


@pytest.mark.parametrize("image_shape", [(60, 90), (90, 60), (32, 32), (20, 70)])
def test_crop_is_undone_where_it_came_from(image_shape):
  """With resize_crop, to_image_size puts the crop's probabilities back where the crop came
  from in the image, and background outside it."""
  input_config = common.base_config().input
  input_config.update(image_size=(32, 32), resize_crop=True)
  height, width = image_shape
  rows, cols = np.mgrid[:height, :width]
  # Row and column coordinates as channels (from 20, so that 0 means outside the crop).
  image = np.stack([20 + rows * 230 // height, 20 + cols * 230 // width, rows * 0], -1)
  image = image.astype(np.uint8)
  model_input = inference.model_input(image, input_config)
  expected, _ = transforms.resize(
    image, np.zeros((*image_shape, 1), np.uint8), (32, 32), "bilinear", crop=True
  )
  np.testing.assert_array_equal(model_input, expected)  # the eval pipeline's crop

  scale = max(32 / height, 32 / width)
  top = (max(32, round(height * scale)) - 32) // 2 / scale
  left = (max(32, round(width * scale)) - 32) // 2 / scale
  margin = 1.5 / scale + 1  # bilinear blur: a model pixel and a bit, in image pixels
  inner_rows = (rows >= top + margin) & (rows < top + 32 / scale - margin)
  inner_cols = (cols >= left + margin) & (cols < left + 32 / scale - margin)
  outer = (rows < top - margin) | (rows >= top + 32 / scale + margin)
  outer |= (cols < left - margin) | (cols >= left + 32 / scale + margin)
  for channel, extent in ((0, height), (1, width)):
    back = inference.to_image_size(model_input[..., channel] / 255.0, image_shape, input_config)
    assert back.shape == image_shape
    error = np.abs(back * 255 - image[..., channel])[inner_rows & inner_cols]
    assert error.max() <= 3 + 230 / extent  # rounding of a pixel's coordinate
    assert np.all(back[outer] == 0)


def test_outline_is_drawn_on_the_mask_boundary():
  image = np.zeros((20, 30, 3), np.uint8)
  mask = np.zeros((10, 15), bool)
  mask[2:8, 3:12] = True  # half size: resized to the image's
  drawn = overlays.draw_outline(image, mask)
  green = np.all(drawn == overlays.OUTLINE_COLOUR, axis=-1)
  assert green[4, 6:24].all() and green[15, 6:24].all()  # top and bottom edges
  assert not green[8:12, 10:20].any() and not green[:3].any()  # inside and outside


def test_bad_inputs_are_data_errors(loaded_run, tmp_path):
  with pytest.raises(DataError, match="neither a folder nor DATASET:SPLIT"):
    inference.images_of_input(loaded_run.config, str(tmp_path / "missing"))
  (tmp_path / "a.png").write_bytes(b"")
  (tmp_path / "sub").mkdir()
  (tmp_path / "sub" / "a.jpg").write_bytes(b"")
  images, _ = inference.folder_images(str(tmp_path / "sub"))
  both = inference.folder_images(str(tmp_path))[0] + images
  with pytest.raises(DataError, match="rename one"):
    inference.write_predictions(loaded_run, both, str(tmp_path / "out"), progress=False)
