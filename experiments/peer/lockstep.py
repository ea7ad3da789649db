"""jaxseg and its PyTorch twin trained from the same weights on the same batches.

Everything random is shared (initial weights, order, augmentation), so the
two loss sequences differ only by what the two training steps compute
differently: `python -m experiments.parity --lockstep_steps N` prints them.
"""

import jax
import numpy as np
import torch

from experiments.peer import train as peer_train
from experiments.peer import twins
from jaxseg.data import pipeline, splits
from jaxseg.train import optim, setup


def train_in_lockstep(config, num_steps: int) -> list[tuple[float, float]]:
  """(jaxseg loss, twin loss) of each of the first `num_steps` steps of `config`."""
  peer_train.check_supported(config)
  source = splits.open_train_split(config.dataset)
  total_steps = optim.total_train_steps(config, len(source))
  epoch_steps = optim.steps_per_epoch(len(source), config.batch_size)
  batches = iter(pipeline.train_dataset(source, config.input, config.batch_size, config.seed))
  run = setup.setup_run(
    config,
    setup.create_mesh(jax.devices()[:1]),
    total_steps=total_steps,
    steps_per_epoch=epoch_steps,
    donate_state=False,
  )
  model, state = run.model, run.state
  twin = twins.create_twin(config.model_name, config.model.to_dict())
  height, width = config.input.image_size
  creation_order = model.init(
    jax.random.key(0), jax.numpy.zeros((1, height, width, 3)), train=False
  )
  twins.load_flax_variables(
    twin, {"params": state.params, "batch_stats": state.batch_stats}, creation_order
  )
  optimizer, lr_schedule = peer_train.create_twin_optimizer(twin, config, total_steps)
  twin.train()
  losses = []
  for _ in range(num_steps):
    batch = next(batches)
    state, step_metrics = run.train_step(state, setup.put_batch(batch, run.mesh))
    images = peer_train.to_tensor(batch["image"], config.input.normalization)
    masks = torch.from_numpy(batch["mask"].astype(np.float32))[:, None]
    loss = peer_train.bce_dice_torch(twin(images), masks)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    lr_schedule.step()
    losses.append((float(step_metrics["loss"]), loss.item()))
  return losses
