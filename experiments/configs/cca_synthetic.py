r"""Cascaded context enhancement network (paper 000) on the built-in synthetic lesions.

  python -m experiments.run --config cca_synthetic --workdir runs/cca_synthetic
  python -m experiments.ablate --paper cca --dataset synthetic --workdir runs/cca_ablation --smoke

The paper's model at CPU size: ResNet-18 at width 16, context width 64,
64x64 inputs, Adam at 1e-3 (the paper's SGD at 1e-4 needs ImageNet weights
and 150 epochs). Everything else (CCA, CGL, auxiliary loss, wbce_dice) is the
paper's.
"""

from experiments.configs import _cca


def get_config():
  config = _cca.paper_config()
  config.dataset.builder_config = "default"
  config.model.update(resnet_depth=18, resnet_width=16, width=64)
  config.input.update(image_size=(64, 64), normalization="unit")
  config.batch_size = 16
  config.num_epochs = 10
  config.optimizer.update(name="adam", lr=1e-3)
  config.checkpoint_every_steps = 200
  return config
