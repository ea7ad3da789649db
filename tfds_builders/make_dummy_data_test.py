"""Tests for make_dummy_data: its output is reproducible and is what is committed."""

import zipfile

from etils import epath

import tfds_builders
from tfds_builders import make_dummy_data, manual_lesion_builder


def _files(builders_dir: epath.Path) -> dict[str, bytes]:
  """relative path -> bytes of every file under the dummy_data/ folders."""
  files = {}
  for dataset in make_dummy_data.datasets_with_dummy_data():
    root = builders_dir / dataset / "dummy_data"
    for folder, _, names in root.walk():
      for name in names:
        files[(folder / name).relative_to(builders_dir).as_posix()] = (folder / name).read_bytes()
  return files


def _zip_listing(path: epath.Path) -> list[str]:
  with zipfile.ZipFile(path) as archive:
    return archive.namelist()


def test_rerunning_writes_identical_files(tmp_path):
  make_dummy_data.write_dummy_data(epath.Path(tmp_path / "first"))
  make_dummy_data.write_dummy_data(epath.Path(tmp_path / "second"))
  assert _files(epath.Path(tmp_path / "first")) == _files(epath.Path(tmp_path / "second"))


def test_the_committed_dummy_data_is_the_scripts_output(tmp_path):
  """Same files, zip members and label files; pixels may differ between Pillow builds."""
  written_dir = epath.Path(tmp_path)
  make_dummy_data.write_dummy_data(written_dir)
  written, committed = _files(written_dir), _files(make_dummy_data.BUILDERS_DIR)
  assert sorted(written) == sorted(committed)
  for path in written:
    if path.endswith(".zip"):
      assert _zip_listing(written_dir / path) == _zip_listing(make_dummy_data.BUILDERS_DIR / path)
    elif path.endswith((".csv", ".txt")):
      assert written[path] == committed[path], path


def test_every_manual_builder_has_dummy_data_and_only_they_do():
  manual = {
    name
    for name, builder in tfds_builders.BUILDERS.items()
    if issubclass(builder, manual_lesion_builder.ManualLesionBuilder)
  }
  assert set(make_dummy_data.datasets_with_dummy_data()) == manual
  assert manual >= {"isic2016", "isic2017", "isic2018", "ph2"}
