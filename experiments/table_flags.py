"""The flags `experiments.ablate` and `experiments.compare` share (one absl namespace per process,
so a test that imports both tools defines them once)."""

from absl import flags

PAPER = flags.DEFINE_string("paper", None, "Whose table: the paper, by its network's name.")
DATASET = flags.DEFINE_string("dataset", None, "Fills {dataset} in the config name: isic2017.")
WORKDIR = flags.DEFINE_string("workdir", None, "One subdirectory per row, and the tables.")
SMOKE = flags.DEFINE_bool("smoke", False, "Use the configs' smoke variant.")
ONLY = flags.DEFINE_list("only", [], "Run only these rows (their directory names).")
REQUIRED = ("paper", "dataset", "workdir")
