"""The high-res-source ablation, evaluated: the same post-processing fed different maps.

:func:`evaluate_sources` runs it from a model and a data set (the CLI's ``--sources``);
:func:`oracle_noise_sweep` feeds the oracle at several noise shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.errors import HrcamError
from hrcam.methods.camset import compute_cams
from hrcam.studies.refine import PRESET_CONFIGS, refine_study
from hrcam.studies.sources import SOURCES

if TYPE_CHECKING:
    from hrcam.methods.camset import CamSet
    from hrcam.models import HRCAM
    from hrcam.postprocess import RefineConfig
    from hrcam.studies.refine import StudyResult

__all__ = [
    "SourceError",
    "evaluate_sources",
    "oracle_noise_sweep",
]


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
    units: Mapping[int, Any] | None = None,
) -> StudyResult:
    """Run the high-res-source ablation: the same post-processing fed different high-res maps.

    The low-res CAM, the focal points, the ROI and every post-processing setting stay as they
    are; only the high-res map changes (see :func:`hrcam.studies.high_res_source`): the
    expansion network's high-res CAM, the image's luminance, uniform noise, or an oracle made
    from the ground-truth mask. Each refined map is scored with the same metrics and bootstrap
    CIs as :func:`hrcam.evaluate.evaluate`, and compared with the low-res CAM on the same images.

    Parameters
    ----------
    model, dataset, limit, batch_size, target, n_boot, seed, progress
        As for :func:`hrcam.evaluate.evaluate`.
    sources
        Names of :data:`hrcam.studies.SOURCES`, or ``["all"]``.
    configs
        Post-processing settings ``{name: {"preset": ..., **overrides}}``; default both
        presets unchanged (:data:`hrcam.studies.PRESET_CONFIGS`).
    oracle_smoothness, oracle_noise
        The oracle's Gaussian blur sigma (pixels) and share of uniform noise.
    include_raw, box_metrics, keep_results
        As for :func:`hrcam.studies.refine_study`: also score each source map unrefined;
        compute MaxBoxAccV2 (about 45 ms per map); keep the ``RefineResult`` of these
        positions.
    high_res_models
        Further expansion networks on the *same* classifier, ``{source name: HRCAM}``: each
        one's high-res CAM is one more source (appended to ``sources``), e.g. a network
        trained with ``--consistency-weight``. The low-res CAMs and explained classes must
        match ``model``'s, so that every source refines the same low-res CAM.
    units
        ``{dataset index: unit}`` to resample units (e.g. stamps) instead of images.

    Returns
    -------
    hrcam.studies.StudyResult
    """
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
        units=units,
    )


def _add_source(cams: Any, name: str, theirs: Any) -> None:
    """Add another network's high-res CAMs to ``cams`` as the source ``name``."""
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
    return bool(np.allclose(a.low_res, b.low_res, rtol=1e-4, atol=1e-5))


def oracle_noise_sweep(
    cams: CamSet,
    noises: Sequence[float] = (0.0, 0.15, 0.3, 0.5, 0.7),
    smoothness: float = 1.0,
    configs: Mapping[str, RefineConfig | Mapping[str, Any]] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Refined PxAP and fallback rate with the oracle source at several noise shares.

    Returns
    -------
    list of dict
        One row per (noise, config): ``noise``, ``config``, ``pxap``, ``ci_low``,
        ``ci_high``, ``fallback``, ``difference`` (minus the low-res CAM, paired) with its
        ``diff_low``/``diff_high`` CI, and ``low_res`` (the low-res CAM's PxAP).
    """
    rows = []
    for noise in noises:
        study = refine_study(cams, ["oracle"], configs, smoothness, float(noise),
                             include_raw=False, n_boot=n_boot, seed=seed,
                             box_metrics=False)  # fmt: skip
        for name in configs or PRESET_CONFIGS:
            m = f"{name}@oracle"
            d = study.difference(m, "pxap")
            rows.append({
                "noise": float(noise), "config": name,
                "pxap": study.value(m, "pxap"), "ci_low": study.value(m, "pxap", "ci_low"),
                "ci_high": study.value(m, "pxap", "ci_high"),
                "fallback": study.value(m, "fallback_rate"),
                "difference": d["difference"], "diff_low": d["ci_low"], "diff_high": d["ci_high"],
                "low_res": study.value("low_res_cam", "pxap"),
            })  # fmt: skip
    return rows
