"""How convolutions and max pools reach XLA on CPU: 1x1 as matmuls, atrous as space-to-batch.

Every `Conv` of the project (`blocks.Conv`, the ResNet encoder's) calls
`conv_general_dilated` here instead of `lax.conv_general_dilated`. The result
is the same convolution up to float rounding; only the ops XLA sees change,
and only on the CPU backend, where they decide the speed (docs/benchmarks.md
has the measurements). The remaining plain convolutions run on Eigen over
every core because `import jaxseg` takes them out of YNNPACK (`jaxseg/xla_flags.py`);
the rewrites were chosen under YNNPACK and measured again under Eigen, where
all but the stride-1 1x1 kernel gradient still win (that one ties in a whole
ResNet-50 step):

- A 1x1 convolution (any stride, no padding) is a strided slice and a matmul.
  XLA's CPU backend runs `dot` through its tuned GEMM, and the gradients of a
  dot are dots; as a convolution its weight gradient is a convolution whose
  "kernel" is the whole feature map, 3-7x slower on this project's ResNet
  shapes, and 1x1 convolutions are most of a ResNet-50's FLOPs. The
  gradients are stated as 2-D dots (`_pixel_matmul`): autodiff's version made
  XLA copy the cotangent transposed, on one thread.
- A transposed convolution whose kernel equals its stride (U-Net's 2x2/2
  upsampling) writes each input pixel's k x k output block independently: a
  matmul to k*k*out channels and a depth-to-space reshape. As a convolution
  its weight gradient falls back to XLA's generic convolution loop, which
  took 45% of a U-Net training step.
- An atrous (dilated) stride-1 convolution with rate r is a plain convolution
  on the r x r phases of the input stacked into the batch ("space to batch",
  as DeepLab's TensorFlow code did): output pixel (r u + i, r v + j) only sees
  input pixels of phase (i, j), at offsets r apart. Its weight gradient, the
  slowest of the dilated ops on CPU, becomes an undilated one. Only where each
  phase keeps at least `MIN_PHASE_SIZE` pixels a side: at DeepLab's ASPP rate
  18 over a 32x32 map the phases are 2x2 (of 324 "images"), and that one
  convolution made CCA's training step 4x slower than lax's dilated one;
  measured per convolution, phases of 8 gain 10-25% and phases of 3-6 lose.

- An atrous convolution whose rate is large against its map mostly reads its
  zero padding: DeepLab's ASPP at rate 18 over a 32x32 map (cca's, at output
  stride 8) reads the map in 39% of its (output, tap) pairs, and at rate 12
  over 16x16 in 25%. Where at most `MAX_VALID_FRACTION` of the pairs fall
  inside the map, each tap is a matmul over just the input rectangle it reads,
  placed into the output rows and columns it reaches (`_valid_tap_conv`):
  no multiplications by padding, forward or backward. Per convolution
  (2048 -> 256 channels, batch 8, forward + both gradients): rate 18 over
  32x32 0.64x lax's time, rate 12 0.92x; over 16x16, rate 12 0.39x, rate 18
  (only the centre tap left) 0.13x. A tap matmul costs about 1.6 times what
  lax spends per useful FLOP, so denser convolutions (rate 6 over 32x32, 77%
  inside) stay convolutions.

- A strided convolution keeps lax's forward pass and kernel gradient, but its
  input gradient, which XLA lowers as an input-dilated convolution in its
  generic loop (2x slower on ResNet and ULFFN shapes), is taken through
  `_phase_conv`: a sum of stride-1 convolutions, one per phase of the input.
  A `jax.custom_vjp`, so forward-mode differentiation is not available.

A max pool's gradient is XLA's select-and-scatter, which the CPU backend
expands into index maps (one iota per dimension, each the size of the padded
input), a variadic reduce-window for the argmax and a scatter, on one thread:
155 ms for ResNet's 3x3/2 pool at 128x128 x 64 channels, batch 8. `max_pool`
keeps the pool but takes its gradient tap by tap (`_max_pool_backward`).

GPU and TPU backends get `lax.conv_general_dilated` and `lax.reduce_window`
unchanged: cuDNN and the TPU compiler handle every case natively.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

_NHWC = ("NHWC", "HWIO", "NHWC")
MIN_PHASE_SIZE = 8
MAX_VALID_FRACTION = 0.6


def _is_nhwc(dimension_numbers) -> bool:
  if dimension_numbers is None:
    return False
  if isinstance(dimension_numbers, lax.ConvDimensionNumbers):
    return dimension_numbers == lax.conv_dimension_numbers((1, 1, 1, 1), (1, 1, 1, 1), _NHWC)
  return tuple(dimension_numbers) == _NHWC


def _matmul_1x1(lhs, rhs, strides, precision):
  sliced = lhs[:, :: strides[0], :: strides[1], :]
  return _pixel_matmul(sliced, rhs[0, 0], precision)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _pixel_matmul(x, w, precision):
  """`x @ w` at every pixel (x: NHWC, w: [C, D]), with both gradients as 2-D dots.

  Differentiating the einsum gives the kernel gradient as a dot whose output is
  transposed; XLA turns that into a copy that writes the cotangent, fused with
  whatever produced it (a BatchNorm backward), transposed into memory, one
  thread at a time: 70 ms a copy on ResNet-50's layer1 at batch 8, more than
  the dots. Stated as `x^T ct` on the flattened maps there is no transpose.
  """
  return jnp.einsum("bhwc,cd->bhwd", x, w, precision=precision)


def _pixel_matmul_forward(x, w, precision):
  return _pixel_matmul(x, w, precision), (x, w)


def _pixel_matmul_backward(precision, residuals, cotangent):
  x, w = residuals
  pixels, cotangent_2d = x.reshape(-1, x.shape[-1]), cotangent.reshape(-1, w.shape[-1])
  input_grad = lax.dot_general(cotangent_2d, w, (((1,), (1,)), ((), ())), precision=precision)
  kernel_grad = lax.dot_general(pixels, cotangent_2d, (((0,), (0,)), ((), ())), precision=precision)
  return input_grad.reshape(x.shape), kernel_grad


_pixel_matmul.defvjp(_pixel_matmul_forward, _pixel_matmul_backward)


def _space_to_batch_conv(lhs, rhs, padding, rate: int, precision):
  """A stride-1 convolution at dilation `rate` whose paddings are multiples of `rate`."""
  batch, height, width, channels = lhs.shape
  extra_h, extra_w = -height % rate, -width % rate
  # Zeros past the end are what the padding reads anyway; the extra outputs are cropped.
  x = jnp.pad(lhs, ((0, 0), (0, extra_h), (0, extra_w), (0, 0)))
  ph, pw = (height + extra_h) // rate, (width + extra_w) // rate
  x = x.reshape(batch, ph, rate, pw, rate, channels).transpose(2, 4, 0, 1, 3, 5)
  x = x.reshape(rate * rate * batch, ph, pw, channels)
  phase_padding = [(lo // rate, hi // rate) for lo, hi in padding]
  y = lax.conv_general_dilated(
    x, rhs, (1, 1), phase_padding, dimension_numbers=_NHWC, precision=precision
  )
  out_h, out_w, features = y.shape[1:]
  y = y.reshape(rate, rate, batch, out_h, out_w, features).transpose(2, 3, 0, 4, 1, 5)
  y = y.reshape(batch, out_h * rate, out_w * rate, features)
  return y[:, : out_h * rate - extra_h, : out_w * rate - extra_w]


def _tap_spans(size: int, taps: int, rate: int, pad_before: int, out_size: int):
  """Per tap along one axis of a stride-1 convolution: (first, end, offset).

  Output row y reads input row y + offset, offset = tap * rate - pad_before; the
  rows [first, end) are those that read inside the map rather than padding.
  """
  spans = []
  for tap in range(taps):
    offset = tap * rate - pad_before
    spans.append((max(0, -offset), min(out_size, size - offset), offset))
  return spans


def _inside_fraction(spans, out_size: int) -> float:
  """The share of one axis' (tap, output row) pairs that read inside the map."""
  return sum(max(0, end - first) for first, end, _ in spans) / (len(spans) * out_size)


