"""The training state in ``last.pt`` and ``best.pt``: what is saved and how it is read back.

Also the checks that refuse a resume that would not continue the same run.

The files themselves are written atomically and read with ``weights_only=True`` by the task
(:meth:`~hrcam.train.tasks.TrainTask.save` / ``load``, through
:func:`hrcam.models.save_checkpoint`); this module decides their ``extra`` payload. The payload
is plain data (tensors, lists, numbers, strings), so a checkpoint never runs pickled code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hrcam.train.config import TrainConfig, option_name
from hrcam.train.distributed import DistInfo, all_gather_objects, barrier
from hrcam.train.rng import capture_rng_state, restore_rng_state
from hrcam.train.tasks import TrainTask

#: ``extra["format"]`` of a resumable ``last.pt``.
STATE_FORMAT = "hrcam-train-state/1"
#: ``extra["format"]`` of ``best.pt`` (weights and the epoch's metrics, not resumable).
BEST_FORMAT = "hrcam-best/1"
#: What a fresh run (``resume=False``) deletes from its folder first, so no stale file survives.
RUN_FILES = ("last.pt", "best.pt", "metrics.csv", "metrics.json")

# Config fields that change the training trajectory or its inputs: a resume with other values
# would not continue the same run (the optimizer state would even keep the old lr), so it is
# refused, naming the option. (``epochs`` may grow: that extends a run.)
_RESUME_MUST_MATCH = (
    "task",
    "data_root",
    "classifier_checkpoint",
    "pretrained",
    "arch",
    "k",
    "batch_size",
    "seed",
    "optimizer",
    "lr",
    "weight_decay",
    "scheduler",
    "plateau_factor",
    "plateau_patience",
    "min_lr",
    "augment",
    "augment_p",
    "max_train_batches",
    "max_val_batches",
    "consistency_weight",
    "growth_rate",
    "layers_per_block",
)
_PATH_FIELDS = ("data_root", "classifier_checkpoint", "pretrained")


@dataclass
class LoopState:
    """Mutable bookkeeping of the loop.

    Everything that goes into ``last.pt`` besides the model, optimizer, scheduler and RNGs.
    """

    epoch: int = 0  # 0-based epoch in progress (or the next one, when batch == 0)
    batch: int = 0  # optimizer steps already taken in this epoch
    global_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_value: float | None = None
    best_epoch: int | None = None
    loss_sum: float = 0.0  # training loss summed over this epoch's images so far
    seen: int = 0  # training images of this epoch so far
    epoch_time: float = 0.0  # seconds spent on this epoch before an interruption

    def next_epoch(self) -> None:
        """Move on to the next epoch's first step."""
        self.epoch += 1
        self.batch = 0
        self.loss_sum = 0.0
        self.seen = 0
        self.epoch_time = 0.0

    @classmethod
    def from_checkpoint(cls, extra: dict[str, Any], rank: int) -> LoopState:
        """Read the state saved in a ``last.pt`` payload, as rank ``rank`` left it."""
        per_rank = extra["per_rank"][rank]
        return cls(
            epoch=int(extra["epoch"]),
            batch=int(extra["batch"]),
            global_step=int(extra["global_step"]),
            history=list(extra["history"]),
            best_value=extra["best_value"],
            best_epoch=extra["best_epoch"],
            loss_sum=float(per_rank["loss_sum"]),
            seen=int(per_rank["seen"]),
            epoch_time=float(extra.get("epoch_time", 0.0)),
        )


def clear_run_files(run_dir: Path) -> None:
    """Delete a run folder's checkpoints and metrics (a fresh run in an old folder)."""
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)


def save_state(
    task: TrainTask,
    path: Path,
    *,
    config: TrainConfig,
    info: DistInfo,
    state: LoopState,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    generators: dict[str, torch.Generator],
) -> None:
    """Write the full training state to ``path`` (``last.pt``).

    Collective: every rank contributes its RNG states and partial loss sums, rank 0 writes,
    and all ranks wait for the file.
    """
    per_rank = all_gather_objects(
        {"rng": capture_rng_state(generators), "loss_sum": state.loss_sum, "seen": state.seen},
        info,
    )
    if info.is_main:
        task.save(
            path,
            {
                "format": STATE_FORMAT,
                "task": task.name,
                "config": config.to_dict(),
                "world_size": info.world_size,
                "epoch": state.epoch,
                "batch": state.batch,
                "global_step": state.global_step,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "per_rank": per_rank,
                "history": state.history,
                "best_value": state.best_value,
                "best_epoch": state.best_epoch,
                "epoch_time": state.epoch_time,
            },
        )
    barrier(info)


