"""The PyTorch twins and the parity harness (experiments/peer, experiments.parity).

The twins must be the same networks (same weights -> same outputs), and every
candidate cause of a training difference that can be checked exactly is
checked here: the loss, the optimiser and schedule, BatchNorm, the input
resize and the scoring resize. The one real difference, initialisation, is
pinned too: jaxseg's layers now start as PyTorch's.
"""

import json
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from clu import parameter_overview

torch = pytest.importorskip("torch", reason='the PyTorch twins need pip install -e ".[peer]"')

from torch.nn import functional as F  # noqa: E402

from experiments import configs  # noqa: E402
from experiments.peer import lockstep, twins  # noqa: E402
from experiments.peer import train as peer_train  # noqa: E402
from jaxseg import losses, metrics  # noqa: E402
from jaxseg.config_overrides import derive_config  # noqa: E402
from jaxseg.data import pipeline  # noqa: E402
from jaxseg.models import blocks, create_model  # noqa: E402
from jaxseg.train import optim  # noqa: E402

TWINS = [
  ("asnet", {"resnet_depth": 34, "resnet_width": 4, "use_asm": False}),
  ("unet", {"base_width": 4, "depth": 4, "num_classes": 1}),
]


def _nchw(x: np.ndarray) -> "torch.Tensor":
  return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _nhwc(x: "torch.Tensor") -> np.ndarray:
  return x.detach().numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize(("name", "fields"), TWINS, ids=[n for n, _ in TWINS])
def test_twin_is_the_same_network(name, fields):
  model = create_model(name, **fields)
  images = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype(np.float32)
  variables = model.init(jax.random.key(0), jnp.asarray(images), train=False)
  twin = twins.create_twin(name, {"decoder_extra_blocks": 0, **fields})
  assert sum(p.numel() for p in twin.parameters()) == parameter_overview.count_parameters(
    variables["params"]
  )
  twins.load_flax_variables(twin, variables)
  # Training mode: BatchNorm normalises with the batch's own statistics.
  outputs, updates = model.apply(
    variables, jnp.asarray(images), train=True, mutable=["batch_stats"]
  )
  twin.train()
  np.testing.assert_allclose(
    _nhwc(twin(_nchw(images))), outputs["logits"], atol=2e-3 * np.abs(outputs["logits"]).max()
  )
  # Inference after that step: running statistics updated the same way.
  variables = {"params": variables["params"], "batch_stats": updates["batch_stats"]}
  twin.eval()
  expected = model.apply(variables, jnp.asarray(images), train=False)["logits"]
  np.testing.assert_allclose(
    _nhwc(twin(_nchw(images))), expected, atol=2e-3 * np.abs(expected).max()
  )


def test_twins_are_the_issues_networks_at_full_width():
  # The ASNet baseline of the issue's measurement: 22,248,289 parameters.
  baseline = twins.ASNetBaselineTwin(34, 64)
  assert sum(p.numel() for p in baseline.parameters()) == 22_248_289
  with pytest.raises(ValueError, match="use_asm=False"):
    twins.create_twin("asnet", {"resnet_depth": 34, "resnet_width": 4, "use_asm": True})
  with pytest.raises(KeyError, match="twins exist for"):
    twins.create_twin("cca", {})


def test_loss_is_the_same():
  rng = np.random.default_rng(1)
  logits = rng.normal(scale=3.0, size=(3, 16, 16, 1)).astype(np.float32)
  masks = (rng.random((3, 16, 16, 1)) < 0.2).astype(np.float32)
  masks[2] = 0.0  # an empty mask: only the smoothing keeps Dice defined
  expected = float(losses.bce_dice(jnp.asarray(logits), jnp.asarray(masks)))
  got = float(peer_train.bce_dice_torch(_nchw(logits), _nchw(masks)))
  assert got == pytest.approx(expected, rel=1e-5)


def test_adam_and_poly_schedule_take_the_same_steps():
  """optax.adam (epsilon outside the root, bias-corrected) + poly == torch.optim.Adam + LambdaLR."""
  config = configs.get_config("parity_unet")
  total = 6
  schedule = optim.create_schedule(config, total, 3)
  tx = optim.create_optimizer(config, schedule)
  rng = np.random.default_rng(2)
  start = rng.normal(size=(5,)).astype(np.float32)
  grads = [rng.normal(scale=10.0 ** rng.integers(-4, 2), size=(5,)).astype(np.float32)
           for _ in range(total)]  # fmt: skip
  params, state = jnp.asarray(start), tx.init(jnp.asarray(start))
  for grad in grads:
    updates, state = tx.update(jnp.asarray(grad), state, params)
    params = optax.apply_updates(params, updates)
  weight = torch.nn.Parameter(torch.from_numpy(start.copy()))
  module = torch.nn.Module()
  module.weight = weight
  optimizer, lr_schedule = peer_train.create_twin_optimizer(module, config, total)
  for grad in grads:
    weight.grad = torch.from_numpy(grad)
    optimizer.step()
    lr_schedule.step()
  np.testing.assert_allclose(weight.detach().numpy(), np.asarray(params), rtol=1e-6, atol=1e-7)


