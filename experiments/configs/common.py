"""Defaults shared by every config; each config file overrides what its paper fixes."""

import dataclasses

import ml_collections

from jaxseg.train.evaluator_entry import EvaluatorEntry


def evaluator(split: str, **fields) -> ml_collections.ConfigDict:
  """One entry of `config.evals`: `split` and any other field of `EvaluatorEntry`."""
  return ml_collections.ConfigDict(dataclasses.asdict(EvaluatorEntry(split=split, **fields)))


def base_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.name = ""  # set by experiments.run from the config's file name
  config.seed = 0

  config.model_name = "unet"
  config.model = ml_collections.ConfigDict()
  config.dtype = "float32"
  # Memory (docs/decisions.md, "Memory: rematerialisation and gradient
  # accumulation"): remat is a jax checkpoint policy applied per block (none,
  # nothing_saveable, dots_saveable); grad_accum_steps splits each batch into
  # that many micro-batches whose mean gradient makes one update.
  config.remat = "none"
  config.grad_accum_steps = 1
  # torchvision ResNet weights converted by jaxseg.models.convert_torchvision
  # (an .npz path); empty: random initialisation, which the log says.
  config.pretrained_backbone = ""
  # The --workdir of a finished run: skip training and evaluate its latest
  # checkpoint on this config's eval split (cca_ph2).
  config.evaluate_checkpoint = ""

  config.loss = "bce_dice"
  config.aux_loss_weight = 1.0  # weight of heads named aux_* (cca eq. 12)

  config.dataset = ml_collections.ConfigDict()
  config.dataset.name = "synthetic_lesions"
  # "": the builder's default config (its first: synthetic_lesions' "default",
  # ISIC's, PH2's and folder's "original"), so --config.dataset.name alone works.
  config.dataset.builder_config = ""
  config.dataset.data_dir = ml_collections.FieldReference(None, field_type=str)
  # ISIC/PH2 archives; default <data_dir>/downloads/manual/.
  config.dataset.manual_dir = ml_collections.FieldReference(None, field_type=str)
  # name=folder: your images and masks, DIR/images/<id>.* and DIR/masks/<id><mask_suffix>
  # (tfds_builders/folder/README.md); allow_count_mismatch: build ISIC/PH2 from partial archives.
  config.dataset.folder = ""
  config.dataset.mask_suffix = "_segmentation.png"
  config.dataset.allow_count_mismatch = False
  config.dataset.train_split = "train"  # an official split, or protocol:train
  config.dataset.train_size = 0  # > 0: a seeded subset of the train split (cca Table 8)
  # Non-official splits of `source_split` (jaxseg/data/splits.py); name: none,
  # holdout (num_train or train_fraction) or kfold (num_folds, fold).
  config.dataset.protocol = ml_collections.ConfigDict()
  config.dataset.protocol.name = "none"
  config.dataset.protocol.source_split = "train"
  config.dataset.protocol.num_train = 0
  config.dataset.protocol.train_fraction = 0.0
  config.dataset.protocol.num_folds = 5
  config.dataset.protocol.fold = 0
  config.dataset.protocol.seed = 0

  config.input = ml_collections.ConfigDict()
  config.input.image_size = (64, 64)  # (height, width)
  config.input.resize_method = "bilinear"
  config.input.resize_crop = False  # True: shorter side to size, centre crop (ulffn)
  config.input.normalization = "unit"
  config.input.hflip = True
  config.input.vflip = True
  config.input.rotate_degrees = 0.0  # > 0: rotation by U[0, this] (rmsm: 90)
  config.input.sharpen = False  # rmsm
  # With probability 1/2, shift by up to this fraction of height and width and
  # scale about the centre by U[scale_range] (cdnn).
  config.input.shift_fraction = 0.0
  config.input.scale_range = (1.0, 1.0)
  # "rgb8": uint8 RGB to the device, normalised there; "rgb" or "rgb_hsv_l"
  # (cdnn's 7 channels: RGB, HSV, CIELAB L): float [0, 1] channels made on the host.
  config.input.colour_space = "rgb8"
  # cdnn's contrast augmentation: each channel, with this probability, is
  # stretched to a random percentile window within contrast_jitter of contrast_window.
  config.input.contrast_probability = 0.0
  config.input.contrast_window = (5.0, 95.0)
  config.input.contrast_jitter = 5.0
  config.input.num_threads = 4
  config.input.prefetch = 8

  config.batch_size = 8  # global, over all devices and hosts
  config.num_epochs = 1.0
  config.num_train_steps = 0  # > 0 overrides num_epochs

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "adam"
  config.optimizer.lr = 1e-3
  config.optimizer.momentum = 0.9
  config.optimizer.b1 = 0.9
  config.optimizer.b2 = 0.999
  config.optimizer.weight_decay = 0.0

  config.schedule = ml_collections.ConfigDict()
  config.schedule.name = "constant"
  config.schedule.power = 0.9  # poly
  config.schedule.every_epochs = 20  # step
  config.schedule.factor = 0.1  # step
  config.schedule.warmup_steps = 0

  config.log_every_steps = 50
  config.checkpoint_every_steps = 500
  config.keep_checkpoints = 3
  config.progress_bar = True

  # Named evaluators, big_vision style: what is scored, how, when, and the
  # results file each writes (fields: `evaluator` above; jaxseg/train/evaluators.py).
  config.evals = ml_collections.ConfigDict({"test": evaluator("test")})
  # Model selection, off as in every paper: with --config.evals.selection.select=true
  # and --config.evals.selection.every_steps=N, the checkpoint scoring best on this
  # split (mean JA) is kept and the final evaluators score it (jaxseg/train/selection.py).
  config.evals.selection = evaluator("validation", at_end=False, results_file="")
  config.eval_batch_size = 16

  # k-fold cross-validation (cdnn, asnet; jaxseg/train/crossval.py): train every
  # fold of the kfold `dataset.protocol` in <workdir>/fold_<k>, each scored by
  # the evaluators; <workdir>/results.json holds the mean and std over folds.
  # Evaluators with `ensemble=True` score the bagging ensemble of the fold
  # models plus one trained on the whole source split (<workdir>/all_data).
  config.crossval = ml_collections.ConfigDict()
  config.crossval.enabled = False
  return config


