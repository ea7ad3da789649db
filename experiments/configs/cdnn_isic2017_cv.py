r"""CDNN-29 (paper 003): 5-fold cross-validation on ISIC 2017 train, then the six-model ensemble.

  python -m experiments.run --config cdnn_isic2017_cv --workdir runs/cdnn_isic2017_cv

Trains fold_0 .. fold_4 (each scored on its held-out 400 images; ids in
<workdir>/folds.json), writes the mean +- std over folds to results.json, trains
all_data on the 2000 training images, and scores the average of the six models'
probabilities on validation and test (results_ensemble_validation.json,
results_ensemble_test.json). Rerunning the command skips finished folds.
Paper (%), ISIC 2017 test, the ensemble: AC 93.4, DI 84.9, JA 76.5, SE 82.5, SP 97.5.
"""

from experiments.configs import _cdnn, common
from jaxseg import run_layout


def get_config():
  config = common.use_kfold_cross_validation(_cdnn.paper_config())
  # The six-model ensemble (five folds and all_data) on the official splits.
  for split in ("validation", "test"):
    config.evals[f"ensemble_{split}"] = common.evaluator(
      split,
      postprocess="dual_threshold",
      results_file=run_layout.ensemble_results_file(split),
      ensemble=True,
    )
  return config
