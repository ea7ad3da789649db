r"""CDNN-29 (paper 003) on the synthetic lesions, at CPU size.

  python -m experiments.run --config cdnn_synthetic --workdir runs/cdnn_synthetic
  python -m experiments.ablate --paper cdnn --dataset synthetic --workdir runs/cdnn_ablation --smoke

The paper's network, 7-channel input, augmentation, loss and dual-threshold
post-processing, with widths / 2 (8 ... 256), 96x128 inputs and 8 epochs, so
it finishes in minutes on a CPU.
"""

from experiments.configs import _cdnn


def get_config():
  config = _cdnn.paper_config()
  config.dataset.update(name="synthetic_lesions", builder_config="default")
  config.model.base_width = 8
  config.input.image_size = (96, 128)
  config.batch_size = 16
  config.num_epochs = 8
  config.checkpoint_every_steps = 200
  return config
