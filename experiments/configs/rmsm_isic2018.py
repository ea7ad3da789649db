r"""Residual multi-scale dual-attention U-Net (paper 002) on ISIC 2018: seeded 2000/594 split.

  python -m experiments.run --config rmsm_isic2018 --workdir runs/rmsm_isic2018

Trains on 2000 of the 2594 training images and tests on the other 594 (ids in
<workdir>/splits.json). Paper (%): AC 95.92, DI 91.52, JA 85.41, SE 95.37, SP 97.0.
"""

from experiments.configs import _rmsm


def get_config(arg=None):
  config = _rmsm.paper_config(arg)
  config.dataset.train_split = "protocol:train"
  config.dataset.eval_split = "protocol:heldout"
  config.dataset.protocol.name = "holdout"
  config.dataset.protocol.num_train = 18 if arg == "smoke" else 2000
  if arg != "smoke":
    config.dataset.name = "isic2018"
  return config
