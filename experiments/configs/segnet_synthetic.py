r"""SegNet baseline (VGG-16-BN encoder, max-unpooling decoder) on the built-in synthetic lesions.

  python -m experiments.run --config segnet_synthetic --workdir runs/segnet_synthetic
  python -m experiments.run --config segnet_synthetic:smoke --workdir /tmp/segnet_smoke

Sized for a laptop CPU: base width 16 (a quarter of VGG's widths) at 64x64
input, trained from scratch. The paper-sized SegNet (docs/papers.md,
"Baselines") is `--config.model.base_width=64`; with ImageNet weights add
`--config.pretrained_backbone=vgg16_bn_imagenet.npz` (converted with
`python -m jaxseg.models.convert_torchvision --arch vgg16_bn`, no `--fc6-fc7`).
"""

from experiments.configs import common


def get_config():
  config = common.base_config()
  config.model_name = "segnet"
  config.model.update(base_width=16)
  config.loss = "bce_dice"
  config.input.image_size = (64, 64)
  config.batch_size = 16
  config.num_epochs = 12
  config.optimizer.update(name="adam", lr=2e-3)
  config.schedule.name = "poly"
  config.checkpoint_every_steps = 200
  return config
