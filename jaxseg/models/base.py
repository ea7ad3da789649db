"""`SegmentationModel`, the base class of every model in `registry.MODELS`."""

from collections.abc import Mapping
from typing import Any, ClassVar

import flax.linen as nn
import jax.numpy as jnp

from jaxseg.models.blocks import Dtype


class SegmentationModel(nn.Module, kw_only=True):
  """The fields every registered model has; `registry.py` states the contract it follows.

  A model subclasses this, declares its own fields and sets `smoke_fields`.
  The shared fields are keyword-only (flax's `kw_only` dataclass option), so
  a model's own fields keep their order and may go without defaults.

  Attributes:
    dtype: the computation dtype (float32 or bfloat16, config.dtype). Parameters,
      BatchNorm statistics and outputs are float32 whatever it is.
    remat: a `blocks.REMAT_POLICIES` name (config.remat), applied per block
      through `blocks.rematerialized`.
    smoke_fields: class attribute, the model's fields at its tiny size (a fast
      CPU compile): the `:smoke` configs (experiments/configs/common.py) and the
      model contract test (tests/test_models.py) build the model at these.
  """

  dtype: Dtype = jnp.float32
  remat: str = "none"

  smoke_fields: ClassVar[Mapping[str, Any]]
