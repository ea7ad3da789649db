r"""Residual multi-scale dual-attention U-Net (paper 002) on ISIC 2018: seeded 2000/594 split.

  python -m experiments.run --config rmsm_isic2018 --workdir runs/rmsm_isic2018

Trains on 2000 of the 2594 training images and tests on the other 594 (ids in
<workdir>/splits.json). Paper (%): AC 95.92, DI 91.52, JA 85.41, SE 95.37, SP 97.0.
"""

from experiments.configs import _rmsm, common


def get_config():
  config = _rmsm.paper_config()
  config.dataset.name = "isic2018"
  return common.use_holdout(config, num_train=2000)
