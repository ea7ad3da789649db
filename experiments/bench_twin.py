r"""jaxseg's backbones against their PyTorch twins: train and inference images/s, and the ratio.

  python -m experiments.bench_twin
  python -m experiments.bench_twin --rows resnet50_os8 --steps 5 --threads 2

Each row is one network built twice, at the same shapes and thread count: the
backbone, a 1x1 convolution to one logit, bilinear upsampling back to the
input size and binary cross-entropy; "train" is one SGD-momentum step
(forward, backward, update, BatchNorm statistics), "inference" the forward
pass in evaluation mode. The PyTorch side is torchvision's ResNet when
torchvision imports, else `experiments.peer.twins.ResNetEncoder` (the same
layout written out, for the CPU build of torch beside which PyPI's torchvision
does not import); the table says which. The U-Net row compares with the
PyTorch twin of `experiments.parity`. One process runs both sides back to
back, so the ratio is measured on one machine in one state; run it on a quiet
machine. Results: docs/benchmarks.md.

torch and torchvision are the `peer` extra (`pip install torch==2.14.1
torchvision==0.29.1`, or any matching pair, then `pip install -e ".[peer]"`);
without torch this tool says so and exits.
"""

import dataclasses
import os
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import flags

from experiments import cli
from jaxseg.errors import UserError
from jaxseg.models import blocks
from jaxseg.models.resnet import ResNet
from jaxseg.models.unet import UNet


@dataclasses.dataclass(frozen=True)
class TwinRow:
  name: str
  network: str  # resnet34, resnet50, unet
  output_stride: int
  image_size: int
  batch_size: int

  @property
  def label(self) -> str:
    if self.network == "unet":
      return f"U-Net, base width 64 | {self.image_size}x{self.image_size}, {self.batch_size}"
    depth = self.network.removeprefix("resnet")
    return (
      f"ResNet-{depth}, output stride {self.output_stride} | "
      f"{self.image_size}x{self.image_size}, {self.batch_size}"
    )


ROWS = {
  row.name: row
  for row in (
    TwinRow("resnet34", "resnet34", 32, 256, 8),
    TwinRow("resnet50", "resnet50", 32, 256, 8),
    TwinRow("resnet50_os8", "resnet50", 8, 256, 4),
    TwinRow("unet", "unet", 1, 256, 4),
  )
}

_ROWS = flags.DEFINE_list("rows", list(ROWS), f"Rows to run, of {', '.join(ROWS)}.")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed steps per side after two warm-up steps.")
_THREADS = flags.DEFINE_integer(
  "threads", os.cpu_count(), "Threads for PyTorch (XLA's CPU backend uses every core)."
)
_LR, _MOMENTUM = 0.01, 0.9


def _import_torch():
  try:
    import torch  # noqa: PLC0415  (an optional extra)
  except ImportError:
    raise UserError(
      "The twin benchmark needs PyTorch: pip install torch==2.14.1 torchvision==0.29.1 "
      '(or any matching pair), then pip install -e ".[peer]".'
    ) from None
  return torch


def seconds_per_step(step: Callable[[], object], finish: Callable[[object], None], n: int):
  for _ in range(2):  # compile / allocator warm-up
    finish(step())
  start = time.perf_counter()
  for _ in range(n):
    out = step()
  finish(out)
  return (time.perf_counter() - start) / n


class JaxTwinNet(blocks.nn.Module):
  """Backbone -> 1x1 convolution -> bilinear to the input size: the benchmark's network."""

  network: str
  output_stride: int

  @blocks.nn.compact
  def __call__(self, images, train: bool):
    if self.network == "unet":
      return UNet(base_width=64)(images, train)["logits"][..., 0]
    depth = int(self.network.removeprefix("resnet"))
    features = ResNet(depth=depth, output_stride=self.output_stride)(images, train)["layer4"]
    logits = blocks.Conv(1, (1, 1))(features)
    return jax.image.resize(logits, (*images.shape[:3], 1), "bilinear")[..., 0]


def time_jax(row: TwinRow, steps: int) -> tuple[float, float]:
  """(train, inference) seconds per step of jaxseg's network."""
  model = JaxTwinNet(row.network, row.output_stride)
  rng = np.random.default_rng(0)
  shape = (row.batch_size, row.image_size, row.image_size, 3)
  images = jnp.asarray(rng.standard_normal(shape, np.float32))
  masks = jnp.asarray((rng.random(shape[:3]) > 0.5).astype(np.float32))
  variables = jax.jit(lambda: model.init(jax.random.key(0), images[:1], train=False))()
  tx = optax.sgd(_LR, _MOMENTUM)
  state = (variables["params"], variables["batch_stats"], tx.init(variables["params"]))

  @jax.jit
  def train_step(state, images, masks):
    params, batch_stats, opt_state = state

    def loss_fn(params):
      logits, updates = model.apply(
        {"params": params, "batch_stats": batch_stats}, images, True, mutable=["batch_stats"]
      )
      return optax.sigmoid_binary_cross_entropy(logits, masks).mean(), updates["batch_stats"]

    (_, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), batch_stats, opt_state

  infer = jax.jit(lambda variables, images: model.apply(variables, images, False))

  def train():
    nonlocal state
    state = train_step(state, images, masks)
    return state

  train_s = seconds_per_step(train, jax.block_until_ready, steps)
  variables = {"params": state[0], "batch_stats": state[1]}
  infer_s = seconds_per_step(lambda: infer(variables, images), jax.block_until_ready, steps)
  return train_s, infer_s


