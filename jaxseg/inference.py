"""Prediction with a trained run on images of any size, in the ISIC submission format.

  run = inference.load_run_for_inference("runs/unet_synthetic")
  probs = inference.predict_probabilities(run, [image], tta="flip")   # at each image's size
  records = inference.write_predictions(run, inference.folder_images("photos")[0], "out")

`load_run_for_inference` restores a run's model from its `config.json` and
checkpoint (`checkpoints.restore_trained_state`); a cross-validation workdir
becomes the bagging ensemble of its fold models and its `all_data` model, if it
has one (`jaxseg.train.ensemble`). A single run is an ensemble of one, so both
take the same path.

The model sees what evaluation sees: each image goes through the run's input
transform (`pipeline.make_preprocess`: resize to `input.image_size` by
`input.resize_method`, or `resize_crop`; `pipeline.make_colour`) and is
normalised on the device. Probabilities come back to the image's size with
the bilinear resize of original-resolution scoring (`jaxseg.metrics`), and are
then thresholded at 0.5 or post-processed (`jaxseg.postprocess`).

With `input.resize_crop` (ulffn) the model sees the centre crop of the image
scaled to cover `image_size`. Its probabilities go back where the crop came
from in the scaled image, the cut-off sides count as background (probability
0: the model never saw them, and dermoscopy frames centre the lesion), and the
whole is resized to the image's size, so the geometry is the exact inverse.

`tta="flip"` averages the probabilities of the image and its horizontal and
vertical flips (each flipped back), and of every member, inside one jitted
step; every batch is padded to the same size, so each mode compiles once.

One module of ~500 lines because it is one pipeline, in its order (the
model, images to and from its input, inputs, outputs): each section is a
step of `experiments.predict` and is used nowhere else.
"""

import concurrent.futures
import csv
import dataclasses
import io
import math
import os
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from PIL import Image, ImageOps
from tqdm import tqdm

from jaxseg import atomic_files, metrics, overlays, postprocess, run_layout
from jaxseg.config_overrides import derive_config
from jaxseg.data import datasets, pipeline, splits, transforms
from jaxseg.errors import CheckpointError, ConfigError, DataError
from jaxseg.train import checkpoints, ensemble, setup

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
TTA_MODES = ("none", "flip")
PREDICTIONS_FILE = "predictions.csv"
CONTACT_SHEET_FILE = "contact_sheet.jpg"
CSV_COLUMNS = ("id", "width", "height", "lesion_area_fraction", "error")
_JPEG_QUALITY = 90


# --- the model ------------------------------------------------------------------


def member_dirs_of_run(workdir: str, config) -> list[str]:
  """The run directories whose models predict: the run itself, or a cross-validation's folds
  (and its all-data model where it trained one)."""
  if not config.crossval.enabled:
    return [workdir]
  num_folds = config.dataset.protocol.num_folds
  missing = [
    os.path.basename(d) for d in run_layout.fold_dirs(workdir, num_folds) if not os.path.isdir(d)
  ]
  if missing:
    raise CheckpointError(
      f"The cross-validation in {workdir} has not trained {', '.join(missing)}; finish it by "
      "rerunning experiments.run with the same --workdir."
    )
  return run_layout.ensemble_member_dirs(workdir, num_folds)


def default_postprocess(config) -> str:
  """What the run's test evaluator binarises with ("none" is the 0.5 threshold)."""
  return config.evals.test.postprocess if "test" in config.evals else "none"


def check_tta_mode(tta: str) -> None:
  if tta not in TTA_MODES:
    raise ConfigError(
      f"Unknown test-time augmentation {tta!r}; choose from {', '.join(TTA_MODES)}."
    )


def _probability_fn(apply_fn, normalization: str, tta: str) -> Callable:
  def probability(members, images):
    inputs = transforms.normalize(images, normalization)
    if tta == "none":
      return ensemble.mean_member_probability(apply_fn, members, inputs)
    # [B, H, W, C]: axis 2 flips horizontally, axis 1 vertically; lax.map keeps
    # one view's activations alive at a time, as for members.
    views = jnp.stack([inputs, inputs[:, :, ::-1], inputs[:, ::-1]])
    probs = jax.lax.map(lambda v: ensemble.mean_member_probability(apply_fn, members, v), views)
    return (probs[0] + probs[1][:, :, ::-1] + probs[2][:, ::-1]) / 3.0

  return probability


