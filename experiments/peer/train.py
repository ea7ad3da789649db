"""Trains and scores a PyTorch twin with a jaxseg config's recipe, the way PyTorch users do.

What the twin shares with jaxseg is the data (the same TFDS split, opened by
`jaxseg.data.splits`) and the scorer (`jaxseg.metrics`, equal to the ISIC
one). Everything else is a plain PyTorch script: a per-epoch shuffle of a
seeded `torch.Generator`, per-example resizing with PIL (torchvision's
`Resize` on PIL images: the image bilinear with antialiasing, the mask
nearest), per-example flips, `torch.optim.Adam` (or SGD), a `LambdaLR` poly
schedule stepped every iteration, and `model.eval()` for scoring. The loss is
the config's, written in torch (`bce_dice` only).
"""

import dataclasses
import time

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from experiments.peer import twins
from jaxseg import metrics
from jaxseg.data import splits, transforms
from jaxseg.train import optim

# What the twin's script implements: any other value of these keys is refused.
SUPPORTED = {
  "loss": ("bce_dice",),
  "optimizer.name": ("adam", "sgd"),
  "schedule.name": ("poly", "constant"),
  "schedule.warmup_steps": (0,),
  "input.colour_space": ("rgb8",),
  "input.resize_method": ("bilinear",),
  "input.resize_crop": (False,),
  "input.rotate_degrees": (0.0,),
  "input.sharpen": (False,),
  "input.shift_fraction": (0.0,),
  "input.scale_range": ((1.0, 1.0),),
  "input.contrast_probability": (0.0,),
  "evals.test.postprocess": ("none",),
  "evals.test.dataset": ("",),
  "evals.test.every_steps": (0,),
  "dtype": ("float32",),
}


@dataclasses.dataclass
class TwinRun:
  losses: list[float]  # one per training step
  metrics: dict[str, float]  # mean over the scored images
  seconds: float


def check_supported(config) -> None:
  """The twin implements the recipes of the parity configs; anything else is an error."""
  active = [
    name
    for name, entry in config.evals.items()
    if name != "test" and (entry.at_end or entry.every_steps or entry.select)
  ]
  if active:
    raise ValueError(
      f"The twin scores one evaluator, evals.test; config {config.name!r} also runs {active}."
    )
  for key, allowed in SUPPORTED.items():
    value = config
    for part in key.split("."):
      value = value[part]
    if isinstance(value, list):  # ConfigDict may hold tuples as lists
      value = tuple(value)
    if value not in allowed:
      raise ValueError(f"The PyTorch twin supports {key} in {allowed}; the config has {value!r}.")


