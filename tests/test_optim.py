"""Learning-rate schedules and optimiser names from configs."""

import ml_collections
import numpy as np
import pytest

from experiments.configs import common
from jaxseg.train import optim


def _config(**schedule):
  config = common.base_config()
  config.optimizer.lr = 0.01
  config.schedule.update(schedule)
  return config


def test_poly_schedule_per_iteration():
  schedule = optim.create_schedule(_config(name="poly", power=0.9), total_steps=100, epoch_steps=10)
  np.testing.assert_allclose(schedule(0), 0.01)
  np.testing.assert_allclose(schedule(50), 0.01 * 0.5**0.9, rtol=1e-6)
  np.testing.assert_allclose(schedule(100), 0.0, atol=1e-12)


def test_step_schedule_every_n_epochs():
  schedule = optim.create_schedule(
    _config(name="step", every_epochs=2, factor=0.9), total_steps=100, epoch_steps=10
  )
  np.testing.assert_allclose(
    [schedule(0), schedule(19), schedule(20), schedule(45)],
    [0.01, 0.01, 0.009, 0.01 * 0.9**2],
    rtol=1e-6,
  )


def test_total_steps_from_epochs_or_override():
  config = common.base_config()
  config.batch_size, config.num_epochs = 8, 3
  assert optim.total_train_steps(config, 100) == 3 * 12
  config.num_train_steps = 7
  assert optim.total_train_steps(config, 100) == 7


def test_unknown_names_are_clear_errors():
  with pytest.raises(KeyError, match="schedule.name"):
    optim.create_schedule(_config(name="nope"), 10, 1)
  config = common.base_config()
  config.optimizer.name = "nope"
  with pytest.raises(KeyError, match="optimizer.name"):
    optim.create_optimizer(config, optim.create_schedule(config, 10, 1))


def test_sgd_weight_decay_is_l2_on_the_gradient():
  config = common.base_config()
  config.optimizer = ml_collections.ConfigDict(
    {"name": "sgd", "lr": 0.1, "momentum": 0.0, "weight_decay": 0.5, "b1": 0.9, "b2": 0.999}
  )
  tx = optim.create_optimizer(config, optim.create_schedule(config, 10, 1))
  params = {"w": np.array([2.0], np.float32)}
  updates, _ = tx.update({"w": np.array([1.0], np.float32)}, tx.init(params), params)
  np.testing.assert_allclose(updates["w"], [-0.1 * (1.0 + 0.5 * 2.0)])
