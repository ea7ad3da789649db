"""experiments.bench_convs: the convolutions a network makes; both sides time the same op."""

import collections

import jax
import numpy as np
import pytest

from experiments import bench_convs, configs
from jaxseg.data import pipeline
from jaxseg.train import setup
from tests.run_testing import assert_one_user_error, run_module

torch = pytest.importorskip("torch", reason='the PyTorch side needs pip install -e ".[peer]"')


def _convolutions(spec: str):
  config = configs.get_config(spec)
  height, width = config.input.image_size
  shape = (config.batch_size, height, width, pipeline.input_channels(config.input))
  model = setup.build_model(config)
  params = jax.eval_shape(lambda: model.init(jax.random.key(0), np.zeros(shape), train=False))
  return shape, bench_convs.recorded_convolutions(model, shape), params["params"]


# asnet's SharedDilatedConv applies one kernel at three dilations: two calls more than kernels.
@pytest.mark.parametrize(
  "spec, shared_calls", [("asnet_synthetic:smoke", 2), ("cdnn_synthetic:smoke", 0)]
)
def test_records_every_convolution_of_the_forward_pass(spec, shared_calls):
  shape, convs, params = _convolutions(spec)
  # Neither network has a transposed convolution: every 4-D kernel is a convolution's.
  kernels = [
    leaf.shape
    for path, leaf in jax.tree_util.tree_leaves_with_path(params)
    if path[-1].key == "kernel" and leaf.ndim == 4
  ]
  recorded = [conv.kernel_shape for conv, count in convs.items() for _ in range(count)]
  assert len(recorded) == len(kernels) + shared_calls
  assert not collections.Counter(kernels) - collections.Counter(recorded)
  assert all(conv.input_shape[0] == shape[0] for conv in convs)
  assert any(conv.input_shape == shape for conv in convs)  # the first reads the image
  if spec.startswith("asnet"):  # the ResNet encoder: a 7x7/2 stem, strided and atrous stages
    assert {conv.strides for conv in convs} == {(1, 1), (2, 2)}
    assert max(conv.dilation for conv in convs) > (1, 1)
    assert any(conv.kernel_shape[:2] == (7, 7) and conv.reads_image for conv in convs)


def test_pytorch_ops_compute_what_jaxseg_ops_compute():
  cases = [
    bench_convs.ConvShape((2, 9, 11, 5), (3, 3, 5, 4), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    bench_convs.ConvShape((2, 9, 11, 5), (3, 3, 5, 4), (2, 2), ((1, 1), (1, 1)), (1, 1)),
    bench_convs.ConvShape((2, 16, 16, 5), (3, 3, 5, 4), (1, 1), ((2, 2), (2, 2)), (2, 2)),
    bench_convs.ConvShape(
      (2, 8, 8, 5), (4, 4, 5, 4), (1, 1), ((1, 2), (1, 2)), (1, 1)
    ),  # SAME, 4x4
    bench_convs.ConvShape((2, 8, 8, 6), (1, 1, 6, 3), (2, 2), ((0, 0), (0, 0)), (1, 1)),
  ]
  for conv in cases:
    (top, _), (left, _) = conv.padding
    height, width = conv.input_shape[1:3]
    for (jax_fn, jax_args), (torch_fn, torch_args), what in zip(
      bench_convs.jax_ops(conv),
      bench_convs.torch_ops(torch, conv),
      ("output", "dx", "dw"),
      strict=True,
    ):
      ours, theirs = np.asarray(jax_fn(*jax_args)), torch_fn(*torch_args).numpy()
      # OIHW -> HWIO, NCHW -> NHWC
      theirs = theirs.transpose((2, 3, 1, 0) if what == "dw" else (0, 2, 3, 1))
      if what == "dx":  # PyTorch's gradient covers the padded input
        theirs = theirs[:, top : top + height, left : left + width]
      np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4, err_msg=f"{conv} {what}")


def test_sums_weight_by_count_and_skip_input_gradients_of_images():
  image = bench_convs.ConvShape((2, 8, 8, 3), (3, 3, 3, 4), (1, 1), ((1, 1), (1, 1)), (1, 1))
  inner = bench_convs.ConvShape((2, 8, 8, 4), (3, 3, 4, 4), (1, 1), ((1, 1), (1, 1)), (1, 1))
  rows = [(image, 1, (1.0, 2.0, 3.0), (4.0, 5.0, 6.0)), (inner, 3, (1.0, 1.0, 1.0), (2, 2, 2))]
  np.testing.assert_array_equal(
    bench_convs.weighted_sums(rows), [[1 + 3, 0 + 3, 3 + 3], [4 + 6, 0 + 6, 6 + 6]]
  )


@pytest.mark.slow
def test_prints_a_row_per_distinct_convolution_and_their_sum():
  proc = run_module("experiments.bench_convs", "--config", "cdnn_synthetic:smoke", "--repeats", "1")
  assert proc.returncode == 0, proc.stderr[-2000:]
  _, convs, _ = _convolutions("cdnn_synthetic:smoke")
  rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "ms" not in line]
  header, body, total = rows[0], rows[1:-1], rows[-1]
  assert header.startswith("| convolution | count |")
  assert len(body) == len(convs)
  assert sum(int(row.split(" | ")[1]) for row in body) == sum(convs.values())
  assert total.startswith(f"| **sum, weighted by count** | {sum(convs.values())} |")


def test_unknown_config_is_one_user_error():
  proc = run_module("experiments.bench_convs", "--config", "no_such_config")
  assert_one_user_error(proc, "Unknown config")
