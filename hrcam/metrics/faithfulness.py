"""Faithfulness of a saliency map to the model: whether the model relies on what it shows.

* **Average drop / increase in confidence** (Chattopadhay et al., WACV 2018, "Grad-CAM++"):
  the image is multiplied by its map and the target-class probability is compared to the
  unmasked one: ``drop = max(0, Y - O) / Y`` and ``increase = [O > Y]``. This is the quantity
  grad-cam computes with ``pytorch_grad_cam.metrics.cam_mult_image`` (there without the
  division by ``Y``); the tests check the two agree.
* **Deletion / insertion AUC** (Petsiuk et al., BMVC 2018, "RISE"): pixels are removed from
  the image (replaced by a baseline) or inserted into a blurred copy, most salient first, and
  the area under the probability curve is measured. Low deletion and high insertion AUC mean
  a faithful map.

``model`` is any callable mapping a float batch ``(B, 3, H, W)`` to logits ``(B, C)``; the
images are in the space that callable expects (for hrcam models, wrap them with
:func:`hrcam.methods.pixel_space_model` so that masking multiplies real pixels).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hrcam.core.maps import normalize_batch

if TYPE_CHECKING:
    import torch

__all__ = [
    "ROAD_PERCENTILES",
    "ConfidenceChange",
    "DeletionInsertion",
    "RoadScores",
    "confidence_change",
    "deletion_insertion",
    "road",
    "target_probabilities",
]


ModelFn = Callable[["torch.Tensor"], "torch.Tensor"]


def _check_inputs(images: torch.Tensor, cams: object, targets: Sequence[int]) -> np.ndarray:
    import torch

    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a float tensor of shape (B, C, H, W), got {shape}")
    maps = np.asarray(cams, dtype=np.float32)
    b, _, h, w = images.shape
    if maps.shape != (b, h, w):
        raise ValueError(f"cams must have shape (B, H, W) = {(b, h, w)}, got {maps.shape}")
    if not np.all(np.isfinite(maps)):
        raise ValueError("cams contain NaN or infinite values")
    if len(targets) != b:
        raise ValueError(f"targets must have one class per image ({b}), got {len(targets)}")
    return maps


def target_probabilities(
    model: ModelFn, images: torch.Tensor, targets: Sequence[int], batch_size: int = 64
) -> np.ndarray:
    """Softmax probability of ``targets[i]`` for every image, computed in chunks without grad.

    Returns
    -------
    numpy.ndarray, shape (B,)
    """
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    tgt = torch.as_tensor(list(targets), dtype=torch.long)
    out = []
    with torch.no_grad():
        for start in range(0, images.shape[0], batch_size):
            logits = model(images[start : start + batch_size])
            probs = torch.softmax(logits.float(), dim=-1)
            out.append(probs.gather(1, tgt[start : start + batch_size, None].to(probs.device)))
    return torch.cat(out).squeeze(1).cpu().numpy().astype(np.float64)


@dataclass(frozen=True)
class ConfidenceChange:
    """Per-image confidence before and after multiplying the image by its map."""

    base: np.ndarray  # (B,) target probability on the image
    masked: np.ndarray  # (B,) target probability on image * map
    drop: np.ndarray  # (B,) max(0, base - masked) / base, in [0, 1]
    increase: np.ndarray  # (B,) 1.0 where masked > base

    @property
    def average_drop(self) -> float:
        """Average drop in percent (lower is better)."""
        return float(100.0 * self.drop.mean())

    @property
    def increase_in_confidence(self) -> float:
        """Share of images whose confidence increased, in percent (higher is better)."""
        return float(100.0 * self.increase.mean())


def confidence_change(
    model: ModelFn,
    images: torch.Tensor,
    cams: object,
    targets: Sequence[int],
    batch_size: int = 64,
) -> ConfidenceChange:
    """Average drop and increase in confidence of maps ``cams`` (Grad-CAM++ §5.1).

    Parameters
    ----------
    model : callable
        Float batch -> logits.
    images : torch.Tensor, shape (B, C, H, W)
        Images as ``model`` takes them.
    cams : array_like, shape (B, H, W)
        Maps at image resolution; min-max normalised to [0, 1] here before multiplying.
    targets : sequence of int
        Class explained in each image.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    ConfidenceChange
    """
    import torch

    maps = normalize_batch(_check_inputs(images, cams, targets))
    base = target_probabilities(model, images, targets, batch_size)
    masked_images = images * torch.from_numpy(maps).to(images)[:, None]
    masked = target_probabilities(model, masked_images, targets, batch_size)
    drop = np.maximum(base - masked, 0.0) / np.maximum(base, 1e-12)
    return ConfidenceChange(base, masked, drop, (masked > base).astype(np.float64))


@dataclass(frozen=True)
class DeletionInsertion:
    """Deletion and insertion curves and their areas, one row per image."""

    fractions: np.ndarray  # (S+1,) share of pixels removed / inserted at each step
    deletion_curve: np.ndarray  # (B, S+1) target probability while deleting
    insertion_curve: np.ndarray  # (B, S+1) target probability while inserting
    deletion_auc: np.ndarray  # (B,) lower is better
    insertion_auc: np.ndarray  # (B,) higher is better


def _pixel_order(maps: np.ndarray, seed: int) -> np.ndarray:
    """Rank of every pixel, most salient first; ties broken at random (seeded).

    Refined CAMs have large flat regions; a stable sort would delete those in raster order,
    which biases the curve toward whatever sits at the top of the image.
    """
    b = maps.shape[0]
    flat = maps.reshape(b, -1)
    rng = np.random.default_rng(seed)
    tiebreak = rng.random(flat.shape)
    order = np.lexsort((tiebreak, -flat), axis=1)  # primary key: -saliency
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(flat.shape[1])[None, :].repeat(b, 0), axis=1)
    return ranks.reshape(maps.shape)


def _blur(images: torch.Tensor) -> torch.Tensor:
    """Gaussian blur used as the insertion start (RISE: kernel 11, sigma 5 at 224 px)."""
    from torchvision.transforms.functional import gaussian_blur

    sigma = max(0.5, 5.0 * min(images.shape[-2:]) / 224.0)
    kernel = 2 * int(np.ceil(2.0 * sigma)) + 1
    kernel = min(kernel, 2 * (min(images.shape[-2:]) // 2) - 1)
    return gaussian_blur(images, [kernel, kernel], [sigma, sigma])


def deletion_insertion(
    model: ModelFn,
    images: torch.Tensor,
    cams: object,
    targets: Sequence[int],
    steps: int = 16,
    baseline: float = 0.0,
    batch_size: int = 64,
    seed: int = 0,
) -> DeletionInsertion:
    """Compute the deletion and insertion AUC of maps ``cams`` (RISE, Petsiuk et al. 2018).

    At step ``s`` of ``steps`` the ``round(s / steps * H * W)`` most salient pixels are
    replaced by ``baseline`` (deletion) or copied from the image into its blurred version
    (insertion). The AUC is the trapezoidal area under the target probability over the
    fraction of pixels, in [0, 1]. Cost: ``2 * (steps + 1)`` forward passes per image.

    Parameters
    ----------
    model, images, targets
        As for :func:`confidence_change`.
    cams : array_like, shape (B, H, W)
        Maps at image resolution.
    steps : int
        Number of deletion/insertion steps (RISE uses one per 224 pixels; 16 keeps CPU cost
        affordable).
    baseline : float
        Value that deleted pixels take (0 = black for pixel-space images).
    batch_size : int
        Perturbed images per forward pass.
    seed : int
        Seed of the random tie-break between equally salient pixels.

    Returns
    -------
    DeletionInsertion
    """
    import torch

    maps = _check_inputs(images, cams, targets)
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    b, _, h, w = images.shape
    ranks = torch.from_numpy(_pixel_order(maps, seed)).to(images.device)
    counts = torch.from_numpy(np.round(np.linspace(0.0, h * w, steps + 1)).astype(np.int64))
    blurred = _blur(images)
    deletion = np.zeros((b, steps + 1))
    insertion = np.zeros((b, steps + 1))
    for i in range(b):
        # (S+1, 1, H, W): pixel changed at step s when its rank < count[s].
        changed = (ranks[i][None] < counts[:, None, None].to(ranks.device))[:, None]
        img = images[i][None]
        deleted = torch.where(changed, torch.full_like(img, baseline), img)
        inserted = torch.where(changed, img, blurred[i][None])
        tgt = [targets[i]] * (steps + 1)
        deletion[i] = target_probabilities(model, deleted, tgt, batch_size)
        insertion[i] = target_probabilities(model, inserted, tgt, batch_size)
    fractions = counts.numpy() / float(h * w)
    return DeletionInsertion(
        fractions,
        deletion,
        insertion,
        np.trapezoid(deletion, fractions, axis=1),
        np.trapezoid(insertion, fractions, axis=1),
    )


# ROAD thresholds used unless told otherwise (the evaluation and its CLI share them).
ROAD_PERCENTILES: tuple[float, ...] = (20, 40, 60, 80)


@dataclass(frozen=True)
class RoadScores:
    """ROAD scores per image (Rong et al., ICML 2022), as grad-cam computes them."""

    percentiles: tuple[float, ...]
    morf: np.ndarray  # (B,) mean probability change, most relevant pixels imputed (lower better)
    lerf: np.ndarray  # (B,) mean probability change, least relevant pixels imputed (higher better)

    @property
    def combined(self) -> np.ndarray:
        """``(lerf - morf) / 2`` per image, grad-cam's ``ROADCombined`` (higher is better)."""
        return (self.lerf - self.morf) / 2.0


