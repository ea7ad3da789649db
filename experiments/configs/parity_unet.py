r"""The plain U-Net in the parity recipe; twin: `UNetTwin`.

  python -m experiments.parity --config parity_unet --workdir runs/parity_unet

Base width 8 (486,553 parameters), depth 4, from random initialisation, trained with
`_parity.recipe`.
"""

from experiments.configs import _parity


def get_config():
  config = _parity.recipe()
  config.model_name = "unet"
  config.model.base_width = 8
  config.model.depth = 4
  config.model.num_classes = 1
  return config