class InferenceRun:
  """A trained run's model (or ensemble) ready to predict batches of model inputs."""

  def __init__(self, config, member_dirs: Sequence[str], member_steps, model, members, mesh: Mesh):
    self.config = config
    self.member_dirs = list(member_dirs)
    self.member_steps = list(member_steps)
    self.model = model
    self.members = members
    self.mesh = mesh
    # Whole batches only, split evenly over the devices: one shape, one compile.
    self.batch_size = math.ceil(config.eval_batch_size / mesh.size) * mesh.size
    self._steps: dict[str, setup.TracedStep] = {}

  @property
  def num_traces(self) -> int:
    return sum(step.num_traces for step in self._steps.values())

  def _step(self, tta: str) -> setup.TracedStep:
    check_tta_mode(tta)
    if tta not in self._steps:
      fn = _probability_fn(self.model.apply, self.config.input.normalization, tta)
      self._steps[tta] = setup.TracedStep(fn, self.mesh, shard_outputs=True, donate_state=False)
    return self._steps[tta]

  def predict_model_inputs(self, inputs: np.ndarray, tta: str = "none") -> np.ndarray:
    """Model inputs [N, h, w, C] (`model_input`) -> foreground probabilities [N, h, w]."""
    step = self._step(tta)
    sharding = NamedSharding(self.mesh, P("data"))
    out = []
    for start in range(0, len(inputs), self.batch_size):
      chunk = inputs[start : start + self.batch_size]
      padded = np.zeros((self.batch_size, *chunk.shape[1:]), chunk.dtype)
      padded[: len(chunk)] = chunk
      probs = step(self.members, jax.device_put(padded, sharding))
      out.append(np.asarray(jax.device_get(probs))[: len(chunk)])
    height, width = self.config.input.image_size
    return np.concatenate(out) if out else np.zeros((0, height, width), np.float32)


def load_run_for_inference(
  workdir: str, mesh: Mesh | None = None, named_by: str = "workdir"
) -> InferenceRun:
  """The model of the run in `workdir` (its config.json and checkpoint), or its CV ensemble.

  Restores into the state's shapes (`setup.abstract_state`), so nothing initialises, and
  writes nothing in `workdir`; errors name `named_by`, what gave `workdir` (a tool's flag).
  """
  config = checkpoints.read_run_config(workdir)
  member_dirs = member_dirs_of_run(workdir, config)
  mesh = setup.create_mesh() if mesh is None else mesh
  model, members, member_steps = ensemble.load_members(config, member_dirs, mesh, named_by)
  logging.info(
    "Predicting with %s (%s) from %s at steps %s.",
    config.get("name", ""), config.model_name, member_dirs, member_steps,
  )  # fmt: skip
  return InferenceRun(config, member_dirs, member_steps, model, members, mesh)


# --- images to and from the model's input ---------------------------------------


def model_input(image: np.ndarray, input_config) -> np.ndarray:
  """uint8 RGB [H, W, 3] of any size -> the model's input, by the run's eval transform."""
  # Preprocess reads a dataset example; this image has no mask and its id is not needed.
  example = {"image": image, "mask": np.zeros((*image.shape[:2], 1), np.uint8), "id": ""}
  element = pipeline.make_preprocess(input_config).map(example)
  if (colour_map := pipeline.make_colour(input_config)) is not None:
    element = colour_map.map(element)
  return element["image"]


def to_image_size(prob: np.ndarray, image_size: tuple[int, int], input_config) -> np.ndarray:
  """Probabilities at the model's input size -> float32 [H, W] at `image_size`, undoing
  the input transform (the module docstring says how a crop is undone)."""
  prob = np.asarray(prob, np.float32)
  if input_config.resize_crop:
    prob = transforms.uncrop_probabilities(prob, image_size)
  if prob.shape == tuple(image_size):
    return prob
  return metrics.resize_bilinear(prob, tuple(image_size))


