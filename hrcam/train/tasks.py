"""What the classifier and the expansion tasks share: on-device augmentation, normalisation,
loading weights from a checkpoint, and opening the store's splits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from hrcam.train.engine import TrainTask


def augment_on_device(images: torch.Tensor, generator: torch.Generator, p: float) -> torch.Tensor:
    """The paper's augmentation (``hrcam.data.augment_batch``) on a uint8 batch, on the
    batch's device, drawing only from ``generator`` (so a resume can restore it)."""
    from hrcam.data import augment_batch

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
        augment: bool = True,
        augment_p: float = 0.5,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(model)
        self.augment = augment
        self.augment_p = augment_p
        self.metadata = dict(metadata or {})

    def preprocess(
        self, images: torch.Tensor, train: bool, generator: torch.Generator | None
    ) -> torch.Tensor:
        from hrcam.models import input_stats, normalize_images

        if train and self.augment and self.augment_p > 0:
            if generator is None:
                raise ValueError("training-time augmentation needs a torch.Generator")
            images = augment_on_device(images, generator, self.augment_p)
        mean, std = input_stats(self.model)  # a wrapped model's own normalisation
        return normalize_images(images, mean=mean, std=std)


def load_into(model: nn.Module, source: nn.Module, what: str, path: Path) -> None:
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
