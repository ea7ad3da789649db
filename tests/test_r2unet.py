"""R2U-Net: full-size parameter count against the reference's; one shared conv per recurrence."""

from jaxseg.models import create_model
from tests.model_testing import abstract_params, count_parameters

# `R2U_Net(img_ch=3, output_ch=1, t=2)` of github.com/LeeJunHyun/Image_Segmentation
# (network.py), instantiated with torch: sum(p.numel() for p in model.parameters()).
REFERENCE_PARAMETERS = 39_091_393
# Biases of its 3x3 convolutions that BatchNorm follows (we drop them, BN cancels them): 2 per
# RRCNN block width (one per recurrent layer), 1 per up_conv width, summed over the network.
REFERENCE_PRE_BN_BIASES = 6_848


def test_full_size_parameter_count_and_recurrent_weight_sharing():
  params = abstract_params(create_model("r2unet"))
  assert count_parameters(params) == REFERENCE_PARAMETERS - REFERENCE_PRE_BN_BIASES == 39_084_545
  # The t + 1 applications of a recurrent layer share one conv and one BatchNorm.
  layer = params["encoder_1"]["recurrent_0"]
  assert list(layer) == ["recurrent"]
  assert {name: leaf.shape for name, leaf in layer["recurrent"]["Conv_0"].items()} == {
    "kernel": (3, 3, 128, 128)
  }
