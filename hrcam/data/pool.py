"""Worker processes for the dataset builders that never outlive their parent.

``ProcessPoolExecutor`` workers block on a queue lock when the parent is killed with SIGKILL
(no cleanup runs), and stay behind forever. On Linux each worker asks the kernel for a SIGKILL
when its parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere, and as a second line, it
checks that the parent is still the one that started it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

__all__ = ["worker_pool"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Pool initializer: be killed when ``parent`` exits (Linux), or exit if it already has."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # no prctl: fall back to the check below only
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def worker_pool(max_workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers die with this process, even on SIGKILL."""
    return ProcessPoolExecutor(
        max_workers=max_workers, initializer=_die_with_parent, initargs=(os.getpid(),)
    )
