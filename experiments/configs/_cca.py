"""What every cca config shares: the paper's model, loss, optimiser and schedule (SPEC §4.1)."""

from experiments.configs import common

# Paper 000, mean of per-image values (%), SPEC §6.
PAPER_RESULTS = {
  "isic2016": {"AC": 96.1, "DI": 92.6, "JA": 87.1, "SE": 94.6, "SP": 96.7},
  "isic2017": {"AC": 94.6, "DI": 87.8, "JA": 80.3, "SE": 88.6, "SP": 96.4},
  "isic2018": {"AC": 95.9, "DI": 89.9, "JA": 83.4, "SE": 93.6, "SP": 96.7},
  "ph2": {"AC": 95.4, "DI": 92.5, "JA": 86.6, "SE": 98.6, "SP": 94.7},
}


def paper_config(arg):
  """SGD momentum 0.9, lr 1e-4, poly 0.9 per iteration, 150 epochs, batch 8, 256x256."""
  arg = common.parse_arg(arg)
  config = common.base_config()
  config.model_name = "cca"
  config.model.resnet_depth = 50
  config.model.resnet_width = 64
  config.model.layer_dilations = (2, 2)
  config.model.width = 256
  config.model.use_cca = True
  config.model.use_cgl = True
  config.model.aux_head = True
  config.model.attention_query_chunk = 0
  config.loss = "wbce_dice"
  config.aux_loss_weight = 1.0  # paper eq. 12: the branches' losses are summed

  config.dataset.builder_config = "max512"
  config.input.image_size = (256, 256)
  config.input.normalization = "imagenet"
  config.input.vflip = False  # the paper names no augmentation; horizontal flips only
  config.batch_size = 8
  config.num_epochs = 150
  config.optimizer.name = "sgd"
  config.optimizer.lr = 1e-4
  config.optimizer.momentum = 0.9
  config.schedule.name = "poly"
  config.schedule.power = 0.9
  config.checkpoint_every_steps = 1000
  config.eval.batch_size = 16
  if arg == "smoke":
    apply_smoke(config)
  return config


def apply_smoke(config):
  common.apply_smoke(config)
  config.model.resnet_depth = 18
  config.model.resnet_width = 8
  config.model.width = 16
  return config
