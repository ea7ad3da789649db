"""CCA network (paper 000): position attention, the CGL gate, Table 7 switches, parameters."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import configs
from jaxseg.models import cca, create_model
from tests.model_testing import (
  abstract_params,
  count_parameters,
  numpy_variables,
)


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


def test_cgl_gates_the_context_into_the_affinity_input():
  rng = np.random.default_rng(1)
  aspp, context = (rng.normal(size=(1, 2, 3, 4)).astype(np.float32) for _ in range(2))
  module = cca.ContextGuidedLocalAffinity()
  alone = module.apply({}, aspp)  # no context: affinity on fA alone, no parameters
  np.testing.assert_allclose(alone, _naive_attention(aspp) + aspp, rtol=1e-4, atol=1e-5)

  variables = numpy_variables(module, aspp, context)
  gate_params = jax.tree.map(lambda x: np.asarray(x, np.float64), variables["params"]["gate"])
  both = np.concatenate([aspp, context], axis=-1).astype(np.float64)
  gate = 1 / (1 + np.exp(-(both @ gate_params["kernel"][0, 0] + gate_params["bias"])))
  np.testing.assert_allclose(
    module.apply(variables, aspp, context),
    _naive_attention(aspp + gate * context) + aspp,
    rtol=1e-4,
    atol=1e-5,
  )

  # A closed gate lets no context in, an open one all of it: fL = fA + a_L * fG.
  def with_gate(bias):
    gate = {"kernel": np.zeros_like(gate_params["kernel"]), "bias": np.full(4, bias)}
    return module.apply({"params": {"gate": gate}}, aspp, context)

  np.testing.assert_allclose(with_gate(-1e4), alone, rtol=1e-5)
  np.testing.assert_allclose(
    with_gate(1e4), _naive_attention(aspp + context) + aspp, rtol=1e-4, atol=1e-5
  )


def _switches(use_cca, use_cgl, aux_head):
  return create_model(
    "cca", **cca.CCANet.smoke_fields, use_cca=use_cca, use_cgl=use_cgl, aux_head=aux_head
  )


def test_each_table7_switch_removes_exactly_its_part():
  rows = {
    "baseline": _switches(False, False, False),
    "cgl_only": _switches(False, True, False),
    "cca": _switches(True, False, False),
    "cca_cgl": _switches(True, True, False),
    "full": _switches(True, True, True),
  }
  params = {name: abstract_params(model) for name, model in rows.items()}
  assert set(params["baseline"]) == {"backbone", "aspp", "decoder", "head"}
  assert set(params["cgl_only"]) == set(params["baseline"])  # plain inner-product attention
  assert set(params["cca"]) == set(params["baseline"]) | {"cca"}
  assert set(params["cca_cgl"]) == set(params["cca"]) | {"cgl"}
  assert set(params["full"]) == set(params["cca_cgl"]) | {"aux_head"}
  width = cca.CCANet.smoke_fields["width"]
  # The decoder's 3x3 conv sees concat(fG, CGL out) once CCA exists.
  decoder = lambda name: count_parameters(params[name]["decoder"])
  assert decoder("cca") - decoder("baseline") == 9 * width * width
  assert count_parameters(params["cca_cgl"]["cgl"]) == 2 * width * width + width  # the 1x1 gate
  assert count_parameters(params["full"]["aux_head"]) == width + 1


def test_full_size_parameter_count_pinned():
  model = create_model("cca", **configs.get_config("cca_isic2017").model.to_dict())
  params = abstract_params(model, 64)
  assert count_parameters(params["backbone"]) == 23_508_032  # torchvision ResNet-50 without fc
  assert count_parameters(params) == 42_149_698
