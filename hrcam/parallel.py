"""Worker processes: dataset builders' pools, and post-processing on every core.

Two rules hold for every pool made here:

* **Workers never outlive their parent.** ``ProcessPoolExecutor`` workers block on a queue
  lock when the parent is killed with SIGKILL (no cleanup runs) and stay behind forever. On
  Linux each worker asks the kernel for a SIGKILL when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``); as a second line, a forked worker checks that its parent is
  still the process that started it.
* **Results come back in input order**, identical to running in this process: post-processing
  is deterministic, and arrays cross process boundaries bit for bit.

:class:`RefinePool` runs :func:`hrcam.postprocess.refine` on several cores. Its workers are
*spawned* (fresh interpreters), never forked: the parent has typically run OpenCV, ITK and
torch thread pools by then, and a forked child that touches one of them can wait forever on a
lock its missing threads held. Spawned workers re-import the main script as ``spawn`` always
does; a script without an ``if __name__ == "__main__":`` guard makes them fail at start-up,
and the pool then says so once and refines in this process instead. Workers ignore Ctrl-C
(the parent handles it) and run OpenCV on one thread each, since the pool already uses every
core.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import warnings
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from hrcam.postprocess import RefineConfig, RefineResult

__all__ = ["PendingRefinement", "RefinePool", "available_cores", "worker_pool"]

_PR_SET_PDEATHSIG = 1


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _die_with_parent(parent: int) -> None:
    """Be killed when ``parent`` exits (Linux), or exit now if it already has."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: fall back to the check below only
    if os.getppid() != parent:  # died before prctl took effect
        os._exit(1)


def _worker_init(parent: int, setup: Callable[[], None] | None) -> None:
    """Pool initializer: tie the worker to its parent, then run the pool's own ``setup``."""
    _die_with_parent(parent)
    if setup is not None:
        setup()


def worker_pool(
    max_workers: int, context: str | None = None, setup: Callable[[], None] | None = None
) -> ProcessPoolExecutor:
    """Create a process pool whose workers die with this process, even on SIGKILL.

    Parameters
    ----------
    max_workers
        Worker processes.
    context
        ``"fork"`` or ``"spawn"`` (both start the workers as this process's children);
        default the platform's (``fork`` on Linux).
    setup
        A module-level function each worker runs once after starting.
    """
    return ProcessPoolExecutor(
        max_workers=max_workers,
        mp_context=multiprocessing.get_context(context),
        initializer=_worker_init,
        initargs=(os.getpid(), setup),
    )


def _refine_worker_setup() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    import cv2

    # one core per worker: the blur, region growing and hole filling use OpenCV
    cv2.setNumThreads(1)


def _refine_chunk(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], config: RefineConfig
) -> list[RefineResult]:
    from hrcam.postprocess import refine

    return [refine(low, high, config=config) for low, high in pairs]


# Fields the parent recomputes itself (normalising and resizing the maps it already holds costs
# far less than shipping three full-size float arrays back), with refine's own first steps
# (hrcam.postprocess.pipeline.normalized_maps); boolean masks travel bit-packed.
# Together this cuts a 224 px result from 1.24 MB to about 0.5 MB.
_RECOMPUTED = ("low_res", "high_res", "low_res_resized")


def _refine_chunk_packed(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], config: RefineConfig
) -> list[dict[str, Any]]:
    import dataclasses

    import numpy as np

    packed = []
    for result in _refine_chunk(pairs, config):
        fields: dict[str, Any] = {}
        for f in dataclasses.fields(result):
            value = getattr(result, f.name)
            if f.name in _RECOMPUTED:
                continue
            if isinstance(value, np.ndarray) and value.dtype == bool:
                value = ("bits", value.shape, np.packbits(value, axis=None))
            fields[f.name] = value
        packed.append(fields)
    return packed


def _unpack(fields: dict[str, Any], low: np.ndarray, high: np.ndarray) -> RefineResult:
    """Unpack a worker's result, completed exactly as :func:`refine` computes it."""
    import numpy as np

    from hrcam.postprocess import RefineResult
    from hrcam.postprocess.pipeline import normalized_maps

    out = {}
    for name, value in fields.items():
        if isinstance(value, tuple) and len(value) == 3 and value[0] == "bits":
            _, shape, bits = value
            value = np.unpackbits(bits, count=int(np.prod(shape))).reshape(shape).astype(bool)
        out[name] = value
    # The same function as refine's first steps, so the two cannot drift apart.
    out["low_res"], out["high_res"], out["low_res_resized"] = normalized_maps(low, high)
    return RefineResult(**out)


