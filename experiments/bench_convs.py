r"""Every convolution of a config's network timed alone: jaxseg's lowering against PyTorch's.

  python -m experiments.bench_convs --config cdnn_isic2017
  python -m experiments.bench_convs --config asnet_isic2018 --repeats 5 --threads 2

Traces the network's forward pass once (no computation) to record each
convolution it makes: input shape, kernel, strides, padding, dilation. Then it
times each distinct one at the config's batch and input size (the whole batch
where the config accumulates micro-batches), in float32 whatever the config's
dtype: the forward pass, the input gradient and the kernel gradient, through
`jaxseg.models.conv_lowering` (what the model runs) and through PyTorch
(`conv2d` and `convolution_backward`, oneDNN on a CPU), the fastest of
`--repeats` calls after a warm-up, a second's pause between the sides (each
framework's threads spin after its last op). It prints one row per
convolution and the sums weighted by how often each occurs.

The sums are a floor under the training step: a step that is slower than its
convolutions spends the rest elsewhere (BatchNorm, activations, copies), and a
step that must get faster than its convolutions needs faster convolution
kernels, not a different lowering. docs/benchmarks.md ("Convolution floors")
has the paper configs' sums against their steps. The input gradient of a
convolution that reads image channels (3, or cdnn's 7) is not counted: a
training step never needs it. Transposed convolutions (`conv_transpose`) are
not recorded. Needs PyTorch (the `peer` extra); run it on a quiet machine.
"""

import collections
import dataclasses
import inspect
import os
import time
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from jax import lax

from experiments import cli, interleaved_timing, peer
from jaxseg.data import pipeline
from jaxseg.errors import UserError
from jaxseg.models import conv_lowering
from jaxseg.train import setup

_REPEATS = flags.DEFINE_integer(
  "repeats", 3, "Timed calls per op after a warm-up; the fastest counts."
)
_THREADS = flags.DEFINE_integer(
  "threads", os.cpu_count(), "Threads for PyTorch (XLA's CPU backend uses every core)."
)
_NHWC = ("NHWC", "HWIO", "NHWC")
_IMAGE_CHANNELS = (3, 7)


@dataclasses.dataclass(frozen=True)
class ConvShape:
  """One convolution as the network calls it (NHWC input, HWIO kernel)."""

  input_shape: tuple[int, ...]
  kernel_shape: tuple[int, ...]
  strides: tuple[int, int]
  padding: tuple[tuple[int, int], tuple[int, int]]
  dilation: tuple[int, int]

  @property
  def reads_image(self) -> bool:
    return self.input_shape[-1] in _IMAGE_CHANNELS

  def label(self) -> str:
    kh, kw, cin, cout = self.kernel_shape
    batch, height, width, _ = self.input_shape
    return (
      f"{kh}x{kw} {cin}->{cout}, {height}x{width} x{batch}, "
      f"stride {self.strides[0]}, dilation {self.dilation[0]}"
    )


_SIGNATURE = inspect.signature(conv_lowering.conv_general_dilated)


def _conv_shape(*args, **kwargs) -> ConvShape:
  bound = _SIGNATURE.bind(*args, **kwargs)
  bound.apply_defaults()
  given = bound.arguments
  lhs, rhs = given["lhs"], given["rhs"]
  strides, dilation = tuple(given["window_strides"]), tuple(given["rhs_dilation"] or (1, 1))
  padding = given["padding"]
  if isinstance(padding, str):
    window = [(k - 1) * d + 1 for k, d in zip(rhs.shape[:2], dilation, strict=True)]
    padding = lax.padtype_to_pads(lhs.shape[1:3], window, strides, padding)
  return ConvShape(
    tuple(lhs.shape), tuple(rhs.shape), strides, tuple(tuple(p) for p in padding), dilation
  )


def recorded_convolutions(model, input_shape) -> collections.Counter:
  """How often the model's forward pass (inference mode) makes each convolution."""
  seen = collections.Counter()
  plain = conv_lowering.conv_general_dilated

  def recording(*args, **kwargs):
    seen[_conv_shape(*args, **kwargs)] += 1
    return plain(*args, **kwargs)

  images = jax.ShapeDtypeStruct(input_shape, jnp.float32)
  with mock.patch.object(conv_lowering, "conv_general_dilated", recording):
    jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), images)
  return seen


def _fastest_ms(fn, args, repeats: int) -> float:
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))  # torch's results pass through unchanged
    times.append(time.perf_counter() - start)
  return 1000 * min(times)


