"""What every asnet config shares: ASNet, its loss, optimiser and input.

Paper 004; docs/papers.md, "asnet (paper 004)".
"""

from experiments.configs import common


def paper_config():
  """SGD momentum 0.9, wd 1e-4, lr 0.01, poly 0.9, batch 12, 80 epochs, 192x256, hflip.

  The paper does not state the number of epochs; 80 is our choice.
  Inputs are ImageNet-normalised, as the pretrained ResNet34 expects (the
  weights come from `pretrained_backbone`, a converted torchvision
  resnet34-*.pth; without it the log says the encoder starts at random).
  """
  config = common.base_config()
  config.model_name = "asnet"
  config.model.update(
    resnet_depth=34,
    resnet_width=64,
    use_asm=True,
    asm_dilations=(1, 2, 4),
    scale_aware_fusion=True,
    share_sam_weights=False,
    decoder_extra_blocks=0,
  )
  config.loss = "bce_dice"
  config.dataset.update(name="isic2018", builder_config="max512")
  config.input.update(image_size=(192, 256), normalization="imagenet", hflip=True, vflip=False)
  config.batch_size = 12
  config.num_epochs = 80
  config.optimizer.update(name="sgd", lr=0.01, momentum=0.9, weight_decay=1e-4)
  config.schedule.update(name="poly", power=0.9)
  config.checkpoint_every_steps = 1000
  return config
