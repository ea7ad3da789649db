r"""ULFFN (paper 001) on ISIC 2016: seeded 700/200 split of train; tested on ISIC 2016 and 2017.

  python -m experiments.run --config ulffn_isic2016 --workdir runs/ulffn_isic2016
  python -m experiments.ablate --paper ulffn --dataset isic2016 --workdir runs/ulffn_ablation

Trains from scratch on 700 of the 900 training images (ids in
<workdir>/splits.json), scores the ISIC 2016 test set (results.json) and the
ISIC 2017 test set (results_isic2017_test.json). Paper (%):
  ISIC 2016 test  AC 92.88  DI 93.04  JA 87.36  SE 92.73  SP 90.04
  ISIC 2017 test  AC 89.20  DI 92.50  JA 87.09  SE 94.39  SP 92.22
"""

from experiments.configs import _ulffn, common
from jaxseg import run_layout


def get_config():
  config = _ulffn.paper_config()
  # Trains on 700 of train (the other 200 are the paper's validation images);
  # scored on the official test split.
  config.dataset.update(name="isic2016", train_split="protocol:train")
  config.dataset.protocol.update(name="holdout", num_train=700)
  config.evals.isic2017_test = common.evaluator(
    "test",
    dataset="isic2017",
    results_file=run_layout.dataset_results_file("isic2017", "test"),
  )
  return config
