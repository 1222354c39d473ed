"""Sanity checks for saliency maps (Adebayo et al., NeurIPS 2018), and the random-logit test.

* **Cascading model-parameter randomization.** The model's blocks are re-initialised one after
  another from the top (the output layer) down, cumulatively; after each step every method's
  map of the same images and classes is compared with its map under the trained model. A map
  that stays similar while the weights that produce the decision are random does not explain
  the model. Re-initialisation calls each layer's own ``reset_parameters()`` (PyTorch's default
  initialiser; BatchNorm also resets its running statistics), as Quantus' MPRT does.
* **Similarity.** Spearman rank correlation of the two maps, and SSIM
  (``skimage.metrics.structural_similarity``, ``data_range=1``) of the maps min-max normalised
  to [0, 1]. Adebayo et al. also rank absolute values, which differs from the signed ranking
  only for signed maps; every hrcam method returns a min-max normalised map in [0, 1], where
  the two are the same number, so that measure is not computed.
* **Random logit** (Sixt et al., ICML 2020; Quantus' ``RandomLogit``): the similarity of the map
  for the explained class with the map for another class drawn at random (seeded). A map that
  does not depend on the class scores 1.
* **The null.** "Changed" needs a yardstick: two unrelated maps do not correlate at 0, since
  smooth maps upsampled from a coarse grid share a centre bias and follow the image's
  structure. The null distribution of a method is the Spearman correlation between its maps
  of *different* images under the same (trained) model, over every pair
  (:func:`null_similarity`). A method **fails** a test when the 95 % CI of its mean
  similarity lies wholly above the null's 95th percentile (the maps stay closer to the
  trained model's than maps of unrelated images are), **passes** when the CI lies wholly below
  it, and is undecided otherwise (:func:`judge_against_null`); below
  :data:`hrcam.metrics.statistics.MIN_VERDICT_UNITS` images there is no verdict at all.

Quantus 0.6.0 has these tests, but it requires ``opencv-python``; installed after hrcam's
``opencv-contrib-python-headless`` 5.0 it replaces the ``cv2`` build (it pulled
``opencv-python`` 5.1.0.95), and ``cv2.ximgproc.guidedFilter`` (which hrcam's guided-filter
peer uses) is then gone: checked in a throwaway venv, 2026-12. So they are implemented here,
tested against hand-computed cases and scipy.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hrcam.errors import HrcamError

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "NULL_QUANTILE",
    "SIMILARITIES",
    "NullVerdict",
    "RandomizationCurves",
    "cascading_randomization",
    "judge_against_null",
    "map_similarity",
    "null_similarity",
    "random_logit_targets",
    "randomize_modules",
    "spread_steps",
]

#: Names of the similarity measures, in the order of :func:`map_similarity`'s output.
SIMILARITIES = ("spearman", "ssim")

#: Quantile of the null distribution a map must stay above to fail a sanity test.
NULL_QUANTILE = 0.95


def _as_stack(x: object, name: str) -> np.ndarray:
    """``x`` as a finite float64 ``(B, H, W)`` stack of at least one map, or an HrcamError."""
    a = np.asarray(x, np.float64)
    if a.ndim != 3:
        raise HrcamError(f"{name}: need a (B, H, W) stack of maps, got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0 or a.shape[2] == 0:
        raise HrcamError(f"{name}: need at least one map of at least one pixel, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise HrcamError(f"{name}: maps contain NaN or infinite values")
    return a


def _unit_range(a: np.ndarray) -> np.ndarray:
    """Min-max normalise each map of a float64 stack to [0, 1] (flat maps -> 0).

    Each map is first divided by its largest magnitude: ``max - min`` of values near the
    float64 limit (1e308) would overflow to ``inf`` and turn every map flat, so that two
    unrelated maps would compare as identical.
    """
    scale = np.abs(a).max(axis=(1, 2), keepdims=True)
    a = np.divide(a, scale, out=np.zeros_like(a), where=scale > 0)
    lo = a.min(axis=(1, 2), keepdims=True)
    span = a.max(axis=(1, 2), keepdims=True) - lo
    return np.divide(a - lo, span, out=np.zeros_like(a), where=span > 0)


def _centred_ranks(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: ranks minus their mean, divided by their norm (0 for a flat row); flat mask."""
    from scipy.stats import rankdata

    r = rankdata(flat, axis=1)
    r -= r.mean(axis=1, keepdims=True)
    norm = np.sqrt((r * r).sum(axis=1, keepdims=True))
    flat_rows = norm[:, 0] == 0
    return np.divide(r, norm, out=np.zeros_like(r), where=norm > 0), flat_rows


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ra, flat_a = _centred_ranks(a)
    rb, flat_b = _centred_ranks(b)
    # A flat map has no ranking: it agrees with nothing (0), unless both are flat (1).
    return np.where(flat_a & flat_b, 1.0, (ra * rb).sum(axis=1))


