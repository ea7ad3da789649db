"""The parity recipe: what `python -m experiments.parity` trains in jaxseg and in PyTorch.

It is issue 11's measurement recipe at CPU size: 128x128 inputs, batch 16,
15 epochs, Adam 2e-3 with poly decay, 0.5 BCE + soft Dice per image,
horizontal and vertical flips, ImageNet normalisation, random initialisation,
probabilities scored at the masks' own size. The data are the synthetic
`small_lesions` (lesions of 1% to 8% of a 384x512 frame, 416 training and 98
test images), the case where most lesions are small in large images.
"""

from experiments.configs import common


def recipe(arg):
  arg = common.parse_arg(arg)
  config = common.base_config()
  config.loss = "bce_dice"
  config.dataset.name = "synthetic_lesions"
  config.dataset.builder_config = "small_lesions"
  config.dataset.eval_split = "test"
  config.input.image_size = (128, 128)
  config.input.resize_method = "bilinear"
  config.input.normalization = "imagenet"
  config.input.hflip = True
  config.input.vflip = True
  config.batch_size = 16
  config.num_epochs = 15
  config.optimizer.name = "adam"
  config.optimizer.lr = 2e-3
  config.schedule.name = "poly"
  config.schedule.power = 0.9
  config.eval.original_resolution = True
  config.log_every_steps = 1  # the harness compares the loss of every step
  config.checkpoint_every_steps = 200
  config.progress_bar = False
  if arg == "smoke":
    common.apply_smoke(config)
    config.log_every_steps = 1
  return config
