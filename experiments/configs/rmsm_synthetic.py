r"""Residual multi-scale dual-attention U-Net (paper 002) on the synthetic lesions, at CPU size.

  python -m experiments.run --config rmsm_synthetic --workdir runs/rmsm_synthetic
  python -m experiments.ablate --paper rmsm --dataset synthetic --workdir runs/rmsm_ablation --smoke

Widths / 4 (16 ... 128), 64x64 inputs, Adam 1e-3, 10 epochs; architecture,
loss and augmentations are the paper's.
"""

from experiments.configs import _rmsm


def get_config():
  config = _rmsm.paper_config()
  config.dataset.builder_config = "default"
  config.model.base_width = 16
  config.input.image_size = (64, 64)
  config.num_epochs = 10
  config.optimizer.lr = 1e-3
  config.schedule.name = "constant"
  config.checkpoint_every_steps = 200
  return config