def road(
    model: ModelFn,
    images: torch.Tensor,
    cams: object,
    targets: Sequence[int],
    percentiles: Sequence[float] = ROAD_PERCENTILES,
    batch_size: int = 64,
    seed: int = 0,
) -> RoadScores:
    """ROAD: RemOve And Debias (Rong et al., ICML 2022), through grad-cam's implementation.

    Pixels are ranked by the map and, for each percentile ``p``, the pixels above (MoRF) or
    below (LeRF) it are replaced by grad-cam's noisy linear imputation, which fills them from
    their neighbours so that the removal itself leaks no shape. The score is the change of the
    target's softmax probability, averaged over the percentiles. Deleting what the map calls
    relevant should hurt (low MoRF), deleting the rest should not (high LeRF).

    Parameters
    ----------
    model, images, targets
        As for :func:`confidence_change`.
    cams : array_like, shape (B, H, W)
        Maps at image resolution (only their pixel order matters).
    percentiles : sequence of float
        Thresholds in (0, 100), grad-cam's meaning. Each costs two sparse linear solves and
        two forward passes per image (about 0.2 s per solve at 96-224 px on one CPU core).
    batch_size : int
        Images per call of the grad-cam metric.
    seed : int
        Seed of the imputation noise (grad-cam draws it from the global torch RNG; the
        global RNG state is restored afterwards).

    Returns
    -------
    RoadScores
    """
    import torch
    from pytorch_grad_cam.metrics.road import (
        ROADLeastRelevantFirstAverage,
        ROADMostRelevantFirstAverage,
    )
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    maps = _check_inputs(images, cams, targets)
    pct = tuple(float(p) for p in percentiles)
    if not pct or not all(0.0 < p < 100.0 for p in pct):
        raise ValueError(f"percentiles must be non-empty and inside (0, 100), got {percentiles}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    lerf_metric = ROADLeastRelevantFirstAverage(list(pct))
    morf_metric = ROADMostRelevantFirstAverage(list(pct))
    morf, lerf = [], []
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        # grad-cam hands torch tensors to numpy, which NumPy 2 flags on every call; not ours
        # to fix, and nothing the caller can act on.
        warnings.filterwarnings(
            "ignore", message="__array_wrap__ must accept context", category=DeprecationWarning
        )
        torch.manual_seed(seed)
        for start in range(0, images.shape[0], batch_size):
            stop = start + batch_size
            chunk, chunk_maps = images[start:stop], maps[start:stop]
            wanted = [ClassifierOutputSoftmaxTarget(int(t)) for t in targets[start:stop]]
            # LeRF before MoRF, in ROADCombined's order, so the noise draws match it.
            lerf.append(np.asarray(lerf_metric(chunk, chunk_maps, wanted, model)).reshape(-1))
            morf.append(np.asarray(morf_metric(chunk, chunk_maps, wanted, model)).reshape(-1))
    return RoadScores(
        pct, np.concatenate(morf).astype(np.float64), np.concatenate(lerf).astype(np.float64)
    )
