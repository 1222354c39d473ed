"""What a training run returns (:class:`TrainResult`), and how it reads in a log."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "TrainResult",
]


@dataclass
class TrainResult:
    """What a finished (or already complete) run returns.

    Attributes
    ----------
    task
        ``"classifier"`` or ``"expansion"``.
    history
        One dict per epoch: ``epoch``, ``train_loss``, ``lr``, the ``val_*`` metrics,
        ``epoch_time_s``, ``train_img_per_s``, ``global_step``.
    run_dir, best_checkpoint, last_checkpoint, metrics_csv, metrics_json
        Where the outputs are.
    monitor, best_value, best_epoch
        The metric that chose ``best.pt``, its best value and the (1-based) epoch.
    resumed_from
        ``(epoch, batch)`` the run resumed at, or ``None`` for a fresh run.
    wall_time_s
        Time spent in this call.
    device
        The device the run used, as text.
    settings
        The resolved device settings (``amp``, ``channels_last``, ``compile``,
        ``num_workers``) and the ``world_size``.
    """

    task: str
    history: list[dict[str, Any]]
    run_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    metrics_csv: Path
    metrics_json: Path
    monitor: str
    best_value: float | None
    best_epoch: int | None
    resumed_from: tuple[int, int] | None = None
    wall_time_s: float = 0.0
    device: str = "cpu"
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> dict[str, Any]:
        """The last epoch's metrics (empty if no epoch ran)."""
        return self.history[-1] if self.history else {}

    def summary(self) -> str:
        """Describe the run in a few lines for the end of a CLI run or a notebook cell."""
        lines = [f"{self.task} training on {self.device}: {len(self.history)} epoch(s)"]
        if self.resumed_from is not None and self.resumed_from == (len(self.history), 0):
            lines[0] += ", already complete (nothing to train)"
        elif self.resumed_from is not None:
            lines[0] += (
                f", resumed at epoch {self.resumed_from[0] + 1} batch {self.resumed_from[1]}"
            )
        lines[0] += f", {_format_seconds(self.wall_time_s)} in this call"
        if self.history:
            shown = {
                k: v
                for k, v in self.final.items()
                if k.startswith(("val_", "train_loss", "lr")) and isinstance(v, (int, float))
            }
            lines.append(
                "  final: " + ", ".join(f"{k}={_format_number(v)}" for k, v in shown.items())
            )
        if self.best_value is not None:
            lines.append(
                f"  best {self.monitor}={_format_number(self.best_value)} at epoch "
                f"{self.best_epoch}: {_shown(self.best_checkpoint)}"
            )
        lines.append(f"  last checkpoint: {_shown(self.last_checkpoint)}")
        lines.append(f"  metrics: {_shown(self.metrics_csv)}, {_shown(self.metrics_json)}")
        return "\n".join(lines)


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it lies inside it, else as given.

    A notebook runs in its run folder, so its printed summary names ``classifier/best.pt``
    rather than the absolute path, which is the file system of the machine that built the book.
    """
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except (ValueError, OSError):
        return str(path)


def _format_number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def _format_seconds(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{seconds:.1f}s"


def epoch_line(row: dict[str, Any], epochs: int) -> str:
    """One log line for a finished epoch: ``epoch 2/8  train_loss=0.91  val_loss=...``."""
    parts = [f"epoch {row['epoch']}/{epochs}"]
    for key, value in row.items():
        if key in ("epoch", "global_step"):
            continue
        parts.append(f"{key}={_format_number(value)}")
    return "  ".join(parts)
