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

import jax  # noqa: E402

# Tests use tiny shapes; compile time dominates, so trade runtime for it.
jax.config.update("jax_disable_most_optimizations", True)
# Cross-validation folds and smoke runs of the same model compile the same
# programs again (every run jits fresh closures); a per-process persistent
# cache turns those repeats into lookups.
_XLA_CACHE = tempfile.mkdtemp(prefix="jaxseg_test_xla_cache_")
atexit.register(shutil.rmtree, _XLA_CACHE, ignore_errors=True)
jax.config.update("jax_compilation_cache_dir", _XLA_CACHE)
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
