"""Sanity checks for saliency maps (Adebayo et al., NeurIPS 2018), and the random-logit test.

* **Cascading model-parameter randomization.** The model's blocks are re-initialised one after
  another from the top (the output layer) down, cumulatively; after each step every method's
  map of the same images and classes is compared with its map under the trained model. A map
  that stays similar while the weights that produce the decision are random does not explain
  the model. Re-initialisation calls each layer's own ``reset_parameters()`` (PyTorch's default
  initialiser; BatchNorm also resets its running statistics), as Quantus' MPRT does.
* **Similarity.** Spearman rank correlation of the two maps, of their absolute values (for
  signed maps; hrcam's CAM maps are mostly non-negative, where both agree), and SSIM
  (``skimage.metrics.structural_similarity``, ``data_range=1``) of the maps min-max normalised
  to [0, 1].
* **Random logit** (Sixt et al., ICML 2020; Quantus' ``RandomLogit``): the similarity of the map
  for the explained class with the map for another class drawn at random (seeded). A map that
  does not depend on the class scores 1.

Quantus 0.6.0 has these tests, but it requires ``opencv-python``; installed after hrcam's
``opencv-contrib-python-headless`` 5.0 it replaces the ``cv2`` build (it pulled
``opencv-python`` 5.1.0.95), and ``cv2.ximgproc.guidedFilter`` (which hrcam's guided-filter
peer uses) is then gone: checked in a throwaway venv, 2026-12. So they are implemented here,
tested against hand-computed cases.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hrcam._shared import normalize_batch

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "SIMILARITIES",
    "RandomizationCurves",
    "cascading_randomization",
    "map_similarity",
    "random_logit_targets",
    "randomize_modules",
]

#: Names of the similarity measures, in the order of :func:`map_similarity`'s output.
SIMILARITIES = ("spearman", "spearman_abs", "ssim")


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    ra = rankdata(a, axis=1)
    rb = rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    norm = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    # A flat map has no ranking: it agrees with nothing (0), unless both are flat (1).
    both_flat = (np.ptp(a, axis=1) == 0) & (np.ptp(b, axis=1) == 0)
    rho = np.divide((ra * rb).sum(axis=1), norm, out=np.zeros(len(a)), where=norm > 0)
    return np.where(both_flat, 1.0, rho)


def map_similarity(original: object, other: object) -> dict[str, np.ndarray]:
    """Spearman (signed and absolute) and SSIM between two ``(B, H, W)`` stacks of maps.

    Returns
    -------
    dict
        ``{"spearman", "spearman_abs", "ssim"}`` -> ``(B,)`` arrays (SSIM is NaN for maps
        smaller than 3 x 3, where its window does not fit).
    """
    from skimage.metrics import structural_similarity

    a = np.asarray(original, np.float64)
    b = np.asarray(other, np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"need two (B, H, W) stacks of one shape, got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("maps contain NaN or infinite values")
    flat_a, flat_b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    na, nb = normalize_batch(a), normalize_batch(b)
    side = min(7, *a.shape[1:])
    win = side if side % 2 else side - 1  # SSIM's window: odd, at most the map's side
    ssim = [
        structural_similarity(x, y, data_range=1.0, win_size=win) if win >= 3 else np.nan
        for x, y in zip(na.astype(np.float64), nb.astype(np.float64), strict=True)
    ]
    return {
        "spearman": _spearman_rows(flat_a, flat_b),
        "spearman_abs": _spearman_rows(np.abs(flat_a), np.abs(flat_b)),
        "ssim": np.asarray(ssim, np.float64),
    }


def randomize_modules(model: nn.Module, paths: Sequence[str], seed: int) -> list[str]:
    """Re-initialise, in place, every layer under the submodules ``paths`` of ``model``.

    Returns the names of the layers reset (those with ``reset_parameters``).

    Raises
    ------
    ValueError
        If a path names no submodule.
    """
    import torch

    reset = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for path in paths:
            try:  # get_submodule, not named_modules(): a shared layer has several paths
                block = model.get_submodule(path)
            except AttributeError:
                raise ValueError(f"the model has no submodule {path!r}") from None
            for name, layer in block.named_modules(prefix=path):
                if hasattr(layer, "reset_parameters"):
                    layer.reset_parameters()
                    reset.append(name)
    return reset


@dataclass(frozen=True)
class RandomizationCurves:
    """Similarity to the trained model's maps after each cascading randomization step."""

    steps: tuple[str, ...]  # label of the block randomized at each step (cumulative)
    # {method: {similarity: (S, B) array}}, step s = blocks 0..s randomized
    similarity: dict[str, dict[str, np.ndarray]]

    def mean(self, method: str, measure: str = "spearman") -> np.ndarray:
        """Mean over images of ``measure`` at every step, ``(S,)``."""
        return self.similarity[method][measure].mean(axis=1)


def cascading_randomization(
    model: nn.Module,
    blocks: Sequence[tuple[str, Sequence[str]]],
    explain: Callable[[nn.Module], Mapping[str, np.ndarray]],
    seed: int = 0,
    original: Mapping[str, np.ndarray] | None = None,
) -> RandomizationCurves:
    """Cascading model-parameter randomization (Adebayo et al. 2018), top block first.

    Parameters
    ----------
    model : torch.nn.Module
        The trained model; it is not changed (a deep copy is randomized).
    blocks : sequence of (label, module paths)
        The blocks in the order they are randomized (top first); each step adds one block.
    explain : callable
        ``explain(model) -> {method: (B, H, W) maps}`` for fixed images and classes.
    seed : int
        Seed of the re-initialisation (step ``s`` uses ``seed + s``).
    original : mapping, optional
        ``explain(model)`` if already computed.

    Returns
    -------
    RandomizationCurves
    """
    if not blocks:
        raise ValueError("give at least one block to randomize")
    base = dict(original) if original is not None else dict(explain(model))
    work = copy.deepcopy(model)
    out: dict[str, dict[str, list[np.ndarray]]] = {m: {k: [] for k in SIMILARITIES} for m in base}
    for step, (_label, paths) in enumerate(blocks):
        randomize_modules(work, paths, seed + step)
        maps = explain(work)
        for method, ref in base.items():
            for key, value in map_similarity(ref, maps[method]).items():
                out[method][key].append(value)
    return RandomizationCurves(
        tuple(label for label, _ in blocks),
        {m: {k: np.stack(v) for k, v in d.items()} for m, d in out.items()},
    )


def random_logit_targets(targets: Sequence[int], num_classes: int, seed: int = 0) -> list[int]:
    """Draw, for each target, another class uniformly at random (seeded): the random logit."""
    if num_classes < 2:
        raise ValueError(f"the random-logit test needs at least 2 classes, got {num_classes}")
    rng = np.random.default_rng(seed)
    out = []
    for t in targets:
        other = int(rng.integers(num_classes - 1))
        out.append(other + 1 if other >= int(t) else other)
    return out
