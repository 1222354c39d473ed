"""Which method localizes best, said without choosing and testing on the same images.

Picking the best of many methods and then testing it against the runner-up on the same images
overstates its lead (the winner's curse). :func:`best_method` therefore splits the independent
units (images, or the stamps cut-outs share) into two seeded halves: the leader and runner-up
are *chosen* on one half and their paired difference is *tested* on the other. The whole-sample
values are reported beside it for scale. No lead is claimed from fewer than
:data:`hrcam.metrics.statistics.MIN_VERDICT_UNITS` independent units in the test half.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.evaluate import LOWER_IS_BETTER, METRIC_LABELS
from hrcam.evaluate.report import ci_cell, paired_cell
from hrcam.metrics.statistics import TOO_FEW_TO_JUDGE, can_judge

if TYPE_CHECKING:
    from hrcam.studies.comparison import Comparison

__all__ = ["best_method", "held_out_lead", "ranking", "split_halves"]


def ranking(comp: Comparison, metric: str = "pxap") -> tuple[list[str], list[str]]:
    """Methods by ``metric``, best first; only those scored on every image are ranked.

    Returns
    -------
    (ranked, partial)
        Method keys in order of their value, and those measured on fewer images (a cost cap,
        e.g. Score-CAM), which a ranking over different images would misplace.
    """
    n_all = int(comp.config["num_images"])
    ranked, partial = [], []
    for m in comp.methods:
        try:
            row = comp.row(m, metric)
        except KeyError:
            continue
        (ranked if int(row["n"]) == n_all else partial).append(m)
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
    ranked.sort(key=lambda m: sign * comp.value(m, metric))
    return ranked, partial


def split_halves(
    indices: list[int], units: dict[int, Any] | None, seed: int
) -> tuple[list[int], list[int], int, int]:
    """Split images into a selection half and a test half by their independent unit.

    Returns
    -------
    (select, test, n_select_units, n_test_units)
        Image indices of each half (every image of a unit lands in the same half) and how
        many units each half holds.
    """
    unit_of = {i: (i if units is None else units[i]) for i in indices}
    distinct = sorted({str(u) for u in unit_of.values()})
    order = np.random.default_rng(seed).permutation(len(distinct))
    first = {distinct[k] for k in order[: len(distinct) // 2]}
    select = [i for i in indices if str(unit_of[i]) in first]
    test = [i for i in indices if str(unit_of[i]) not in first]
    return select, test, len(first), len(distinct) - len(first)


def _lead_words(paired: dict[str, Any], lower_better: bool) -> str:
    ahead = "worse" if lower_better else "better"
    if paired["verdict"] == ahead:
        return "ahead of"
    return "not distinguishable from"


def held_out_lead(
    comp: Comparison, ranked: list[str], metric: str, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Choose the leader and runner-up of ``ranked`` on one half of the units; test on the other.

    Returns
    -------
    dict
        ``chosen``, ``chosen_runner_up`` (``None`` when a half is empty), ``paired`` (their
        paired difference on the test half, ``None`` below
        :data:`~hrcam.metrics.statistics.MIN_VERDICT_UNITS` test units), ``n_units`` and
        ``lead``: words for a sentence.
    """
    indices = sorted({int(r["index"]) for r in comp.per_image if r["method"] == ranked[0]})
    select, test, n_sel, n_test = split_halves(indices, comp.units, seed)
    lower = metric in LOWER_IS_BETTER
    # Without the unit of each image (e.g. a comparison read back from disk) images are split.
    unit = comp.config.get("bootstrap_unit", "images") if comp.units is not None else "images"
    chosen = chosen_runner = paired = None
    if select and test:
        half = comp.subset(select)
        order = sorted(ranked, key=lambda m: (1 if lower else -1) * half.metric_value(m, metric))
        chosen, chosen_runner = order[:2]
    if chosen is not None and can_judge(n_test):
        paired = comp.subset(test).paired(chosen, chosen_runner, metric, n_boot, seed)
        lead = (
            f"the leader on {n_sel} of the {unit}, {comp.labels[chosen]}, tested on the other "
            f"{n_test} against that half's runner-up, {comp.labels[chosen_runner]}, is "
            f"{_lead_words(paired, lower)} it (paired difference {paired_cell(paired)})"
        )
    else:
        lead = (f"a lead tested on half of {n_sel + n_test} independent {unit}: "
                f"{TOO_FEW_TO_JUDGE}")  # fmt: skip
    return {"chosen": chosen, "chosen_runner_up": chosen_runner, "paired": paired,
            "n_units": n_sel + n_test, "lead": lead}  # fmt: skip


def best_method(
    comp: Comparison,
    metric: str = "pxap",
    baseline: str = "low_res_cam",
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Which method localizes best by ``metric``, chosen on one half and tested on the other.

    Parameters
    ----------
    comp
        The comparison (its :attr:`~Comparison.units` decide what an independent unit is).
    metric
        A data-set metric (PxAP, MaxBoxAccV2, mask IoU: a paired bootstrap recomputes it for
        both methods on each resample) or a per-image one (paired mean difference).
    baseline
        The method whose runtime the cost ratio divides by.

    Returns
    -------
    dict
        ``metric``, ``best``/``runner_up`` (on all images) with ``best_label``, ``mean``,
        ``ci_low``, ``ci_high``, ``runner_up_mean``; ``chosen``/``chosen_runner_up`` (on the
        selection half), ``paired`` (their difference on the test half, or ``None`` when too
        few units), ``lead`` (words), ``n_units``, ``ms``, ``baseline_ms``, ``cost_ratio``,
        ``partial`` (methods left unranked) and ``text``: plain sentences.
    """
    ranked, partial = ranking(comp, metric)
    if len(ranked) < 2:
        raise ValueError(f"fewer than two methods have {metric!r} on every image")
    best, runner = ranked[:2]
    held = held_out_lead(comp, ranked, metric, n_boot, seed)
    chosen, chosen_runner, paired, lead = (held[k] for k in ("chosen", "chosen_runner_up",
                                                             "paired", "lead"))  # fmt: skip
    ms, base_ms = comp.value(best, "runtime_ms"), comp.value(baseline, "runtime_ms")
    name = METRIC_LABELS.get(metric, metric)
    text = (
        f"By {name}, the highest of the methods scored on all {int(comp.config['num_images'])} "
        f"images is {comp.labels[best]}, {ci_cell(comp.row(best, metric))}, "
        f"then {comp.labels[runner]} ({comp.value(runner, metric):.3f}). Whether the leader "
        f"is really ahead: {lead}. {comp.labels[best]} costs {ms:.1f} ms per image, "
        f"{ms / base_ms:.1f}x the {comp.labels[baseline]}'s {base_ms:.1f} ms."
    )
    return {"metric": metric, "best": best, "runner_up": runner, "best_label": comp.labels[best],
            "mean": comp.value(best, metric), "ci_low": comp.value(best, metric, "ci_low"),
            "ci_high": comp.value(best, metric, "ci_high"),
            "runner_up_mean": comp.value(runner, metric), "chosen": chosen,
            "chosen_runner_up": chosen_runner, "n_units": held["n_units"], "ms": ms,
            "baseline_ms": base_ms, "cost_ratio": ms / base_ms, "lead": lead, "paired": paired,
            "partial": partial, "text": text}  # fmt: skip
