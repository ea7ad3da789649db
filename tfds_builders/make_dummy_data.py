r"""Writes the `dummy_data/` folder of every dataset that has a dummy-data writer.

Run from the repository root:

    python -m tfds_builders.make_dummy_data

A dataset has a writer where its folder holds `dummy_data_writer.py` with a
`DUMMY_DATA` (a `dummy_lesion_archives.DummyManualData`); every manual builder
has one, `synthetic_lesions` needs none. Each `dummy_data/` is a stand-in for
the TFDS manual directory of its dataset, and the builders' tests build from
it. The folders are deleted and rewritten entirely, with identical bytes each
time (given the same Pillow, libjpeg and zlib).
"""

import importlib
import importlib.util
import shutil

from etils import epath

import tfds_builders
from tfds_builders import dummy_lesion_archives

BUILDERS_DIR = epath.Path(__file__).parent


def dummy_data_of(dataset: str) -> dummy_lesion_archives.DummyManualData | None:
  """The dataset's `dummy_data_writer.DUMMY_DATA`; None where its folder has no writer."""
  module_name = f"tfds_builders.{dataset}.dummy_data_writer"
  if importlib.util.find_spec(module_name) is None:
    return None
  return importlib.import_module(module_name).DUMMY_DATA


def datasets_with_dummy_data() -> tuple[str, ...]:
  return tuple(name for name in tfds_builders.DATASET_NAMES if dummy_data_of(name) is not None)


def write_dummy_data(builders_dir: epath.Path = BUILDERS_DIR) -> None:
  """Writes `<builders_dir>/<dataset>/dummy_data/` of every dataset with a writer, replacing it."""
  for dataset in datasets_with_dummy_data():
    directory = builders_dir / dataset / "dummy_data"
    if directory.exists():
      shutil.rmtree(directory)
    directory.mkdir(parents=True)
    dummy_data_of(dataset).write(directory)


if __name__ == "__main__":
  write_dummy_data()