def _valid_tap_conv(lhs, rhs, rows, cols, out_size, precision):
  """A stride-1 convolution as one matmul per tap over the input it reads inside the map.

  Every input pixel is read by some tap of some output, so at least one term exists.
  """
  out_h, out_w = out_size
  zero = jnp.zeros((), lhs.dtype)
  total = None
  for a, (top, bottom, row_offset) in enumerate(rows):
    for b, (left, right, col_offset) in enumerate(cols):
      if top >= bottom or left >= right:
        continue
      read = lhs[:, top + row_offset : bottom + row_offset, left + col_offset : right + col_offset]
      term = lax.pad(
        _pixel_matmul(read, rhs[a, b], precision),
        zero,
        ((0, 0, 0), (top, out_h - bottom, 0), (left, out_w - right, 0), (0, 0, 0)),
      )
      total = term if total is None else total + term
  return total


def _phase_conv(lhs, rhs, strides, padding, precision):
  """A strided convolution as a sum of stride-1 ones, one per phase of the input.

  Output pixel i (per axis, stride s) reads padded input rows s i + t for the
  taps t of the kernel; rows of phase a = t mod s are that phase's row i + t // s.
  So phase a sees the kernel's taps a, a + s, ... as a stride-1 VALID convolution,
  and the phases' results add up: the same FLOPs, no strided op to differentiate.
  """
  (sh, sw), (kh, kw) = strides, rhs.shape[:2]
  height, width = lhs.shape[1:3]
  out_h = (height + sum(padding[0]) - kh) // sh + 1
  out_w = (width + sum(padding[1]) - kw) // sw + 1
  # The padded input the output reads, cropped or extended past the end to fit.
  read_h, read_w = sh * (out_h - 1) + kh, sw * (out_w - 1) + kw
  (top, _), (left, _) = padding
  x = lax.pad(
    lhs,
    jnp.zeros((), lhs.dtype),
    ((0, 0, 0), (top, read_h - top - height, 0), (left, read_w - left - width, 0), (0, 0, 0)),
  )
  total = None
  for a in range(min(sh, kh)):
    for b in range(min(sw, kw)):
      kernel = rhs[a::sh, b::sw]
      taps_h, taps_w = kernel.shape[:2]
      phase = x[:, a::sh, b::sw][:, : out_h + taps_h - 1, : out_w + taps_w - 1]
      term = conv_general_dilated(
        phase, kernel, (1, 1), ((0, 0), (0, 0)), dimension_numbers=_NHWC, precision=precision
      )
      total = term if total is None else total + term
  return total


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _strided_conv(lhs, rhs, strides, padding, precision):
  """lax's strided convolution, whose input gradient is taken through `_phase_conv`."""
  return lax.conv_general_dilated(
    lhs, rhs, strides, padding, dimension_numbers=_NHWC, precision=precision
  )


