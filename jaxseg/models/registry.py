"""Model registry: config names -> flax modules, and the shared output helper."""

import flax.linen as nn
import jax

from jaxseg.models.asnet import ASNet
from jaxseg.models.cca import CCANet
from jaxseg.models.cdnn import CDNN
from jaxseg.models.rmsm import RMSMUNet
from jaxseg.models.ulffn import ULFFN
from jaxseg.models.unet import UNet

MODELS: dict[str, type[nn.Module]] = {
  "asnet": ASNet,
  "cca": CCANet,
  "cdnn": CDNN,
  "rmsm": RMSMUNet,
  "ulffn": ULFFN,
  "unet": UNet,
}


def create_model(name: str, **kwargs) -> nn.Module:
  """Instantiates a registered model; unknown names or fields are clear errors."""
  if name not in MODELS:
    raise KeyError(f"Unknown model {name!r}; registered models: {sorted(MODELS)}.")
  cls = MODELS[name]
  fields = set(cls.__dataclass_fields__) - {"parent", "name"}
  unknown = set(kwargs) - fields
  if unknown:
    raise KeyError(
      f"Model {name!r} has no field(s) {sorted(unknown)}; its fields are {sorted(fields)}."
    )
  return cls(**kwargs)


def foreground_probability(logits: jax.Array) -> jax.Array:
  """[..., 1] sigmoid logits or [..., 2] softmax logits -> foreground probability [...]."""
  if logits.shape[-1] == 1:
    return jax.nn.sigmoid(logits[..., 0])
  if logits.shape[-1] == 2:
    return jax.nn.softmax(logits, axis=-1)[..., 1]
  raise ValueError(f"Expected 1 or 2 output channels, got logits of shape {logits.shape}.")


__all__ = ["MODELS", "create_model", "foreground_probability"]
