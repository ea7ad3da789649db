"""synthetic_lesions dataset: dermoscopy-like images with exact masks, from a seed."""
