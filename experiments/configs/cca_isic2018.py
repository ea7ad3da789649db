r"""Cascaded context enhancement network (paper 000) on ISIC 2018: seeded 80/20 split of train.

  python -m experiments.run --config cca_isic2018 --workdir runs/cca_isic2018 \
      --config.pretrained_backbone=resnet50_imagenet.npz

The paper trains on 80% of the 2594 training images and tests on the other
20% (its test masks were not public then); the ids go to <workdir>/splits.json.
Paper (mean of per-image values, %): AC 95.9, DI 89.9, JA 83.4, SE 93.6, SP 96.7.
"""

from experiments.configs import _cca, common


def get_config():
  config = _cca.paper_config()
  config.dataset.name = "isic2018"
  return common.use_holdout(config, train_fraction=0.8)
