"""Segmentation models; see `registry.MODELS` for the names configs use."""

from jaxseg.models.registry import MODELS, create_model, foreground_probability, model_class

__all__ = ["MODELS", "create_model", "foreground_probability", "model_class"]
