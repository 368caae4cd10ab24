"""Seeding and the capture / restore of every random state a run depends on.

A run is seeded once with its ``seed`` (Python ``random``, NumPy's global generator, torch's CPU and
CUDA generators). The batch order uses its own ``torch.Generator`` (seeded from the run seed too), so
that it does not depend on how many random numbers the model or the loss drew.

:func:`capture_rng_state` returns tensors and plain containers only, so that a checkpoint holding it
loads with ``torch.load(path, weights_only=True)``; :func:`restore_rng_state` puts it back. With both, a
resumed run draws exactly the numbers that an uninterrupted run draws.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

#: Offset between the run seed and the seed of the batch-order generator (any fixed constant works;
#: it keeps the two streams distinct).
SHUFFLE_SEED_OFFSET = 7919


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def make_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` for the batch order, seeded with ``seed + SHUFFLE_SEED_OFFSET``."""
    g = torch.Generator()
    g.manual_seed(seed + SHUFFLE_SEED_OFFSET)
    return g


def capture_rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """The current random states as tensors and plain containers (``weights_only``-loadable)."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    assert isinstance(np_state, dict)
    state: dict[str, Any] = {
        "python": {"version": int(version), "state": list(internal), "gauss": gauss},
        "numpy": {
            "bit_generator": str(np_state["bit_generator"]),
            "key": torch.from_numpy(np.asarray(np_state["state"]["key"], dtype=np.int64).copy()),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    if generator is not None:
        state["shuffle"] = generator.get_state()
    return state


def restore_rng_state(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Put back the states captured by :func:`capture_rng_state` (and the batch-order generator's)."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": npy["bit_generator"],
            "state": {"key": npy["key"].numpy().astype(np.uint32), "pos": npy["pos"]},
            "has_gauss": npy["has_gauss"],
            "gauss": npy["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    if generator is not None and "shuffle" in state:
        generator.set_state(state["shuffle"])


__all__ = [
    "SHUFFLE_SEED_OFFSET",
    "capture_rng_state",
    "make_generator",
    "restore_rng_state",
    "seed_everything",
]
