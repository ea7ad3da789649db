r"""Attention U-Net baseline (Oktay et al. 2018) on the built-in synthetic lesions, at CPU size.

  python -m experiments.run --config attention_unet_synthetic --workdir runs/attention_unet
  python -m experiments.run --config attention_unet_synthetic:smoke --workdir /tmp/att_smoke

Sized as unet_synthetic (base width 16, 64x64 input, Adam 2e-3, poly schedule) so the two runs
compare the attention gates alone: 2.2 M parameters, mean JA 0.98 on the synthetic test split
after about 8 minutes on 2 shared CPU cores. The reference-sized network is
`--config.model.base_width=64`.
"""

from experiments.configs import common


def get_config():
  return common.synthetic_config("attention_unet", base_width=16)
