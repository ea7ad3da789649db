"""What every ulffn config shares (SPEC §4.2, paper 001)."""

from experiments.configs import common


def paper_config(arg):
  """Adam 1e-4 x0.9 every 20 epochs, 100 epochs, batch 8, 512x512 (shorter side, centre crop)."""
  arg = common.parse_arg(arg)
  config = common.base_config()
  config.model_name = "ulffn"
  config.model.base_width = 64
  config.model.use_aspp = True
  config.model.use_cam = True
  config.loss = "cross_entropy"

  # Full-resolution images: the paper resizes the shorter side to 512, which
  # max512's longer-side cap would undercut.
  config.dataset.builder_config = "original"
  config.input.image_size = (512, 512)
  config.input.resize_crop = True
  config.input.vflip = False  # the paper names no augmentation; horizontal flips only
  config.batch_size = 8
  config.num_epochs = 100
  config.optimizer.name = "adam"
  config.optimizer.lr = 1e-4
  config.schedule.name = "step"
  config.schedule.every_epochs = 20
  config.schedule.factor = 0.9  # "reduced 10%" every 20 epochs
  config.checkpoint_every_steps = 1000
  config.eval.batch_size = 8
  if arg == "smoke":
    common.apply_smoke(config)
    config.model.base_width = 4
  return config
