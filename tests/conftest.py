"""Test-session setup: four virtual CPU devices and fast compiles.

The XLA flag must be set before JAX initialises its backend, so it lives here
rather than in any test module.
"""

import atexit
import os
import shutil
import tempfile

os.environ["XLA_FLAGS"] = (
  os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# Cross-validation folds, smoke runs of configs that share a network and the
# tools that tests start as subprocesses compile the same programs again (every
# run jits fresh closures): one persistent cache for the whole test run turns
# those repeats into lookups. The process that starts the run (pytest, or
# pytest-xdist's controller, which loads this file before its workers start)
# makes it and removes it at exit; workers and subprocesses inherit it through
# the environment, as JAX reads these variables at import.
if "JAXSEG_TEST_XLA_CACHE" not in os.environ:
  os.environ["JAXSEG_TEST_XLA_CACHE"] = tempfile.mkdtemp(prefix="jaxseg_test_xla_cache_")
  atexit.register(shutil.rmtree, os.environ["JAXSEG_TEST_XLA_CACHE"], ignore_errors=True)
os.environ.update(
  JAX_COMPILATION_CACHE_DIR=os.environ["JAXSEG_TEST_XLA_CACHE"],
  JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
  JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
  # Tests use tiny shapes; compile time dominates, so trade runtime for it.
  JAX_DISABLE_MOST_OPTIMIZATIONS="true",
)

import jax  # noqa: E402

# The same in this process, should anything have imported JAX before this file.
jax.config.update("jax_disable_most_optimizations", True)
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory):
  """A TFDS data dir holding `synthetic_lesions/tiny`, built once per session."""
  import tensorflow_datasets as tfds

  import tfds_builders  # noqa: F401

  data_dir = tmp_path_factory.mktemp("tfds")
  tfds.builder("synthetic_lesions/tiny", data_dir=str(data_dir)).download_and_prepare(
    file_format="array_record"
  )
  return data_dir


@pytest.fixture
def fake_training(monkeypatch):
  """Replaces training with writing results.json; records which run directories trained."""
  from jaxseg.train import trainer
  from tests.run_testing import write_fake_results

  trained = []

  def train_and_evaluate(config, workdir):
    trained.append(os.path.basename(workdir))
    write_fake_results(workdir, 0.5, 0.4)
    return {"results": None}

  monkeypatch.setattr(trainer, "train_and_evaluate", train_and_evaluate)
  return trained
