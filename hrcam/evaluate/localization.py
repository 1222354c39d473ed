"""Localization of the four maps of one model on held-out images, as training logs it.

Expansion training calls :func:`localization_summary` every ``eval_every`` epochs
(:mod:`hrcam.train.expansion`); its ``loc_*`` columns (:func:`localization_columns`) are what
the plots of :mod:`hrcam.plotting` read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.methods.camset import compute_cams

if TYPE_CHECKING:
    from hrcam.models import HRCAM


__all__ = [
    "LOCALIZATION_MAPS",
    "localization_columns",
    "localization_summary",
]


LOCALIZATION_MAPS: tuple[str, ...] = ("low_res", "high_res", "refined_paper", "refined_reference")
"""Maps whose localization :func:`localization_summary` records."""


def localization_columns() -> list[str]:
    """Column names :func:`localization_summary` returns, in order (``loc_*``)."""
    cols = []
    for name in LOCALIZATION_MAPS:
        cols += [f"loc_{name}_pxap", f"loc_{name}_mask_iou"]
        if name.startswith("refined"):
            cols.append(f"loc_{name}_fallback")
    return cols


def localization_summary(
    model: HRCAM, dataset: Any, limit: int | None = 64, batch_size: int = 32
) -> dict[str, float]:
    """Localization of the low-res, high-res and both refined CAMs on held-out images.

    For each map: the mean per-image PxAP and the mask IoU at the best threshold shared by
    all images (as :func:`hrcam.evaluate.evaluate` reports them); for the refined maps also
    the share of images where region growing failed and the map fell back to the low-res CAM.
    Expansion training calls it every ``eval_every`` epochs.

    Parameters
    ----------
    model
        The :class:`~hrcam.models.HRCAM` being trained (left in eval mode).
    dataset
        A split with masks.
    limit
        First this many images.
    batch_size
        Images per forward pass.

    Returns
    -------
    dict
        ``{column: value}`` for :func:`localization_columns`.
    """
    from hrcam.evaluate.scoring import mask_scores
    from hrcam.metrics import DEFAULT_THRESHOLDS, pxap_from_counts
    from hrcam.postprocess import refine
    from hrcam.postprocess.steps import resize_bilinear

    cams = compute_cams(model, dataset, limit, batch_size)
    grid = DEFAULT_THRESHOLDS
    counts: dict[str, list] = {m: [] for m in LOCALIZATION_MAPS}
    ious: dict[str, list[np.ndarray]] = {m: [] for m in LOCALIZATION_MAPS}
    fallback: dict[str, list[bool]] = {"refined_paper": [], "refined_reference": []}
    size = cams.masks.shape[1:]
    for i in range(len(cams)):
        maps = {
            "low_res": resize_bilinear(cams.low_res[i], size),
            "high_res": cams.high_res[i],
        }
        for preset in ("paper", "reference"):
            res = refine(cams.low_res[i], cams.high_res[i], preset)
            maps[f"refined_{preset}"] = res.refined
            fallback[f"refined_{preset}"].append(bool(res.used_fallback))
        for name, cam in maps.items():
            _, iou, c = mask_scores(cam, cams.masks[i], grid)
            counts[name].append(c)
            ious[name].append(iou)
    out: dict[str, float] = {}
    for name in LOCALIZATION_MAPS:
        # Data-set PxAP (Choe et al. 2020): pixel counts summed over the images.
        out[f"loc_{name}_pxap"] = pxap_from_counts(
            sum(c.tp for c in counts[name]),
            sum(c.fp for c in counts[name]),
            sum(c.num_pos for c in counts[name]),
        )
        out[f"loc_{name}_mask_iou"] = float(np.mean(ious[name], axis=0).max())
        if name in fallback:
            out[f"loc_{name}_fallback"] = float(np.mean(fallback[name]))
    return out
