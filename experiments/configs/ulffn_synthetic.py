r"""ULFFN (paper 001) on the built-in synthetic lesions, at CPU size.

  python -m experiments.run --config ulffn_synthetic --workdir runs/ulffn_synthetic
  python -m experiments.ablate --paper ulffn --dataset synthetic --workdir runs/ulffn_abl --smoke

Widths / 8 (8 ... 128), 64x64 inputs, Adam 1e-3; the architecture, loss and
switches are the paper's.
"""

from experiments.configs import _ulffn


def get_config():
  config = _ulffn.paper_config()
  config.dataset.builder_config = "default"
  config.model.base_width = 8
  config.input.image_size = (64, 64)
  config.batch_size = 16
  config.num_epochs = 10
  config.optimizer.update(name="adam", lr=1e-3)
  config.schedule.name = "constant"
  config.checkpoint_every_steps = 200
  return config
