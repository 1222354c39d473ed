"""Where in the pipeline a refined map goes wrong.

Stage by stage (:func:`stage_summary`, :func:`refinement_summary`), per failure kind
(:func:`failure_examples`), and on the images where the low-res CAM misses (paper §5,
:func:`subset_difference`), all read from a :class:`~hrcam.studies.StudyResult`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.studies.refine import FAILURE_KINDS, _resolve
from hrcam.studies.sources import high_res_source

if TYPE_CHECKING:
    from hrcam.methods.camset import CamSet
    from hrcam.postprocess import RefineResult
    from hrcam.studies.refine import StudyResult


__all__ = [
    "failure_examples",
    "refinement_summary",
    "stage_summary",
    "subset_difference",
]


def subset_difference(
    study: StudyResult,
    method: str,
    metric: str = "pointing",
    low_res_miss: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Measure paper §5, first half: ``method`` minus the low-res CAM on a subset of images.

    The subset is the images where the low-res CAM misses the object (its maximum is off the
    object) or, with ``low_res_miss=False``, hits it. On the miss subset the refined pointing
    score is the share of failures rescued. PxAP (a data-set metric) is recomputed on the
    subset for both maps, on every bootstrap resample.

    Returns
    -------
    dict
        ``n``, ``method_mean``, ``low_res_mean``, ``difference``, ``ci_low``, ``ci_high``.
    """
    from hrcam.evaluate import DATASET_METRICS
    from hrcam.evaluate.scoring import paired_dataset_ci
    from hrcam.metrics.statistics import bootstrap_mean_ci

    low = {r["index"]: r for r in study.per_image if r["method"] == "low_res_cam"}
    recs = [
        r
        for r in study.per_image
        if r["method"] == method and (low[r["index"]]["pointing"] < 0.5) == low_res_miss
    ]
    nan = float("nan")
    if metric in DATASET_METRICS:
        keep = {int(r["index"]) for r in recs}

        def only(curves: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            rows = np.array([int(i) in keep for i in curves["index"]], bool)
            return {k: np.asarray(v)[rows] for k, v in curves.items()}

        if not keep:
            return {"n": 0, "method_mean": nan, "low_res_mean": nan, "difference": nan,
                    "ci_low": nan, "ci_high": nan}  # fmt: skip
        d = paired_dataset_ci(only(study.curves[method]), only(study.curves["low_res_cam"]),
                              metric, n_boot, seed, study.units)  # fmt: skip
        return {"n": d["n"], "method_mean": d["method_mean"], "low_res_mean": d["other_mean"],
                "difference": d["difference"], "ci_low": d["ci_low"],
                "ci_high": d["ci_high"]}  # fmt: skip
    ours = np.array([r[metric] for r in recs], float)
    base = np.array([low[r["index"]][metric] for r in recs], float)
    units = None if study.units is None else [study.units[r["index"]] for r in recs]
    mean, lo, hi = bootstrap_mean_ci(ours - base, n_boot, seed, units=units)
    return {"n": len(recs), "method_mean": float(ours.mean()) if recs else nan,
            "low_res_mean": float(base.mean()) if recs else nan,
            "difference": mean, "ci_low": lo, "ci_high": hi}  # fmt: skip


def failure_examples(
    study: StudyResult, cams: CamSet, method: str = "paper@expansion"
) -> list[dict[str, Any]]:
    """Return the first image of each failure kind of ``method``, with its full refinement.

    Returns
    -------
    list of dict
        ``kind``, ``image``, ``mask``, ``record`` and ``result``
        (:class:`~hrcam.postprocess.RefineResult`), in the order of :data:`FAILURE_KINDS`;
        kinds with no image are left out.
    """
    from hrcam.postprocess import refine

    config_name, _, source = method.partition("@")
    cfg = _resolve(study.config["configs"][config_name])
    first: dict[str, dict[str, Any]] = {}
    for r in study.per_image:
        if r["method"] == method and r.get("kind") and r["kind"] not in first:
            first[r["kind"]] = r
    out = []
    for kind in FAILURE_KINDS:
        if kind not in first:
            continue
        rec = first[kind]
        i = rec["position"]
        c = study.config
        high = high_res_source(
            source, cams, i, c["seed"], c["oracle_smoothness"], c["oracle_noise"]
        )
        res = refine(cams.low_res[i], high, config=cfg)
        out.append({"kind": kind, "image": cams.images[i], "mask": cams.masks[i],
                    "record": rec, "result": res})  # fmt: skip
    return out


def stage_summary(
    study: StudyResult, method: str, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Average one refined method stage by stage, to show where in the pipeline it goes wrong.

    Returns
    -------
    dict
        ``n``; ``roi_iou`` (mean, low, high): the ROI against the object; ``grown_iou`` and
        ``filled_iou`` on the images without fallback; ``fallback_<reason>`` shares;
        ``share_better`` (refined per-image AP above the low-res CAM's on the same image) and the
        per-kind counts of :data:`FAILURE_KINDS`.
    """
    from hrcam.metrics.statistics import bootstrap_mean_ci

    recs = [r for r in study.per_image if r["method"] == method]
    if not recs:
        raise KeyError(f"no records of {method!r}")
    grown = [r for r in recs if not r["fallback"]]
    out: dict[str, Any] = {"n": len(recs), "n_grown": len(grown)}
    out["roi_iou"] = bootstrap_mean_ci([r["roi_iou"] for r in recs], n_boot, seed)
    out["grown_iou"] = bootstrap_mean_ci([r["grown_iou"] for r in grown], n_boot, seed)
    out["filled_iou"] = bootstrap_mean_ci([r["filled_iou"] for r in grown], n_boot, seed)
    for reason in ("too_small", "too_large"):
        out[f"fallback_{reason}"] = float(np.mean([r["fallback_reason"] == reason for r in recs]))
    out["share_better"] = float(np.mean([r["image_ap"] > r["low_res_image_ap"] for r in recs]))
    out["kinds"] = study.kind_counts(method)
    return out


def refinement_summary(results: Mapping[str, RefineResult]) -> dict[str, dict[str, Any]]:
    """List each refinement's choices for one image: the numbers behind the step-by-step figures.

    Parameters
    ----------
    results
        ``{name: RefineResult}``, e.g. one per preset.

    Returns
    -------
    dict
        Per name: ``focal_points`` (how many), the growth bounds ``lower`` and ``upper``,
        ``region_ratio`` (grown region over ROI area) and ``fallback`` (the §5 reason, or
        ``None`` when region growing succeeded).
    """
    return {
        name: {
            "focal_points": len(r.focal_points),
            "lower": r.lower,
            "upper": r.upper,
            "region_ratio": r.region_ratio,
            "fallback": r.fallback,
        }
        for name, r in results.items()
    }
