"""ADCC: Average Drop, Coherency, Complexity (Poppi et al., CVPR-W 2021).

"Revisiting the evaluation of class activation mapping for explainability: a novel metric and
experimental analysis" scores a map ``A`` of class ``c`` on image ``x`` by three terms, each in
[0, 1], and their harmonic mean:

* **Average drop** ``max(0, Y_c(x) - Y_c(x ⊙ A)) / Y_c(x)``: the confidence lost when the
  image is multiplied by its (min-max normalised) map, as in
  :func:`hrcam.metrics.confidence_change`.
* **Coherency** ``(1 + ρ(A(x), A(x ⊙ A(x)))) / 2``: the Pearson correlation ``ρ`` between the
  map and the map the same method gives for the same class on the explanation image
  ``x ⊙ A(x)``, mapped from [-1, 1] to [0, 1]. A flat map (no variance) has ``ρ = 0``.
* **Complexity** ``‖A‖₁ / (H·W)``: the mean of the min-max normalised map.

``ADCC = 3 / (1 / Coherency + 1 / (1 − Complexity) + 1 / (1 − AverageDrop))``.

**Variant.** The harmonic mean is taken per image and then averaged over images, as the
authors' code (``aimagelab/ADCC``) does; all three terms use the map min-max normalised per
image and the softmax probability of the class. A term equal to 0 makes that image's ADCC 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hrcam.core.maps import normalize_batch
from hrcam.metrics.faithfulness import ModelFn, confidence_change

if TYPE_CHECKING:
    import torch

__all__ = ["AdccScores", "adcc", "adcc_from_terms", "coherency"]

#: ``explain(images, targets) -> (B, H, W) maps``: the method being scored.
ExplainFn = Callable[["torch.Tensor", Sequence[int]], np.ndarray]


@dataclass(frozen=True)
class AdccScores:
    """Per-image terms of ADCC, each in [0, 1]."""

    drop: np.ndarray  # (B,) average-drop term
    increase: np.ndarray  # (B,) 1 where the confidence rose (A.I., reported alongside)
    coherency: np.ndarray  # (B,)
    complexity: np.ndarray  # (B,)
    adcc: np.ndarray  # (B,) per-image harmonic mean

    def summary(self) -> dict[str, float]:
        """A.D., A.I., coherency, complexity and ADCC over the images, in percent."""
        return {
            "average_drop": float(100 * self.drop.mean()),
            "average_increase": float(100 * self.increase.mean()),
            "coherency": float(100 * self.coherency.mean()),
            "complexity": float(100 * self.complexity.mean()),
            "adcc": float(100 * self.adcc.mean()),
        }


def adcc_from_terms(drop: object, coherency: object, complexity: object) -> np.ndarray:
    """Harmonic mean of ``coherency``, ``1 - complexity`` and ``1 - drop``, elementwise.

    Raises
    ------
    ValueError
        If a term lies outside [0, 1] (NaN included), the shapes differ, or they are empty.
    """
    terms = [np.asarray(coherency, float), 1.0 - np.asarray(complexity, float)]
    terms.append(1.0 - np.asarray(drop, float))
    if len({t.shape for t in terms}) != 1:
        raise ValueError(
            f"drop, coherency and complexity differ in shape: {[t.shape for t in terms]}"
        )
    stacked = np.stack(terms)
    if stacked.size == 0:
        raise ValueError("drop, coherency and complexity are empty: ADCC needs at least one image")
    if np.any(~np.isfinite(stacked)) or stacked.min() < -1e-9 or stacked.max() > 1 + 1e-9:
        raise ValueError("drop, coherency and complexity must lie in [0, 1]")
    with np.errstate(divide="ignore"):
        inverse = np.where(stacked > 0, 1.0 / np.maximum(stacked, 1e-300), np.inf).sum(axis=0)
    return np.where(np.isfinite(inverse), 3.0 / inverse, 0.0)


def coherency(maps: object, maps_of_explanation: object) -> np.ndarray:
    """``(1 + Pearson(A, A'))/2`` per image of two ``(B, H, W)`` stacks (0.5 for a flat map).

    Raises
    ------
    ValueError
        If the stacks differ in shape, are not ``(B, H, W)``, hold no image or no pixel, or
        hold a NaN or infinite value (which no correlation can score: it used to give 0.5).
    """
    a = np.asarray(maps, np.float64)
    b = np.asarray(maps_of_explanation, np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"need two (B, H, W) stacks of one shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError(f"coherency needs at least one image of one pixel, got shape {a.shape}")
    for name, stack in (("maps", a), ("maps_of_explanation", b)):
        if not np.isfinite(stack).all():
            bad = sorted({int(i) for i in np.nonzero(~np.isfinite(stack))[0]})
            raise ValueError(f"{name} holds NaN or infinite values (images {bad[:5]})")
    a = a.reshape(len(a), -1) - a.reshape(len(a), -1).mean(axis=1, keepdims=True)
    b = b.reshape(len(b), -1) - b.reshape(len(b), -1).mean(axis=1, keepdims=True)
    norm = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    rho = np.divide((a * b).sum(axis=1), norm, out=np.zeros(len(a)), where=norm > 0)
    return (1.0 + np.clip(rho, -1.0, 1.0)) / 2.0


def adcc(
    model: ModelFn,
    explain: ExplainFn,
    images: torch.Tensor,
    maps: object,
    targets: Sequence[int],
    batch_size: int = 64,
) -> AdccScores:
    """ADCC of maps ``maps`` of the method ``explain`` (Poppi et al. 2021; see the module).

    Parameters
    ----------
    model : callable
        Float batch -> logits, in the space of ``images`` (pixel space for hrcam models).
    explain : callable
        ``explain(images, targets) -> (B, H, W)`` maps: the method, run again on the
        explanation images ``images * map`` for coherency.
    images : torch.Tensor, shape (B, C, H, W)
    maps : array_like, shape (B, H, W)
        The method's maps of ``images`` for ``targets``.
    targets : sequence of int
    batch_size : int
        Images per forward pass.

    Returns
    -------
    AdccScores
    """
    import torch

    change = confidence_change(model, images, maps, targets, batch_size)
    norm = normalize_batch(maps)
    explanation = images * torch.from_numpy(norm).to(images)[:, None]
    again = normalize_batch(np.asarray(explain(explanation, list(targets)), np.float32))
    coh = coherency(norm, again)
    complexity = norm.reshape(len(norm), -1).mean(axis=1).astype(np.float64)
    return AdccScores(
        change.drop, change.increase, coh, complexity, adcc_from_terms(change.drop, coh, complexity)
    )
