"""grain pipelines: sharding across processes, exact eval coverage, determinism."""

import numpy as np
import pytest

from experiments.configs import common
from jaxseg.data import colour, pipeline, transforms


def _source(n=11, height=20, width=30):
  return [
    {
      "image": np.full((height, width, 3), i, np.uint8),
      "mask": np.pad(
        np.full((height // 2, width, 1), 255, np.uint8), ((0, height - height // 2), (0, 0), (0, 0))
      ),
      "id": f"ISIC_{i:07d}".encode(),
      "diagnosis": i % 2,
    }
    for i in range(n)
  ]


def _input_config(**overrides):
  config = common.base_config().input
  config.update({"image_size": (8, 12), "num_threads": 2, "prefetch": 4, **overrides})
  return config


def _take(iterator, n):
  return [next(iterator) for _ in range(n)]


def test_processes_split_each_global_batch():
  source, config = _source(), _input_config()
  (whole,) = [_take(iter(pipeline.train_dataset(source, config, 8, seed=3)), 4)]
  halves = [
    _take(
      iter(pipeline.train_dataset(source, config, 8, seed=3, process_index=p, process_count=2)), 4
    )
    for p in range(2)
  ]
  for step in range(4):
    for key in ("image", "mask", "id"):
      joined = np.concatenate([halves[0][step][key], halves[1][step][key]])
      np.testing.assert_array_equal(whole[step][key], joined)


def test_train_stream_is_seeded_and_reshuffles_each_epoch():
  source, config = _source(n=8), _input_config(hflip=False, vflip=False)
  ids = lambda seed: [  # noqa: E731
    transforms.decode_ids(b["id"])
    for b in _take(iter(pipeline.train_dataset(source, config, 8, seed=seed)), 2)
  ]
  first = ids(0)
  assert first == ids(0)
  assert first != ids(1)
  assert sorted(first[0]) == sorted(first[1]) == sorted(f"ISIC_{i:07d}" for i in range(8))
  assert first[0] != first[1]


def test_resize_normalise_and_mask_values():
  batch = next(
    iter(pipeline.train_dataset(_source(), _input_config(hflip=False, vflip=False), 4, seed=0))
  )
  assert batch["image"].shape == (4, 8, 12, 3) and batch["image"].dtype == np.uint8
  assert batch["mask"].shape == (4, 8, 12) and batch["mask"].dtype == np.uint8
  assert set(np.unique(batch["mask"])) == {0, 1}
  np.testing.assert_array_equal(batch["mask"][:, :4], 1)  # top half is lesion
  normalized = transforms.normalize(batch["image"], "imagenet")
  expected = (batch["image"][..., 0] / 255.0 - 0.485) / 0.229
  np.testing.assert_allclose(normalized[..., 0], expected, rtol=1e-5)


def test_flips_keep_image_and_mask_aligned():
  source = _source(n=4)
  for example in source:  # image encodes the mask, so a misaligned flip shows
    example["image"] = np.repeat(example["mask"], 3, axis=-1)
  config = _input_config(resize_method="nearest")
  for batch in _take(iter(pipeline.train_dataset(source, config, 4, seed=0)), 6):
    np.testing.assert_array_equal(batch["image"][..., 0] > 127, batch["mask"] > 0)


@pytest.mark.parametrize("process_count", [1, 2])
def test_eval_sees_every_example_once_with_padding_masked(process_count):
  source, config = _source(n=11), _input_config()
  rows = []
  for p in range(process_count):
    for batch in pipeline.eval_dataset(source, config, 4, p, process_count):
      assert len(batch["valid"]) == 4 // process_count
      rows += zip(transforms.decode_ids(batch["id"]), batch["valid"], strict=True)
  real = sorted(i for i, v in rows if v > 0)
  assert real == sorted(f"ISIC_{i:07d}" for i in range(11))
  assert sum(v == 0 for _, v in rows) == 1  # 11 examples in batches of 4


def test_unknown_resize_or_normalization_is_a_clear_error():
  with pytest.raises(KeyError, match="resize method"):
    transforms.resize(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 1), np.uint8), (2, 2), "x")
  with pytest.raises(KeyError, match="normalization"):
    transforms.normalize(np.zeros((2, 2, 3), np.uint8), "x")