def synthetic_config(model_name: str, **model_fields) -> ml_collections.ConfigDict:
  """The CPU-size recipe of the synthetic-data configs (`unet_synthetic` and the baselines').

  64x64 input, batch 16, 12 epochs of Adam 2e-3 with the poly schedule and
  the BCE + Dice loss: a few minutes on 2 cores for a network at a quarter of
  its paper width.
  """
  config = base_config()
  config.model_name = model_name
  config.model.update(model_fields)
  config.loss = "bce_dice"
  config.input.image_size = (64, 64)
  config.batch_size = 16
  config.num_epochs = 12
  config.optimizer.update(name="adam", lr=2e-3)
  config.schedule.name = "poly"
  config.checkpoint_every_steps = 200
  return config


def use_holdout(config, *, num_train: int = 0, train_fraction: float = 0.0):
  """Train on a seeded part of `protocol.source_split`, score the rest (evals.test)."""
  config.dataset.train_split = "protocol:train"
  config.dataset.protocol.update(name="holdout", num_train=num_train, train_fraction=train_fraction)
  config.evals.test.split = "protocol:heldout"
  return config


def use_kfold_cross_validation(config, num_folds: int = 5):
  """One run per seeded fold of `protocol.source_split`, each scored on its held-out part."""
  config.dataset.protocol.update(name="kfold", source_split="train", num_folds=num_folds)
  config.crossval.enabled = True
  config.evals.test.split = "protocol:heldout"
  return config


def use_smoke_widths(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The config's network at its tiny size (the smoke variant's): its class's `smoke_fields`."""
  # Imported here, so that tools reading configs and finished runs load no JAX.
  from jaxseg import models

  config.model.update(models.model_class(config.model_name).smoke_fields)
  return config


# synthetic_lesions/tiny has 24 training images; holdout protocols keep 18.
SMOKE_HOLDOUT_TRAIN = 18


def apply_smoke(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The config's model, loss and protocol, a few steps at tiny size, well under a minute on CPU.

  Every dataset becomes `synthetic_lesions/tiny` (it has every official split
  name), so smoke runs need no download; runs that would evaluate another
  run's checkpoint train their own.
  """
  use_smoke_widths(config)
  config.dataset.name = "synthetic_lesions"
  config.dataset.builder_config = "tiny"
  config.dataset.manual_dir = None
  if config.dataset.protocol.num_train:
    config.dataset.protocol.num_train = SMOKE_HOLDOUT_TRAIN
  if config.dataset.protocol.name == "kfold":
    config.dataset.protocol.num_folds = 2
  for entry in config.evals.values():
    entry.dataset = ""
    entry.every_steps = 0
  config.pretrained_backbone = ""
  config.evaluate_checkpoint = ""
  config.input.image_size = (32, 32)
  # 4 images per micro-batch: one per device of the tests' 4-device mesh.
  config.batch_size = 4 * config.grad_accum_steps
  config.num_train_steps = 4
  config.log_every_steps = min(config.log_every_steps, 2)
  config.checkpoint_every_steps = 2
  config.eval_batch_size = 8
  config.progress_bar = False
  return config
