"""What every asnet config shares: ASNet, its loss, optimiser and input (SPEC §4.5, paper 004)."""

from experiments.configs import common


def paper_config(arg):
  """SGD momentum 0.9, wd 1e-4, lr 0.01, poly 0.9, batch 12, 80 epochs, 192x256, hflip.

  The paper does not state the number of epochs; 80 is SPEC §4.5's choice.
  Inputs are ImageNet-normalised, as the pretrained ResNet34 expects (the
  weights come from `pretrained_backbone`, a converted torchvision
  resnet34-*.pth; without it the log says the encoder starts at random).
  """
  arg = common.parse_arg(arg)
  config = common.base_config()
  config.model_name = "asnet"
  config.model.resnet_depth = 34
  config.model.resnet_width = 64
  config.model.use_asm = True
  config.model.asm_dilations = (1, 2, 4)
  config.model.scale_aware_fusion = True
  config.model.share_sam_weights = False
  config.model.decoder_extra_blocks = 0
  config.loss = "bce_dice"

  config.dataset.name = "isic2018"
  config.dataset.builder_config = "max512"
  config.input.image_size = (192, 256)
  config.input.resize_method = "bilinear"
  config.input.normalization = "imagenet"
  config.input.hflip = True
  config.input.vflip = False
  config.batch_size = 12
  config.num_epochs = 80
  config.optimizer.name = "sgd"
  config.optimizer.lr = 0.01
  config.optimizer.momentum = 0.9
  config.optimizer.weight_decay = 1e-4
  config.schedule.name = "poly"
  config.schedule.power = 0.9
  config.checkpoint_every_steps = 1000
  if arg == "smoke":
    common.apply_smoke(config)
    config.model.resnet_width = 4
  return config
