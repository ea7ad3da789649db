"""The one XLA flag jaxseg sets, at import: CPU convolutions on every core.

XLA's CPU backend hands each convolution to YNNPACK (the `individual_convolution`
library fusion, on by default in jaxlib 0.10), which runs it on
one thread; without it XLA runs convolutions through Eigen, split over every
core. On the project's 2-core benchmark machine that makes ResNet layer1's 3x3
convolution and its gradients about twice as fast, and large kernel gradients
2-5x (docs/benchmarks.md, "The XLA flag"). So `import jaxseg` appends

    --xla_cpu_experimental_ynn_fusion_type=-individual_convolution

to `XLA_FLAGS`: the leading minus removes only convolutions from YNNPACK's list;
its matmuls and reductions stay. It does nothing when

- `XLA_FLAGS` already names the flag: your setting wins
  (`...=+individual_convolution` restores XLA's default);
- jaxlib is outside `KNOWN_JAXLIB_VERSIONS`, where the flag is known to exist
  (XLA aborts the process on an unknown flag, so newer versions are added only
  once checked);
- a JAX backend already started in this process (XLA reads `XLA_FLAGS` once):
  then it warns that the flag did not take effect; import jaxseg first.

GPU and TPU backends ignore the flag.
"""

import importlib.metadata
import os
import re
import sys
import warnings

FLAG = "--xla_cpu_experimental_ynn_fusion_type"
VALUE = "-individual_convolution"
# The flag and its `individual_convolution` type first shipped in jaxlib 0.8.2;
# checked through 0.10.2, the newest release when this was written.
KNOWN_JAXLIB_VERSIONS = ((0, 8, 2), (0, 11, 0))


def jaxlib_knows_flag(jaxlib_version: str) -> bool:
  """Whether `jaxlib_version` (e.g. "0.10.2", "0.10.3.dev20261201+cuda") is in the range."""
  numbers = tuple(int(part) for part in re.findall(r"\d+", jaxlib_version.split("+")[0])[:3])
  low, high = KNOWN_JAXLIB_VERSIONS
  return low <= numbers < high


def with_cpu_flags(xla_flags: str, jaxlib_version: str) -> str:
  """`xla_flags` with jaxseg's flag appended, or unchanged when it must not be."""
  if re.search(rf"(^|\s){FLAG}(=|\s|$)", xla_flags) or not jaxlib_knows_flag(jaxlib_version):
    return xla_flags
  return f"{xla_flags} {FLAG}={VALUE}".strip()


def apply() -> None:
  """Sets `XLA_FLAGS` for this process, before any JAX backend starts.

  Reads jaxlib's version from its package metadata and looks at JAX only where
  it is already imported, so that `import jaxseg` loads no JAX (tools that
  read finished runs start in a fraction of a second).
  """
  try:
    jaxlib_version = importlib.metadata.version("jaxlib")
  except importlib.metadata.PackageNotFoundError:  # no jaxlib: nothing to configure
    return
  current = os.environ.get("XLA_FLAGS", "")
  wanted = with_cpu_flags(current, jaxlib_version)
  if wanted == current:
    return
  if "jax" in sys.modules:
    from jax._src import xla_bridge  # private API: whether a backend started

    if xla_bridge.backends_are_initialized():
      warnings.warn(
        f"jaxseg was imported after JAX started its backend, so its XLA flag {FLAG}={VALUE} "
        "(convolutions on every CPU core; docs/benchmarks.md) does not apply in this process: "
        "import jaxseg before running anything in JAX, or set the flag in XLA_FLAGS yourself.",
        stacklevel=3,
      )
      return
  os.environ["XLA_FLAGS"] = wanted
