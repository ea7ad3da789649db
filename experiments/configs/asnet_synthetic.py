r"""ASNet (paper 004) on the synthetic lesions, at CPU size.

  python -m experiments.run --config asnet_synthetic --workdir runs/asnet_synthetic

ResNet34 at width 16 from random initialisation, 96x128 inputs, 10 epochs;
module, loss, optimiser and schedule are the paper's. The 5-fold form of it
(`asnet_synthetic_cv`) is what `python -m experiments.ablate --paper asnet
--dataset synthetic` runs.
"""

from experiments.configs import _asnet


def get_config():
  config = _asnet.paper_config()
  config.dataset.update(name="synthetic_lesions", builder_config="default")
  config.model.resnet_width = 16
  # Unit range: no ImageNet weights at this width.
  config.input.update(image_size=(96, 128), normalization="unit")
  config.batch_size = 16
  config.num_epochs = 10
  config.optimizer.lr = 0.05
  config.checkpoint_every_steps = 200
  return config
