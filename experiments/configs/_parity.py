"""The parity recipe: what `python -m experiments.parity` trains in jaxseg and in PyTorch.

It is issue 11's measurement recipe at CPU size: 128x128 inputs, batch 16,
15 epochs, Adam 2e-3 with poly decay, 0.5 BCE + soft Dice per image,
horizontal and vertical flips, ImageNet normalisation, random initialisation,
probabilities scored at the masks' own size. The data are the synthetic
`small_lesions` (lesions of 1% to 8% of a 384x512 frame, 416 training and 98
test images), the case where most lesions are small in large images.
"""

from experiments.configs import common


def recipe():
  config = common.base_config()
  config.loss = "bce_dice"
  config.dataset.update(name="synthetic_lesions", builder_config="small_lesions")
  config.input.update(image_size=(128, 128), normalization="imagenet", hflip=True, vflip=True)
  config.batch_size = 16
  config.num_epochs = 15
  config.optimizer.update(name="adam", lr=2e-3)
  config.schedule.update(name="poly", power=0.9)
  config.evals.test.resolution = "original"
  config.log_every_steps = 1  # the harness compares the loss of every step
  config.checkpoint_every_steps = 200
  config.progress_bar = False
  return config
