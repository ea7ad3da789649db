r"""ASNet (paper 004): 5-fold cross-validation on the synthetic training images, at CPU size.

  python -m experiments.run --config asnet_synthetic_cv --workdir runs/asnet_synthetic_cv
  python -m experiments.ablate --paper asnet --dataset synthetic --workdir runs/asnet_ablation \
      --smoke

`asnet_synthetic` per fold (ids in <workdir>/folds.json); results.json holds
the mean +- std over folds, the layout of paper 004's Table 2.
"""

from experiments.configs import asnet_synthetic, common


def get_config():
  return common.use_kfold_cross_validation(asnet_synthetic.get_config())
