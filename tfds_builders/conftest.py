"""Fixtures of the builder tests."""

import pytest
from etils import epath

from tfds_builders import manual_lesion_builder_testing as testing


@pytest.fixture(scope="session")
def built_dummy_data(tmp_path_factory):
  """dataset -> its `testing.BuiltDummyData`, built on first use and kept for the session.

  The shared tests of every manual builder and each dataset's own tests read
  the same build, so each dataset is built once.
  """
  built = {}

  def build_once(dataset: str) -> testing.BuiltDummyData:
    if dataset not in built:
      data_dir = epath.Path(tmp_path_factory.mktemp(f"tfds_{dataset}"))
      built[dataset] = testing.build_dummy_data(dataset, data_dir)
    return built[dataset]

  return build_once
