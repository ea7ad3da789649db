"""Flags of the tools that read one dataset by name (explore, bench_input), and how they open it.

Mistakes in them are errors that name these flags (`OPTION_NAMES`), not the
config keys of `experiments.run`.
"""

from absl import flags

from jaxseg.data import datasets

DATASET = flags.DEFINE_string("dataset", "synthetic_lesions", "Registered dataset name.")
BUILDER_CONFIG = flags.DEFINE_string(
  "builder_config", None, "TFDS builder config (default: the dataset's first)."
)
SPLIT = flags.DEFINE_string("split", "train", "Split to read.")
DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data dir (default $TFDS_DATA_DIR).")
MANUAL_DIR = flags.DEFINE_string(
  "manual_dir", None, "ISIC/PH2 archives (default <data_dir>/downloads/manual)."
)
FOLDER = flags.DEFINE_string("folder", "", "--dataset folder: its images/ and masks/.")
MASK_SUFFIX = flags.DEFINE_string("mask_suffix", None, "--dataset folder: the masks' ending.")
ALLOW_COUNT_MISMATCH = flags.DEFINE_bool(
  "allow_count_mismatch", False, "Build ISIC/PH2 from archives of unofficial size."
)

OPTION_NAMES = datasets.OptionNames(
  name="--dataset",
  builder_config="--builder_config",
  folder="--folder",
  mask_suffix="--mask_suffix",
  manual_dir="--manual_dir",
  allow_count_mismatch="--allow_count_mismatch",
)


def open_data_source(decoders=None):
  """The split the flags name, as `datasets.open_data_source` opens it (prepared first if not)."""
  return datasets.open_data_source(
    DATASET.value,
    SPLIT.value,
    BUILDER_CONFIG.value,
    DATA_DIR.value,
    decoders,
    manual_dir=MANUAL_DIR.value,
    folder=FOLDER.value,
    mask_suffix=MASK_SUFFIX.value,
    allow_count_mismatch=ALLOW_COUNT_MISMATCH.value,
    option_names=OPTION_NAMES,
  )
