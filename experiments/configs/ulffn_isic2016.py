r"""ULFFN (paper 001) on ISIC 2016: seeded 700/200 split of train; tested on ISIC 2016 and 2017.

  python -m experiments.run --config ulffn_isic2016 --workdir runs/ulffn_isic2016
  python -m experiments.ablate --paper ulffn --dataset isic2016 --workdir runs/ulffn_ablation

Trains from scratch on 700 of the 900 training images (ids in
<workdir>/splits.json), scores the ISIC 2016 test set (results.json) and the
ISIC 2017 test set (results_isic2017_test.json). Paper (%):
  ISIC 2016 test  AC 92.88  DI 93.04  JA 87.36  SE 92.73  SP 90.04
  ISIC 2017 test  AC 89.20  DI 92.50  JA 87.09  SE 94.39  SP 92.22
"""

from experiments.configs import _ulffn


def get_config(arg=None):
  config = _ulffn.paper_config(arg)
  config.dataset.train_split = "protocol:train"
  config.dataset.protocol.name = "holdout"
  if arg == "smoke":
    config.dataset.protocol.num_train = 18  # of synthetic tiny's 24
    config.eval.also = ("synthetic_lesions:validation",)
    return config
  config.dataset.name = "isic2016"
  config.dataset.protocol.num_train = 700
  config.dataset.eval_split = "test"
  config.eval.also = ("isic2017:test",)
  return config