def test_rotation_and_sharpening_keep_image_and_mask_aligned():
  height, width = 24, 24
  yy, xx = np.mgrid[:height, :width]
  source = []
  for i in range(4):  # off-centre bars, so a rotation visibly moves them
    mask = ((np.abs(yy - 6 - 2 * i) < 3) & (xx > 4)).astype(np.uint8)[..., None] * 255
    source.append({"image": np.repeat(mask, 3, axis=-1), "mask": mask, "id": f"r{i}",
                   "diagnosis": 0})  # fmt: skip
  config = _input_config(image_size=(24, 24), hflip=False, vflip=False, rotate_degrees=90.0)
  rotated = 0
  for batch in _take(iter(pipeline.train_dataset(source, config, 4, seed=0)), 8):
    for image, mask, original in zip(batch["image"], batch["mask"], [s["mask"] for s in source] * 2,
                                     strict=False):  # fmt: skip
      # Bilinear image edges may blur by a pixel; away from edges they agree.
      agree = (image[..., 0] > 127) == (mask > 0)
      assert agree.mean() > 0.95
      rotated += not np.array_equal(mask, original[..., 0] > 127)
  assert rotated > 0
  sharp = pipeline.make_augment(_input_config(hflip=False, vflip=False, sharpen=True))
  element = {"image": np.full((8, 8, 3), 100, np.uint8), "mask": np.ones((8, 8), np.uint8)}
  element["image"][4:] = 200
  outputs = [sharp.random_map(element, np.random.default_rng(s)) for s in range(8)]
  assert any(not np.array_equal(o["image"], element["image"]) for o in outputs)
  assert all(np.array_equal(o["mask"], element["mask"]) for o in outputs)


def test_resize_crop_keeps_aspect_and_centres():
  image = np.zeros((40, 80, 3), np.uint8)
  image[:, 20:60] = 255  # the centre half
  mask = image[..., :1].copy()
  out_image, out_mask = transforms.resize(image, mask, (16, 16), "nearest", crop=True)
  assert out_image.shape == (16, 16, 3) and out_mask.shape == (16, 16, 1)
  # 40x80 -> 16x32, centre 16 columns are the white half exactly.
  assert out_image.min() == 255 and out_mask.min() == 255


def test_shift_and_scale_keep_image_and_mask_aligned():
  height, width = 32, 48
  yy, xx = np.mgrid[:height, :width]
  source = []
  for i in range(4):  # off-centre blobs, so a shift or zoom visibly moves them
    mask = ((np.abs(yy - 10 - 2 * i) < 5) & (np.abs(xx - 15 - 3 * i) < 7)).astype(np.uint8)
    mask = mask[..., None] * 255
    source.append({"image": np.repeat(mask, 3, axis=-1), "mask": mask, "id": f"s{i}",
                   "diagnosis": 0})  # fmt: skip
  config = _input_config(image_size=(height, width), hflip=False, vflip=False,
                         shift_fraction=0.2, scale_range=(0.8, 1.25))  # fmt: skip
  moved = 0
  for batch in _take(iter(pipeline.train_dataset(source, config, 4, seed=0)), 6):
    for image, mask, original in zip(batch["image"], batch["mask"], [s["mask"] for s in source],
                                     strict=True):  # fmt: skip
      agree = (image[..., 0] > 127) == (mask > 0)
      assert agree.mean() > 0.97
      moved += not np.array_equal(mask, original[..., 0] > 127)
  assert moved > 0


