"""Run by ``torchrun`` in tests/distributed/test_ddp.py: train from a JSON config, dump the rank's state.

Usage: ``torchrun --nproc-per-node N _ddp_worker.py CONFIG_JSON OUT_DIR``. Each rank writes
``OUT_DIR/rank{r}.npz`` (its LabelStore, dense) and ``OUT_DIR/rank{r}.json`` (history and metrics).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main() -> None:
    from partialml.engine import TrainConfig, Trainer
    from partialml.engine.distributed import rank, teardown

    config = TrainConfig.from_mapping(json.loads(Path(sys.argv[1]).read_text()))
    out = Path(sys.argv[2])
    trainer = Trainer(config, show_progress=False)
    result = trainer.fit()
    r = rank()
    np.savez(out / f"rank{r}.npz", store=trainer.store.to_dense().numpy())
    payload = {"history": result.history, "metrics": result.metrics, "world": trainer.dist.world_size}
    (out / f"rank{r}.json").write_text(json.dumps(payload, default=str))
    teardown()


if __name__ == "__main__":
    main()
