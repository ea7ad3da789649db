"""Model registry: config names -> flax modules, the contract they follow, the output helper.

Every model in `MODELS` subclasses `blocks.SegmentationModel`, which holds the
fields they share (`dtype`, `remat`) and declares `smoke_fields`, the model's
tiny size. tests/test_models.py checks the contract for each registered name,
built as its `experiments/configs/<name>_synthetic.py` smoke variant builds it:

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
- `remat` field: a `blocks.REMAT_POLICIES` name; the model rematerialises its
  blocks with it and keeps the same parameter names and shapes.
- Output: a dict. "logits" is float32 at the input resolution, [B, H, W, 1]
  (sigmoid) or [B, H, W, 2] (softmax: ulffn, or unet with num_classes=2);
  `foreground_probability` maps either to the foreground probability.
  Optional auxiliary heads are named `aux_*` (cca's "aux_logits"), shaped
  like "logits"; training adds the same loss on each, weighted by the
  config's `aux_loss_weight`. Nothing else is returned.
- Pretrained weights: a model with an ImageNet encoder builds it as its
  submodule named "backbone", the subtree `pretrained.load_pretrained_backbone`
  fills by default: `resnet.ResNet` (asnet, cca, cenet, deeplabv3plus build it
  with `resnet.resnet_backbone`, sized by their `resnet_depth` and
  `resnet_width` fields) or `vgg.VGG` (segnet, fcn8s).
"""

import jax

from jaxseg.errors import ConfigError
from jaxseg.models.asnet import ASNet
from jaxseg.models.attention_unet import AttentionUNet
from jaxseg.models.base import SegmentationModel
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

MODELS: dict[str, type[SegmentationModel]] = {
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


def model_class(name: str) -> type[SegmentationModel]:
  """The class registered as `name`; an unknown name is a clear error."""
  if name not in MODELS:
    raise ConfigError(f"Unknown model {name!r}; registered models: {sorted(MODELS)}.")
  return MODELS[name]


def create_model(name: str, **kwargs) -> SegmentationModel:
  """Instantiates a registered model; unknown names or fields are clear errors."""
  cls = model_class(name)
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


__all__ = ["MODELS", "create_model", "foreground_probability", "model_class"]
