"""The low-res and high-res CAMs of a data set, computed once: :class:`CamSet`.

:func:`compute_cams` runs the classifier and the expansion network over a store with masks;
the evaluation's localization (:mod:`hrcam.evaluate.localization`) and the studies
(:mod:`hrcam.studies`) post-process and score what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hrcam.models import HRCAM


__all__ = [
    "CamSet",
    "compute_cams",
    "concat_cams",
]


@dataclass
class CamSet:
    """Everything the post-processing needs for a set of images, computed once.

    Attributes
    ----------
    index
        ``(N,)`` dataset indices.
    images
        ``(N, H, W, 3)`` uint8.
    masks
        ``(N, H, W)`` bool ground-truth object masks.
    boxes
        ``(N, 4)`` object boxes (x0, y0, x1, y1, end-exclusive).
    labels, targets
        ``(N,)`` true class and explained class (the prediction by default).
    low_res
        ``(N, h, w)`` float32 low-res CAMs of ``targets``.
    high_res
        ``(N, H, W)`` float32 high-res CAMs of ``targets`` (expansion network).
    extra_high_res
        Further ``(N, H, W)`` high-res maps by source name, usable as sources of
        :func:`refine_study` beside :data:`SOURCES` (e.g. another expansion network on the same
        classifier; see :func:`hrcam.studies.evaluate_sources`).
    """

    index: np.ndarray
    images: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    targets: np.ndarray
    low_res: np.ndarray
    high_res: np.ndarray
    extra_high_res: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.index.size)

    @property
    def accuracy(self) -> float:
        """Share of images whose explained class is the true one."""
        return float(np.mean(self.labels == self.targets)) if len(self) else float("nan")


def compute_cams(
    model: HRCAM,
    dataset: Any,
    limit: int | None = None,
    batch_size: int = 32,
    target: str = "predicted",
    progress: bool = False,
    channels_last: bool = False,
) -> CamSet:
    """Low-res and high-res CAMs of the first ``limit`` images of a store with masks.

    Parameters
    ----------
    model
        A trained :class:`~hrcam.models.HRCAM`, on any device.
    dataset
        A :class:`~hrcam.data.store.StoreDataset` with masks.
    limit
        Number of images (default: all).
    batch_size
        Images per forward pass.
    target
        ``"predicted"`` (the class a user sees explained) or ``"label"``.
    progress
        Show a tqdm bar.
    channels_last
        Convert the model (in place) to channels-last memory format first, as
        :class:`~hrcam.explain.Explainer` does: the convolutions then sum in the Explainer's
        order, so the CAMs equal the Explainer's bit for bit (they differ by float rounding,
        ~1e-7, otherwise).

    Returns
    -------
    CamSet
    """
    import torch
    from tqdm import tqdm

    from hrcam.models import high_res_cam, input_stats, low_res_cam, normalize_images

    if target not in ("predicted", "label"):
        raise ValueError(f"target must be 'predicted' or 'label', got {target!r}")
    if not getattr(dataset, "has_masks", False):
        raise ValueError("the dataset has no ground-truth masks; localization cannot be measured")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    n = len(dataset) if limit is None else min(int(limit), len(dataset))
    if n < 1:
        raise ValueError("nothing to evaluate: the dataset is empty or limit < 1")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model = model.eval()
    device = next(model.parameters()).device
    # A wrapped classifier's high-res CAM uses the FC weights fused with the expansion
    # network's CAM basis, and its input its own normalisation (see HRCAM.high_res_weight).
    fc, fc_high = model.classifier.fc.weight, model.high_res_weight
    mean, std = input_stats(model)
    keys = ("index", "images", "masks", "boxes", "labels", "targets", "low", "high")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for start in tqdm(range(0, n, batch_size), desc="CAMs", disable=not progress):
        batch = dataset.get_batch(np.arange(start, min(n, start + batch_size)))
        x = normalize_images(batch["image"].to(device).float() / 255.0, mean=mean, std=std)
        with torch.no_grad():
            out = model(x)
            pred = out.logits.argmax(dim=1)
            cls = pred if target == "predicted" else batch["label"].to(device).long()
            low = low_res_cam(out.cam_features, fc, cls)
            high = high_res_cam(out.hr_features, fc_high, cls)
        parts["index"].append(batch["index"].numpy())
        parts["images"].append(batch["image"].permute(0, 2, 3, 1).numpy())
        parts["masks"].append(batch["mask"].numpy().astype(bool))
        parts["boxes"].append(batch["box"].numpy())
        parts["labels"].append(batch["label"].numpy())
        parts["targets"].append(cls.cpu().numpy())
        parts["low"].append(low.float().cpu().numpy())
        parts["high"].append(high.float().cpu().numpy())
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    return CamSet(
        index=cat["index"].astype(np.int64),
        images=cat["images"],
        masks=cat["masks"],
        boxes=cat["boxes"],
        labels=cat["labels"].astype(np.int64),
        targets=cat["targets"].astype(np.int64),
        low_res=cat["low"],
        high_res=cat["high"],
    )


def concat_cams(a: CamSet, b: CamSet, offset: int = 0) -> CamSet:
    """Concatenate two :class:`CamSet` s; ``b``'s indices are shifted by ``offset``.

    The shift keeps the indices unique when ``b`` comes from another store. Both must hold
    the same :attr:`CamSet.extra_high_res` sources, which are concatenated too.

    Raises
    ------
    ValueError
        When ``a`` and ``b`` hold other extra high-res sources.
    """
    if a.extra_high_res.keys() != b.extra_high_res.keys():
        raise ValueError(
            f"cannot concatenate CamSets with other extra high-res sources: "
            f"{sorted(a.extra_high_res)} and {sorted(b.extra_high_res)}"
        )
    return CamSet(
        index=np.concatenate([a.index, b.index + int(offset)]),
        **{
            k: np.concatenate([getattr(a, k), getattr(b, k)])
            for k in ("images", "masks", "boxes", "labels", "targets", "low_res", "high_res")
        },
        extra_high_res={
            k: np.concatenate([v, b.extra_high_res[k]]) for k, v in a.extra_high_res.items()
        },
    )
