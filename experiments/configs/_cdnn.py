"""What every cdnn config shares: CDNN-29, its input, loss, optimiser (SPEC §4.4, paper 003)."""

from experiments.configs import common


def paper_config(arg):
  """Adam 3e-3, batch 18, 600 epochs, 192x256, RGB+HSV+L, geometric + contrast augmentation.

  The paper trains "600 iterations" of about 60 s each on a GTX 1060: one
  iteration is a pass over a fold's 1600 images, so this is 600 epochs. It
  names no augmentation magnitudes; shifts of up to 10%, scaling by
  [0.9, 1.1] and rotations by U[0, 180] with both flips are ours.
  """
  arg = common.parse_arg(arg)
  config = common.base_config()
  config.model_name = "cdnn"
  config.model.base_width = 16
  config.model.dropout_rate = 0.5
  config.loss = "jaccard_distance"

  config.dataset.name = "isic2017"
  config.dataset.builder_config = "max512"
  config.input.image_size = (192, 256)
  config.input.resize_method = "bilinear"
  config.input.colour_space = "rgb_hsv_l"
  config.input.normalization = "unit"  # channels are already in [0, 1]
  config.input.contrast_probability = 0.5
  config.input.hflip = True
  config.input.vflip = True
  config.input.rotate_degrees = 180.0
  config.input.shift_fraction = 0.1
  config.input.scale_range = (0.9, 1.1)
  config.batch_size = 18  # divisible by the device count: override for 4 or 8 GPUs
  config.num_epochs = 600
  config.optimizer.name = "adam"
  config.optimizer.lr = 3e-3
  config.schedule.name = "constant"
  config.checkpoint_every_steps = 1000
  config.eval.postprocess = "dual_threshold"
  if arg == "smoke":
    common.apply_smoke(config)
    config.model.base_width = 4
  return config
