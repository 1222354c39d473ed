"""Load a trained HRCAM checkpoint together with a split of its data store.

The one loader behind :func:`hrcam.book.load_run` (a run folder's ``expansion/best.pt`` and
``data/``) and :func:`hrcam.evaluate.load_for_evaluation` (any checkpoint and store); each
keeps its own default device and its own checks of what it needs.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["load_trained"]


def load_trained(
    checkpoint: str | os.PathLike,
    data: str | os.PathLike,
    split: str = "val",
    device: str | None = "auto",
    *,
    eval_mode: bool = False,
) -> tuple[Any, Any, dict[str, Any]]:
    """Load the :class:`~hrcam.models.HRCAM` of ``checkpoint`` and the ``split`` of ``data``.

    Parameters
    ----------
    checkpoint
        A checkpoint with a trained expansion network (``kind`` "hrcam").
    data
        A store folder (:class:`~hrcam.data.StoreDataset`).
    split
        The split to open.
    device
        Where the model is loaded: ``"auto"`` (or ``None``), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"``.
    eval_mode
        Put the model in eval mode.

    Returns
    -------
    (model, dataset, metadata)
        The model, the split's ``StoreDataset`` and the checkpoint's metadata.
    """
    from hrcam.data.store import StoreDataset
    from hrcam.models.checkpoint import load_checkpoint
    from hrcam.models.device import resolve_device

    ckpt = load_checkpoint(checkpoint, map_location=resolve_device(device or "auto"))
    model = ckpt.model()
    if eval_mode:
        model = model.eval()
    return model, StoreDataset(data, split=split), ckpt.metadata
