r"""CE-Net baseline (Gu et al. 2019) on the built-in synthetic lesions.

  python -m experiments.run --config cenet_synthetic --workdir runs/cenet_synthetic
  python -m experiments.run --config cenet_synthetic:smoke --workdir /tmp/cenet_smoke

At CPU size: the paper's ResNet-34 at width 16 from random initialisation (unit-range inputs),
head width 16, 64x64 inputs (the stride-32 map is 2x2, so RMP's pools cover it whole:
jaxseg/models/cenet.py), Adam at 1e-3 (the paper's 2e-4 suits ImageNet weights), BCE + Dice as
the authors' `dice_bce_loss`: 1.8 M parameters, mean JA 0.93 on the synthetic test split after
about 5 minutes of training on 2 shared CPU cores. The paper-sized model is the model's
defaults: `--config.model.resnet_width=64 --config.model.head_width=32`.
"""

from experiments.configs import common


def get_config():
  config = common.synthetic_config("cenet", resnet_depth=34, resnet_width=16, head_width=16)
  # A ResNet encoder trains faster: 10 epochs at Adam 1e-3.
  config.num_epochs = 10
  config.optimizer.lr = 1e-3
  return config
