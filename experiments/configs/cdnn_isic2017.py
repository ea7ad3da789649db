r"""CDNN-29 (paper 003) on ISIC 2017: one model on train, scored on validation and test.

  python -m experiments.run --config cdnn_isic2017 --workdir runs/cdnn_isic2017
  python -m experiments.ablate --paper cdnn --dataset isic2017 --workdir runs/cdnn_ablation

results.json scores the 150 validation images, results_isic2017_test.json the
600 test images, both after dual-threshold post-processing at 192x256. The
six-model ensemble of the paper is `cdnn_isic2017_cv`. Paper (%), single
RGB+HSV+L model (Tables IV, V):
  validation  AC 95.3  DI 86.5  JA 78.3  SE 87.9  SP 97.9
  test        AC 93.4  DI 84.9  JA 76.5  SE 82.5  SP 97.5  (challenge entry, six models)
"""

from experiments.configs import _cdnn, common
from jaxseg import run_layout


def get_config():
  config = _cdnn.paper_config()
  config.dataset.train_split = "train"
  config.evals.test.split = "validation"
  config.evals.isic2017_test = common.evaluator(
    "test",
    postprocess="dual_threshold",
    results_file=run_layout.dataset_results_file("isic2017", "test"),
  )
  return config
