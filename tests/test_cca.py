"""CCA network (paper 000): feature sizes, CGL attention, Table 7 switches, training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import configs
from jaxseg.models import cca, convert_torchvision, create_model
from jaxseg.models.resnet import ResNet
from jaxseg.train import optim, trainer
from tests.test_resnet import _synthetic_state_dict

TINY = {"resnet_depth": 18, "resnet_width": 4, "width": 8}


def _params(model, size=32):
  variables = jax.eval_shape(
    lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3)), train=False)
  )
  return variables["params"]


def _count(tree) -> int:
  return sum(x.size for x in jax.tree.leaves(tree))


def test_paper_dilations_give_feature_sizes_quarter_then_eighths():
  backbone = ResNet(depth=18, base_width=4, output_stride=8, layer_dilations=(1, 1, 2, 2))
  variables = backbone.init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
  features = backbone.apply(variables, jnp.zeros((1, 64, 64, 3)))
  sizes = [features[f"layer{i}"].shape[1:3] for i in range(1, 5)]
  assert sizes == [(16, 16), (8, 8), (8, 8), (8, 8)]  # f1..f4 at 1/4, 1/8, 1/8, 1/8


def _naive_attention(features: np.ndarray) -> np.ndarray:
  batch, height, width, channels = features.shape
  out = np.zeros_like(features, dtype=np.float64)
  for b in range(batch):
    flat = features[b].reshape(-1, channels).astype(np.float64)
    for p in range(flat.shape[0]):
      logits = np.array([flat[p] @ flat[q] for q in range(flat.shape[0])])
      weights = np.exp(logits - logits.max())
      weights /= weights.sum()
      out[b].reshape(-1, channels)[p] = weights @ flat
  return out


@pytest.mark.parametrize("chunk", [0, 4])
def test_position_attention_matches_naive_reference(chunk):
  features = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype(np.float32)
  got = cca.position_attention(jnp.asarray(features), query_chunk=chunk)
  np.testing.assert_allclose(got, _naive_attention(features), rtol=1e-4, atol=1e-5)


def test_cgl_adds_aspp_features_and_gates_the_context():
  aspp = jnp.asarray(np.random.default_rng(1).normal(size=(1, 2, 2, 3)), jnp.float32)
  module = cca.ContextGuidedLocalAffinity()
  alone = module.apply({}, aspp)  # no context: affinity on fA alone, no parameters
  np.testing.assert_allclose(alone, _naive_attention(np.asarray(aspp)) + aspp, rtol=1e-4)
  context = jnp.ones_like(aspp)
  variables = module.init(jax.random.key(0), aspp, context)
  assert set(variables["params"]) == {"gate"}


def _switches(use_cca, use_cgl, aux_head):
  return create_model("cca", **TINY, use_cca=use_cca, use_cgl=use_cgl, aux_head=aux_head)


def test_each_table7_switch_removes_exactly_its_part():
  rows = {
    "baseline": _switches(False, False, False),
    "cgl_only": _switches(False, True, False),
    "cca": _switches(True, False, False),
    "cca_cgl": _switches(True, True, False),
    "full": _switches(True, True, True),
  }
  params = {name: _params(model) for name, model in rows.items()}
  assert set(params["baseline"]) == {"backbone", "aspp", "decoder", "head"}
  assert set(params["cgl_only"]) == set(params["baseline"])  # plain inner-product attention
  assert set(params["cca"]) == set(params["baseline"]) | {"cca"}
  assert set(params["cca_cgl"]) == set(params["cca"]) | {"cgl"}
  assert set(params["full"]) == set(params["cca_cgl"]) | {"aux_head"}
  width = TINY["width"]
  # The decoder's 3x3 conv sees concat(fG, CGL out) once CCA exists.
  decoder = lambda name: _count(params[name]["decoder"])  # noqa: E731
  assert decoder("cca") - decoder("baseline") == 9 * width * width
  assert _count(params["cca_cgl"]["cgl"]) == 2 * width * width + width  # the 1x1 gate
  assert _count(params["full"]["aux_head"]) == width + 1


def test_full_size_parameter_count_pinned():
  model = trainer.build_model(configs.get_config("cca_isic2017"))
  params = _params(model, size=64)
  assert _count(params["backbone"]) == 23_508_032  # torchvision ResNet-50 without fc
  assert _count(params) == 42_149_698


def test_bfloat16_forward():
  model = create_model("cca", **TINY, dtype=jnp.bfloat16)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)
  outputs = model.apply(variables, jnp.ones((2, 32, 32, 3)), train=False)
  assert outputs["logits"].shape == outputs["aux_logits"].shape == (2, 32, 32, 1)
  assert all(np.isfinite(np.asarray(x)).all() for x in outputs.values())


def test_a_few_steps_lower_the_loss():
  config = configs.get_config("cca_synthetic:smoke")
  with config.unlocked():
    config.optimizer.lr = 3e-3
  mesh = trainer.create_mesh(jax.devices()[:1])
  model = trainer.build_model(config)
  schedule = optim.create_schedule(config, 100, 10)
  state = trainer.init_state(config, model, optim.create_optimizer(config, schedule), mesh)
  step = trainer.build_train_step(config, schedule, mesh)
  yy, xx = np.mgrid[:32, :32]
  masks = np.stack([((yy - 16) ** 2 + (xx - c) ** 2 < 64) for c in (10, 16, 22, 14)])
  images = np.where(masks[..., None], 60, 200).astype(np.uint8).repeat(3, axis=-1)
  batch = trainer.put_batch(
    {"image": images, "mask": masks.astype(np.uint8), "valid": np.ones(4, np.float32)}, mesh
  )
  losses_seen = []
  for _ in range(12):
    state, metrics = step(state, batch)
    losses_seen.append(float(metrics["loss"]))
  assert losses_seen[-1] < 0.8 * losses_seen[0], losses_seen


def test_trainer_loads_a_pretrained_backbone(tmp_path):
  weights = convert_torchvision.torchvision_to_flax(_synthetic_state_dict(18))
  path = tmp_path / "resnet18.npz"
  np.savez(path, **weights)
  config = configs.get_config("cca_synthetic:smoke")
  with config.unlocked():
    config.model.resnet_width = 64  # ImageNet weights need the torchvision width
    config.pretrained_backbone = str(path)
  mesh = trainer.create_mesh(jax.devices()[:1])
  model = trainer.build_model(config)
  tx = optim.create_optimizer(config, optim.create_schedule(config, 10, 1))
  state = trainer.init_state(config, model, tx, mesh)
  np.testing.assert_array_equal(
    state.params["backbone"]["conv1"]["kernel"], weights["params/conv1/kernel"]
  )
  np.testing.assert_array_equal(
    state.batch_stats["backbone"]["bn1"]["mean"], weights["batch_stats/bn1/mean"]
  )
