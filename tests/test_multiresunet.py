"""MultiResUNet: block widths (the authors' int() rounding) and the full-size parameter count."""

from jaxseg.models import create_model
from jaxseg.models.multiresunet import multires_widths
from tests.model_testing import abstract_params, count_parameters

# Trainable parameters of the authors' Keras `MultiResUnet(256, 256, 3)`
# (github.com/nibtehaz/MultiResUNet, tensorflow/MultiResUNet.py), counted layer by layer from its
# code (conv kernels, transposed-conv kernels and biases, BatchNorm betas, and gammas where
# scale=True): the model we follow.
KERAS_TRAINABLE_PARAMETERS = 7_238_228
# The authors' PyTorch port, `MultiResUnet(3, num_classes=0)` (one output channel), instantiated
# with torch: sum(p.numel() for p in model.parameters()). It adds conv biases and BatchNorm scales
# (module docstring), hence more.
PYTORCH_PARAMETERS = 7_251_322


def test_block_widths_and_full_size_parameter_count():
  assert [sum(multires_widths(32 * 2**level)) for level in range(5)] == [51, 105, 212, 426, 853]
  params = abstract_params(create_model("multiresunet"))
  assert count_parameters(params) == KERAS_TRAINABLE_PARAMETERS
  assert KERAS_TRAINABLE_PARAMETERS < PYTORCH_PARAMETERS
  assert params["respath_0"]["conv3x3_3"]["Conv_0"]["kernel"].shape == (3, 3, 32, 32)
  assert params["decoder_0"]["shortcut"]["Conv_0"]["kernel"].shape == (1, 1, 64, 51)
