"""Every saliency method of one run side by side, and a consistency-trained expansion network.

The book's "Beyond the paper" page asks which map localizes best on the demo data and at
what cost. Its numbers come from two evaluations with :func:`hrcam.evaluate.evaluate`: the one
notebook 05 saved (every method on the paper's expansion network) and one of the maps of a
second expansion network trained with ``consistency_weight > 0`` on the same frozen
classifier. Both score the same first images with the same metrics, thresholds and bootstrap,
so their rows can stand in one table; :func:`combine` checks that they really saw the same
images and predictions before merging them. Comparisons between two methods are *paired*
(the same images; data-set metrics such as PxAP are recomputed for both methods on every
bootstrap resample, per-image metrics give a mean difference).

>>> base = load_evaluation("runs/demo/evaluation")  # doctest: +SKIP
>>> result = evaluate(consistency_model, val, methods=CONSISTENCY_METHODS)  # doctest: +SKIP
>>> comp = combine(base, result)  # doctest: +SKIP
>>> print(best_method(comp, "pxap")["text"])  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.core.tables import ci_text, find_row, json_safe, put_ci
from hrcam.evaluate import METRIC_LABELS, SCALAR_METRICS, save_outputs
from hrcam.evaluate.report import ci_cell, paired_cell, table_header, table_row
from hrcam.evaluate.scoring import DATASET_METRICS, paired_dataset_ci
from hrcam.methods.registry import method_label
from hrcam.metrics.statistics import ci_method, paired_mean_ci
from hrcam.studies.ranking import best_method, ranking
from hrcam.studies.refine import verdict

if TYPE_CHECKING:
    from hrcam.evaluate import EvaluationResult
    from hrcam.models import HRCAM

__all__ = [
    "CONSISTENCY_METHODS",
    "Comparison",
    "best_method",
    "ci_text",
    "combine",
    "consistency_effect",
    "consistency_label",
    "consistency_name",
    "consistency_text",
    "effect_rows",
    "example_maps",
    "load_evaluation",
    "page_values",
    "ranking",
    "save_values",
]

CONSISTENCY_METHODS: tuple[str, ...] = ("high_res_cam", "refined_paper", "refined_reference")
"""hrcam's maps that depend on the expansion network (the low-res CAM does not)."""

RANKED_METRICS: tuple[str, ...] = ("pxap", "mask_iou", "max_box_acc_v2")
"""Localization metrics the page ranks by: threshold-free PxAP first, then the two
metrics that choose one threshold for the whole data set."""

TABLE_COLUMNS: tuple[str, ...] = (
    "pointing",
    "energy_pointing",
    "pxap",
    "mask_iou",
    "max_box_acc_v2",
    "runtime_ms",
)


def consistency_name(method: str) -> str:
    """Key of one of :data:`CONSISTENCY_METHODS` computed with the consistency network."""
    return f"consistency_{method}"


def consistency_label(method: str, weight: float) -> str:
    """Display name of :func:`consistency_name` ``(method)``."""
    return f"{method_label(method)}, consistency W={weight:g}"


# -- the combined table -------------------------------------------------------------------------