def predict_probabilities(
  run: InferenceRun, images: Sequence[np.ndarray], tta: str = "none"
) -> list[np.ndarray]:
  """Foreground probabilities float32 [H, W] of uint8 RGB images [H, W, 3] of any sizes."""
  if not images:
    return []
  inputs = np.stack([model_input(image, run.config.input) for image in images])
  probs = run.predict_model_inputs(inputs, tta)
  return [
    to_image_size(p, image.shape[:2], run.config.input)
    for p, image in zip(probs, images, strict=True)
  ]


# --- inputs ---------------------------------------------------------------------


def read_image(path: str) -> np.ndarray:
  """uint8 RGB [H, W, 3] of an image file, turned upright by its EXIF orientation.

  Greyscale, palette, RGBA (alpha dropped), CMYK become RGB; 16-bit greyscale
  is scaled to 8 bits. Raises DataError for a file that is not a readable image.
  """
  try:
    with Image.open(path) as opened:
      image = ImageOps.exif_transpose(opened)
      if image.mode.startswith("I;16"):
        # PIL's own conversion clips 16-bit values at 255.
        levels = np.asarray(image, np.float32) / 257.0
        image = Image.fromarray(np.round(levels).astype(np.uint8))
      return np.asarray(image.convert("RGB"))
  # PIL reports a damaged file with many exception types (OSError, SyntaxError,
  # ValueError, struct.error, DecompressionBombError...), all of them the file's fault.
  except Exception as error:  # noqa: BLE001
    raise DataError(f"cannot read {path}: {error}") from error


@dataclasses.dataclass(frozen=True)
class ImageToPredict:
  """One input: its id (output files are named after it) and how to read it.

  `read()` returns uint8 RGB [H, W, 3] and the (height, width) its mask is
  written at, or raises DataError.
  """

  id: str
  read: Callable[[], tuple[np.ndarray, tuple[int, int]]]
  source: str = ""  # the file, or dataset:split[index], for messages


def _read_file(path: str) -> tuple[np.ndarray, tuple[int, int]]:
  image = read_image(path)
  return image, image.shape[:2]


def folder_images(folder: str) -> tuple[list[ImageToPredict], list[str]]:
  """The images of `folder` by extension (IMAGE_EXTENSIONS, any case; sorted; not recursive),
  and the names of the other files, which are ignored."""
  if not os.path.isdir(folder):
    raise DataError(f"--input {folder} is not a folder of images.")
  images, ignored = [], []
  for name in sorted(os.listdir(folder)):
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
      continue
    stem, extension = os.path.splitext(name)
    if name.startswith(".") or extension.lower() not in IMAGE_EXTENSIONS:
      ignored.append(name)
      continue
    images.append(ImageToPredict(stem, lambda p=path: _read_file(p), path))
  return images, ignored


def split_images(dataset_config, split: str) -> list[ImageToPredict]:
  """The images of a TFDS split (`splits.open_split`), masks written at the original size
  where the dataset is stored downsized (`original_height`, `original_width`)."""
  source = splits.open_split(dataset_config, split)

  def read(index: int):
    example = source[index]
    image = example["image"]
    if "original_height" in example:
      return image, (int(example["original_height"]), int(example["original_width"]))
    return image, image.shape[:2]

  # Ids without decoding the images.
  ground_truth = splits.open_split(dataset_config, split, ground_truth_only=True)
  ids = [transforms.id_text(ground_truth[i]["id"]) for i in range(len(ground_truth))]
  where = f"{dataset_config.name}:{split}"
  return [
    # Ids are file names here; a path separator in one must not make a folder.
    ImageToPredict(i.replace("/", "_"), lambda k=k: read(k), f"{where}[{k}]")
    for k, i in enumerate(ids)
  ]


def split_dataset_config(run_config, dataset: str, data_dir: str | None = None):
  """The run's dataset config for another dataset name (`name` or `name/builder_config`), as
  evaluators derive one (`evaluators.dataset_config`), reading `data_dir` if given."""
  name, _, builder_config = dataset.partition("/")
  datasets.get_dataset_spec(name)  # an unknown name lists the registered ones
  overrides = {"name": name, "train_size": 0}
  if builder_config:
    overrides["builder_config"] = builder_config
  if data_dir:
    overrides["data_dir"] = data_dir
  return derive_config(run_config.dataset, overrides)