def torch_network(torch, row: TwinRow) -> tuple[object, str]:
  """The PyTorch network of `row` and where its backbone comes from."""
  from torch import nn  # noqa: PLC0415
  from torch.nn import functional as F  # noqa: PLC0415

  from experiments.peer import twins  # noqa: PLC0415  (imports torch)

  if row.network == "unet":

    class UNetLogits(twins.UNetTwin):
      def forward(self, images):
        return super().forward(images)[:, 0]

    return UNetLogits(base_width=64), "jaxseg's PyTorch twin (experiments.peer.twins)"
  depth = int(row.network.removeprefix("resnet"))
  try:
    import torchvision  # noqa: PLC0415

    dilate = {32: [False] * 3, 16: [False, False, True], 8: [False, True, True]}
    kwargs = {"replace_stride_with_dilation": dilate[row.output_stride]} if depth >= 50 else {}
    resnet = getattr(torchvision.models, f"resnet{depth}")(weights=None, **kwargs)
    backbone = nn.Sequential(*list(resnet.children())[:-2])
    source, channels = "torchvision", resnet.fc.in_features
  except ImportError:
    encoder = twins.ResNetEncoder(depth, output_stride=row.output_stride)

    class LastStage(nn.Module):
      def __init__(self):
        super().__init__()
        self.encoder = encoder

      def forward(self, x):
        return self.encoder(x)["layer4"]

    backbone = LastStage()
    source, channels = "torchvision layout (twins.ResNetEncoder)", encoder.channels["layer4"]

  class TorchTwinNet(nn.Module):
    def __init__(self):
      super().__init__()
      self.backbone = backbone
      self.head = nn.Conv2d(channels, 1, 1)

    def forward(self, images):
      logits = self.head(self.backbone(images))
      size = images.shape[2:]
      return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)[:, 0]

  return TorchTwinNet(), source


def time_torch(torch, row: TwinRow, steps: int) -> tuple[float, float, str]:
  """(train, inference) seconds per step of the PyTorch network, and its source."""
  from torch.nn import functional as F  # noqa: PLC0415

  torch.manual_seed(0)
  model, source = torch_network(torch, row)
  shape = (row.batch_size, 3, row.image_size, row.image_size)
  images = torch.randn(shape)
  masks = (torch.rand(shape[:1] + shape[2:]) > 0.5).float()
  optimizer = torch.optim.SGD(model.parameters(), lr=_LR, momentum=_MOMENTUM)

  def train():
    optimizer.zero_grad(set_to_none=True)
    loss = F.binary_cross_entropy_with_logits(model(images), masks)
    loss.backward()
    optimizer.step()
    return loss

  model.train()
  train_s = seconds_per_step(train, lambda out: out.item(), steps)
  model.eval()

  def infer():
    with torch.inference_mode():
      return model(images)

  infer_s = seconds_per_step(infer, lambda out: out.sum().item(), steps)
  return train_s, infer_s, source


def main(argv):
  del argv
  torch = _import_torch()
  unknown = sorted(set(_ROWS.value) - set(ROWS))
  if unknown:
    raise UserError(f"Unknown --rows {', '.join(unknown)}; choose from {', '.join(ROWS)}.")
  torch.set_num_threads(_THREADS.value)
  print(
    f"jax {jax.__version__} on {jax.devices()[0].device_kind} x {jax.device_count()}, "
    f"torch {torch.__version__} ({torch.get_num_threads()} threads), float32, "
    f"{_STEPS.value} timed steps per side"
  )
  print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')}")
  print()
  print("| network | input, batch | train img/s, jaxseg vs torch | inference img/s | torch side |")
  print("|---|---|---|---|---|")
  for name in _ROWS.value:
    row = ROWS[name]
    jax_train, jax_infer = time_jax(row, _STEPS.value)
    torch_train, torch_infer, source = time_torch(torch, row, _STEPS.value)
    n = row.batch_size
    print(
      f"| {row.label} | {n / jax_train:.2f} vs {n / torch_train:.2f} "
      f"({torch_train / jax_train:.2f}x) | {n / jax_infer:.2f} vs {n / torch_infer:.2f} "
      f"({torch_infer / jax_infer:.2f}x) | {source} |",
      flush=True,
    )


if __name__ == "__main__":
  sys.exit(cli.app_main(main, takes_config=False))
