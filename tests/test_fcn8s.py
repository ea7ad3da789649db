"""FCN-8s: the paper-sized parameter count against pytorch-fcn's FCN8s (no compile)."""

import numpy as np

from jaxseg.models.fcn8s import FCN8s, bilinear_upsampling_init
from tests.model_testing import abstract_model_variables, count_parameters


def test_paper_size_parameter_count_and_bilinear_kernels():
  variables = abstract_model_variables(FCN8s(), 64)
  # wkentaro/pytorch-fcn torchfcn/models/fcn8s.py, FCN8s(n_class=1): sum(p.numel()) measured
  # with torch. Ours adds the 13 BatchNorms of VGG-16-BN (scale and offset: 2 x 4,224).
  reference = 134_265_699
  assert count_parameters(variables["params"]) == reference + 2 * 4_224 == 134_274_147
  assert variables["params"]["upscore8"]["kernel"].shape == (16, 16, 1, 1)
  # FCN's bilinear filter (pytorch-fcn's get_upsampling_weight) for x2: [1, 3, 3, 1] / 4.
  kernel = np.asarray(bilinear_upsampling_init(None, (4, 4, 2, 2)))
  np.testing.assert_allclose(kernel[:, :, 1, 1], np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 16)
  assert not kernel[:, :, 0, 1].any()
