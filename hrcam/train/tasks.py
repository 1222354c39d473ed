"""What a training task is (:class:`TrainTask`), and what the two tasks share.

:class:`TrainTask` has the hooks the loop calls; the classifier and the expansion tasks share
on-device augmentation, normalisation, loading weights from a checkpoint, and opening the
store's splits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from hrcam.train.config import TrainConfig

__all__ = [
    "TrainTask",
]


# The task constructors start from the run config's defaults (said once, in TrainConfig).
DEFAULTS = TrainConfig.defaults()


class TrainTask:
    """What differs between the two training tasks; subclasses override the hooks.

    Parameters
    ----------
    model
        The module whose weights are trained and checkpointed.

    Attributes
    ----------
    name
        ``"classifier"`` or ``"expansion"`` (stored in checkpoints).
    monitor, monitor_mode
        The validation metric that selects ``best.pt``, and whether higher (``"max"``) or
        lower (``"min"``) is better.
    """

    name: str = "task"
    monitor: str = "val_loss"
    monitor_mode: str = "min"

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    # -- model ------------------------------------------------------------------------------
    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters the optimizer updates."""
        return [p for p in self.model.parameters() if p.requires_grad]

    def set_train_mode(self) -> None:
        """Put the model in training mode (a frozen part may stay in eval mode)."""
        self.model.train()

    def forward_module(self) -> nn.Module:
        """Return the module called as ``module(inputs)`` during training and validation."""
        return self.model

    # -- data -------------------------------------------------------------------------------
    def preprocess(
        self, images: torch.Tensor, train: bool, generator: torch.Generator | None
    ) -> torch.Tensor:
        """uint8 ``(B, 3, H, W)`` on the device -> the float network input."""
        return images.float().div_(255.0)

    # -- objective --------------------------------------------------------------------------
    def loss(self, output: Any, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean training loss of a batch (computed in fp32)."""
        raise NotImplementedError

    def eval_sums(
        self, output: Any, inputs: torch.Tensor, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Per-batch *sums* of validation quantities (``"loss"`` included), as fp64 scalars."""
        raise NotImplementedError

    def summarize(self, sums: dict[str, float], count: int) -> dict[str, float]:
        """Turn summed validation quantities over ``count`` images into ``val_*`` metrics."""
        return {f"val_{k}": v / max(count, 1) for k, v in sums.items()}

    def epoch_metrics(self, epoch: int, last: bool) -> dict[str, float]:
        """Extra per-epoch columns for ``metrics.csv`` after validation (none by default).

        ``epoch`` counts from 1; ``last`` is true for the run's final epoch. Every epoch
        should return the same keys (``nan`` where nothing was measured).
        """
        return {}

    # -- checkpoints ------------------------------------------------------------------------
    def save(self, path: Path, extra: dict[str, Any]) -> None:
        """Write the model and ``extra`` (plain data) to ``path`` atomically."""
        raise NotImplementedError

    def load(self, path: Path) -> dict[str, Any]:
        """Load weights from ``path`` into :attr:`model`; return the checkpoint's ``extra``."""
        raise NotImplementedError


def augment_on_device(images: torch.Tensor, generator: torch.Generator, p: float) -> torch.Tensor:
    """Apply the paper's augmentation (``hrcam.data.augment_batch``) to a uint8 batch.

    It runs on the batch's device and draws only from ``generator`` (so a resume can restore
    it).
    """
    from hrcam.data.augment import augment_batch

    out = augment_batch(images, generator=generator, p=p)
    if isinstance(out, tuple):  # (images, masks) when masks were passed
        out = out[0]
    return out


class ImageTask(TrainTask):
    """Shared preprocessing: (augment on device) -> ImageNet normalisation.

    Parameters
    ----------
    model
        The network the task trains.
    augment, augment_p
        Training-time augmentation switch and per-transform probability.
    metadata
        Checkpoint metadata (class names, input size, ...), passed to ``save_checkpoint``.
    """

    def __init__(
        self,
        model: nn.Module,
        augment: bool = DEFAULTS["augment"],
        augment_p: float = DEFAULTS["augment_p"],
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(model)
        self.augment = augment
        self.augment_p = augment_p
        self.metadata = dict(metadata or {})

    def preprocess(
        self, images: torch.Tensor, train: bool, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Augment (in training, when augmentation is on) and normalise a uint8 batch."""
        from hrcam.models import input_stats, normalize_images

        if train and self.augment and self.augment_p > 0:
            if generator is None:
                raise ValueError("training-time augmentation needs a torch.Generator")
            images = augment_on_device(images, generator, self.augment_p)
        mean, std = input_stats(self.model)  # a wrapped model's own normalisation
        return normalize_images(images, mean=mean, std=std)


def load_into(model: nn.Module, source: nn.Module, what: str, path: Path) -> None:
    """Copy ``source``'s weights into ``model``; a mismatch names the checkpoint ``path``."""
    try:
        model.load_state_dict(source.state_dict())
    except RuntimeError as exc:
        raise ValueError(
            f"{path}: its {what} does not match the model of this run ({exc}); use the "
            "same architecture settings or a new run_dir"
        ) from exc


def open_splits(data_root: str | Path) -> tuple[Any, Any]:
    """``(train, val)`` :class:`~hrcam.data.StoreDataset` s of a store."""
    from hrcam.data import StoreDataset

    return StoreDataset(data_root, "train"), StoreDataset(data_root, "val")
