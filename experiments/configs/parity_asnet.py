r"""ASNet's Table 2 Baseline (no ASM) in the parity recipe; twin: `ASNetBaselineTwin`.

  python -m experiments.parity --config parity_asnet --workdir runs/parity_asnet

ResNet34 at width 16 (1,395,865 parameters; `--config.model.resnet_width=64`
is the 22,248,289-parameter network of the issue's measurement) from random
initialisation, trained with `_parity.recipe`.
"""

from experiments.configs import _parity


def get_config():
  config = _parity.recipe()
  config.model_name = "asnet"
  config.model.resnet_depth = 34
  config.model.resnet_width = 16
  config.model.use_asm = False
  config.model.decoder_extra_blocks = 0
  return config
