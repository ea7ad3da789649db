"""Helpers for tests that train: smoke configs pointed at the session's synthetic data."""

from experiments import configs


def smoke_config(data_dir, overrides: dict | None = None, spec: str = "unet_synthetic:smoke"):
  """`spec` (a smoke variant) reading `data_dir`, with dotted-key overrides."""
  return configs.load_config(spec, {"dataset.data_dir": str(data_dir), **(overrides or {})})
