"""isic2018 dataset: ISIC 2018 task 1 lesion segmentation."""
