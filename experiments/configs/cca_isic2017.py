r"""Cascaded context enhancement network (paper 000) on ISIC 2017: train 2000, test 600.

  python -m experiments.run --config cca_isic2017 --workdir runs/cca_isic2017 \
      --config.pretrained_backbone=resnet50_imagenet.npz
  python -m experiments.ablate --paper cca --dataset isic2017 --workdir runs/cca_ablation_2017

Paper (mean of per-image values, %): AC 94.6, DI 87.8, JA 80.3, SE 88.6, SP 96.4.
The trained model is also the one cca_ph2 evaluates on PH2. Table 8's
training-set-size sweep sets --config.dataset.train_size (100 ... 2000).
"""

from experiments.configs import _cca


def get_config():
  config = _cca.paper_config()
  config.dataset.name = "isic2017"
  return config