def map_similarity(original: object, other: object) -> dict[str, np.ndarray]:
    """Spearman rank correlation and SSIM between two ``(B, H, W)`` stacks of maps, pairwise.

    Parameters
    ----------
    original, other
        Stacks of one shape; map ``i`` of one is compared with map ``i`` of the other.

    Returns
    -------
    dict
        ``{"spearman", "ssim"}`` -> ``(B,)`` arrays (SSIM is NaN for maps smaller than
        3 x 3, where its window does not fit).

    Raises
    ------
    HrcamError
        The stacks differ in shape, are not ``(B, H, W)``, hold no map, or hold NaN / inf.
    """
    from skimage.metrics import structural_similarity

    a = _as_stack(original, "original")
    b = _as_stack(other, "other")
    if a.shape != b.shape:
        raise HrcamError(f"need two (B, H, W) stacks of one shape, got {a.shape} and {b.shape}")
    na, nb = _unit_range(a), _unit_range(b)
    side = min(7, *a.shape[1:])
    win = side if side % 2 else side - 1  # SSIM's window: odd, at most the map's side
    ssim = [
        structural_similarity(x, y, data_range=1.0, win_size=win) if win >= 3 else np.nan
        for x, y in zip(na, nb, strict=True)
    ]
    return {
        "spearman": _spearman_rows(a.reshape(len(a), -1), b.reshape(len(b), -1)),
        "ssim": np.asarray(ssim, np.float64),
    }


def null_similarity(maps: object) -> np.ndarray:
    """Spearman correlation between the maps of different images: the sanity tests' null.

    Parameters
    ----------
    maps
        ``(B, H, W)`` maps of one method under one model, one per image (``B >= 2``).

    Returns
    -------
    numpy.ndarray
        ``(B (B - 1) / 2,)`` correlations, one per pair ``i < j`` in row-major order, computed
        as :func:`map_similarity`'s Spearman would compare map ``i`` with map ``j``.

    Raises
    ------
    HrcamError
        Fewer than two maps, or not a finite ``(B, H, W)`` stack.
    """
    a = _as_stack(maps, "maps")
    if len(a) < 2:
        raise HrcamError(f"the null needs maps of at least 2 images, got {len(a)}")
    r, flat = _centred_ranks(a.reshape(len(a), -1))
    corr = r @ r.T
    corr[np.outer(flat, flat)] = 1.0  # two flat maps agree, as in map_similarity
    return corr[np.triu_indices(len(a), k=1)]


@dataclass(frozen=True)
class NullVerdict:
    """A sanity test's outcome for one method, judged against its null.

    ``verdict`` is ``"passes"``, ``"fails"``, ``"undecided"`` or
    :data:`hrcam.metrics.statistics.TOO_FEW_TO_JUDGE`; the numbers are given in every case.
    """

    verdict: str
    mean: float  # mean similarity over images
    low: float  # its 95 % percentile-bootstrap CI over images
    high: float
    threshold: float  # the null's NULL_QUANTILE quantile
    n_images: int


def judge_against_null(
    similarity: object,
    null: object,
    n_boot: int = 1000,
    seed: int = 0,
    quantile: float = NULL_QUANTILE,
) -> NullVerdict:
    """Judge a method's similarities (one per image) against its null distribution.

    Parameters
    ----------
    similarity
        ``(B,)`` Spearman correlations of each image's map with the map it is tested against
        (the map after randomization, or the map of a random other class).
    null
        The null's correlations (:func:`null_similarity` of the same method's trained maps).
    n_boot, seed
        Resamples and seed of the percentile bootstrap over images.
    quantile
        Quantile of the null that a map must stay above to fail.

    Returns
    -------
    NullVerdict
        ``fails`` when the 95 % CI of the mean similarity lies wholly above the null's
        ``quantile`` quantile, ``passes`` when wholly below, ``undecided`` otherwise, and
        ``TOO_FEW_TO_JUDGE`` below ``MIN_VERDICT_UNITS`` images.

    Raises
    ------
    HrcamError
        No similarity, an empty null, non-finite values, or a quantile outside (0, 1).
    """
    from hrcam.metrics.statistics import TOO_FEW_TO_JUDGE, bootstrap_mean_ci, can_judge

    sim = np.asarray(similarity, np.float64).ravel()
    ref = np.asarray(null, np.float64).ravel()
    if sim.size == 0 or ref.size == 0:
        raise HrcamError("a null test needs at least one similarity and one null value")
    if not (np.all(np.isfinite(sim)) and np.all(np.isfinite(ref))):
        raise HrcamError("similarities or null values contain NaN or infinite values")
    if not 0.0 < quantile < 1.0:
        raise HrcamError(f"quantile must lie strictly between 0 and 1, got {quantile}")
    threshold = float(np.quantile(ref, quantile))
    mean, low, high = bootstrap_mean_ci(sim, n_boot=n_boot, seed=seed)
    if not can_judge(sim.size):
        verdict = TOO_FEW_TO_JUDGE
    elif low > threshold:
        verdict = "fails"
    elif high < threshold:
        verdict = "passes"
    else:
        verdict = "undecided"
    return NullVerdict(verdict, mean, low, high, threshold, int(sim.size))


