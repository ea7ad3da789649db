r"""Cascaded context enhancement network (paper 000): the ISIC 2017 model evaluated on PH2.

  python -m experiments.run --config cca_isic2017 --workdir runs/cca_isic2017
  python -m experiments.run --config cca_ph2 --workdir runs/cca_ph2 \
      --config.evaluate_checkpoint=runs/cca_isic2017

No training: the latest checkpoint of the given ISIC 2017 run is scored on all
200 PH2 images (PH2's single `train` split). Paper (mean of per-image values,
%): AC 95.4, DI 92.5, JA 86.6, SE 98.6, SP 94.7. The smoke variant trains a
few steps itself instead, since no ISIC 2017 run exists in a smoke test.
"""

from experiments.configs import _cca


def get_config():
  config = _cca.paper_config()
  config.dataset.name = "ph2"
  config.evals.test.split = "train"  # PH2's one split: all 200 images
  config.evaluate_checkpoint = "runs/cca_isic2017"
  return config