def bce_dice_torch(logits: torch.Tensor, masks: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
  """0.5 x BCE (mean over pixels) + (1 - soft Dice), per image, mean over the batch."""
  bce = F.binary_cross_entropy_with_logits(logits, masks, reduction="none").mean(dim=(1, 2, 3))
  probs = torch.sigmoid(logits)
  intersection = (probs * masks).sum(dim=(1, 2, 3))
  total = probs.sum(dim=(1, 2, 3)) + masks.sum(dim=(1, 2, 3))
  dice = (2 * intersection + smooth) / (total + smooth)
  return (0.5 * bce + 1 - dice).mean()


def resize_example(example, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
  height, width = size
  image = np.asarray(Image.fromarray(example["image"]).resize((width, height), Image.BILINEAR))
  mask = Image.fromarray(example["mask"][..., 0]).resize((width, height), Image.NEAREST)
  return image, (np.asarray(mask) > 127).astype(np.float32)


def to_tensor(images: np.ndarray, normalization: str) -> torch.Tensor:
  mean, std = transforms.NORMALIZATIONS[normalization]
  x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
  x = (x - torch.from_numpy(mean)) / torch.from_numpy(std)
  return x.permute(0, 3, 1, 2).contiguous()


def _train_batches(source, config, generator: torch.Generator, total_steps: int):
  """Per-epoch reshuffled batches (drop_last), augmented per example."""
  size = tuple(config.input.image_size)
  step = 0
  while True:
    order = torch.randperm(len(source), generator=generator).tolist()
    for start in range(0, len(order) - config.batch_size + 1, config.batch_size):
      if step == total_steps:
        return
      images, masks = [], []
      for index in order[start : start + config.batch_size]:
        image, mask = resize_example(source[index], size)
        if config.input.hflip and torch.rand(1, generator=generator).item() < 0.5:
          image, mask = image[:, ::-1], mask[:, ::-1]
        if config.input.vflip and torch.rand(1, generator=generator).item() < 0.5:
          image, mask = image[::-1], mask[::-1]
        images.append(image)
        masks.append(mask)
      step += 1
      yield (
        to_tensor(np.stack(images), config.input.normalization),
        torch.from_numpy(np.ascontiguousarray(np.stack(masks)))[:, None],
      )


def create_twin_optimizer(model, config, total_steps: int):
  opt = config.optimizer
  if opt.name == "adam":
    optimizer = torch.optim.Adam(
      model.parameters(), lr=opt.lr, betas=(opt.b1, opt.b2), weight_decay=opt.weight_decay
    )
  else:
    optimizer = torch.optim.SGD(
      model.parameters(), lr=opt.lr, momentum=opt.momentum, weight_decay=opt.weight_decay
    )
  power = config.schedule.power if config.schedule.name == "poly" else 0.0
  schedule = torch.optim.lr_scheduler.LambdaLR(
    optimizer, lambda it: max(0.0, 1 - it / total_steps) ** power
  )
  return optimizer, schedule


@torch.no_grad()
def evaluate_twin(model, source, truth_source, config) -> dict[str, float]:
  """Probabilities resized (bilinear) to each mask's own size, foreground at >= 0.5.

  `truth_source` holds the masks scored against: the same split opened with
  `ground_truth_only` (original-size masks) or `source` itself.
  """
  model.eval()
  accumulator = metrics.MetricAccumulator()
  size = tuple(config.input.image_size)
  batch = config.eval_batch_size
  for start in range(0, len(source), batch):
    examples = [source[i] for i in range(start, min(start + batch, len(source)))]
    images = np.stack([resize_example(example, size)[0] for example in examples])
    probs = torch.sigmoid(model(to_tensor(images, config.input.normalization)))
    counts = []
    for index, prob in enumerate(probs, start=start):
      truth_example = truth_source[index]
      truth = truth_example.get("original_mask", truth_example["mask"])
      truth = metrics.binarize_mask(truth[..., 0])
      prob = F.interpolate(prob[None], truth.shape, mode="bilinear", align_corners=False)
      # At the mask's size already, so this only thresholds (>= 0.5) and counts.
      counts.append(metrics.counts_at_original_resolution(prob[0, 0].numpy(), truth))
    ids = [transforms.id_text(example["id"]) for example in examples]
    accumulator.update(np.stack(counts), ids=ids)
  return {k: float(v) for k, v in accumulator.summary()["mean"].items()}


def train_twin_and_evaluate(
  config, seed: int, peer_init: str = "torch", workdir: str = ""
) -> TwinRun:
  """Trains the twin of `config.model_name` for the config's steps; scores its eval split."""
  check_supported(config)
  torch.manual_seed(seed)
  model = twins.create_twin(config.model_name, config.model.to_dict())
  if peer_init == "flax":
    twins.flax_like_init(model)
  elif peer_init != "torch":
    raise ValueError(f"peer_init is 'torch' or 'flax', got {peer_init!r}.")
  train_source = splits.open_train_split(config.dataset, workdir or None)
  total_steps = optim.total_train_steps(config, len(train_source))
  optimizer, schedule = create_twin_optimizer(model, config, total_steps)
  generator = torch.Generator().manual_seed(seed)
  losses = []
  start = time.perf_counter()
  model.train()
  for images, masks in _train_batches(train_source, config, generator, total_steps):
    loss = bce_dice_torch(model(images), masks)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    schedule.step()
    losses.append(loss.item())
  split = config.evals.test.split
  eval_source = splits.open_split(config.dataset, split, workdir or None)
  truth_source = eval_source
  if config.evals.test.resolution == "original":
    truth_source = splits.open_split(config.dataset, split, workdir or None, ground_truth_only=True)
  scores = evaluate_twin(model, eval_source, truth_source, config)
  return TwinRun(losses=losses, metrics=scores, seconds=time.perf_counter() - start)
