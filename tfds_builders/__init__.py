"""The project's TFDS dataset builders; importing this package registers them.

Each dataset lives in its own folder, laid out as TFDS lays out its own
(`<name>/<name>_dataset_builder.py` holding a class `Builder`, a
`lesion_builder.LesionBuilder`); importing that module registers the dataset
with TFDS under the folder's name, after which `tfds.builder("<name>", ...)`
and `tfds.data_source("<name>", ...)` find it. `DATASET_NAMES` is the one list
of them: jaxseg's dataset registry and `make_dummy_data` read it.
`lesion_builder`, `lesion_features` and `manual_lesion_builder` hold what the
builders share. README.md says which files a new dataset needs.
"""

import importlib

from tfds_builders import lesion_builder

# One line per dataset: the name of its folder.
DATASET_NAMES = (
  "isic2016",
  "isic2017",
  "isic2018",
  "ph2",
  "folder",
  "synthetic_lesions",
)


def _import_builder(name: str) -> type[lesion_builder.LesionBuilder]:
  return importlib.import_module(f"tfds_builders.{name}.{name}_dataset_builder").Builder


# Dataset name -> its builder class; importing the builders registers them with TFDS.
BUILDERS: dict[str, type[lesion_builder.LesionBuilder]] = {
  name: _import_builder(name) for name in DATASET_NAMES
}
