"""Test-session setup: four virtual CPU devices and fast compiles.

The XLA flag must be set before JAX initialises its backend, so it lives here
rather than in any test module.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

# Tests use tiny shapes; compile time dominates, so trade runtime for it.
jax.config.update("jax_disable_most_optimizations", True)
