"""DeepLabv3+ baseline: the full-size parameter count against the reference implementation."""

from jaxseg.models import create_model
from tests.model_testing import abstract_params, count_parameters


def test_full_size_parameter_count_pinned():
  params = abstract_params(create_model("deeplabv3plus"))
  assert count_parameters(params["backbone"]) == 23_508_032  # torchvision ResNet-50 without fc
  # VainF/DeepLabV3Plus-Pytorch deeplabv3plus_resnet50(num_classes=1, output_stride=16):
  # 39,756,705 (sum of p.numel() over its parameters), plus the paper's second 3x3 decoder
  # conv-BN (9 * 256 * 256 + 2 * 256), which its DeepLabHeadV3Plus omits.
  assert count_parameters(params) == 39_756_705 + 590_336
  assert set(params) == {"backbone", "aspp", "decoder", "classifier"}
  # Output stride 8 dilates more but adds no parameters.
  output_stride_8 = abstract_params(create_model("deeplabv3plus", output_stride=8))
  assert count_parameters(output_stride_8) == count_parameters(params)