def test_scale_zooms_about_the_centre_and_shift_translates():
  image = np.zeros((32, 32, 3), np.uint8)
  image[12:20, 12:20] = 255  # centred 8 x 8 square
  mask = (image[..., 0] > 0).astype(np.uint8)
  outputs = [
    transforms.random_shift_scale(image, mask, np.random.default_rng(s), 0.0, (2.0, 2.0))
    for s in range(8)
  ]
  zoomed = [(i, m) for i, m in outputs if not np.array_equal(m, mask)]
  assert 0 < len(zoomed) < 8  # probability 1/2
  for out_image, out_mask in zoomed:
    rows, cols = np.nonzero(out_mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (8, 23, 8, 23)  # 16 x 16, centred
    np.testing.assert_array_equal(out_image[..., 0] > 127, out_mask > 0)
  unscaled = transforms.random_shift_scale(image, mask, np.random.default_rng(0), 0.0, (1.0, 1.0))
  assert unscaled[0] is image and unscaled[1] is mask
  for seed in range(8):
    rng = np.random.default_rng(seed)
    out_image, out_mask = transforms.random_shift_scale(image, mask, rng, 0.25, (1.0, 1.0))
    rows, cols = np.nonzero(out_mask)
    assert rows.max() - rows.min() == cols.max() - cols.min() == 7  # same size, moved
    assert abs(rows.min() - 12) <= 8 and abs(cols.min() - 12) <= 8  # by at most 0.25 x 32
  with pytest.raises(ValueError, match="scale_range"):
    transforms.random_shift_scale(image, mask, np.random.default_rng(0), 0.0, (0.0, 1.0))


def _colour_source(n=6, height=20, width=30):
  rng = np.random.default_rng(0)
  source = _source(n, height, width)
  for example in source:
    example["image"] = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
  return source


def test_colour_space_and_contrast_in_train_and_eval():
  source = _colour_source()
  default = next(iter(pipeline.train_dataset(source, _input_config(), 4, seed=0)))
  assert default["image"].dtype == np.uint8 and default["image"].shape == (4, 8, 12, 3)
  assert pipeline.input_channels(_input_config()) == 3
  config = _input_config(colour_space="rgb_hsv_l", contrast_probability=0.5,
                         contrast_window=(5.0, 95.0), contrast_jitter=5.0,
                         shift_fraction=0.1, scale_range=(0.9, 1.1))  # fmt: skip
  assert pipeline.input_channels(config) == 7
  assert pipeline.input_channels(_input_config(colour_space="rgb")) == 3
  batches = _take(iter(pipeline.train_dataset(source, config, 4, seed=0)), 3)
  for batch in batches:
    assert batch["image"].dtype == np.float32 and batch["image"].shape == (4, 8, 12, 7)
    assert batch["image"].min() >= 0 and batch["image"].max() <= 1
    assert batch["mask"].shape == (4, 8, 12) and batch["mask"].dtype == np.uint8
  again = _take(iter(pipeline.train_dataset(source, config, 4, seed=0)), 3)
  for first, second in zip(batches, again, strict=True):
    for key in ("image", "mask", "id"):
      np.testing.assert_array_equal(first[key], second[key])
  other = next(iter(pipeline.train_dataset(source, config, 4, seed=1)))
  assert not np.array_equal(other["image"], batches[0]["image"])
  # Eval: colour channels, no contrast augmentation, padding still works.
  rows = []
  for batch in pipeline.eval_dataset(source, config, 4):
    assert batch["image"].dtype == np.float32 and batch["image"].shape == (4, 8, 12, 7)
    rows += list(batch["valid"])
    for image, valid, index in zip(batch["image"], batch["valid"], batch["index"], strict=True):
      raw = source[min(int(index), len(source) - 1)]["image"]
      resized, _ = transforms.resize(raw, raw[..., :1], (8, 12), "bilinear")
      np.testing.assert_allclose(image, colour.colour_channels(resized, "rgb_hsv_l"))
      assert valid == (index < len(source))
  assert rows.count(0.0) == 2  # 6 examples in batches of 4
  with pytest.raises(KeyError, match="colour space"):
    pipeline.input_channels(_input_config(colour_space="lab"))


def test_contrast_augmentation_leaves_the_mask():
  contrast = pipeline.make_contrast(_input_config(colour_space="rgb", contrast_probability=1.0))
  assert pipeline.make_contrast(_input_config()) is None
  image = colour.colour_channels(_colour_source(1)[0]["image"], "rgb")
  element = {"image": image, "mask": (image[..., 0] > 0.5).astype(np.uint8)}
  out = contrast.random_map(element, np.random.default_rng(0))
  np.testing.assert_array_equal(out["mask"], element["mask"])
  assert not np.array_equal(out["image"], image)
  assert out["image"].min() >= 0 and out["image"].max() <= 1