def test_batch_norm_matches_torch_but_for_the_running_variance_estimator():
  """flax keeps the biased batch variance, PyTorch the unbiased one: a factor n / (n - 1).

  With n = batch x height x width values per channel, that is 1.004 at the
  smallest BatchNorm of the parity ASNet (16 x 4 x 4 at layer4), and it only
  touches inference; the normalised outputs in training are identical.
  """
  x = np.random.default_rng(3).normal(2.0, 3.0, size=(4, 3, 5, 8)).astype(np.float32)
  flax_bn = blocks.batch_norm(train=True)
  variables = flax_bn.init(jax.random.key(0), jnp.asarray(x))
  y, updates = flax_bn.apply(variables, jnp.asarray(x), mutable=["batch_stats"])
  torch_bn = torch.nn.BatchNorm2d(8, eps=blocks.BN_EPSILON, momentum=1 - blocks.BN_MOMENTUM)
  torch_y = _nhwc(torch_bn(_nchw(x)))
  np.testing.assert_allclose(torch_y, y, atol=1e-5)
  stats = updates["batch_stats"]
  np.testing.assert_allclose(torch_bn.running_mean.numpy(), stats["mean"], rtol=1e-5)
  n = x.size // x.shape[-1]
  flax_var = np.asarray(stats["var"]) - blocks.BN_MOMENTUM  # the batch's share, 0.1 x var
  torch_var = torch_bn.running_var.numpy() - blocks.BN_MOMENTUM
  np.testing.assert_allclose(torch_var, flax_var * n / (n - 1), rtol=1e-4)


def test_layers_start_as_pytorch_layers():
  """blocks.Conv / ConvTranspose / Dense draw from PyTorch's default ranges."""
  x = jnp.ones((1, 4, 4, 48))
  for layer, torch_layer in (
    (blocks.Conv(64, (3, 3)), torch.nn.Conv2d(48, 64, 3)),
    (blocks.ConvTranspose(64, (2, 2), strides=(2, 2)), torch.nn.ConvTranspose2d(48, 64, 2, 2)),
    (blocks.Dense(64), torch.nn.Linear(48, 64)),
  ):
    params = layer.init(jax.random.key(0), x)["params"]
    for name, torch_name in (("kernel", "weight"), ("bias", "bias")):
      ours = np.asarray(params[name])
      theirs = getattr(torch_layer, torch_name).detach().numpy()
      bound = 1 / math.sqrt(torch.nn.init._calculate_fan_in_and_fan_out(torch_layer.weight)[0])
      for values in (ours, theirs):
        assert bound * 0.7 < np.abs(values).max() <= bound
        if name == "kernel":  # enough draws for the spread: uniform on [-b, b], std b / sqrt(3)
          assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.1)


@pytest.mark.parametrize(("name", "fields"), TWINS, ids=[n for n, _ in TWINS])
def test_a_model_and_its_twin_start_at_the_same_scale(name, fields):
  """Layer by layer, the initial weights of jaxseg and of the twin have the same spread."""
  model = create_model(name, **fields)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)), train=False)
  ours = [layer["kernel"] for layer in twins.flax_layers(variables["params"]) if "kernel" in layer]
  twin = twins.create_twin(name, {"decoder_extra_blocks": 0, **fields})
  theirs = [
    m.weight.detach().numpy()
    for m in twin.modules()
    if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)
  ]
  assert len(ours) == len(theirs)
  ratios = [np.std(a) / np.std(b) for a, b in zip(ours, theirs, strict=True) if a.size >= 256]
  assert 0.85 < np.median(ratios) < 1.15
  assert all(0.6 < r < 1.6 for r in ratios)


