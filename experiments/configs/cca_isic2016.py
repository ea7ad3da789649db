r"""Cascaded context enhancement network (paper 000) on ISIC 2016: train 900, test 379.

  python -m experiments.run --config cca_isic2016 --workdir runs/cca_isic2016 \
      --config.pretrained_backbone=resnet50_imagenet.npz
  python -m experiments.ablate --paper cca --dataset isic2016 --workdir runs/cca_ablation_2016

Paper (mean of per-image values, %): AC 96.1, DI 92.6, JA 87.1, SE 94.6, SP 96.7.
"""

from experiments.configs import _cca


def get_config():
  config = _cca.paper_config()
  config.dataset.name = "isic2016"
  return config