def randomize_modules(model: nn.Module, paths: Sequence[str], seed: int) -> list[str]:
    """Re-initialise, in place, every layer under the submodules ``paths`` of ``model``.

    Returns the names of the layers reset (those with ``reset_parameters``).

    Raises
    ------
    HrcamError
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
                raise HrcamError(f"the model has no submodule {path!r}") from None
            for name, layer in block.named_modules(prefix=path):
                if hasattr(layer, "reset_parameters"):
                    layer.reset_parameters()
                    reset.append(name)
    return reset


@dataclass(frozen=True)
class RandomizationCurves:
    """Similarity to the trained model's maps after the cascading randomization's steps.

    ``steps`` are the steps at which the maps were computed (every step unless
    :func:`cascading_randomization` was given ``explain_at``); ``randomized`` lists every
    block randomized, in order, so ``steps[-1] == randomized[-1]``.
    """

    steps: tuple[str, ...]  # label of the block randomized last at each recorded step
    # {method: {similarity: (S, B) array}}, recorded step s = blocks 0..(its block) randomized
    similarity: dict[str, dict[str, np.ndarray]]
    randomized: tuple[str, ...] = ()  # every block randomized (empty: the same as steps)

    def mean(self, method: str, measure: str = "spearman") -> np.ndarray:
        """Mean over images of ``measure`` at every recorded step, ``(S,)``."""
        return self.similarity[method][measure].mean(axis=1)


def spread_steps(total: int, count: int | None) -> list[int]:
    """Pick ``count`` of ``total`` step indices, evenly spread, the first and last included.

    ``None`` (or a count of at least ``total``) gives every step; a count of 1 the last.
    """
    if total < 1:
        raise HrcamError(f"need at least one step, got {total}")
    if count is None or count >= total:
        return list(range(total))
    if count < 1:
        raise HrcamError(f"need at least one step to record, got {count}")
    if count == 1:
        return [total - 1]
    return sorted(set(np.rint(np.linspace(0, total - 1, count)).astype(int).tolist()))


def cascading_randomization(
    model: nn.Module,
    blocks: Sequence[tuple[str, Sequence[str]]],
    explain: Callable[[nn.Module], Mapping[str, np.ndarray]],
    seed: int = 0,
    original: Mapping[str, np.ndarray] | None = None,
    explain_at: Sequence[int] | None = None,
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
    explain_at : sequence of int, optional
        Steps (0-based) after which the maps are computed and compared; the last step always
        is. Randomizing is cheap, explaining is not: a curve through a few steps costs a few
        explanations, and every block is still randomized at the end. ``None``: every step.

    Returns
    -------
    RandomizationCurves
    """
    if not blocks:
        raise HrcamError("give at least one block to randomize")
    record = set(range(len(blocks))) if explain_at is None else {int(i) for i in explain_at}
    if any(not 0 <= i < len(blocks) for i in record):
        raise HrcamError(f"explain_at must name steps in [0, {len(blocks)}), got {sorted(record)}")
    record.add(len(blocks) - 1)
    base = dict(original) if original is not None else dict(explain(model))
    work = copy.deepcopy(model)
    out: dict[str, dict[str, list[np.ndarray]]] = {m: {k: [] for k in SIMILARITIES} for m in base}
    for step, (_label, paths) in enumerate(blocks):
        randomize_modules(work, paths, seed + step)
        if step not in record:
            continue
        maps = explain(work)
        for method, ref in base.items():
            for key, value in map_similarity(ref, maps[method]).items():
                out[method][key].append(value)
    labels = tuple(label for label, _ in blocks)
    return RandomizationCurves(
        tuple(labels[i] for i in sorted(record)),
        {m: {k: np.stack(v) for k, v in d.items()} for m, d in out.items()},
        labels,
    )


def random_logit_targets(targets: Sequence[int], num_classes: int, seed: int = 0) -> list[int]:
    """Draw, for each target, another class uniformly at random (seeded): the random logit.

    Raises
    ------
    HrcamError
        Fewer than 2 classes, or a target that is not an integer in ``[0, num_classes)``.
    """
    if int(num_classes) < 2:
        raise HrcamError(f"the random-logit test needs at least 2 classes, got {num_classes}")
    checked = []
    for t in targets:
        try:  # an integer class index, also as a numpy integer or an integral float
            value = float(t) if not isinstance(t, bool | str) else float("nan")
        except (TypeError, ValueError):
            value = float("nan")
        if not value.is_integer() or not 0 <= value < num_classes:
            raise HrcamError(
                f"target {t!r} is not a class index in [0, {num_classes}); "
                "give the explained class of each image"
            )
        checked.append(int(value))
    rng = np.random.default_rng(seed)
    out = []
    for t in checked:
        other = int(rng.integers(num_classes - 1))
        out.append(other + 1 if other >= t else other)
    return out
