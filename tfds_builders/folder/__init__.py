"""folder dataset: your own images and masks, read from a folder (`images/`, `masks/`)."""
