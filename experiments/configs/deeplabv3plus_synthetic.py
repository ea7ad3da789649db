r"""DeepLabv3+ baseline (Chen et al. 2018, ResNet encoder) on the built-in synthetic lesions.

  python -m experiments.run --config deeplabv3plus_synthetic --workdir runs/deeplabv3plus_synthetic
  python -m experiments.run --config deeplabv3plus_synthetic:smoke --workdir /tmp/deeplab_smoke

At CPU size: ResNet-18 at width 16 from random initialisation (unit-range inputs), ASPP and
decoder width 64, low-level projection 16, output stride 16, 64x64 inputs, Adam at 1e-3 with
the paper's poly schedule: 1.0 M parameters, mean JA 0.94 on the synthetic test split after
about 3 minutes of training on 2 shared CPU cores. The paper-sized model (ResNet-50, 256
channels, 48) is the model's defaults: `--config.model.resnet_depth=50
--config.model.resnet_width=64 --config.model.width=256 --config.model.low_level_width=48`.
"""

from experiments.configs import common


def get_config():
  config = common.synthetic_config(
    "deeplabv3plus",
    resnet_depth=18,
    resnet_width=16,
    output_stride=16,
    width=64,
    low_level_width=16,
  )
  # A ResNet encoder trains faster: 10 epochs at Adam 1e-3.
  config.num_epochs = 10
  config.optimizer.lr = 1e-3
  return config
