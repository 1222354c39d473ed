"""Hooks into the training loop, in the style of Lightning's callbacks.

A :class:`Callback` is told when an optimizer step and when an epoch have ended, and sees the
loop (its ``state``, ``config`` and ``task``); it must not change them. ``fit(...,
callbacks=[...])`` installs them; the loop itself knows none by name.

:class:`KillAfterStep` is the test suite's one: it ends the process with SIGKILL right after a
given step, to prove that a run killed in the middle of an epoch resumes bit-exactly. The
command line installs it from the ``HRCAM_TEST_KILL_AFTER_STEP`` environment variable
(:func:`callbacks_from_env`), so that a test can kill a real ``hrcam train`` process.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hrcam.train.loop import FitLoop

__all__ = ["KILL_ENV", "Callback", "KillAfterStep", "callbacks_from_env"]

#: Test-only: SIGKILL the training process right after the given optimizer step (1-based,
#: counted over the whole run). Never set it outside tests.
KILL_ENV = "HRCAM_TEST_KILL_AFTER_STEP"


class Callback:
    """Base class: override the hooks you need (each does nothing by default)."""

    def on_step_end(self, loop: FitLoop) -> None:
        """Handle the end of an optimizer step, after its bookkeeping.

        ``loop.state.global_step`` counts the step, and a ``checkpoint_every`` checkpoint of
        this step is already written.
        """

    def on_epoch_end(self, loop: FitLoop, row: dict[str, Any]) -> None:
        """Handle an epoch's end, after its validation, ``metrics.csv`` row and checkpoints.

        ``row`` is that epoch's metrics.
        """


def _sigkill() -> None:
    # SIGKILL, not an exception: nothing (no finally, no atexit) gets a chance to tidy up,
    # exactly as when the machine or the scheduler kills a run.
    os.kill(os.getpid(), signal.SIGKILL)


class KillAfterStep(Callback):
    """Interrupt training right after optimizer step ``step`` (1-based, over the whole run).

    Parameters
    ----------
    step
        The global step after which to stop.
    action
        What stopping does (default: SIGKILL this process). An in-process test passes one
        that raises, to interrupt ``fit`` without ending the test's process.
    """

    def __init__(self, step: int, action: Callable[[], None] | None = None) -> None:
        if isinstance(step, bool) or not isinstance(step, int) or step < 1:
            raise ValueError(f"step must be a positive integer, got {step!r}")
        self.step = step
        self.action = action or _sigkill

    def on_step_end(self, loop: FitLoop) -> None:
        """Run :attr:`action` right after step :attr:`step`."""
        if loop.state.global_step == self.step:
            self.action()


def callbacks_from_env(environ: Mapping[str, str] | None = None) -> list[Callback]:
    """Return the callbacks that the environment asks for.

    A :class:`KillAfterStep` when ``HRCAM_TEST_KILL_AFTER_STEP`` is set, else none.

    Parameters
    ----------
    environ
        The environment to read (default: ``os.environ``).
    """
    raw = (os.environ if environ is None else environ).get(KILL_ENV)
    if not raw:
        return []
    try:
        step = int(raw)
    except ValueError as exc:
        raise ValueError(f"{KILL_ENV} must be an integer step, got {raw!r}") from exc
    return [KillAfterStep(step)]
