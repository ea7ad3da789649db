"""What every rmsm config shares (paper 002; docs/papers.md, "rmsm (paper 002)")."""

from experiments.configs import common


def paper_config():
  """Adam 3e-4 /10 every 20 epochs, 250 epochs, batch 16, 224x224 bicubic, flips/sharpen/rotate."""
  config = common.base_config()
  config.model_name = "rmsm"
  config.model.update(base_width=64, block="rmsm", use_df_ram=True, use_ef_ram=True)
  config.loss = "dice_focal"
  config.dataset.builder_config = "max512"
  config.input.update(
    image_size=(224, 224),
    resize_method="bicubic",
    hflip=True,
    vflip=True,
    sharpen=True,
    rotate_degrees=90.0,
  )
  config.batch_size = 16
  config.num_epochs = 250
  config.optimizer.update(name="adam", lr=3e-4)
  config.schedule.update(name="step", every_epochs=20, factor=0.1)
  config.checkpoint_every_steps = 1000
  return config
