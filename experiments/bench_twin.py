r"""jaxseg's backbones against their PyTorch twins: train and inference images/s, and the ratio.

  python -m experiments.bench_twin
  python -m experiments.bench_twin --rows resnet50_os8 --steps 3 --rounds 5 --threads 2

Each row is one network built twice, at the same shapes and thread count: the
backbone, a 1x1 convolution to one logit, bilinear upsampling back to the
input size and binary cross-entropy; "train" is one SGD-momentum step
(forward, backward, update, BatchNorm statistics), "inference" the forward
pass in evaluation mode. The PyTorch side is torchvision's ResNet when
torchvision imports, else `experiments.peer.twins.ResNetEncoder` (the same
layout written out, for the CPU build of torch beside which PyPI's torchvision
does not import); the table says which. The U-Net row compares with the
PyTorch twin of `experiments.parity`. One process builds both sides and
times them in alternating rounds (`--rounds`, each `--steps` steps of jaxseg
then of PyTorch): this machine's speed drifts by several percent within
minutes, and a ratio taken within a round sees the same drift on both
sides. The table gives the median of the rounds' ratios and their range, and
images/s from the median round; run it on a quiet machine. Results:
docs/benchmarks.md.

torch and torchvision are the `peer` extra (`pip install torch==2.14.1
torchvision==0.29.1`, or any matching pair, then `pip install -e ".[peer]"`);
without torch this tool says so and exits.
"""

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import flags

from experiments import cli, interleaved_timing, peer
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
_STEPS = flags.DEFINE_integer("steps", 3, "Timed steps per side in each round.")
_ROUNDS = flags.DEFINE_integer(
  "rounds", 3, "Rounds of jaxseg's then PyTorch's timed steps (after two warm-up steps each)."
)
_THREADS = flags.DEFINE_integer(
  "threads", os.cpu_count(), "Threads for PyTorch (XLA's CPU backend uses every core)."
)
_LR, _MOMENTUM = 0.01, 0.9


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


def jax_steps(row: TwinRow) -> tuple[interleaved_timing.TimedStep, interleaved_timing.TimedStep]:
  """jaxseg's network of `row`: its train step and its inference step."""
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

  return (
    interleaved_timing.TimedStep(train, jax.block_until_ready),
    interleaved_timing.TimedStep(lambda: infer(variables, images), jax.block_until_ready),
  )


def torch_network(torch, row: TwinRow) -> tuple[object, str]:
  """The PyTorch network of `row` and where its backbone comes from."""
  from torch import nn  # an optional extra (experiments.peer), as is torchvision
  from torch.nn import functional as F

  from experiments.peer import twins

  if row.network == "unet":

    class UNetLogits(twins.UNetTwin):
      def forward(self, images):
        return super().forward(images)[:, 0]

    return UNetLogits(base_width=64), "jaxseg's PyTorch twin (experiments.peer.twins)"
  depth = int(row.network.removeprefix("resnet"))
  try:
    import torchvision

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


def torch_steps(
  torch, row: TwinRow
) -> tuple[interleaved_timing.TimedStep, interleaved_timing.TimedStep, str]:
  """PyTorch's network of `row`: its train step, its inference step, and its source."""
  from torch.nn import functional as F  # an optional extra (experiments.peer)

  torch.manual_seed(0)
  model, source = torch_network(torch, row)
  shape = (row.batch_size, 3, row.image_size, row.image_size)
  images = torch.randn(shape)
  masks = (torch.rand(shape[:1] + shape[2:]) > 0.5).float()
  optimizer = torch.optim.SGD(model.parameters(), lr=_LR, momentum=_MOMENTUM)

  def train():
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = F.binary_cross_entropy_with_logits(model(images), masks)
    loss.backward()
    optimizer.step()
    return loss

  def infer():
    model.eval()
    with torch.inference_mode():
      return model(images)

  return (
    interleaved_timing.TimedStep(train, lambda out: out.item()),
    interleaved_timing.TimedStep(infer, lambda out: out.sum().item()),
    source,
  )


def main():
  torch = peer.import_torch("The twin benchmark")
  unknown = sorted(set(_ROWS.value) - set(ROWS))
  if unknown:
    raise UserError(f"Unknown --rows {', '.join(unknown)}; choose from {', '.join(ROWS)}.")
  if _STEPS.value < 1 or _ROUNDS.value < 1:
    raise UserError(
      f"--steps and --rounds must be at least 1 (got {_STEPS.value}, {_ROUNDS.value})."
    )
  torch.set_num_threads(_THREADS.value)
  print(
    f"jax {jax.__version__} on {jax.devices()[0].device_kind} x {jax.device_count()}, "
    f"torch {torch.__version__} ({torch.get_num_threads()} threads), float32, "
    f"{_ROUNDS.value} rounds of {_STEPS.value} timed steps per side"
  )
  print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')}")
  print()
  print("| network | input, batch | train img/s, jaxseg vs torch | inference img/s | torch side |")
  print("|---|---|---|---|---|")
  for name in _ROWS.value:
    row = ROWS[name]
    jax_train, jax_infer = jax_steps(row)
    torch_train, torch_infer, source = torch_steps(torch, row)
    train = interleaved_timing.interleaved_seconds(
      {"jax": jax_train, "torch": torch_train},
      _STEPS.value,
      _ROUNDS.value,
      interleaved_timing.SIDE_PAUSE_S,
    )
    infer = interleaved_timing.interleaved_seconds(
      {"jax": jax_infer, "torch": torch_infer},
      _STEPS.value,
      _ROUNDS.value,
      interleaved_timing.SIDE_PAUSE_S,
    )
    n = row.batch_size
    print(
      f"| {row.label} | {interleaved_timing.compare(train['jax'], train['torch'], n)} "
      f"| {interleaved_timing.compare(infer['jax'], infer['torch'], n)} | {source} |",
      flush=True,
    )


if __name__ == "__main__":
  cli.app_main(main, takes_config=False)
