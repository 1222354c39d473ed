"""Seeding, and the state of every random generator as plain data.

That state is what a bit-exact resume restores besides the weights and the optimizer.

Checkpoints are loaded with ``weights_only=True``, so every state here is converted to tensors,
lists, numbers and strings (no numpy arrays, no tuples of custom objects).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (all CUDA devices included)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the legacy global state is what we seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def capture_rng_state(generators: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Capture the state of every RNG a training step may draw from, as plain data.

    Parameters
    ----------
    generators
        Named extra generators (for example the augmentation generator), saved by name.
    """
    import torch

    np_state = np.random.get_state()  # noqa: NPY002 (third-party code may draw from it)
    py_version, py_internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": str(np_state[0]),
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_version, "internal": list(py_internal), "gauss": py_gauss},
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {name: g.get_state() for name, g in (generators or {}).items()},
    }
    return state


def restore_rng_state(
    state: dict[str, Any], generators: dict[str, torch.Generator] | None = None
) -> None:
    """Restore the RNG states that :func:`capture_rng_state` captured.

    Generators named in ``generators`` are restored in place. A saved CUDA state is skipped
    when this machine has no (or fewer) GPUs.
    """
    import torch

    torch.set_rng_state(state["torch"])
    npd = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            npd["name"],
            npd["keys"].numpy().astype(np.uint32),
            npd["pos"],
            npd["has_gauss"],
            npd["cached_gaussian"],
        )
    )
    pyd = state["python"]
    random.setstate((pyd["version"], tuple(pyd["internal"]), pyd["gauss"]))
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available():
        count = min(len(cuda_states), torch.cuda.device_count())
        for index in range(count):
            torch.cuda.set_rng_state(cuda_states[index], index)
    saved = state.get("generators", {})
    for name, generator in (generators or {}).items():
        if name not in saved:
            raise ValueError(f"checkpoint has no state for generator {name!r}")
        generator.set_state(saved[name])
