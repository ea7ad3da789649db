"""One process of the two-process data-parallel test (see test_distributed.py).

python tests/distributed_worker.py PROCESS_ID PORT TFDS_DIR WORKDIR OUT.npz
"""

import sys

import jax
import numpy as np


def main(process_id: int, port: int, tfds_dir: str, workdir: str, out: str):
  jax.config.update("jax_num_cpu_devices", 2)
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process_id)

  from jaxseg.train import trainer  # noqa: PLC0415
  from tests.test_distributed import distributed_config  # noqa: PLC0415

  result = trainer.train_and_evaluate(distributed_config(tfds_dir), workdir)
  params = jax.tree.leaves(jax.device_get(result["state"].params))
  if jax.process_index() == 0:
    np.savez(out, *params, ja=result["results"]["metrics"]["JA"])
  jax.distributed.shutdown()


if __name__ == "__main__":
  main(int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:6])