def resolve_workers(workers: int | None) -> int:
    """Return the number of refine processes: ``workers`` checked, or the default for ``None``.

    ``None`` means every available core when there are more than two, else 1. Measured on a
    2-core machine (``benchmarks/refine_workers.py``, 224 px, ``paper``): one process refines
    532 maps/s, two workers 360 maps/s, because shipping each result back (~0.5 MB) costs the
    parent more than the second core gives; in ``hrcam explain`` the networks' two torch
    threads already occupy both cores (1.70x vs 1.79x the forward pass with 1 and 2 workers).
    """
    if workers is None:
        cores = available_cores()
        return cores if cores > 2 else 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
    return workers


@dataclass
class PendingRefinement:
    """What :meth:`RefinePool.submit` started: the inputs and the workers' futures.

    Instead of futures, it may hold the results already computed in this process.
    """

    pairs: list[tuple[np.ndarray, np.ndarray]]
    config: RefineConfig
    futures: list[Future[list[RefineResult]]]
    results: list[RefineResult] | None


class RefinePool:
    """Post-process (low-res, high-res) CAM pairs on ``workers`` cores, results in order.

    With one worker, or fewer pairs than two, everything runs in this process. Otherwise the
    pairs are split into one contiguous chunk per worker (fewer round trips than one task per
    map). The worker processes start on first use and live until :meth:`close`, or until the
    pool is garbage-collected.

    Parameters
    ----------
    workers
        Processes; ``None`` means every core available to this process.

    Examples
    --------
    >>> from hrcam.postprocess import resolve_config
    >>> pool = RefinePool(workers=2)  # doctest: +SKIP
    >>> results = pool.refine(lows, highs, resolve_config("paper"))  # doctest: +SKIP
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = resolve_workers(workers)
        self._pool: ProcessPoolExecutor | None = None
        self._finalizer: weakref.finalize | None = None
        self._broken = False

    def _executor(self) -> ProcessPoolExecutor | None:
        if self._pool is None and not self._broken:
            self._pool = worker_pool(self.workers, "spawn", _refine_worker_setup)
            self._finalizer = weakref.finalize(self, self._pool.shutdown, wait=False)
        return self._pool

    def submit(
        self, lows: Sequence[np.ndarray], highs: Sequence[np.ndarray], config: RefineConfig
    ) -> PendingRefinement:
        """Start refining; :meth:`gather` the return value for the results.

        Lets the caller overlap post-processing of one batch with the networks on the next.
        """
        pairs = list(zip(lows, highs, strict=True))
        pool = self._executor() if self.workers > 1 and len(pairs) > 1 else None
        if pool is None:
            return PendingRefinement(pairs, config, [], _refine_chunk(pairs, config))
        n = min(self.workers, len(pairs))
        bounds = [round(i * len(pairs) / n) for i in range(n + 1)]
        try:
            futures = [
                pool.submit(_refine_chunk_packed, pairs[a:b], config) for a, b in pairwise(bounds)
            ]
        except BrokenProcessPool:
            return PendingRefinement(pairs, config, [], self._fallback(pairs, config))
        return PendingRefinement(pairs, config, futures, None)

    def gather(self, pending: PendingRefinement) -> list[RefineResult]:
        """Return the results of :meth:`submit`, in input order."""
        if pending.results is not None:
            return pending.results
        try:
            packed = [r for future in pending.futures for r in future.result()]
        except BrokenProcessPool:
            return self._fallback(pending.pairs, pending.config)
        return [_unpack(f, low, high) for f, (low, high) in zip(packed, pending.pairs, strict=True)]

    def _fallback(
        self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], config: RefineConfig
    ) -> list[RefineResult]:
        """Say once that the workers could not start or died, then refine here."""
        if not self._broken:
            warnings.warn(
                "hrcam: the post-processing workers stopped (a script without an "
                "`if __name__ == '__main__':` guard stops spawned workers); refining in this "
                "process from now on (workers=1 avoids this warning)",
                RuntimeWarning,
                stacklevel=3,
            )
            self._broken = True
            self.close()
        return _refine_chunk(pairs, config)

    def refine(
        self, lows: Sequence[np.ndarray], highs: Sequence[np.ndarray], config: RefineConfig
    ) -> list[RefineResult]:
        """Refine every pair; the same results as ``[refine(l, h, config=config) ...]``."""
        return self.gather(self.submit(lows, highs, config))

    def close(self) -> None:
        """Stop the worker processes (they restart on the next use)."""
        if self._finalizer is not None:
            self._finalizer.detach()
        if self._pool is not None:
            self._pool.shutdown(wait=not self._broken, cancel_futures=True)
        self._pool = self._finalizer = None

    def __enter__(self) -> RefinePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
