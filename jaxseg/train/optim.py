"""Optimisers and learning-rate schedules named in configs."""

import math

import optax

from jaxseg.errors import ConfigError


def steps_per_epoch(num_examples: int, global_batch: int) -> int:
  return max(1, num_examples // global_batch)


def total_train_steps(config, num_train_examples: int) -> int:
  """`num_train_steps` when set (> 0), else `num_epochs` worth of full batches."""
  if config.get("num_train_steps", 0) > 0:
    return int(config.num_train_steps)
  return int(math.ceil(config.num_epochs * steps_per_epoch(num_train_examples, config.batch_size)))


def create_schedule(config, total_steps: int, epoch_steps: int) -> optax.Schedule:
  """poly (per iteration, to 0), step (x factor every N epochs), cosine or constant."""
  sched, lr = config.schedule, config.optimizer.lr
  if sched.name == "constant":
    schedule = optax.constant_schedule(lr)
  elif sched.name == "poly":
    schedule = optax.polynomial_schedule(lr, 0.0, sched.power, max(1, total_steps))
  elif sched.name == "step":
    schedule = optax.exponential_decay(
      lr,
      transition_steps=max(1, int(sched.every_epochs * epoch_steps)),
      decay_rate=sched.factor,
      staircase=True,
    )
  elif sched.name == "cosine":
    schedule = optax.cosine_decay_schedule(lr, max(1, total_steps))
  else:
    raise ConfigError(
      f"Unknown schedule {sched.name!r}; choose from constant, poly, step, cosine "
      "(config key schedule.name)."
    )
  if sched.get("warmup_steps", 0) > 0:
    warmup = optax.linear_schedule(0.0, lr, sched.warmup_steps)
    schedule = optax.join_schedules([warmup, schedule], [sched.warmup_steps])
  return schedule


def create_optimizer(config, schedule: optax.Schedule) -> optax.GradientTransformation:
  opt = config.optimizer
  if opt.name == "sgd":
    tx = optax.sgd(schedule, momentum=opt.momentum or None, nesterov=opt.get("nesterov", False))
  elif opt.name == "adam":
    tx = optax.adam(schedule, b1=opt.b1, b2=opt.b2)
  elif opt.name == "adamw":
    return optax.adamw(schedule, b1=opt.b1, b2=opt.b2, weight_decay=opt.weight_decay)
  else:
    raise ConfigError(
      f"Unknown optimizer {opt.name!r}; choose from sgd, adam, adamw (config key optimizer.name)."
    )
  if opt.weight_decay:
    # L2 on the gradient (PyTorch's SGD/Adam weight_decay), not decoupled decay.
    tx = optax.chain(optax.add_decayed_weights(opt.weight_decay), tx)
  return tx
