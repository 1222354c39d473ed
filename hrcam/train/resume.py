"""What a bit-exact resume needs: RNG states as plain data, and a data order that can restart
in the middle of an epoch.

Checkpoints are loaded with ``weights_only=True``, so every state here is converted to tensors,
lists, numbers and strings (no numpy arrays, no tuples of custom objects).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
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
    """The state of every RNG a training step may draw from, as plain data.

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
    """Inverse of :func:`capture_rng_state`; generators named in ``generators`` are restored
    in place. A saved CUDA state is skipped when this machine has no (or fewer) GPUs."""
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


class ResumableSampler:
    """A seeded per-epoch permutation, sharded over ranks, that can start mid-epoch.

    It is torch's own :class:`~torch.utils.data.DistributedSampler` (permutation seeded with
    ``seed + epoch``, every rank a strided shard) with one addition: ``set_position`` skips the
    samples that the interrupted run had already consumed in this epoch. Without a process
    group it is used with ``num_replicas=1, rank=0``, so single-process and torchrun runs share
    one data order code path.

    Parameters
    ----------
    length
        Number of samples in the dataset.
    num_replicas, rank
        World size and this process's rank.
    shuffle
        Permute (training) or keep the dataset order (validation).
    seed
        Base seed of the permutations.
    """

    def __init__(
        self, length: int, num_replicas: int = 1, rank: int = 0, shuffle: bool = True, seed: int = 0
    ) -> None:
        from torch.utils.data import DistributedSampler

        if length < 1:
            raise ValueError(f"the dataset is empty (length {length}); nothing to sample")
        self._inner = DistributedSampler(
            range(length),  # only len() is used
            num_replicas=num_replicas,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=False,
        )
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch`` and rewind to its start."""
        self.epoch = epoch
        self.start = 0
        self._inner.set_epoch(epoch)

    def set_position(self, start: int) -> None:
        """Skip the first ``start`` samples of this rank's shard of the current epoch."""
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        self.start = start

    def __iter__(self) -> Iterator[int]:
        indices = list(iter(self._inner))
        return iter(indices[self.start :])

    def __len__(self) -> int:
        return max(0, len(self._inner) - self.start)

    @property
    def shard_size(self) -> int:
        """Samples this rank sees in a whole epoch."""
        return len(self._inner)
