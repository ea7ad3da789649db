r"""R2U-Net baseline (Alom et al. 2018, t = 2) on the built-in synthetic lesions, at CPU size.

  python -m experiments.run --config r2unet_synthetic --workdir runs/r2unet_synthetic
  python -m experiments.run --config r2unet_synthetic:smoke --workdir /tmp/r2unet_smoke

Base width 8 (8 ... 128), 64x64 input, Adam 2e-3, poly schedule: each recurrent layer runs its
3x3 conv three times, so at unet_synthetic's width 16 a step costs about three U-Net steps.
0.6 M parameters; after about 4 minutes on 2 CPU cores its training loss is 0.04 but its mean JA
on the synthetic test split only 0.60 (sensitivity 0.93, specificity 0.82): it over-segments in
evaluation mode. Each recurrent layer shares one BatchNorm over its three applications, as the
reference does, so the running statistics mix three input distributions: the same checkpoint
scored with batch statistics instead reaches JA 0.96. The reference-sized network is
`--config.model.base_width=64`.
"""

from experiments.configs import common


def get_config():
  return common.synthetic_config("r2unet", base_width=8, recurrent_steps=2)
