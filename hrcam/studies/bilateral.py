"""Joint bilateral upsampling against the two filters, on the same images (notebook 10).

``cam_jbu`` (Kopf et al.'s joint bilateral upsampling of the low-res samples), ``cam_bilateral``
(OpenCV's joint bilateral filter on the bilinear CAM, at full resolution) and ``cam_guided``
(the guided filter on it): each one's PxAP, MaxBoxAccV2 and mask IoU at the best shared
threshold as the evaluator reports them (value and 95 % CI, from its summary rows), and the
paired differences ``cam_jbu`` minus each filter on the same images: the data-set metrics
(PxAP as Choe et al. define it, MaxBoxAccV2, mask IoU) recomputed for both maps on every
bootstrap resample, the pointing game as a mean per-image difference. Resamples follow the
comparison's units (stamps on the cut-outs); no verdict from fewer than 10 of them. Whichever
way the differences come out, the table says it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hrcam.evaluate.report import ci_cell, paired_cell, table_header, table_row
from hrcam.evaluate.scoring import METRIC_LABELS
from hrcam.metrics.statistics import TOO_FEW_TO_JUDGE, can_judge

if TYPE_CHECKING:
    from hrcam.studies.comparison import Comparison

__all__ = ["JBU_RIVALS", "JBU_TABLE_METRICS", "jbu_comparison"]

JBU_RIVALS: tuple[str, ...] = ("cam_bilateral", "cam_guided")
"""The filters ``cam_jbu`` is compared with."""

JBU_TABLE_METRICS: tuple[str, ...] = ("pxap", "max_box_acc_v2", "mask_iou", "runtime_ms")
"""The metrics of the comparison's first table."""

PAIRED_METRICS: tuple[str, ...] = ("pxap", "max_box_acc_v2", "mask_iou", "pointing")
"""The metrics of the paired differences (data-set metrics recomputed on each resample)."""


def jbu_comparison(
    comp: Comparison,
    method: str = "cam_jbu",
    rivals: Sequence[str] = JBU_RIVALS,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare ``method`` with each rival: means with CIs, and paired differences.

    Parameters
    ----------
    comp
        The chapter's evaluation (:func:`hrcam.studies.comparison.load_evaluation`).
    method, rivals
        Method keys; the ones the evaluation did not run are left out.
    n_boot, seed
        Bootstrap resamples and seed of the paired differences.

    Returns
    -------
    dict
        ``text`` (markdown: the means table, then the paired table or why there is none),
        ``compared`` (the rivals that ran) and ``paired`` (``{(rival, metric): row}`` of
        :meth:`Comparison.paired`).
    """
    present = [m for m in (method, *rivals) if m in comp.methods]
    compared = [r for r in rivals if r in present]
    if method not in present or not compared:
        return {"text": f"Not measured: needs `{method}` and one of {list(rivals)}.",
                "compared": [], "paired": {}}  # fmt: skip
    lines = table_header(["Method", *(METRIC_LABELS.get(m, m) for m in JBU_TABLE_METRICS)])
    for m in present:
        cells = [f"{comp.labels.get(m, m)} (`{m}`)"]
        for metric in JBU_TABLE_METRICS:
            try:
                cells.append(ci_cell(comp.row(m, metric)))
            except KeyError:
                cells.append("–")
        lines.append(table_row(cells))
    paired: dict[tuple[str, str], dict[str, Any]] = {}
    for rival in compared:
        for metric in PAIRED_METRICS:
            try:
                paired[rival, metric] = comp.paired(method, rival, metric, n_boot, seed)
            except KeyError:  # not measured on both
                continue
    lines += [""]
    units = int(comp.config.get("num_units", comp.config.get("num_images", 0)))
    if paired:
        lines += table_header(["Difference", "Metric", "n", "mean [95% CI]", "verdict"])
        for (rival, metric), row in paired.items():
            lines.append(table_row([
                f"`{method}` − `{rival}`", METRIC_LABELS.get(metric, metric), str(row["n"]),
                paired_cell(row), row["verdict"] if can_judge(units) else TOO_FEW_TO_JUDGE,
            ]))  # fmt: skip
    else:
        lines.append("No metric measured on both maps to pair.")
    return {"text": "\n".join(lines), "compared": compared, "paired": paired}
