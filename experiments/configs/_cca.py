"""What every cca config shares: the paper's model, loss, optimiser and schedule.

Paper 000; docs/papers.md, "cca (paper 000)".
"""

from experiments.configs import common


def paper_config():
  """SGD momentum 0.9, lr 1e-4, poly 0.9 per iteration, 150 epochs, batch 8, 256x256."""
  config = common.base_config()
  config.model_name = "cca"
  config.model.update(
    resnet_depth=50,
    resnet_width=64,
    layer_dilations=(2, 2),
    width=256,
    use_cca=True,
    use_cgl=True,
    aux_head=True,
    attention_query_chunk=0,
  )
  config.loss = "wbce_dice"
  config.aux_loss_weight = 1.0  # paper eq. 12: the branches' losses are summed
  config.dataset.builder_config = "max512"
  # The paper names no augmentation; horizontal flips only.
  config.input.update(image_size=(256, 256), normalization="imagenet", vflip=False)
  config.batch_size = 8
  config.num_epochs = 150
  config.optimizer.update(name="sgd", lr=1e-4, momentum=0.9)
  config.schedule.update(name="poly", power=0.9)
  config.checkpoint_every_steps = 1000
  config.eval_batch_size = 16
  return config
