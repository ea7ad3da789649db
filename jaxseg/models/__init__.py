"""Segmentation models; see `registry.MODELS` for the names configs use."""

from jaxseg.models.registry import MODELS, create_model, foreground_probability

__all__ = ["MODELS", "create_model", "foreground_probability"]
