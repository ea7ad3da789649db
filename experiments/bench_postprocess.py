r"""Speed of the dual-threshold post-processing (jaxseg.postprocess) on one CPU core.

  python -m experiments.bench_postprocess
  python -m experiments.bench_postprocess --height 1504 --width 2016 --num_images 200
  python -m experiments.bench_postprocess --height 1504 --width 2016 --num_images 100 \
    --noise 12 --lesion_scale 3    # a worst case: big, ragged, fragmented lesions

Generates `num_images` synthetic probability maps at the given size, as a
model's output upsampled to the original resolution looks: smooth, a main
lesion of random size, shape and position with a soft edge, sometimes a hole
or a second, fainter blob, plus low-frequency noise that makes ragged borders
and small spurious islands (`--noise` scales it; 12 gives many more islands,
hence the slow path that locates the centre; `--lesion_scale 3` makes lesions
fill most of the frame, so cropping to the lesion saves little). Only
`dual_threshold` is timed (generation is not); prints images/s, ms/image and
the total seconds (and that total scaled to 1000 images).
"""

import time

import numpy as np
from absl import flags
from scipy import ndimage

from experiments import cli
from jaxseg.postprocess import dual_threshold

_NUM_IMAGES = flags.DEFINE_integer("num_images", 1000, "Probability maps to post-process.")
_HEIGHT = flags.DEFINE_integer("height", 768, "Map height (original image resolution).")
_WIDTH = flags.DEFINE_integer("width", 1024, "Map width.")
_SEED = flags.DEFINE_integer("seed", 0, "Generator seed.")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "float64"], "Map dtype.")
_LESION_SCALE = flags.DEFINE_float(
  "lesion_scale", 1.0, "Scales the lesion radii; 3 makes lesions fill most of the frame."
)
_NOISE = flags.DEFINE_float(
  "noise", 6.0, "Amplitude of the low-frequency logit noise; larger gives more islands."
)


def synthetic_map(
  rng: np.random.Generator,
  height: int,
  width: int,
  dtype,
  noise_amplitude: float = 6.0,
  lesion_scale: float = 1.0,
) -> np.ndarray:
  """One smooth probability map [H, W], built at 1/8 resolution and upsampled bilinearly."""
  h, w = -(-height // 8), -(-width // 8)
  yy, xx = np.mgrid[:h, :w].astype(np.float32)
  noise = ndimage.gaussian_filter(rng.normal(size=(h, w)).astype(np.float32), 3) * noise_amplitude

  def blob(scale):
    cy, cx = rng.uniform(0.25, 0.75) * h, rng.uniform(0.25, 0.75) * w
    ry, rx = rng.uniform(0.1, 0.35) * h * scale, rng.uniform(0.1, 0.35) * w * scale
    angle = rng.uniform(0, np.pi)
    dy, dx = yy - cy, xx - cx
    u = (dy * np.cos(angle) + dx * np.sin(angle)) / ry
    v = (-dy * np.sin(angle) + dx * np.cos(angle)) / rx
    return np.sqrt(u**2 + v**2)  # 1 on the ellipse

  logit = 8 * (1 - blob(lesion_scale)) + noise
  if rng.uniform() < 0.3:  # a second, fainter lesion-like blob
    logit = np.maximum(logit, 6 * (1 - blob(0.4)) - 1 + noise)
  if rng.uniform() < 0.2:  # a hole inside the lesion
    logit -= 12 * np.clip(1 - blob(0.2), 0, None)
  small = 1 / (1 + np.exp(-logit))
  return ndimage.zoom(small, (height / h, width / w), order=1, grid_mode=True, mode="nearest")[
    :height, :width
  ].astype(dtype)


def main():
  rng = np.random.default_rng(_SEED.value)
  height, width, n = _HEIGHT.value, _WIDTH.value, _NUM_IMAGES.value
  dual_threshold(synthetic_map(rng, height, width, _DTYPE.value))  # warm-up
  elapsed, foreground, several = 0.0, 0.0, 0
  for _ in range(n):
    prob = synthetic_map(rng, height, width, _DTYPE.value, _NOISE.value, _LESION_SCALE.value)
    several += ndimage.label(prob >= 0.5, np.ones((3, 3)))[1] > 1  # untimed statistic
    start = time.perf_counter()
    mask = dual_threshold(prob)
    elapsed += time.perf_counter() - start
    foreground += mask.mean()
  print(
    f"dual_threshold on {n} maps of {height}x{width} ({_DTYPE.value}): "
    f"{n / elapsed:.1f} images/s, {1000 * elapsed / n:.2f} ms/image, {elapsed:.2f} s total "
    f"({1000 * elapsed / n:.1f} s per 1000 images); mean foreground {foreground / n:.3f}, "
    f"{several} maps with several components at 0.5"
  )


if __name__ == "__main__":
  cli.app_main(main, takes_config=False)
