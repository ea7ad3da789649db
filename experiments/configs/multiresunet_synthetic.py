r"""MultiResUNet baseline (Ibtehaz and Rahman 2020) on the built-in synthetic lesions, at CPU size.

  python -m experiments.run --config multiresunet_synthetic --workdir runs/multiresunet_synthetic
  python -m experiments.run --config multiresunet_synthetic:smoke --workdir /tmp/multiresunet_smoke

U = 16 at the top level (the paper's 32 halved: about unet_synthetic's parameter count), 64x64
input, Adam 2e-3, poly schedule: 1.8 M parameters, mean JA 0.97 on the synthetic test split after
about 11 minutes on 2 shared CPU cores. The paper-sized network is `--config.model.base_width=32`.
"""

from experiments.configs import common


def get_config():
  return common.synthetic_config("multiresunet", base_width=16, alpha=1.67)