def operands(conv: ConvShape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Random input (NHWC), kernel (HWIO) and output cotangent (NHWC) of `conv`, float32."""
  rng = np.random.default_rng(0)
  x = rng.standard_normal(conv.input_shape, np.float32)
  w = (
    rng.standard_normal(conv.kernel_shape, np.float32)
    / float(np.prod(conv.kernel_shape[:3])) ** 0.5
  )
  out = jax.eval_shape(_jax_forward(conv), x, w)
  return x, w, rng.standard_normal(out.shape, np.float32)


def _jax_forward(conv: ConvShape):
  return lambda x, w: conv_lowering.conv_general_dilated(
    x, w, conv.strides, conv.padding, None, conv.dilation, _NHWC
  )


def jax_ops(conv: ConvShape) -> list:
  """(function, arguments) of the forward pass, input gradient and kernel gradient: jaxseg's."""
  forward = _jax_forward(conv)
  x, w, g = (jnp.asarray(a) for a in operands(conv))
  return [
    (jax.jit(forward), (x, w)),
    (jax.jit(lambda x, w, g: jax.vjp(lambda x: forward(x, w), x)[1](g)[0]), (x, w, g)),
    (jax.jit(lambda x, w, g: jax.vjp(lambda w: forward(x, w), w)[1](g)[0]), (x, w, g)),
  ]


def torch_ops(torch, conv: ConvShape) -> list:
  """The same three in PyTorch: NCHW and OIHW, the padding applied to the input beforehand
  (PyTorch pads symmetrically only), so the input gradient covers the padded input."""
  x, w, g = operands(conv)
  (top, bottom), (left, right) = conv.padding
  x = torch.nn.functional.pad(torch.from_numpy(x).permute(0, 3, 1, 2), (left, right, top, bottom))
  w = torch.from_numpy(w).permute(3, 2, 0, 1).contiguous()
  g = torch.from_numpy(g).permute(0, 3, 1, 2).contiguous()

  def gradient(of_input: bool):
    with torch.inference_mode():
      return torch.ops.aten.convolution_backward(
        g, x, w, None, list(conv.strides), [0, 0], list(conv.dilation), False, [0, 0], 1,
        [of_input, not of_input, False],
      )[0 if of_input else 1]  # fmt: skip

  def forward():
    with torch.inference_mode():
      return torch.nn.functional.conv2d(x, w, stride=conv.strides, dilation=conv.dilation)

  return [(forward, ()), (gradient, (True,)), (gradient, (False,))]


def milliseconds(ops, repeats: int) -> tuple[float, ...]:
  return tuple(_fastest_ms(op, args, repeats) for op, args in ops)


def weighted_sums(rows) -> np.ndarray:
  """[[jaxseg fwd, dx, dw], [torch fwd, dx, dw]] summed over (conv, count, jax, torch) rows."""
  total = np.zeros((2, 3))
  for conv, count, jax_ms, torch_ms in rows:
    used = np.array([1.0, 0.0 if conv.reads_image else 1.0, 1.0])
    total += count * used * np.array([jax_ms, torch_ms])
  return total


def _cells(ms) -> str:
  return " / ".join(f"{value:.1f}" for value in ms)


def main():
  torch = peer.import_torch("bench_convs")
  if _REPEATS.value < 1:
    raise UserError(f"--repeats must be at least 1 (got {_REPEATS.value}).")
  config = cli.loaded_config()
  torch.set_num_threads(_THREADS.value)
  height, width = config.input.image_size
  shape = (config.batch_size, height, width, pipeline.input_channels(config.input))
  convs = recorded_convolutions(setup.build_model(config), shape)
  print(
    f"{config.name}: {sum(convs.values())} convolutions, {len(convs)} distinct, batch "
    f"{config.batch_size} at {height}x{width}; jax {jax.__version__}, torch {torch.__version__} "
    f"({torch.get_num_threads()} threads), float32; ms, fastest of {_REPEATS.value}\n"
  )
  print("| convolution | count | jaxseg: forward / input grad / kernel grad | PyTorch |")
  print("|---|---|---|---|")
  rows = []
  by_size = sorted(convs.items(), key=lambda item: -item[1] * np.prod(item[0].input_shape))
  for conv, count in by_size:
    time.sleep(interleaved_timing.SIDE_PAUSE_S)
    jax_ms = milliseconds(jax_ops(conv), _REPEATS.value)
    time.sleep(interleaved_timing.SIDE_PAUSE_S)
    torch_ms = milliseconds(torch_ops(torch, conv), _REPEATS.value)
    rows.append((conv, count, jax_ms, torch_ms))
    print(f"| {conv.label()} | {count} | {_cells(jax_ms)} | {_cells(torch_ms)} |", flush=True)
  total = weighted_sums(rows)
  print(
    f"| **sum, weighted by count** | {sum(convs.values())} | {_cells(total[0])} "
    f"= {total[0].sum():.1f} | {_cells(total[1])} = {total[1].sum():.1f} |"
  )


if __name__ == "__main__":
  cli.app_main(main, required=("config",))
