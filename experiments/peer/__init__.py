"""The PyTorch side of jaxseg's comparisons: twins, lockstep training, the benchmarks' peers.

PyTorch is an optional extra (`peer`). The modules of this package import it;
this file does not, so a tool can say how to install it instead of failing.
"""

from jaxseg.errors import UserError

_INSTALL = (
  "pip install torch==2.14.1 torchvision==0.29.1 (or any matching pair), "
  'then pip install -e ".[peer]"'
)


def import_torch(needed_by: str):
  """The torch module, or a user error naming what needs it and how to install it."""
  try:
    import torch  # an optional extra: imported where its absence can be explained
  except ImportError:
    raise UserError(f"{needed_by} needs PyTorch: {_INSTALL}.") from None
  return torch