@dataclass
class Comparison:
    """Rows of several evaluations of the same images, under one set of method names.

    Attributes
    ----------
    methods
        Method keys in table order.
    labels
        Display name of every method.
    table
        Rows ``method``, ``metric``, ``n``, ``mean``, ``ci_low``, ``ci_high`` (as
        :attr:`hrcam.evaluate.EvaluationResult.table`).
    per_image
        Records ``index``, ``predicted``, ``target``, ``method`` and the per-image scores.
    config
        The base evaluation's settings (``num_images``, ``split``, ``target``...).
    curves
        Each method's packed curves and pixel counts (``curves.npz`` of the evaluation), for
        the data-set metrics' paired differences.
    units
        ``{image index: unit}`` when the intervals resample units (e.g. stamps, see
        :meth:`resampled`), else ``None`` (images).
    """

    methods: list[str]
    labels: dict[str, str]
    table: list[dict[str, Any]]
    per_image: list[dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)
    units: dict[int, Any] | None = field(default=None, repr=False)

    def row(self, method: str, metric: str) -> dict[str, Any]:
        """Return the table row of ``metric`` for ``method``."""
        return find_row(self.table, method, metric)

    def value(self, method: str, metric: str, key: str = "mean") -> float:
        """``key`` (``mean``, ``ci_low``, ``ci_high``, ``n``) of ``metric`` for ``method``."""
        return float(self.row(method, metric)[key])

    def paired(
        self, a: str, b: str, metric: str = "pxap", n_boot: int = 1000, seed: int = 0
    ) -> dict[str, Any]:
        """Subtract method ``b`` from method ``a`` on the images both were scored on.

        A data-set metric (PxAP, MaxBoxAccV2, mask IoU) is recomputed for both methods on
        every resample of the images they share; a per-image metric is a mean difference.
        Resamples follow :attr:`units`.

        Returns
        -------
        dict
            ``n``, ``difference``, ``ci_low``, ``ci_high`` (percentile bootstrap) and
            ``verdict`` (:func:`hrcam.studies.verdict`).
        """
        if metric in DATASET_METRICS:
            if a not in self.curves or b not in self.curves:
                raise KeyError(f"no curves of {a!r} and {b!r}: load the evaluation with its "
                               "curves.npz (load_evaluation)")  # fmt: skip
            d = paired_dataset_ci(self.curves[a], self.curves[b], metric, n_boot, seed,
                                  self.units)  # fmt: skip
            n, mean, lo, hi = d["n"], d["difference"], d["ci_low"], d["ci_high"]
        elif metric in SCALAR_METRICS:
            n, mean, lo, hi = paired_mean_ci(self._scores(a, metric), self._scores(b, metric),
                                             n_boot, seed, self.units)  # fmt: skip
        else:
            raise ValueError(f"unknown metric {metric!r}; choose from {list(METRIC_LABELS)}")
        if not n:
            raise KeyError(f"no images with {metric!r} for both {a!r} and {b!r}")
        return {"a": a, "b": b, "metric": metric, "n": n, "difference": mean,
                "ci_low": lo, "ci_high": hi, "verdict": verdict(lo, hi)}  # fmt: skip

    def resampled(
        self, units: Mapping[int, Any], unit_name: str, n_boot: int = 1000, seed: int = 0
    ) -> Comparison:
        """Return the same comparison with every interval resampling ``units``, not images.

        Parameters
        ----------
        units
            ``{image index: unit}``, e.g. each cut-out's stamp.
        unit_name
            What a unit is, in words (plural, e.g. ``"stamps"``), for the captions.
        """
        from hrcam.evaluate import TABLE_METRICS, summary_rows

        present = {r["metric"] for r in self.table}
        metrics = [m for m in TABLE_METRICS if m in present]
        table = summary_rows(self.per_image, self.curves, self.methods, n_boot, seed, metrics,
                             units)  # fmt: skip
        for r in table:
            r["label"] = self.labels.get(r["method"], r["label"])
        n_units = len({units[int(r["index"])] for r in self.per_image})
        config = {**self.config, "bootstrap_unit": unit_name, "num_units": n_units}
        return Comparison(list(self.methods), dict(self.labels), table, self.per_image, config,
                          self.curves, dict(units))  # fmt: skip

    def subset(self, indices: Sequence[int]) -> Comparison:
        """Return the same comparison on the images ``indices`` only (records and curves)."""
        keep = {int(i) for i in indices}
        curves = {}
        for m, c in self.curves.items():
            rows = np.array([int(i) in keep for i in c.get("index", [])], bool)
            curves[m] = {k: (v if k == "thresholds" else np.asarray(v)[rows]) for k, v in c.items()}
        per_image = [r for r in self.per_image if int(r["index"]) in keep]
        config = {**self.config, "num_images": len(keep)}
        return Comparison(list(self.methods), dict(self.labels), list(self.table), per_image,
                          config, curves, self.units)  # fmt: skip

    def metric_value(self, method: str, metric: str) -> float:
        """``metric`` of ``method`` recomputed from this comparison's own images."""
        from hrcam.evaluate.scoring import dataset_value

        if metric in DATASET_METRICS:
            return dataset_value(self.curves[method], metric)
        return float(np.mean(list(self._scores(method, metric).values())))

    def _scores(self, method: str, metric: str) -> dict[int, float]:
        out = {}
        for r in self.per_image:
            if r["method"] == method and np.isfinite(r.get(metric, np.nan)):
                out[int(r["index"])] = float(r[metric])
        return out

    def to_markdown(self, metrics: Sequence[str] = TABLE_COLUMNS) -> str:
        """One row per method, one column per metric: mean [95% CI]; ``n`` when partial."""
        n_all = int(self.config.get("num_images", 0))
        header = ["Method", *(METRIC_LABELS.get(m, m) for m in metrics)]
        unit = self.config.get("bootstrap_unit", "images")
        n_boot = int(self.config.get("n_boot", 1000))
        scale = f"{n_all} validation images"
        if "num_units" in self.config:
            scale += f" from {self.config['num_units']} independent {unit}"
        lines = [f"{scale}; PxAP as Choe et al. define it (pixel counts summed over the "
                 f"images); {ci_method(n_boot, unit)}.", "", *table_header(header)]  # fmt: skip
        for method in self.methods:
            cells = [self.labels.get(method, method)]
            for metric in metrics:
                try:
                    r = self.row(method, metric)
                except KeyError:
                    cells.append("–")
                    continue
                # As evaluate's report prints it; but a NaN stays visible here (no "–").
                cell = ci_cell(r)
                if int(r["n"]) < n_all and metric != "runtime_ms":
                    cell += f" (n={int(r['n'])})"
                cells.append(cell)
            lines.append(table_row(cells))
        return "\n".join(lines) + "\n"

    def save(self, out_dir: str | os.PathLike) -> Path:
        """Write ``comparison.json`` (methods, labels, table, config) into ``out_dir``."""
        data = {"methods": self.methods, "labels": self.labels, "table": self.table,
                "config": self.config}  # fmt: skip
        return save_outputs(out_dir, {"comparison.json": json_safe(data)})["comparison"]


