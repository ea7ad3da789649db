r"""MultiResUNet baseline (Ibtehaz and Rahman 2020) on the built-in synthetic lesions, at CPU size.

  python -m experiments.run --config multiresunet_synthetic --workdir runs/multiresunet_synthetic
  python -m experiments.run --config multiresunet_synthetic:smoke --workdir /tmp/multiresunet_smoke

U = 16 at the top level (the paper's 32 halved: about unet_synthetic's parameter count), 64x64
input, Adam 2e-3, poly schedule. The paper-sized network is `--config.model.base_width=32`.
"""

from experiments.configs import common


def get_config():
  config = common.base_config()
  config.model_name = "multiresunet"
  config.model.update(base_width=16, alpha=1.67)
  config.loss = "bce_dice"
  config.input.image_size = (64, 64)
  config.batch_size = 16
  config.num_epochs = 12
  config.optimizer.update(name="adam", lr=2e-3)
  config.schedule.name = "poly"
  config.checkpoint_every_steps = 200
  return config
