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
forked (on Linux), so they work from any script, even one without an
``if __name__ == "__main__"`` guard, which ``spawn`` would re-run in every worker. They touch
neither torch nor BLAS, and ITK's thread pool (SimpleITK) has fork handlers; each worker runs
SimpleITK on one thread, since the pool already uses every core.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import weakref
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from hrcam.postprocess import RefineConfig, RefineResult

__all__ = ["RefinePool", "available_cores", "worker_pool"]

_PR_SET_PDEATHSIG = 1


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _die_with_parent(parent: int | None) -> None:
    """Pool initializer: be killed when the parent exits (Linux), or exit if it already has."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: fall back to the check below only
    if parent is not None and os.getppid() != parent:  # died before prctl took effect
        os._exit(1)


def worker_pool(max_workers: int, context: str | None = None) -> ProcessPoolExecutor:
    """A process pool whose workers die with this process, even on SIGKILL.

    Parameters
    ----------
    max_workers
        Worker processes.
    context
        A ``multiprocessing`` start method; default the platform's (``fork`` on Linux).
        Under ``forkserver`` the workers' parent is the fork server, which itself exits when
        this process dies.
    """
    ctx = multiprocessing.get_context(context)
    forked = ctx.get_start_method() == "fork"
    return ProcessPoolExecutor(
        max_workers=max_workers,
        mp_context=ctx,
        initializer=_die_with_parent,
        initargs=(os.getpid() if forked else None,),
    )


def _refine_worker_init(parent: int | None) -> None:
    _die_with_parent(parent)
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)  # one core per worker


def _refine_chunk(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], config: RefineConfig
) -> list[RefineResult]:
    from hrcam.postprocess import refine

    return [refine(low, high, config=config) for low, high in pairs]


def resolve_workers(workers: int | None) -> int:
    """``None`` -> :func:`available_cores`; otherwise a positive integer, checked."""
    if workers is None:
        return available_cores()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer or None, got {workers!r}")
    return workers


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

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            methods = multiprocessing.get_all_start_methods()
            method = "fork" if "fork" in methods else "spawn"
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context(method),
                initializer=_refine_worker_init,
                initargs=(os.getpid() if method == "fork" else None,),
            )
            self._finalizer = weakref.finalize(self, self._pool.shutdown, wait=False)
        return self._pool

    def submit(
        self, lows: Sequence[np.ndarray], highs: Sequence[np.ndarray], config: RefineConfig
    ) -> list[Future[list[RefineResult]]] | list[RefineResult]:
        """Start refining; :meth:`gather` the return value for the results.

        Lets the caller overlap post-processing of one batch with the networks on the next.
        """
        pairs = list(zip(lows, highs, strict=True))
        if self.workers == 1 or len(pairs) < 2:
            return _refine_chunk(pairs, config)
        n = min(self.workers, len(pairs))
        bounds = [round(i * len(pairs) / n) for i in range(n + 1)]
        pool = self._executor()
        return [pool.submit(_refine_chunk, pairs[a:b], config) for a, b in pairwise(bounds)]

    @staticmethod
    def gather(pending: list[Any]) -> list[RefineResult]:
        """The results of :meth:`submit`, in input order."""
        if not pending or not isinstance(pending[0], Future):
            return list(pending)
        return [r for future in pending for r in future.result()]

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
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = self._finalizer = None

    def __enter__(self) -> RefinePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