def _parse(value: str) -> Any:
    if value == "":
        return float("nan")
    if value in ("True", "False"):
        return value == "True"
    try:
        return float(value)
    except ValueError:
        return value


def load_evaluation(eval_dir: str | os.PathLike) -> Comparison:
    """Load the evaluation that :meth:`hrcam.evaluate.EvaluationResult.save` wrote to ``eval_dir``.

    Parameters
    ----------
    eval_dir
        A folder with ``summary.json`` and ``per_image.csv`` (e.g. ``run_dir/evaluation``).

    Raises
    ------
    FileNotFoundError
        When the folder lacks either file (run the evaluation first).
    """
    folder = Path(eval_dir)
    summary_path, per_image_path = folder / "summary.json", folder / "per_image.csv"
    for path in (summary_path, per_image_path):
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} does not exist: run the evaluation (notebook 05_evaluation) first"
            )
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    with per_image_path.open(newline="", encoding="utf-8") as fh:
        records = [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(fh)]
    for r in records:
        for key in ("index", "label", "predicted", "target"):
            r[key] = int(r[key])
    methods = list(summary["config"]["methods"])
    curves: dict[str, dict[str, np.ndarray]] = {}
    if (folder / "curves.npz").is_file():
        with np.load(folder / "curves.npz") as data:
            for key in data.files:
                method, _, part = key.partition("__")
                curves.setdefault(method, {})[part] = data[key]
    return Comparison(
        methods=methods,
        labels={m: method_label(m) for m in methods},
        table=list(summary["table"]),
        per_image=records,
        config=dict(summary["config"]),
        curves=curves,
    )


def _check_same_images(base: Comparison, result: EvaluationResult) -> None:
    for key in ("num_images", "split", "target", "num_thresholds", "n_boot", "seed"):
        if base.config.get(key) != result.config.get(key):
            raise ValueError(
                f"the evaluations differ in {key} ({base.config.get(key)!r} against "
                f"{result.config.get(key)!r}); evaluate both on the same images and settings"
            )
    first = base.methods[0]
    theirs = {r["index"]: r for r in result.per_image if r["method"] == result.methods[0]}
    for r in base.per_image:
        if r["method"] != first:
            continue
        other = theirs.get(r["index"])
        if other is None or (other["predicted"], other["target"]) != (r["predicted"], r["target"]):
            raise ValueError(
                f"image {r['index']}: the evaluations explain different classes; both must use "
                "the same classifier (its predictions decide the explained class)"
            )


