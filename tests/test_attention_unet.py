"""Attention U-Net: the full-size parameter count against the reference implementation's."""

from jaxseg.models import create_model
from tests.model_testing import abstract_params, count_parameters

# `AttU_Net(img_ch=3, output_ch=1)` of github.com/LeeJunHyun/Image_Segmentation (network.py),
# instantiated with torch: sum(p.numel() for p in model.parameters()).
REFERENCE_PARAMETERS = 34_878_573
# Biases of its convolutions that BatchNorm follows (we drop them, BN cancels them): 2 per
# conv_block width, 1 per up_conv width, per gate F_int + F_int + 1, summed over the network.
REFERENCE_PRE_BN_BIASES = 7_812


def test_full_size_parameter_count_is_the_reference_minus_pre_batchnorm_biases():
  params = abstract_params(create_model("attention_unet"))
  assert count_parameters(params) == REFERENCE_PARAMETERS - REFERENCE_PRE_BN_BIASES == 34_870_761
  # A gate per skip, 1x1 projections to half the skip's width (the reference's F_int).
  assert set(params) >= {f"attention_{level}" for level in range(4)}
  assert params["attention_0"]["gate_projection"]["kernel"].shape == (1, 1, 64, 32)
  assert params["attention_3"]["psi"]["kernel"].shape == (1, 1, 256, 1)
