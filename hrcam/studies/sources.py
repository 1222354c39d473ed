"""The high-res maps the post-processing can be fed, and more held-out images.

The sources (:data:`SOURCES`) are the expansion network's high-res CAM, the image's
luminance, uniform noise, and an oracle made from the ground-truth mask (:func:`oracle_map`).

The oracle bounds what post-processing can reach with a near-perfect high-res map; noise
bounds it from below. :func:`hrcam.studies.refine_study` runs the post-processing on them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hrcam.methods.camset import CamSet


__all__ = [
    "SOURCES",
    "SOURCE_LABELS",
    "extra_heldout",
    "high_res_source",
    "oracle_map",
]


SOURCES: tuple[str, ...] = ("expansion", "image", "noise", "oracle")
"""High-res maps the post-processing can be fed (see :func:`high_res_source`)."""

SOURCE_LABELS: dict[str, str] = {
    "expansion": "expansion network (high-res CAM)",
    "image": "image luminance",
    "noise": "uniform noise",
    "oracle": "oracle (blurred mask + noise)",
}

_SOURCE_CODES = {name: i for i, name in enumerate(SOURCES)}


def oracle_map(
    mask: np.ndarray,
    rng: np.random.Generator,
    smoothness: float = 1.0,
    noise: float = 0.3,
) -> np.ndarray:
    """Make a high-res map from the ground truth: ``(1 - noise) * blur(mask) + noise * U(0, 1)``.

    Parameters
    ----------
    mask
        ``(H, W)`` object mask.
    rng
        Source of the noise.
    smoothness
        Sigma in pixels of the Gaussian blur of the mask (0: the sharp mask).
    noise
        Share of uniform noise in [0, 1] (0: the blurred mask itself; 1: pure noise).

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` float32 in [0, 1].
    """
    from scipy.ndimage import gaussian_filter

    if not (isinstance(smoothness, int | float) and smoothness >= 0):
        raise ValueError(f"oracle smoothness must be a number >= 0, got {smoothness!r}")
    if not (isinstance(noise, int | float) and 0.0 <= noise <= 1.0):
        raise ValueError(f"oracle noise must be a number in [0, 1], got {noise!r}")
    m = np.asarray(mask, dtype=np.float32)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {m.shape}")
    if smoothness > 0:
        m = gaussian_filter(m, sigma=float(smoothness), mode="nearest")
    out = (1.0 - noise) * m + noise * rng.random(m.shape, dtype=np.float32)
    return out.astype(np.float32)


def high_res_source(
    source: str,
    cams: CamSet,
    i: int,
    seed: int = 0,
    oracle_smoothness: float = 1.0,
    oracle_noise: float = 0.3,
) -> np.ndarray:
    """Return the high-res map of image ``i`` of ``cams`` taken from ``source``.

    Parameters
    ----------
    source
        One of :data:`SOURCES`: ``"expansion"`` (the expansion network's high-res CAM),
        ``"image"`` (the image's luminance, Rec. 601 weights), ``"noise"`` (uniform noise) or
        ``"oracle"`` (:func:`oracle_map` of the ground-truth mask), or a key of
        ``cams.extra_high_res``.
    cams
        The images, masks and CAMs.
    i
        Position in ``cams``.
    seed
        Seed of the noise; with the dataset index and the source it fixes the draw.
    oracle_smoothness, oracle_noise
        See :func:`oracle_map`.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` float32.
    """
    if source in cams.extra_high_res:
        return cams.extra_high_res[source][i]
    if source not in _SOURCE_CODES:
        raise ValueError(f"unknown high-res source {source!r}; choose from {list(SOURCES)}")
    if source == "expansion":
        return cams.high_res[i]
    if source == "image":
        rgb = cams.images[i].astype(np.float32) / 255.0
        return (rgb @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.float32)
    rng = np.random.default_rng([int(seed), int(cams.index[i]), _SOURCE_CODES[source]])
    if source == "noise":
        return rng.random(cams.masks[i].shape, dtype=np.float32)
    return oracle_map(cams.masks[i], rng, oracle_smoothness, oracle_noise)


def extra_heldout(
    store: str | os.PathLike, out_dir: str | os.PathLike, count: int, seed_offset: int = 7919
) -> Any:
    """More held-out images from the generator of a synthetic store, for the §5 subsets.

    The low-res CAM rarely misses on the synthetic set, so the subset where it does is small.
    Images are cheap to make: this renders ``count`` new validation images with the store's
    own settings (classes, size, variant) and seed ``seed + seed_offset``, which the classifier
    never saw.

    Returns
    -------
    StoreDataset or None
        The new ``val`` split, or ``None`` when ``store`` is not a synthetic store (real data
        cannot be extended).
    """
    from hrcam.data.store import StoreDataset, open_store
    from hrcam.data.synthetic import generate_synthetic

    info = open_store(store)
    src = info.source
    if src.get("dataset") != "synthetic-beetles" or count < 1:
        return None
    generate_synthetic(
        out_dir,
        num_train=0,
        num_val=int(count),
        image_size=info.image_size,
        seed=int(src.get("seed", 0)) + int(seed_offset),
        num_classes=int(src["num_classes"]),
        shard_size=int(src.get("shard_size", 1024)),
        num_workers=0,
        variant=src.get("variant", "default"),
    )
    return StoreDataset(out_dir, "val")
