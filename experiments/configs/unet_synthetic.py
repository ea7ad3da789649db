r"""U-Net baseline on the built-in synthetic lesions: the project's default run.

  python -m experiments.run --config unet_synthetic --workdir runs/unet_synthetic
  python -m experiments.run --config unet_synthetic:smoke --workdir /tmp/unet_smoke

Sized for a laptop CPU: base width 16 at 64x64 input trains to mean JA >= 0.80
on the synthetic test split in a few minutes on 2 cores. The paper-sized U-Net
(docs/papers.md, "Baselines") is `--config.model.base_width=64`.
"""

from experiments.configs import common


def get_config():
  return common.synthetic_config("unet", base_width=16, depth=4)
