"""ph2 dataset: the PH2 dermoscopy database, segmentation and clinical diagnoses."""
