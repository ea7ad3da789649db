"""isic2017 dataset: ISIC 2017 part 1 lesion segmentation with part 3 diagnoses."""
