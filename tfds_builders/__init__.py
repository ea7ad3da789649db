"""The project's TFDS dataset builders; importing this package registers them.

Each dataset lives in its own folder, laid out as TFDS lays out its own
(`<name>/<name>_dataset_builder.py` holding a class `Builder`); importing
that module registers the dataset with TFDS under the folder's name, after
which `tfds.builder("<name>", ...)` and `tfds.data_source("<name>", ...)`
find it. `lesion_features` and `manual_lesion_builder` hold what the builders
share; `make_dummy_data` writes the test archives in their `dummy_data/`.
"""

from tfds_builders.isic2016 import isic2016_dataset_builder  # noqa: F401
from tfds_builders.isic2017 import isic2017_dataset_builder  # noqa: F401
from tfds_builders.isic2018 import isic2018_dataset_builder  # noqa: F401
from tfds_builders.ph2 import ph2_dataset_builder  # noqa: F401
from tfds_builders.synthetic_lesions import synthetic_lesions_dataset_builder  # noqa: F401
