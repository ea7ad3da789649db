"""The project's TFDS dataset builders; importing this package registers them.

Each dataset lives in its own folder, laid out as TFDS lays out its own
(`<name>/<name>_dataset_builder.py` holding a class `Builder`); importing
that module registers the dataset with TFDS under the folder's name, after
which `tfds.builder("<name>", ...)` and `tfds.data_source("<name>", ...)`
find it.
"""

from tfds_builders.synthetic_lesions import synthetic_lesions_dataset_builder  # noqa: F401
