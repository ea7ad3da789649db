"""Two processes x 2 CPU devices (jax.distributed, gloo) agree with one process x 4."""

import os
import pathlib
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments import configs
from jaxseg.train import trainer

ROOT = pathlib.Path(__file__).resolve().parents[1]


def distributed_config(tfds_dir):
  config = configs.get_config("unet_synthetic:smoke")
  with config.unlocked():
    config.dataset.data_dir = str(tfds_dir)
    config.num_train_steps = 3
    config.batch_size = 8
    config.checkpoint_every_steps = 3
    # SGD, so that reduction-order noise stays noise (Adam's first steps
    # are ~lr * sign(grad)).
    config.optimizer.name = "sgd"
    config.optimizer.lr = 0.1
  return config


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one_process(tfds_dir, tmp_path):
  out = tmp_path / "params.npz"
  port = str(_free_port())
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
  workers = [
    subprocess.Popen(
      [
        sys.executable,
        str(ROOT / "tests/distributed_worker.py"),
        str(i),
        port,
        str(tfds_dir),
        str(tmp_path / "multi"),
        str(out),
      ],
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True,
    )
    for i in range(2)
  ]
  logs = [w.communicate(timeout=300)[0] for w in workers]
  for worker, log in zip(workers, logs, strict=True):
    assert worker.returncode == 0, log[-3000:]

  assert jax.device_count() == 4
  single = trainer.train_and_evaluate(distributed_config(tfds_dir), str(tmp_path / "single"))
  expected = jax.tree.leaves(jax.device_get(single["state"].params))
  with np.load(out) as got:
    for i, leaf in enumerate(expected):
      np.testing.assert_allclose(got[f"arr_{i}"], leaf, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got["ja"], single["results"]["metrics"]["JA"], atol=1e-6)
