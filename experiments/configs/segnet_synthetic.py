r"""SegNet baseline (VGG-16-BN encoder, max-unpooling decoder) on the built-in synthetic lesions.

  python -m experiments.run --config segnet_synthetic --workdir runs/segnet_synthetic
  python -m experiments.run --config segnet_synthetic:smoke --workdir /tmp/segnet_smoke

Sized for a laptop CPU: base width 16 (a quarter of VGG's widths) at 64x64
input, trained from scratch: 1.8 M parameters, mean JA 0.91 on the synthetic
test split after about 5 minutes on 2 shared CPU cores. The paper-sized SegNet (docs/papers.md,
"Baselines") is `--config.model.base_width=64`; with ImageNet weights add
`--config.pretrained_backbone=vgg16_bn_imagenet.npz` (converted with
`python -m jaxseg.models.convert_torchvision --arch vgg16_bn`, no `--fc6-fc7`).
"""

from experiments.configs import common


def get_config():
  return common.synthetic_config("segnet", base_width=16)
