"""The evaluation report as markdown: summary table, cost notes and the paper's §5 table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.evaluate.config import IMAGE_CAP_FIELDS
from hrcam.evaluate.scoring import METRIC_LABELS, TABLE_METRICS
from hrcam.methods.registry import get_method, method_label
from hrcam.metrics.statistics import CI_METHOD, ci_method

if TYPE_CHECKING:
    from hrcam.evaluate.results import EvaluationResult

__all__ = [
    "ci_cell",
    "render_markdown",
    "seconds_table",
    "table_header",
    "table_row",
]

SECTION5_TITLE = "Paper §5: does the refined CAM survive a failed low-res CAM?"


def ci_cell(row: Mapping[str, Any]) -> str:
    """``"mean [ci_low, ci_high]"`` of a summary-table row, as the report's tables print it.

    One decimal for the metrics in percent or milliseconds (``average_drop``,
    ``increase_in_confidence``, ``runtime_ms``), three for the others. A zero-width interval
    (a value from a single image; a runtime timed once) prints as the value alone: "0.290
    [0.290, 0.290]" would read as certainty.
    """
    digits = 1 if row["metric"] in {"average_drop", "increase_in_confidence", "runtime_ms"} else 3
    mean, low, high = (f"{row[k]:.{digits}f}" for k in ("mean", "ci_low", "ci_high"))
    # Compared as printed; "nan" == "nan" too, but a missing value (n = 0) keeps its brackets.
    if low == high and int(row.get("n", 1)) > 0:
        return mean
    return f"{mean} [{low}, {high}]"


def seconds_table(seconds: Mapping[str, float], what: str = "Part", digits: int = 1) -> str:
    """Return a markdown table of wall times: one row per ``seconds`` key, column ``what``."""
    rows = [table_row([name, f"{value:.{digits}f}"]) for name, value in seconds.items()]
    return "\n".join([*table_header([what, "seconds"]), *rows])


def paired_cell(row: Mapping[str, Any], fmt: str = "+.3f") -> str:
    """``"difference [ci_low, ci_high]"`` of a paired row (one method minus another).

    A zero-width interval (one image) prints as the difference alone, as in :func:`ci_cell`.
    """
    difference, low, high = (f"{row[k]:{fmt}}" for k in ("difference", "ci_low", "ci_high"))
    return difference if low == high else f"{difference} [{low}, {high}]"


def _fmt(row: Mapping[str, Any]) -> str:
    if row["n"] == 0 or np.isnan(row["mean"]):
        return "–"
    return ci_cell(row)


def table_header(columns: Sequence[str]) -> list[str]:
    """Return the header line and the ``|---|`` rule of a markdown table of ``columns``."""
    return ["| " + " | ".join(columns) + " |", "|" + "|".join(["---"] * len(columns)) + "|"]


def table_row(cells: Sequence[str]) -> str:
    """Return one line of a markdown table."""
    return "| " + " | ".join(cells) + " |"


def _summary_table(result: EvaluationResult) -> list[str]:
    """One row per method, one column per metric measured."""
    metrics = [m for m in TABLE_METRICS if any(r["metric"] == m for r in result.table)]
    by_key = {(r["method"], r["metric"]): r for r in result.table}
    lines = table_header(["Method", *(METRIC_LABELS[m] for m in metrics)])
    for method in result.methods:
        cells = [method_label(method)]
        for m in metrics:
            row = by_key.get((method, m))
            cells.append(_fmt(row) if row else "–")
        lines.append(table_row(cells))
    return lines


def _image_limited(methods: list[str]) -> list[tuple[str, str]]:
    """(label, config field) of each evaluated method the registry caps to fewer images."""
    out = []
    for m in methods:
        try:
            entry = get_method(m)
        except ValueError:  # a result from a method no longer registered
            continue
        if entry.image_cap:
            out.append((entry.label, IMAGE_CAP_FIELDS[entry.image_cap]))
    return out


def _cost_notes(result: EvaluationResult) -> list[str]:
    """Which metrics and methods ran on fewer images than the rest, and the runtime note."""
    cfg = result.config
    num_images = cfg.get("num_images", 0)
    notes = []
    faith = cfg.get("faithfulness_limit")
    if faith is not None and faith < num_images:
        notes.append(
            f"average drop, increase in confidence and deletion/insertion AUC on the first "
            f"{faith} images ({cfg.get('deletion_steps')} deletion/insertion steps)"
        )
    road_cap = cfg.get("road_limit") or 0
    if road_cap:
        notes.append(
            f"ROAD on the first {min(road_cap, cfg.get('num_images', road_cap))} images "
            f"(percentiles {cfg.get('road_percentiles')}; (LeRF - MoRF) / 2, higher better)"
        )
    for label, field_name in _image_limited(result.methods):
        cap = cfg.get(field_name)
        if cap is not None and cap < num_images:
            notes.append(f"{label} on the first {cap} images")
    lines = []
    if notes:
        lines += ["", "Cost caps: " + "; ".join(notes) + " (column `n` of table.csv)."]
    lines += [
        "",
        "Runtime: wall time of the method's own call per image (including its forward "
        f"pass), on {cfg.get('device', '?')} with {cfg.get('torch_threads', '?')} torch threads.",
    ]
    for r in (r for r in result.table if r["metric"] == "fallback_rate"):
        lines.append("")
        lines.append(
            f"{method_label(r['method'])}: region growing failed and the map fell "
            f"back to the low-res CAM on {100 * r['mean']:.1f}% of images "
            f"[{100 * r['ci_low']:.1f}, {100 * r['ci_high']:.1f}]."
        )
    return lines


def _cost_ranking(result: EvaluationResult, section_headings: bool) -> list[str]:
    """Return the methods by runtime, their PxAP, and which are on the cost–quality front."""
    from hrcam.evaluate.front import cost_ranking_lines

    table = cost_ranking_lines(result.table, {m: method_label(m) for m in result.methods})
    if not table:
        return []
    title = "Ranking by cost"
    heading = f"## {title}" if section_headings else f"**{title}**"
    return [
        "",
        heading,
        "",
        "Each method's runtime per image (its own forward pass included) and PxAP (mean). A "
        "method is on the front when no other is both as cheap and as good, and better in one.",
        "",
        *table,
    ]


def _section5_table(section5: list[dict[str, Any]]) -> list[str]:
    """Per subset: the low-res CAM's means, then each method's mean and paired difference."""
    s5_metrics = list(dict.fromkeys(r["metric"] for r in section5))
    lines = table_header(["Subset", "Method", "n", *(METRIC_LABELS.get(m, m) for m in s5_metrics)])
    groups: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}
    for r in section5:
        groups.setdefault((r["subset"], r["method"]), {})[r["metric"]] = r
    seen_subsets: set[str] = set()
    for (subset, method), by_metric in groups.items():
        first = next(iter(by_metric.values()))
        if first["n"] == 0:
            continue
        if subset not in seen_subsets:
            seen_subsets.add(subset)
            base = [f"{by_metric[m]['low_res_mean']:.3f}" for m in s5_metrics]
            lines.append(
                f"| {subset} | {method_label('low_res_cam')} | {first['n']} | "
                + " | ".join(base)
                + " |"
            )
        cells = [
            f"{by_metric[m]['method_mean']:.3f} ({paired_cell(by_metric[m])})" for m in s5_metrics
        ]
        lines.append(
            f"| {subset} | {method_label(method)} | {first['n']} | " + " | ".join(cells) + " |"
        )
    for subset in sorted({k[0] for k in groups} - seen_subsets):
        lines += ["", f"No images in subset *{subset}*."]
    return lines


def render_markdown(
    result: EvaluationResult, title: bool = True, section_headings: bool = True
) -> str:
    """Render the report as markdown: one row per method, one column per metric.

    Parameters
    ----------
    result
        What :func:`hrcam.evaluate.evaluate` measured.
    title
        Start with the ``# Localization and faithfulness`` title.
    section_headings
        Put the §5 part under a ``##`` heading; else under a bold line (for a book page,
        where a heading would enter its table of contents).

    Returns
    -------
    str
        The report, ending with a newline.
    """
    cfg = result.config
    lines = ["# Localization and faithfulness"] if title else []
    lines += [
        "",
        f"{cfg.get('num_images', '?')} images of split `{cfg.get('split', '?')}`; each method "
        f"explains the **{cfg.get('target', '?')}** class. Mean and {_ci_text(cfg)}. "
        "All maps are min-max normalised; thresholds on a grid of "
        f"{cfg.get('num_thresholds', 100)} steps. PxAP is the data-set statistic of Choe et "
        "al. (CVPR 2020): pixel counts summed over every image, one precision-recall curve.",
        "",
    ]
    lines += _sources_lines(cfg)
    lines += _summary_table(result)
    lines += _cost_notes(result)
    lines += _cost_ranking(result, section_headings)
    heading = f"## {SECTION5_TITLE}" if section_headings else f"**{SECTION5_TITLE}**"
    lines += ["", heading, ""]
    if not result.section5:
        lines.append(f"Not measured: {_section5_needs(result.methods)}.")
        return "\n".join(lines) + "\n"
    lines += [
        "Images are split by the low-res CAM's pointing game (a miss: the maximum is off the "
        "object). On each subset every method is compared with the low-res CAM on the same "
        "images: its mean, then the paired difference (method minus low-res CAM) with a "
        "bootstrap 95% CI. On the miss subset, the pointing game of a method is the share "
        "of failed low-res CAMs it rescues.",
        "",
    ]
    lines += _section5_table(result.section5)
    return "\n".join(lines) + "\n"


def _sources_lines(cfg: dict) -> list[str]:
    """Name the evaluated checkpoint and the learned upsampler, where the run recorded them."""
    lines = []
    if cfg.get("checkpoint"):
        lines.append(f"Checkpoint: `{cfg['checkpoint']}`.")
    upsampler = cfg.get("upsampler")
    if isinstance(upsampler, dict) and upsampler.get("checkpoint"):
        fingerprint = upsampler.get("classifier_fingerprint")
        identity = (
            f"trained for this classifier, weights fingerprint `{fingerprint}`"
            if fingerprint
            else "written before hrcam recorded the classifier it was trained for: not checked"
        )
        lines.append(
            f"Learned upsampler (method `featup_jbu`): `{upsampler['checkpoint']}` ({identity})."
        )
    return [*lines, ""] if lines else []


def _ci_text(cfg: dict) -> str:
    """Return the CI description for the resamples that ran (older results lack n_boot: 1000)."""
    if not isinstance(cfg.get("n_boot"), int):
        return CI_METHOD
    unit = cfg.get("bootstrap_unit", "images")
    text = ci_method(cfg["n_boot"], unit)
    if unit != "images" and "num_units" in cfg:
        text += f": {cfg['num_units']} independent {unit}, as images that share one are not"
    return text


def _section5_needs(methods: list[str]) -> str:
    """Return why the §5 comparison is missing: it compares other methods with the low-res CAM."""
    if "low_res_cam" not in methods:
        return "needs the `low_res_cam` method, the baseline every method is compared with"
    return "needs a second method besides `low_res_cam` to compare with it"
