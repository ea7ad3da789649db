r"""ASNet (paper 004): 5-fold cross-validation on the 2594 ISIC 2018 training images.

  python -m experiments.run --config asnet_isic2018_cv --workdir runs/asnet_isic2018_cv \
      --config.pretrained_backbone=resnet34_imagenet.npz
  python -m experiments.ablate --paper asnet --dataset isic2018 --workdir runs/asnet_ablation

Trains fold_0 .. fold_4 (held-out ids in <workdir>/folds.json) and writes the
mean +- std over folds to results.json; rerunning skips finished folds.
Paper (%, mean +- std over folds): JA 82.15 +- 0.328, DI 88.88 +- 0.390,
AC 96.00 +- 0.228.
"""

from experiments.configs import _asnet, common


def get_config():
  return common.use_kfold_cross_validation(_asnet.paper_config())