def combine(
    base: Comparison, result: EvaluationResult, weight: float, methods: Sequence[str] = ()
) -> Comparison:
    """Return ``base`` with the consistency network's rows of ``result`` added.

    Parameters
    ----------
    base
        From :func:`load_evaluation`.
    result
        :func:`hrcam.evaluate.evaluate` of the consistency-trained model on the same images,
        settings and classifier.
    weight
        Its consistency weight (for the labels).
    methods
        Methods of ``result`` to add (default: those of :data:`CONSISTENCY_METHODS` it has).

    Returns
    -------
    Comparison
        ``base``'s methods, then ``consistency_<method>`` for each added one.

    Raises
    ------
    ValueError
        When the two evaluations did not score the same images with the same settings, or
        explain different classes.
    """
    _check_same_images(base, result)
    added = list(methods) or [m for m in CONSISTENCY_METHODS if m in result.methods]
    missing = [m for m in added if m not in result.methods]
    if missing:
        raise ValueError(f"the evaluation has no method(s) {missing}; it has {result.methods}")
    names = {m: consistency_name(m) for m in added}
    table = list(base.table)
    table += [{**r, "method": names[r["method"]],
               "label": consistency_label(r["method"], weight)}
              for r in result.table if r["method"] in names]  # fmt: skip
    per_image = list(base.per_image)
    per_image += [{**r, "method": names[r["method"]]} for r in result.per_image
                  if r["method"] in names]  # fmt: skip
    # The paper network's maps of the same kind get "W=0", so that no label is ambiguous.
    labels = {**base.labels, **{m: f"{method_label(m)}, W=0" for m in added if m in base.labels}}
    labels.update({names[m]: consistency_label(m, weight) for m in added})
    config = {**base.config, "consistency_weight": float(weight)}
    curves = {**base.curves, **{names[m]: result.curves[m] for m in added if m in result.curves}}
    return Comparison(base.methods + list(names.values()), labels, table, per_image, config,
                      curves, base.units)  # fmt: skip


# -- ranking and the page's statement ---------------------------------------------------------


