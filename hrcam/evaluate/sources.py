"""The high-res-source ablation, evaluated: the same post-processing fed different maps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hrcam.errors import HrcamError

if TYPE_CHECKING:
    from hrcam.evidence import StudyResult
    from hrcam.models import HRCAM

__all__ = ["evaluate_sources"]


def evaluate_sources(
    model: HRCAM,
    dataset: Any,
    sources: Sequence[str] = ("expansion", "image", "noise", "oracle"),
    limit: int | None = None,
    batch_size: int = 16,
    target: str = "predicted",
    configs: Mapping[str, Any] | None = None,
    oracle_smoothness: float = 1.0,
    oracle_noise: float = 0.3,
    n_boot: int = 1000,
    seed: int = 0,
    progress: bool = True,
    include_raw: bool = True,
    box_metrics: bool = True,
    keep_results: Sequence[int] = (),
    high_res_models: Mapping[str, HRCAM] | None = None,
) -> StudyResult:
    """Run the high-res-source ablation: the same post-processing fed different high-res maps.

    The low-res CAM, the focal points, the ROI and every post-processing setting stay as they
    are; only the high-res map changes (see :func:`hrcam.evidence.high_res_source`): the
    expansion network's high-res CAM, the image's luminance, uniform noise, or an oracle made
    from the ground-truth mask. Each refined map is scored with the same metrics and bootstrap
    CIs as :func:`hrcam.evaluate.evaluate`, and compared with the low-res CAM on the same images.

    Parameters
    ----------
    model, dataset, limit, batch_size, target, n_boot, seed, progress
        As for :func:`hrcam.evaluate.evaluate`.
    sources
        Names of :data:`hrcam.evidence.SOURCES`, or ``["all"]``.
    configs
        Post-processing settings ``{name: {"preset": ..., **overrides}}``; default both
        presets unchanged (:data:`hrcam.evidence.PRESET_CONFIGS`).
    oracle_smoothness, oracle_noise
        The oracle's Gaussian blur sigma (pixels) and share of uniform noise.
    include_raw, box_metrics, keep_results
        As for :func:`hrcam.evidence.refine_study`: also score each source map unrefined;
        compute MaxBoxAccV2 (about 45 ms per map); keep the ``RefineResult`` of these
        positions.
    high_res_models
        Further expansion networks on the *same* classifier, ``{source name: HRCAM}``: each
        one's high-res CAM is one more source (appended to ``sources``), e.g. a network
        trained with ``--consistency-weight``. The low-res CAMs and explained classes must
        match ``model``'s, so that every source refines the same low-res CAM.

    Returns
    -------
    hrcam.evidence.StudyResult
    """
    from hrcam.evidence import SOURCES, compute_cams, refine_study

    cams = compute_cams(model, dataset, limit, batch_size, target, progress)
    sources = list(SOURCES) if list(sources) == ["all"] else list(sources)
    for name, other in (high_res_models or {}).items():
        _add_source(cams, name, compute_cams(other, dataset, limit, batch_size, target, progress))
        sources.append(name)
    return refine_study(
        cams,
        sources=sources,
        configs=configs,
        oracle_smoothness=oracle_smoothness,
        oracle_noise=oracle_noise,
        n_boot=n_boot,
        seed=seed,
        progress=progress,
        include_raw=include_raw,
        box_metrics=box_metrics,
        keep_results=keep_results,
    )


def _add_source(cams: Any, name: str, theirs: Any) -> None:
    """Add another network's high-res CAMs to ``cams`` as the source ``name``."""
    import numpy as np

    from hrcam.evidence import SOURCES

    if name in SOURCES:
        raise SourceError(f"high_res_models: {name!r} is a built-in source; choose another name")
    # The same classifier gives the same low-res CAM; anything else would compare the
    # sources on different inputs of the post-processing.
    if not (np.array_equal(theirs.targets, cams.targets) and same_low_res(theirs, cams)):
        raise SourceError(
            f"high_res_models[{name!r}] does not share the model's classifier: its "
            "low-res CAMs or explained classes differ"
        )
    cams.extra_high_res[name] = theirs.high_res


class SourceError(HrcamError):
    """A further high-res source that cannot be compared with the built-in ones."""


def same_low_res(a: Any, b: Any) -> bool:
    """Whether two ``CamSet``s hold the same low-res CAMs, as one classifier gives them.

    Two forward passes of one classifier agree exactly on CPU; the tolerance allows for
    non-deterministic GPU kernels (``cudnn.benchmark``).
    """
    import numpy as np

    return bool(np.allclose(a.low_res, b.low_res, rtol=1e-4, atol=1e-5))