def save_best(task: TrainTask, path: Path, config: TrainConfig, row: dict[str, Any]) -> None:
    """Write ``best.pt``: the weights after the epoch whose metrics are ``row``."""
    task.save(
        path,
        {
            "format": BEST_FORMAT,
            "task": task.name,
            "config": config.to_dict(),
            "epoch": row["epoch"],
            "metrics": row,
        },
    )


def load_state(task: TrainTask, path: Path, config: TrainConfig, world_size: int) -> dict[str, Any]:
    """Load ``last.pt`` into ``task.model`` and return its payload.

    Only after checking that it is a training state this run may continue
    (:func:`check_resume`). A changed network shape (``--growth-rate``) already fails in the
    weight load; the saved settings are then checked first, so that the error names it.
    """
    try:
        extra = task.load(path)
    except ValueError:
        saved = _saved_extra(path)
        # Only a state of the same task: another task's checkpoint has its own, clearer error.
        if (
            saved is not None
            and saved.get("format") == STATE_FORMAT
            and saved.get("config", {}).get("task") == config.task
        ):
            check_resume(saved, config, world_size)
        raise
    if extra.get("format") != STATE_FORMAT:
        raise ValueError(
            f"{path} is not a resumable training state (format "
            f"{extra.get('format')!r}, expected {STATE_FORMAT!r})"
        )
    check_resume(extra, config, world_size)
    return extra


def _saved_extra(path: Path) -> dict[str, Any] | None:
    """Return an hrcam checkpoint's ``extra`` payload without loading weights, else ``None``."""
    from hrcam.models.checkpoint import read_extra

    try:
        return read_extra(path)
    except (OSError, ValueError):
        return None


def restore_loop_state(
    extra: dict[str, Any],
    rank: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    generators: dict[str, torch.Generator],
) -> LoopState:
    """Put the optimizer, the scheduler and every RNG back as ``last.pt`` saved them.

    The loop's bookkeeping is returned.
    """
    optimizer.load_state_dict(extra["optimizer"])
    if scheduler is not None and extra.get("scheduler") is not None:
        scheduler.load_state_dict(extra["scheduler"])
    restore_rng_state(extra["per_rank"][rank]["rng"], generators)
    return LoopState.from_checkpoint(extra, rank)


def _same_setting(key: str, old: Any, new: Any) -> bool:
    if key in _PATH_FIELDS and old is not None and new is not None:
        # The same file, however it is spelled (relative, absolute, through a symlink).
        return os.path.realpath(str(old)) == os.path.realpath(str(new))
    return old == new


def check_resume(saved: dict[str, Any], config: TrainConfig, world_size: int) -> None:
    """Refuse to continue a saved state with a config that would not continue the same run.

    Raises
    ------
    ValueError
        Naming the changed options (``--lr``, ``--data``, ...), too few ``epochs``, or another
        number of processes, and what to do instead.
    """
    saved_config = saved.get("config", {})
    current = config.to_dict()
    changed = [
        key
        for key in _RESUME_MUST_MATCH
        if key in saved_config and not _same_setting(key, saved_config[key], current[key])
    ]
    if changed:
        what = "; ".join(
            f"{k}={saved_config[k]!r} then, {k}={current[k]!r} now ({option_name(k)})"
            for k in changed
        )
        raise ValueError(
            f"cannot resume {config.run_dir}: this run changes what it was trained with: {what}. "
            "Use the same values to continue it, a new run folder (--run-dir), or --no-resume "
            "to start afresh"
        )
    done = int(saved.get("epoch", 0))
    if config.epochs < done or (config.epochs == done and int(saved.get("batch", 0)) > 0):
        raise ValueError(
            f"cannot resume {config.run_dir}: it has already trained {done} epoch(s) and "
            f"--epochs is {config.epochs}; give --epochs {done} or more to continue it (the "
            "finished checkpoints stay as they are), or use a new run folder"
        )
    if saved.get("world_size", 1) != world_size:
        raise ValueError(
            f"cannot resume: the checkpoint was written by {saved.get('world_size')} process(es) "
            f"and this run has {world_size}; the data order would differ. Use the same "
            "number of processes or a new run_dir"
        )
