"""Top-k accuracy of a classifier on a store, optionally over a subset of its classes.

A real ImageNet classifier has 1000 classes; the cut-out and ImageNet-animal stores label
images with the paper's 398 animal classes (indices 0–397, the same as ImageNet's). Restricting
the logits to those classes (``num_classes=398``) scores the classifier as the paper's task
would: which of the 398 animals is this.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["topk_accuracy"]


def topk_accuracy(
    model: Any,
    dataset: Any,
    ks: tuple[int, ...] = (1, 5),
    num_classes: int | None = None,
    limit: int | None = None,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Return top-k accuracy and the top-1 predictions of ``model`` on ``dataset``.

    Parameters
    ----------
    model
        An hrcam classifier or HRCAM model (``forward_features(x).logits``), in eval mode; its
        own input normalisation is applied.
    dataset
        A :class:`~hrcam.data.store.StoreDataset` (``get_batch``).
    ks
        The k of each accuracy.
    num_classes
        Score only the first ``num_classes`` logits (e.g. 398 for the ImageNet animals).
    limit
        The first ``limit`` images (default: all).
    batch_size
        Images per forward pass.

    Returns
    -------
    dict
        ``{"top1": float, "top5": float, ..., "n": int, "predicted": ndarray, "labels": ndarray}``.
    """
    import torch

    from hrcam.models import input_stats, normalize_images

    n = len(dataset) if limit is None else min(int(limit), len(dataset))
    mean, std = input_stats(model)
    device = next(model.parameters()).device
    hits = {k: 0 for k in ks}
    predicted, labels = [], []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            batch = dataset.get_batch(np.arange(start, min(start + batch_size, n)))
            x = normalize_images(batch["image"].to(device), mean=mean, std=std)
            logits = model.forward_features(x).logits.float()
            logits = logits[:, :num_classes] if num_classes else logits
            top = logits.topk(max(ks), dim=1).indices.cpu()
            y = batch["label"]
            for k in ks:
                hits[k] += int((top[:, :k] == y[:, None]).any(dim=1).sum())
            predicted.append(top[:, 0].numpy())
            labels.append(y.numpy())
    out: dict[str, Any] = {f"top{k}": hits[k] / max(n, 1) for k in ks}
    out |= {"n": n, "predicted": np.concatenate(predicted), "labels": np.concatenate(labels)}
    return out
