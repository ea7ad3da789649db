"""jaxseg: skin-lesion segmentation networks in JAX/Flax (README.md).

Importing the package sets its one XLA flag before any JAX backend starts
(`jaxseg/xla_flags.py`).
"""

from jaxseg import xla_flags

xla_flags.apply()
