r"""Residual multi-scale dual-attention U-Net (paper 002) on ISIC 2017: train 2000, test 600.

  python -m experiments.run --config rmsm_isic2017 --workdir runs/rmsm_isic2017
  python -m experiments.ablate --paper rmsm --dataset isic2017 --workdir runs/rmsm_ablation

Paper (ISIC 2017 test, %): AC 97.5, DI 91.16, JA 83.83, SE 94.29, SP 96.94.
"""

from experiments.configs import _rmsm


def get_config():
  config = _rmsm.paper_config()
  config.dataset.name = "isic2017"
  return config