def images_of_input(run_config, spec: str, data_dir: str | None = None):
  """`spec` is a folder or DATASET[/BUILDER_CONFIG]:SPLIT -> (images, ignored file names)."""
  if os.path.isdir(spec):
    images, ignored = folder_images(spec)
    if not images:
      raise DataError(
        f"--input {spec} holds no images ({', '.join(IMAGE_EXTENSIONS)}); "
        f"{len(ignored)} other files."
      )
    return images, ignored
  dataset, sep, split = spec.partition(":")
  if not sep or dataset.partition("/")[0] not in datasets.DATASETS:
    raise DataError(
      f"--input {spec} is neither a folder nor DATASET:SPLIT of a registered dataset "
      f"({', '.join(sorted(datasets.DATASETS))})."
    )
  images = split_images(split_dataset_config(run_config, dataset, data_dir), split)
  if not images:
    raise DataError(f"--input {spec} holds no images.")
  return images, []


# --- outputs --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PredictionRecord:
  """One row of predictions.csv; an image that failed has its error and no size."""

  id: str
  width: int | None = None
  height: int | None = None
  lesion_area_fraction: float | None = None
  error: str = ""


@dataclasses.dataclass
class _LoadedImage:
  index: int
  item: ImageToPredict
  image: np.ndarray | None = None
  size: tuple[int, int] = (0, 0)
  model_input: np.ndarray | None = None
  error: str = ""


def _load(index: int, item: ImageToPredict, input_config, keep_image: bool) -> _LoadedImage:
  try:
    image, size = item.read()
  except DataError as error:
    return _LoadedImage(index, item, error=str(error))
  # Full-size images are large (ISIC's reach 6700 x 4500); only overlays need them again.
  kept = image if keep_image else None
  return _LoadedImage(index, item, kept, tuple(size), model_input(image, input_config))


def _encoded(image: np.ndarray, image_format: str, **options) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format=image_format, **options)
  return buffer.getvalue()


def check_output_dir(out_dir: str) -> None:
  if os.path.exists(out_dir) and not os.path.isdir(out_dir):
    raise DataError(f"--out {out_dir} is a file; give a folder (it is made if missing).")
  os.makedirs(out_dir, exist_ok=True)


@dataclasses.dataclass(frozen=True)
class _OutputOptions:
  out_dir: str
  binarize: postprocess.Postprocessor
  input_config: ml_collections.ConfigDict
  save_probabilities: bool
  write_overlays: bool
  contact_sheet_size: int


def _finish(loaded: _LoadedImage, prob: np.ndarray, options: _OutputOptions):
  """Writes one image's files; returns its record and contact-sheet tile (or None)."""
  height, width = loaded.size
  prob = to_image_size(prob, loaded.size, options.input_config)
  mask = options.binarize(prob)
  stem = os.path.join(options.out_dir, loaded.item.id)
  atomic_files.write_bytes(f"{stem}_segmentation.png", _encoded(mask.astype(np.uint8) * 255, "PNG"))
  if options.save_probabilities:
    levels = np.round(np.clip(prob, 0.0, 1.0) * 255.0).astype(np.uint8)
    # zlib's fastest level: a third of the time of the default for 40% more bytes.
    atomic_files.write_bytes(f"{stem}_probability.png", _encoded(levels, "PNG", compress_level=1))
  tile = None
  if options.write_overlays:
    image = loaded.image
    drawn = overlays.draw_outline(image, mask, overlays.outline_thickness(*image.shape[:2]))
    atomic_files.write_bytes(f"{stem}_overlay.jpg", _encoded(drawn, "JPEG", quality=_JPEG_QUALITY))
    if loaded.index < options.contact_sheet_size:
      tile = overlays.thumbnail(image, mask, loaded.item.id)
  fraction = float(np.count_nonzero(mask)) / mask.size
  return PredictionRecord(loaded.item.id, width, height, fraction), tile


