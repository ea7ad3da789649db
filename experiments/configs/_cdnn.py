"""What every cdnn config shares: CDNN-29, its input, loss, optimiser.

Paper 003; docs/papers.md, "cdnn (paper 003)".
"""

from experiments.configs import common


def paper_config():
  """Adam 3e-3, batch 18, 600 epochs, 192x256, RGB+HSV+L, geometric + contrast augmentation.

  The paper trains "600 iterations" of about 60 s each on a GTX 1060: one
  iteration is a pass over a fold's 1600 images, so this is 600 epochs. It
  names no augmentation magnitudes; shifts of up to 10%, scaling by
  [0.9, 1.1] and rotations by U[0, 180] with both flips are ours.
  """
  config = common.base_config()
  config.model_name = "cdnn"
  config.model.update(base_width=16, dropout_rate=0.5)
  config.loss = "jaccard_distance"
  config.dataset.update(name="isic2017", builder_config="max512")
  config.input.update(
    image_size=(192, 256),
    colour_space="rgb_hsv_l",
    normalization="unit",  # channels are already in [0, 1]
    contrast_probability=0.5,
    hflip=True,
    vflip=True,
    rotate_degrees=180.0,
    shift_fraction=0.1,
    scale_range=(0.9, 1.1),
  )
  config.batch_size = 18  # divisible by the device count: override for 4 or 8 GPUs
  config.num_epochs = 600
  config.optimizer.update(name="adam", lr=3e-3)
  config.schedule.name = "constant"
  config.checkpoint_every_steps = 1000
  config.evals.test.postprocess = "dual_threshold"
  return config
