"""What every rmsm config shares (SPEC §4.3, paper 002)."""

from experiments.configs import common


def paper_config(arg):
  """Adam 3e-4 /10 every 20 epochs, 250 epochs, batch 16, 224x224 bicubic, flips/sharpen/rotate."""
  arg = common.parse_arg(arg)
  config = common.base_config()
  config.model_name = "rmsm"
  config.model.base_width = 64
  config.model.block = "rmsm"
  config.model.use_df_ram = True
  config.model.use_ef_ram = True
  config.loss = "dice_focal"

  config.dataset.builder_config = "max512"
  config.input.image_size = (224, 224)
  config.input.resize_method = "bicubic"
  config.input.hflip = True
  config.input.vflip = True
  config.input.sharpen = True
  config.input.rotate_degrees = 90.0
  config.batch_size = 16
  config.num_epochs = 250
  config.optimizer.name = "adam"
  config.optimizer.lr = 3e-4
  config.schedule.name = "step"
  config.schedule.every_epochs = 20
  config.schedule.factor = 0.1
  config.checkpoint_every_steps = 1000
  if arg == "smoke":
    common.apply_smoke(config)
    config.model.base_width = 4
  return config
