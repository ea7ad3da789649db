"""isic2016 dataset: ISIC 2016 part 1 lesion segmentation with part 3 diagnoses."""
