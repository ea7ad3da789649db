r"""ASNet (paper 004) on ISIC 2018: one run on a seeded 80/20 split of the training images.

  python -m experiments.run --config asnet_isic2018 --workdir runs/asnet_isic2018 \
      --config.pretrained_backbone=resnet34_imagenet.npz

A quicker single run than the paper's 5-fold protocol (`asnet_isic2018_cv`);
ids in <workdir>/splits.json. Paper (%, 5-fold): JA 82.15, DI 88.88, AC 96.00.
"""

from experiments.configs import _asnet, common


def get_config():
  return common.use_holdout(_asnet.paper_config(), train_fraction=0.8)