def test_input_and_scoring_resizes_are_the_same():
  """The pipeline's resize of image and mask is the twin's; so is the scoring upsampling."""
  config = configs.get_config("parity_unet:smoke")
  rng = np.random.default_rng(4)
  example = {
    "image": rng.integers(0, 256, size=(75, 130, 3), dtype=np.uint8),
    "mask": np.where(rng.random((75, 130, 1)) < 0.3, 255, 0).astype(np.uint8),
    "id": "x",
  }
  processed = pipeline.make_preprocess(config.input).map(example)
  image, mask = peer_train.resize_example(example, tuple(config.input.image_size))
  np.testing.assert_array_equal(processed["image"], image)
  np.testing.assert_array_equal(processed["mask"], mask)
  prob = rng.random((32, 32)).astype(np.float32)
  ours = metrics.resize_bilinear(prob, (75, 130))
  theirs = F.interpolate(torch.from_numpy(prob)[None, None], (75, 130), mode="bilinear")[0, 0]
  np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-5)


def test_flax_like_init_changes_only_the_decoder():
  twin = twins.ASNetBaselineTwin(34, 4)
  encoder = {k: v.clone() for k, v in twin.backbone.state_dict().items()}
  head = twin.head.weight.detach().clone()
  twins.flax_like_init(twin)
  for key, value in twin.backbone.state_dict().items():
    assert torch.equal(value, encoder[key])
  assert not torch.equal(twin.head.weight, head)
  assert torch.count_nonzero(twin.head.bias) == 0


@pytest.mark.slow
def test_parity_harness_end_to_end(tfds_dir, tmp_path):
  """Both frameworks, two seeds, on the smoke recipe: the report and its JSON."""
  env = {**os.environ, "TFDS_DATA_DIR": str(tfds_dir), "JAX_PLATFORMS": "cpu"}
  env.pop("XLA_FLAGS", None)  # one device: the smoke batch is not split over four
  command = [
    sys.executable, "-m", "experiments.parity", "--config", "parity_unet:smoke",
    "--workdir", str(tmp_path), "--seeds", "0,1",
  ]  # fmt: skip
  done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "| jaxseg |" in done.stdout and "| torch |" in done.stdout
  record = json.loads((tmp_path / "parity.json").read_text())
  config = configs.get_config("parity_unet:smoke")
  for framework in ("jaxseg", "torch"):
    values = record["summary"][framework]["JA"]["values"]
    assert len(values) == 2 and all(0.0 <= v <= 1.0 for v in values)
  assert set(record["summary"]["gap"]) == {"JA", "DI"}
  assert len(record["loss_curves"]) == config.num_train_steps
  assert all(math.isfinite(row["torch"]) and math.isfinite(row["jaxseg"])
             for row in record["loss_curves"])  # fmt: skip
  # A model without a twin is one clear message and status 2, before any training.
  other = [*command[:4], "cca_synthetic:smoke", *command[5:]]
  refused = subprocess.run(other, env=env, capture_output=True, text=True, timeout=600)
  assert refused.returncode == 2
  assert "error: The PyTorch twin supports loss in ('bce_dice',)" in refused.stderr
  assert "Traceback" not in refused.stderr
  # A rerun reuses the finished runs instead of training again.
  rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
  assert rerun.returncode == 0
  assert json.loads((tmp_path / "parity.json").read_text())["summary"] == record["summary"]


@pytest.mark.slow
@pytest.mark.parametrize("config_name", ["parity_asnet:smoke", "parity_unet:smoke"])
def test_same_weights_and_batches_give_the_same_losses(tfds_dir, config_name):
  """The training steps are the same computation: lockstep losses agree step after step."""
  config = configs.get_config(config_name)
  with config.unlocked():
    config.dataset.data_dir = str(tfds_dir)
    # At 32x32 the smoke ASNet's layer4 is 1x1: BatchNorm over 4 values turns
    # float rounding into visible loss differences within a few steps.
    config.input.image_size = (64, 64)
  pairs = lockstep.train_in_lockstep(config, 4)
  assert len(pairs) == 4
  for ours, theirs in pairs:
    assert theirs == pytest.approx(ours, rel=1e-3)
  # Training moved the loss: the comparison is not of four identical numbers.
  assert len({round(ours, 6) for ours, _ in pairs}) == 4


@pytest.mark.parametrize(
  ("key", "value"),
  [
    ("input.resize_method", "bicubic"),
    ("input.shift_fraction", 0.1),
    ("input.contrast_probability", 0.5),
    ("evals.test.postprocess", "dual_threshold"),
    ("loss", "dice_focal"),
  ],
)
def test_the_twin_refuses_recipes_it_does_not_implement(key, value):
  config = configs.get_config("parity_unet")
  peer_train.check_supported(config)
  with pytest.raises(ValueError, match=key.replace(".", r"\.")):
    peer_train.check_supported(derive_config(config, {key: value}))
