"""CE-Net baseline: the full-size parameter count against the authors' implementation."""

from jaxseg.models import create_model
from tests.model_testing import abstract_params, count_parameters


def test_full_size_parameter_count_pinned():
  params = abstract_params(create_model("cenet"))
  assert count_parameters(params["backbone"]) == 21_284_672  # torchvision ResNet-34 without fc
  # The DAC block's four cascades share three 3x3 convolutions and one 1x1 (all with bias),
  # RMP's four pools one 1x1 convolution to one channel, as the reference's.
  assert count_parameters(params["dac"]) == 3 * (9 * 512 * 512 + 512) + 512 * 512 + 512
  assert count_parameters(params["rmp"]) == 512 + 1
  # Guzaiwang/CE-Net CE_Net_(num_classes=1) on torchvision's resnet34: 29,003,093 (sum of
  # p.numel() over its parameters); we drop the 994 biases of convolutions BN follows.
  assert count_parameters(params) == 29_003_093 - 994