def consistency_effect(
    comp: Comparison, metric: str = "pxap", n_boot: int = 1000, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Compare each consistency map with the paper network's same map and with the low-res CAM.

    Both are paired differences (the consistency map minus the other) on the same images.

    Returns
    -------
    dict
        ``{method: {"vs_paper": paired row, "vs_low_res": paired row, "rank": 1-based rank
        by metric among the ranked methods (0 if unranked), "ranked": how many}}``.
    """
    ranked, _ = ranking(comp, metric)
    out = {}
    for m in CONSISTENCY_METHODS:
        key = consistency_name(m)
        if key not in comp.methods:
            continue
        out[m] = {
            "vs_paper": comp.paired(key, m, metric, n_boot, seed),
            "vs_low_res": comp.paired(key, "low_res_cam", metric, n_boot, seed),
            "rank": ranked.index(key) + 1 if key in ranked else 0,
            "ranked": len(ranked),
        }
    return out


def effect_rows(
    comp: Comparison, effect: Mapping[str, Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Return the paired rows of :func:`consistency_effect` and their labels, for a figure.

    Each consistency map minus the paper network's same map first, then each minus the
    low-res CAM; a label reads ``"<a> minus <b>"`` with :attr:`Comparison.labels`.
    """
    rows = [e[k] for k in ("vs_paper", "vs_low_res") for e in effect.values()]
    return rows, [f"{comp.labels[r['a']]} minus {comp.labels[r['b']]}" for r in rows]


def consistency_text(effect: Mapping[str, Mapping[str, Any]], weight: float) -> str:
    """Plain sentences on what the consistency term did, from :func:`consistency_effect`."""
    parts = []
    for m, e in effect.items():
        p, low = e["vs_paper"], e["vs_low_res"]
        parts.append(
            f"{method_label(m)}: {paired_cell(p)} PxAP against the paper's network "
            f"({p['verdict']}), {paired_cell(low)} against the low-res CAM "
            f"({low['verdict']}); rank {e['rank']} of {e['ranked']}."
        )
    return f"With consistency weight W={weight:g}, paired on the same images: " + " ".join(parts)


# -- figures ----------------------------------------------------------------------------------


def example_maps(
    model: HRCAM,
    consistency_model: HRCAM | None,
    images: Any,
    targets: Sequence[int],
    methods: Sequence[str],
) -> dict[str, np.ndarray]:
    """Compute the maps of every method for a few images, at image resolution, min-max normalised.

    Parameters
    ----------
    model
        The paper's :class:`~hrcam.models.HRCAM`: every method of ``methods``.
    consistency_model
        The consistency-trained one: :data:`CONSISTENCY_METHODS` (as ``consistency_*``);
        ``None``: none.
    images
        Float ``(B, 3, H, W)`` tensor in [0, 1].
    targets
        Class to explain per image.
    methods
        Names of :data:`hrcam.methods.ALL_METHODS`.

    Returns
    -------
    dict
        ``{method key: (B, H, W) float32}`` in the order of ``methods``, then the
        consistency maps.
    """
    from hrcam.methods import build_methods

    targets = [int(t) for t in targets]
    out = {name: fn(images, targets).maps for name, fn in build_methods(model, methods).items()}
    if consistency_model is not None:
        for name, fn in build_methods(consistency_model, CONSISTENCY_METHODS).items():
            out[consistency_name(name)] = fn(images, targets).maps
    return out


# -- the page's values, for the claims page ---------------------------------------------------


def page_values(
    comp: Comparison, weight: float, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Return, by name, the combined table's numbers and sentences that the pages cite.

    The pages are the "Beyond the paper" page (notebook 09) and the claims page.

    Parameters
    ----------
    comp
        The combined table (:func:`combine`).
    weight
        The consistency weight.
    n_boot, seed
        Bootstrap of the paired differences.

    Returns
    -------
    dict
        Floats (``<key>``, ``<key>_lo``, ``<key>_hi`` for intervals), ints and strings
        (``*_label``, ``*_verdict``, ``statement``, ``consistency_text``).
    """
    out: dict[str, Any] = {"weight": float(weight), "n_images": int(comp.config["num_images"])}
    sentences = []
    bests = {}
    for metric in RANKED_METRICS:
        best = bests[metric] = best_method(comp, metric, n_boot=n_boot, seed=seed)
        out[f"best_{metric}_label"] = best["best_label"]
        put_ci(out, f"best_{metric}", best, "mean")
        out[f"best_{metric}_ms"] = best["ms"]
        out[f"best_{metric}_cost_ratio"] = best["cost_ratio"]
        sentences.append(best["text"])
    partial = bests["pxap"]["partial"]  # the methods left out of the PxAP ranking
    if partial:
        sentences.append(
            "Not ranked, because measured on fewer images (a cost cap): "
            + ", ".join(comp.labels[m] for m in partial) + "."
        )  # fmt: skip
    out["statement"] = " ".join(sentences)
    out["lowres_pxap"] = comp.value("low_res_cam", "pxap")
    out["lowres_ms"] = comp.value("low_res_cam", "runtime_ms")
    effect = consistency_effect(comp, "pxap", n_boot, seed)
    for m, e in effect.items():
        key = f"cons_{m}"
        put_ci(out, f"{key}_pxap", comp.row(consistency_name(m), "pxap"), "mean")
        out[f"paper_{m}_pxap"] = comp.value(m, "pxap")
        put_ci(out, f"{key}_vs_paper", e["vs_paper"], "difference")
        out[f"{key}_vs_paper_verdict"] = e["vs_paper"]["verdict"]
        put_ci(out, f"{key}_vs_lowres", e["vs_low_res"], "difference")
        out[f"{key}_vs_lowres_verdict"] = e["vs_low_res"]["verdict"]
        out[f"{key}_rank"] = int(e["rank"])
        out[f"{key}_ms"] = comp.value(consistency_name(m), "runtime_ms")
        out["n_ranked"] = int(e["ranked"])
    out["consistency_text"] = consistency_text(effect, weight)
    return out


def save_values(values: Mapping[str, Any], out_dir: str | os.PathLike) -> Path:
    """Write :func:`page_values` to ``out_dir/values.json`` (NaN as null); return the path."""
    return save_outputs(out_dir, {"values.json": json_safe(dict(values))})["values"]
