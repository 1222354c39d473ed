"""The real-cut-out study's numbers: a real ImageNet classifier on real animals with exact masks.

Notebook ``10_real_cutouts`` evaluates every method on the cut-out store
(:mod:`hrcam.data.cutouts`) with the wrapped EfficientNet-Lite0 and saves the evaluation, the
high-res-source ablation on the hard-edged and on the feathered paste, and the classifier's
accuracy. :func:`cutout_values` turns them into the named values that the page and the claims
page glue; :func:`cutout_summary` reads them back from a run folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hrcam.core.tables import find_row, put_ci

__all__ = [
    "PAPER_MAPS",
    "bootstrap_widths",
    "cutout_summary",
    "cutout_units",
    "cutout_values",
    "paste_edge_text",
    "save_cutout_values",
    "usable_methods",
]

#: The paper's maps, evaluated a second time for the predicted class.
PAPER_MAPS = ("low_res_cam", "high_res_cam", "refined_paper", "refined_reference")
_VALUES_FILE = "values.json"


def usable_methods(
    model: Any, names: Sequence[str], skip: Sequence[str] = ()
) -> tuple[list[str], dict[str, str]]:
    """Split ``names`` into the methods that run on ``model`` and the others, with the reason.

    A wrapped classifier (``hrcam.models.wrap_classifier``) has no hrcam backbone stages, so
    the stage-based peers (fused LayerCAM, HiResCAM) cannot be built on it; ``skip`` names
    methods left out for cost. Building a method runs no image.
    """
    from hrcam.methods import build_methods

    usable, skipped = [], {}
    for name in names:
        if name in skip:
            skipped[name] = "left out for cost in this profile"
            continue
        try:
            build_methods(model, [name])
        except (ValueError, TypeError) as exc:
            skipped[name] = str(exc)
            continue
        usable.append(name)
    return usable, skipped


def cutout_units(root: str | os.PathLike, split: str = "val") -> dict[str, dict[int, str]]:
    """Each cut-out's independent sources: ``{"stamps": {index: stamp}, "backgrounds": ...}``.

    Images of the cut-out store share their target stamp (the object the map must find) and
    their background photo with other images, so they are not independent draws; the book's
    intervals resample stamps (:meth:`hrcam.studies.comparison.Comparison.resampled`).
    """
    from hrcam.data.store import shard_extras

    sources = shard_extras(root, split, "sources")
    return {
        "stamps": {i: str(s[0]) for i, s in enumerate(sources)},
        "backgrounds": {i: str(s[1]) for i, s in enumerate(sources)},
    }


def bootstrap_widths(
    comp: Any,
    units: dict[str, dict[int, str]],
    method: str = "refined_paper",
    baseline: str = "low_res_cam",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """How wide the 95% intervals are when images, stamps, or stamps and backgrounds are resampled.

    For the baseline's PxAP and for ``method`` minus the baseline (paired PxAP), each under
    three bootstraps: images as if independent, stamps (the book's choice), and the two-way
    bootstrap of stamps crossed with backgrounds (Owen 2007).

    Returns
    -------
    dict
        ``width_<what>_<scheme>`` for ``what`` in (``pxap``, ``diff``) and ``scheme`` in
        (``images``, ``stamps``, ``twoway``), and ``text``: one sentence of ratios.
    """
    from hrcam.metrics.statistics import bootstrap_pxap, paired_stat_ci, pxap_stats

    a, b = comp.curves[method], comp.curves[baseline]
    idx = [int(i) for i in b["index"]]
    if [int(i) for i in a["index"]] != idx:
        raise ValueError(f"{method!r} and {baseline!r} were not scored on the same images")
    stamps = [units["stamps"][i] for i in idx]
    backs = [units["backgrounds"][i] for i in idx]
    schemes = {"images": (None, None), "stamps": (stamps, None), "twoway": (stamps, backs)}
    keys = ("pixel_tp", "pixel_fp", "pixel_pos")
    out: dict[str, Any] = {}
    for scheme, (u, c) in schemes.items():
        _, lo, hi = bootstrap_pxap(*(b[k] for k in keys), n_boot, seed, units=u, crossed=c)
        out[f"width_pxap_{scheme}"] = hi - lo
        _, lo, hi = paired_stat_ci(pxap_stats, [a[k] for k in keys], [b[k] for k in keys],
                                   n_boot, seed, units=u, crossed=c)  # fmt: skip
        out[f"width_diff_{scheme}"] = hi - lo
    out["text"] = (
        f"Resampling stamps instead of images makes the interval of the low-res CAM's PxAP "
        f"{out['width_pxap_stamps'] / out['width_pxap_images']:.2f}x as wide, and that of "
        f"the paired difference {out['width_diff_stamps'] / out['width_diff_images']:.2f}x; "
        f"resampling stamps and backgrounds together (two-way) makes them "
        f"{out['width_pxap_twoway'] / out['width_pxap_images']:.2f}x and "
        f"{out['width_diff_twoway'] / out['width_diff_images']:.2f}x as wide."
    )
    return out


def cutout_values(
    comp: Any,
    predicted: Any,
    hard: Any,
    feathered: Any,
    accuracy: dict[str, Any],
    n_boot: int = 1000,
    seed: int = 0,
    units: dict[str, dict[int, str]] | None = None,
) -> dict[str, Any]:
    """Collect the page's numbers, each with its 95% CI, by name.

    Parameters
    ----------
    comp
        :class:`hrcam.studies.comparison.Comparison` of every method, ground-truth class.
    predicted
        The same for :data:`PAPER_MAPS`, predicted class, same images.
    hard, feathered
        :class:`hrcam.studies.refine.StudyResult` of the source ablation on the hard-edged and the
        feathered paste of the same validation images.
    accuracy
        :func:`hrcam.evaluate.accuracy.topk_accuracy` of the classifier on the validation split.
    n_boot, seed
        Bootstrap of the paired differences.
    units
        :func:`cutout_units` of the scored images: the page then states how many stamps and
        backgrounds they come from and how much the choice of bootstrap widens the intervals
        (:func:`bootstrap_widths`). ``comp`` and ``predicted`` should already resample stamps
        (:meth:`~hrcam.studies.comparison.Comparison.resampled`).

    Returns
    -------
    dict
        ``cut_stamps``, ``cut_backgrounds``, ``cut_unit`` (what the intervals resample),
        ``cut_widths`` (a sentence), ``cut_top1``, ``cut_top5``, ``cut_<method>_pxap`` /
        ``_maxboxacc`` (with ``_lo``, ``_hi``), ``cut_refined_<preset>_diff`` (paired,
        refined minus low-res, with verdict), the same for the predicted class
        (``cut_pred_...``), the ablation's ``cut_src_<preset>_<source>`` differences on both
        pastes, ``cut_best`` (the ranking sentence) and ``cut_images``.
    """
    from hrcam.metrics.statistics import TOO_FEW_TO_JUDGE, can_judge
    from hrcam.studies.comparison import best_method
    from hrcam.studies.refine import PRESET_CONFIGS, paired_between, verdict

    out: dict[str, Any] = {
        "cut_top1": float(accuracy["top1"]),
        "cut_top5": float(accuracy["top5"]),
        "cut_acc_images": int(accuracy["n"]),
        "cut_images": int(comp.config["num_images"]),
        "cut_unit": comp.config.get("bootstrap_unit", "images"),
    }
    n_units = out["cut_images"]
    if units is not None:
        scored = [int(r["index"]) for r in comp.per_image if r["method"] == comp.methods[0]]
        n_units = out["cut_stamps"] = len({units["stamps"][i] for i in scored})
        out["cut_backgrounds"] = len({units["backgrounds"][i] for i in scored})
        widths = bootstrap_widths(comp, units, n_boot=n_boot, seed=seed)
        out["cut_widths"] = widths.pop("text")
        out.update({f"cut_{k}": v for k, v in widths.items()})

    def judged(low: float, high: float) -> str:
        return verdict(low, high) if can_judge(n_units) else TOO_FEW_TO_JUDGE

    for method in comp.methods:
        for metric in ("pxap", "max_box_acc_v2"):
            try:
                put_ci(out, f"cut_{method}_{metric}", comp.row(method, metric), "mean")
            except KeyError:
                continue
    for tag, c in (("cut", comp), ("cut_pred", predicted)):
        for preset in PRESET_CONFIGS:
            d = c.paired(f"refined_{preset}", "low_res_cam", "pxap", n_boot, seed)
            put_ci(out, f"{tag}_refined_{preset}_diff", d, "difference")
            out[f"{tag}_refined_{preset}_verdict"] = judged(d["ci_low"], d["ci_high"])
    for tag, study in (("hard", hard), ("feathered", feathered)):
        for preset in PRESET_CONFIGS:
            for source in study.config["sources"]:
                d = study.difference(f"{preset}@{source}", "pxap")
                put_ci(out, f"cut_{tag}_{preset}_{source}", d, "difference")
    put_ci(out, "cut_raworacle_pxap", find_row(hard.table, "raw@oracle", "pxap"), "mean")
    for preset in PRESET_CONFIGS:
        b = paired_between(hard, f"{preset}@expansion", f"{preset}@image", "pxap", n_boot, seed)
        put_ci(out, f"cut_exp_image_{preset}", b, "difference")
    b = paired_between(hard, "paper@expansion", "reference@expansion", "pxap", n_boot, seed)
    put_ci(out, "cut_paper_reference", b, "difference")
    out["cut_best"] = best_method(comp, "pxap", n_boot=n_boot, seed=seed)["text"]
    out["cut_best_box"] = best_method(comp, "max_box_acc_v2", n_boot=n_boot, seed=seed)["text"]
    out["cut_paste_edge"] = paste_edge_text(out)
    return out


def paste_edge_text(values: dict[str, Any]) -> str:
    """Say how much the paste edge alone gives away: the image as the high-res map, both pastes."""
    from hrcam.core.tables import ci_text
    from hrcam.studies.refine import PRESET_CONFIGS

    parts = []
    for preset in PRESET_CONFIGS:
        hard = ci_text(values, f"cut_hard_{preset}_image")
        soft = ci_text(values, f"cut_feathered_{preset}_image")
        parts.append(
            f"with the `{preset}` preset, refining the low-res CAM with the image itself as the "
            f"high-res map changes PxAP by {hard} on hard-edged pastes and by {soft} on "
            "feathered ones"
        )
    return "; ".join(parts) + "."


def save_cutout_values(values: dict[str, Any], out_dir: str | os.PathLike) -> Path:
    """Write the values to ``out_dir/values.json`` (atomically)."""
    from hrcam.evaluate import save_outputs

    return save_outputs(out_dir, {_VALUES_FILE: values})[Path(_VALUES_FILE).stem]


def cutout_summary(stage: str | os.PathLike) -> dict[str, Any] | None:
    """Return the values a run's cut-out chapter saved, or ``None`` when the chapter did not run."""
    path = Path(stage) / _VALUES_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