def _strided_conv_forward(lhs, rhs, strides, padding, precision):
  return _strided_conv(lhs, rhs, strides, padding, precision), (lhs, rhs)


def _strided_conv_backward(strides, padding, precision, residuals, cotangent):
  lhs, rhs = residuals
  _, input_vjp = jax.vjp(lambda x: _phase_conv(x, rhs, strides, padding, precision), lhs)
  _, kernel_vjp = jax.vjp(
    lambda w: lax.conv_general_dilated(
      lhs, w, strides, padding, dimension_numbers=_NHWC, precision=precision
    ),
    rhs,
  )
  return input_vjp(cotangent)[0], kernel_vjp(cotangent)[0]


_strided_conv.defvjp(_strided_conv_forward, _strided_conv_backward)


def conv_general_dilated(
  lhs,
  rhs,
  window_strides,
  padding,
  lhs_dilation=None,
  rhs_dilation=None,
  dimension_numbers=None,
  feature_group_count: int = 1,
  batch_group_count: int = 1,
  precision=None,
  preferred_element_type=None,
):
  """`lax.conv_general_dilated`, rewritten for XLA's CPU backend where that is faster."""
  plain = lambda: lax.conv_general_dilated(
    lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
    feature_group_count, batch_group_count, precision, preferred_element_type,
  )  # fmt: skip
  if (
    jax.default_backend() != "cpu"
    or not _is_nhwc(dimension_numbers)
    or lhs.ndim != 4
    or feature_group_count != 1
    or batch_group_count != 1
    or preferred_element_type is not None
    or any(d != 1 for d in (lhs_dilation or (1, 1)))
  ):
    return plain()
  strides = tuple(window_strides)
  dilation = tuple(rhs_dilation or (1, 1))
  if isinstance(padding, str):
    dilated_window = [(k - 1) * d + 1 for k, d in zip(rhs.shape[:2], dilation, strict=True)]
    padding = lax.padtype_to_pads(lhs.shape[1:3], dilated_window, strides, padding)
  padding = [tuple(p) for p in padding]
  if rhs.shape[:2] == (1, 1) and all(p == (0, 0) for p in padding):
    return _matmul_1x1(lhs, rhs, strides, precision)
  if strides == (1, 1) and dilation != (1, 1):
    out_h = lhs.shape[1] + sum(padding[0]) - (rhs.shape[0] - 1) * dilation[0]
    out_w = lhs.shape[2] + sum(padding[1]) - (rhs.shape[1] - 1) * dilation[1]
    rows = _tap_spans(lhs.shape[1], rhs.shape[0], dilation[0], padding[0][0], out_h)
    cols = _tap_spans(lhs.shape[2], rhs.shape[1], dilation[1], padding[1][0], out_w)
    if (
      min(out_h, out_w) > 0
      and _inside_fraction(rows, out_h) * _inside_fraction(cols, out_w) <= MAX_VALID_FRACTION
    ):
      return _valid_tap_conv(lhs, rhs, rows, cols, (out_h, out_w), precision)
  rate = dilation[0]
  if (
    rate > 1
    and dilation == (rate, rate)
    and strides == (1, 1)
    and all(lo % rate == 0 and hi % rate == 0 for lo, hi in padding)
    and min(lhs.shape[1:3]) // rate >= MIN_PHASE_SIZE
  ):
    return _space_to_batch_conv(lhs, rhs, padding, rate, precision)
  if dilation == (1, 1) and strides != (1, 1):
    return _strided_conv(lhs, rhs, strides, tuple(padding), precision)
  return plain()


