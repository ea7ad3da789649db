"""SegNet: the paper-sized parameter count against the authors' Caffe layout (no compile)."""

from jaxseg.models.segnet import SegNet
from tests.model_testing import abstract_model_variables, count_parameters


def test_paper_size_parameter_count():
  variables = abstract_model_variables(SegNet(), 64)
  # The Caffe model (caffe-segnet, segnet_train.prototxt) at 1 class and 3 input channels,
  # written out: encoder = torchvision vgg16_bn's features; the decoder's 12 biased 3x3
  # conv + BN layers and the 3x3 classifier conv1_1_D, as listed in jaxseg/models/segnet.py.
  # A torch transcription of the prototxt counts the same.
  encoder = 14_714_688 + 2 * 4_224
  decoder_convs = [(512, 512)] * 5 + [(512, 256), (256, 256), (256, 256), (256, 128)]
  decoder_convs += [(128, 128), (128, 64), (64, 64)]
  decoder = sum(9 * c_in * c_out + 3 * c_out for c_in, c_out in decoder_convs) + 9 * 64 + 1
  assert encoder + decoder == 29_443_585
  assert count_parameters(variables["params"]) == 29_443_585
  # yassouali/pytorch-segmentation's SegNet (measured: 29,480,641) has one more 64-channel
  # conv + BN before the classifier.
  assert 29_443_585 + 9 * 64 * 64 + 64 + 2 * 64 == 29_480_641
  assert count_parameters(variables["batch_stats"]) == 2 * (
    4_224 + (5 * 512 + 256 * 3 + 128 * 2 + 64 * 2)
  )
