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

__all__ = [
    "KILL_ENV",
    "Callback",
    "KillAfterStep",
    "SnapshotAt",
    "callbacks_from_env",
    "doubling_steps",
]

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


def doubling_steps(first: int, points: int) -> list[int]:
    """``points`` optimizer steps, each twice the one before: ``first, 2 first, 4 first...``.

    A learning curve's x axis: with a fixed batch size, images seen double from point to point.
    """
    if first < 1 or points < 1:
        raise ValueError(f"first and points must be positive, got {first!r}, {points!r}")
    return [first * 2**i for i in range(points)]


class SnapshotAt(Callback):
    """Save the task's model as a checkpoint right after each of the given optimizer steps.

    Each goes to ``folder/step_NNNNNN.pt`` (the task's own checkpoint format, with
    ``images_seen`` and ``step`` in its extra payload), written atomically; a step whose file
    already exists (a resumed run) is not written again. A learning curve evaluates them.

    Parameters
    ----------
    steps
        Global optimizer steps (1-based) after which to save.
    folder
        Where the snapshots go (created).
    batch_size
        Images per step, to record images seen.
    """

    def __init__(self, steps: list[int], folder: str | os.PathLike, batch_size: int) -> None:
        from pathlib import Path

        self.steps = sorted({int(s) for s in steps})
        self.folder = Path(folder)
        self.batch_size = int(batch_size)

    def path(self, step: int) -> Any:
        """Where the snapshot of ``step`` is written."""
        return self.folder / f"step_{step:06d}.pt"

    def on_step_end(self, loop: FitLoop) -> None:
        """Save a snapshot when this step is one of :attr:`steps`."""
        step = loop.state.global_step
        if step not in self.steps or self.path(step).exists():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        loop.task.save(self.path(step), {"images_seen": step * self.batch_size, "step": step})


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