def _check_unique_ids(images: Sequence[ImageToPredict]) -> None:
  seen: dict[str, str] = {}
  for item in images:
    if item.id in seen:
      raise DataError(
        f"{seen[item.id]} and {item.source} would both write {item.id}_segmentation.png; "
        "rename one of them."
      )
    seen[item.id] = item.source


def write_predictions(
  run: InferenceRun,
  images: Sequence[ImageToPredict],
  out_dir: str,
  *,
  tta: str = "none",
  postprocess_name: str | None = None,
  save_probabilities: bool = False,
  write_overlays: bool = False,
  contact_sheet_size: int = 48,
  num_threads: int | None = None,
  progress: bool = True,
) -> list[PredictionRecord]:
  """Predicts `images` and writes, in `out_dir`, each one's `<id>_segmentation.png` (uint8
  0/255 at the image's size), optionally `<id>_probability.png` and `<id>_overlay.jpg`, a
  `contact_sheet.jpg` of the first `contact_sheet_size` overlays, and `predictions.csv`.
  Masks are the probabilities at the image's size post-processed by `postprocess_name`
  (default: the run's, `default_postprocess`).

  An image that cannot be read gets no files and a record with its error; the
  others go on. Every file is written whole or not at all (`atomic_files`).
  Reading and writing run on `num_threads` host threads (default:
  `input.num_threads`) while the device predicts.
  """
  check_output_dir(out_dir)
  _check_unique_ids(images)
  options = _OutputOptions(
    out_dir,
    postprocess.get_postprocessor(postprocess_name or default_postprocess(run.config)),
    run.config.input,
    save_probabilities,
    write_overlays,
    contact_sheet_size,
  )
  check_tta_mode(tta)
  chunks = [images[i : i + run.batch_size] for i in range(0, len(images), run.batch_size)]
  workers = num_threads or run.config.input.num_threads
  records: list[PredictionRecord] = []
  tiles = []

  def collect(pending, bar):
    for entry in pending:
      record, tile = entry.result() if isinstance(entry, concurrent.futures.Future) else entry
      records.append(record)
      if tile is not None:
        tiles.append(tile)
      bar.update(1)

  with (
    concurrent.futures.ThreadPoolExecutor(workers) as pool,
    tqdm(total=len(images), desc="predict", unit="image", disable=not progress) as bar,
  ):

    def submit_loads(k: int) -> list:
      if k >= len(chunks):
        return []
      first = k * run.batch_size
      return [
        pool.submit(_load, first + i, item, run.config.input, write_overlays)
        for i, item in enumerate(chunks[k])
      ]

    loading, pending = submit_loads(0), []
    for k in range(len(chunks)):
      loaded = [future.result() for future in loading]
      loading = submit_loads(k + 1)  # reads the next batch while this one predicts
      readable = [entry for entry in loaded if not entry.error]
      probs = {}
      if readable:
        batch = np.stack([entry.model_input for entry in readable])
        predicted = run.predict_model_inputs(batch, tta)
        probs = {entry.index: p for entry, p in zip(readable, predicted, strict=True)}
      collect(pending, bar)  # the previous batch's files: a few batches in memory at most
      pending = [
        (PredictionRecord(entry.item.id, error=entry.error), None)
        if entry.error
        else pool.submit(_finish, entry, probs[entry.index], options)
        for entry in loaded
      ]
    collect(pending, bar)

  if tiles:
    sheet = np.asarray(overlays.contact_sheet(tiles))
    encoded = _encoded(sheet, "JPEG", quality=_JPEG_QUALITY)
    atomic_files.write_bytes(os.path.join(out_dir, CONTACT_SHEET_FILE), encoded)
  _write_records(os.path.join(out_dir, PREDICTIONS_FILE), records)
  return records


def _write_records(path: str, records: Sequence[PredictionRecord]) -> None:
  text = io.StringIO()
  writer = csv.writer(text, lineterminator="\n")
  writer.writerow(CSV_COLUMNS)
  for r in records:
    fraction = "" if r.lesion_area_fraction is None else f"{r.lesion_area_fraction:.6f}"
    size = ("", "") if r.width is None else (r.width, r.height)
    writer.writerow([r.id, *size, fraction, r.error])
  atomic_files.write_text(path, text.getvalue())