def conv_transpose(lhs, rhs, strides, precision=None):
  """`lax.conv_transpose(lhs, rhs, strides, "SAME")` (NHWC, HWIO, transpose_kernel=False)."""
  strides = tuple(strides)
  if jax.default_backend() != "cpu" or tuple(rhs.shape[:2]) != strides:
    return lax.conv_transpose(
      lhs, rhs, strides, "SAME", dimension_numbers=_NHWC, precision=precision
    )
  # lax's (non-transposed) kernel is applied flipped: output (s i + a) takes rhs[s - 1 - a].
  flipped = rhs[::-1, ::-1]
  batch, height, width, _ = lhs.shape
  (sh, sw), features = strides, rhs.shape[-1]
  y = jnp.einsum("nijc,abco->niajbo", lhs, flipped, precision=precision)
  return y.reshape(batch, height * sh, width * sw, features)


class CpuConvLowering:
  """What flax's `Conv(conv_general_dilated_cls=...)` instantiates: `conv_general_dilated`."""

  def __call__(self, *args, **kwargs):
    return conv_general_dilated(*args, **kwargs)


def max_pool(x, window_shape, strides=None, padding="VALID"):
  """`flax.linen.max_pool` of NHWC `x`, whose gradient on CPU needs no select-and-scatter."""
  window_shape, strides = tuple(window_shape), tuple(strides or (1,) * len(window_shape))
  if jax.default_backend() != "cpu" or x.ndim != 4:
    return nn.max_pool(x, window_shape, strides=strides, padding=padding)
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(x.shape[1:3], window_shape, strides, padding)
  return _max_pool(x, window_shape, strides, tuple(tuple(p) for p in padding))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _max_pool(x, window_shape, strides, padding):
  return nn.max_pool(x, window_shape, strides=strides, padding=padding)


def _max_pool_forward(x, window_shape, strides, padding):
  pooled = _max_pool(x, window_shape, strides, padding)
  return pooled, (x, pooled)


def _max_pool_backward(window_shape, strides, padding, residuals, cotangent):
  """Each output's cotangent goes to the first tap (row-major) that equals its maximum.

  That is the tap lax's select-and-scatter and PyTorch's max pool pick on ties,
  which are common after a ReLU (all-zero windows). Per tap: a strided slice of
  the padded input, a compare against the pooled map, and the hits placed back
  with an interior-padded `lax.pad`: elementwise work XLA fuses and runs on
  every core (ResNet's pool above: 47 ms; U-Net's 2x2/2 at 256x256: 25 vs 199 ms).
  """
  x, pooled = residuals
  (kh, kw), (sh, sw), ((top, bottom), (left, right)) = window_shape, strides, padding
  padded = lax.pad(
    x, jnp.array(-jnp.inf, x.dtype), ((0, 0, 0), (top, bottom, 0), (left, right, 0), (0, 0, 0))
  )
  batch, height, width, channels = padded.shape
  out_h, out_w = pooled.shape[1:3]
  zero = jnp.zeros((), x.dtype)
  taken, grad = None, None
  for a in range(kh):
    for b in range(kw):
      end_h, end_w = a + sh * (out_h - 1) + 1, b + sw * (out_w - 1) + 1
      tap = lax.slice(padded, (0, a, b, 0), (batch, end_h, end_w, channels), (1, sh, sw, 1))
      hit = tap == pooled if taken is None else (tap == pooled) & ~taken
      taken = hit if taken is None else taken | hit
      placed = lax.pad(
        jnp.where(hit, cotangent, zero),
        zero,
        ((0, 0, 0), (a, height - end_h, sh - 1), (b, width - end_w, sw - 1), (0, 0, 0)),
      )
      grad = placed if grad is None else grad + placed
  return (grad[:, top : height - bottom, left : width - right],)


_max_pool.defvjp(_max_pool_forward, _max_pool_backward)
