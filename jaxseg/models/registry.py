"""Model registry: config names -> flax modules, the contract they follow, the output helper.

The contract every model in `MODELS` follows (tests/test_models.py checks it
for each registered name at a small test configuration):

- Input: `images`, float NHWC [B, H, W, C]. C is free (the first layer is
  built from it: 3 for RGB, 7 for cdnn's RGB+HSV+L). H and W must be
  divisible by the model's total stride; otherwise `init` and `apply` raise
  a ValueError that names the stride.
- Call: `model.apply(variables, images, train=...)`, `__call__(images, train:
  bool = False)`. Variables are {"params", "batch_stats"}. `train=True`
  normalises with the batch's statistics, so the call needs
  `mutable=["batch_stats"]`, and turns dropout on where a model has it (then
  `rngs={"dropout": key}`).
- `dtype` field: the computation dtype (float32 or bfloat16). Parameters and
  BatchNorm statistics are float32 whatever `dtype` is, and so are outputs.
- Output: a dict. "logits" is float32 at the input resolution, [B, H, W, 1]
  (sigmoid) or [B, H, W, 2] (softmax: ulffn, or unet with num_classes=2);
  `foreground_probability` maps either to the foreground probability.
  Optional auxiliary heads are named `aux_*` (cca's "aux_logits"), shaped
  like "logits"; training adds the same loss on each, weighted by the
  config's `aux_loss_weight`. Nothing else is returned.
- Pretrained weights: a model with an ImageNet encoder builds it as its
  submodule named "backbone", the subtree `pretrained.load_pretrained_backbone`
  fills by default: `resnet.ResNet` (asnet, cca, cenet, deeplabv3plus; sized
  by the `resnet_depth` and `resnet_width` fields) or `vgg.VGG` (segnet,
  fcn8s).
"""

import flax.linen as nn
import jax

from jaxseg.errors import ConfigError
from jaxseg.models.asnet import ASNet
from jaxseg.models.attention_unet import AttentionUNet
from jaxseg.models.cca import CCANet
from jaxseg.models.cdnn import CDNN
from jaxseg.models.cenet import CENet
from jaxseg.models.deeplabv3plus import DeepLabV3Plus
from jaxseg.models.fcn8s import FCN8s
from jaxseg.models.multiresunet import MultiResUNet
from jaxseg.models.r2unet import R2UNet
from jaxseg.models.rmsm import RMSMUNet
from jaxseg.models.segnet import SegNet
from jaxseg.models.ulffn import ULFFN
from jaxseg.models.unet import UNet

MODELS: dict[str, type[nn.Module]] = {
  "asnet": ASNet,
  "attention_unet": AttentionUNet,
  "cca": CCANet,
  "cdnn": CDNN,
  "cenet": CENet,
  "deeplabv3plus": DeepLabV3Plus,
  "fcn8s": FCN8s,
  "multiresunet": MultiResUNet,
  "r2unet": R2UNet,
  "rmsm": RMSMUNet,
  "segnet": SegNet,
  "ulffn": ULFFN,
  "unet": UNet,
}


def create_model(name: str, **kwargs) -> nn.Module:
  """Instantiates a registered model; unknown names or fields are clear errors."""
  if name not in MODELS:
    raise ConfigError(f"Unknown model {name!r}; registered models: {sorted(MODELS)}.")
  cls = MODELS[name]
  fields = set(cls.__dataclass_fields__) - {"parent", "name"}
  unknown = set(kwargs) - fields
  if unknown:
    raise ConfigError(
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
