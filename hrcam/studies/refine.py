"""Which part carries the refined CAM? Measurements behind the book's evidence chapter.

The post-processing of paper §3.3 combines a low-res CAM (location) with a high-res map
(shape). This module runs that same post-processing with controlled inputs and settings and
scores every output with the metrics of :mod:`hrcam.evaluate` (same threshold grid, same
bootstrap CIs):

* **high-res-source ablation** (:func:`~hrcam.studies.high_res_source`): the map is the expansion
  network's high-res CAM, the image's luminance, uniform noise, or an *oracle* made from the
  ground-truth mask with a controlled blur (``oracle_smoothness``, Gaussian sigma in pixels)
  and noise share (``oracle_noise``). The oracle bounds what post-processing can reach with a
  near-perfect high-res map; noise bounds it from below.
* **post-processing settings** (:data:`BOUNDS_SWEEP`): the paper's quartile bounds, the
  reference code's gradient bounds, wider percentile pairs, and the §5 size limits on and off,
  all as :class:`~hrcam.postprocess.RefineConfig` overrides of the two presets.
* **per-stage failure analysis** (:func:`failure_kind`): for each image the ROI's IoU with the
  object, the grown region's IoU, the fallback reason and whether the refined map beats the
  low-res one.

The failure analysis's summaries are in :mod:`hrcam.studies.failures`.

>>> cams = compute_cams(model, StoreDataset(root, "val"), limit=200)  # doctest: +SKIP
>>> study = refine_study(cams, sources=SOURCES)  # doctest: +SKIP
>>> study.table  # rows: method, metric, n, mean, ci_low, ci_high  # doctest: +SKIP
>>> study.paired  # method minus low-res CAM, same images  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.core.tables import find_row
from hrcam.studies.sources import SOURCE_LABELS, SOURCES, high_res_source

if TYPE_CHECKING:
    from hrcam.methods.camset import CamSet
    from hrcam.postprocess import RefineConfig, RefineResult


__all__ = [
    "BOUNDS_SWEEP",
    "FAILURE_KINDS",
    "PAIRED_METRICS",
    "PRESET_CONFIGS",
    "StudyResult",
    "failure_kind",
    "mask_iou",
    "paired_between",
    "refine_study",
    "verdict",
]


PRESET_CONFIGS: dict[str, dict[str, Any]] = {
    "paper": {"preset": "paper"},
    "reference": {"preset": "reference"},
}
"""The two presets, unchanged: the default post-processing settings of the ablation."""

BOUNDS_SWEEP: dict[str, dict[str, Any]] = {
    "paper (Q1-Q3 of high-res)": {"preset": "paper"},
    "paper, 10/90": {"preset": "paper", "lower_percentile": 10.0, "upper_percentile": 90.0},
    "paper, 5/95": {"preset": "paper", "lower_percentile": 5.0, "upper_percentile": 95.0},
    "paper, no size limits": {"preset": "paper", "fallback_to_low_res": False},
    "reference (Q1-Q3 of gradient)": {"preset": "reference"},
    "reference, 10/90": {
        "preset": "reference",
        "lower_percentile": 10.0,
        "upper_percentile": 90.0,
    },
    "reference, 5/95": {"preset": "reference", "lower_percentile": 5.0, "upper_percentile": 95.0},
    "reference, no size limits": {"preset": "reference", "fallback_to_low_res": False},
}
"""Bounds and fallback settings swept by the book. The first entry of each group is the
preset itself; "no size limits" switches off the §5 fallback (0.05x / 4x the ROI area, the
defaults, chosen without data), so the failed region is blended in anyway. Percentile pairs
keep the ``edge_percentile`` of the preset (75)."""

FAILURE_KINDS: tuple[str, ...] = (
    "fallback: too small",
    "fallback: too large",
    "fallback: other",
    "ROI off the object",
    "refined loses",
    "refined wins",
)
"""Mutually exclusive per-image outcomes, in the order :func:`failure_kind` tests them."""

PAIRED_METRICS: tuple[str, ...] = (
    "pxap",
    "image_ap",
    "mask_iou_oracle",
    "pointing",
    "energy_pointing",
)
"""Metrics compared with the low-res CAM on the same images (paired bootstrap): data-set PxAP
recomputed on each resample, then per-image metrics as mean differences."""


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean masks (0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def failure_kind(record: Mapping[str, Any]) -> str:
    """Classify one image's refinement into one of :data:`FAILURE_KINDS`.

    The stages are tested in pipeline order: a §5 fallback (the refined map *is* the low-res
    map), then a ROI that does not hold the object (the low-res CAM's maximum is off the
    object: the pointing game misses), then whether the refined map's AP on this image beats
    the low-res map's.

    Parameters
    ----------
    record
        A per-image record of :func:`refine_study` (keys ``fallback_reason``,
        ``low_res_pointing``, ``image_ap``, ``low_res_image_ap``).
    """
    reason = record["fallback_reason"]
    if reason == "too_small":
        return "fallback: too small"
    if reason == "too_large":
        return "fallback: too large"
    if reason not in ("", None):
        return "fallback: other"
    if record["low_res_pointing"] < 0.5:
        return "ROI off the object"
    return "refined wins" if record["image_ap"] > record["low_res_image_ap"] else "refined loses"


@dataclass
class StudyResult:
    """What :func:`refine_study` measured.

    Attributes
    ----------
    methods
        Method keys in order: ``"low_res_cam"``, then ``"<config>@<source>"`` for every
        post-processing config and high-res source, and ``"raw@<source>"`` (the source map
        itself, not refined).
    table
        Rows ``method``, ``config``, ``source``, ``metric``, ``n``, ``mean``, ``ci_low``,
        ``ci_high`` (the metrics of :func:`hrcam.evaluate.summary_rows`, plus
        ``fallback_rate``).
    paired
        Rows ``method``, ``config``, ``source``, ``metric``, ``n``, ``method_mean``,
        ``low_res_mean``, ``difference`` (method minus low-res CAM, same images), ``ci_low``,
        ``ci_high`` and ``share_better`` (images where the method scores higher).
    per_image
        One record per (image, method): scores, ``fallback_reason``, ``region_ratio``,
        ``roi_iou``, ``grown_iou``, ``filled_iou``, ``low_res_*`` scores and ``kind``
        (:func:`failure_kind`) for refined maps.
    config
        Settings of the study.
    results
        ``{(position, method): RefineResult}`` for the positions asked for in
        ``keep_results`` (every intermediate, for figures).
    curves
        Each method's packed curves and pixel counts (for paired data-set statistics).
    units
        ``{image index: unit}`` the bootstrap resampled, or ``None`` (images).
    """

    methods: list[str]
    table: list[dict[str, Any]]
    paired: list[dict[str, Any]]
    per_image: list[dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)
    results: dict[tuple[int, str], Any] = field(default_factory=dict, repr=False)
    curves: dict[str, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)
    units: dict[int, Any] | None = field(default=None, repr=False)

    def value(self, method: str, metric: str, key: str = "mean") -> float:
        """``key`` (``mean``, ``ci_low``, ``ci_high``) of ``metric`` for ``method``."""
        return float(find_row(self.table, method, metric)[key])

    def difference(self, method: str, metric: str = "pxap") -> dict[str, Any]:
        """Return the paired row of ``method`` minus the low-res CAM for ``metric``."""
        return find_row(self.paired, method, metric)

    def kind_counts(self, method: str) -> dict[str, int]:
        """How many images of ``method`` fall into each of :data:`FAILURE_KINDS`."""
        counts = dict.fromkeys(FAILURE_KINDS, 0)
        for r in self.per_image:
            if r["method"] == method and r.get("kind"):
                counts[r["kind"]] += 1
        return counts

    def to_markdown(
        self, metrics: Sequence[str] = ("pxap", "mask_iou", "max_box_acc_v2", "fallback_rate")
    ) -> str:
        """Markdown table: each method's means with CIs, and its paired PxAP difference."""
        from hrcam.evaluate import METRIC_LABELS
        from hrcam.evaluate.report import ci_cell, paired_cell, table_header, table_row
        from hrcam.metrics.statistics import CI_METHOD

        by_key = {(r["method"], r["metric"]): r for r in self.table}
        names = {**METRIC_LABELS, "fallback_rate": "Fallback rate"}
        header = ["Method", *(names.get(m, m) for m in metrics), "PxAP minus low-res"]
        lines = [
            f"{self.config.get('num_images')} images; mean and {CI_METHOD}. Paired: the "
            "method minus the low-res CAM on the same images (bootstrap 95% CI).",
            "",
            *table_header(header),
        ]
        for m in self.methods:
            cells = [_label(m)]
            for metric in metrics:
                r = by_key.get((m, metric))
                cells.append("–" if r is None else ci_cell({**r, "metric": metric}))
            if m == "low_res_cam":
                cells.append("–")
            else:
                cells.append(paired_cell(self.difference(m, "pxap")))
            lines.append(table_row(cells))
        return "\n".join(lines) + "\n"

    def save(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Write the study's files into ``out_dir`` and return their paths by name.

        ``table.csv``, ``paired.csv``, ``per_image.csv``, ``summary.json`` and ``report.md``,
        each atomically (:func:`hrcam.evaluate.save_outputs`).
        """
        from hrcam.evaluate import save_outputs

        summary = {"config": self.config, "table": self.table, "paired": self.paired}
        return save_outputs(
            out_dir,
            {
                "table.csv": self.table,
                "paired.csv": self.paired,
                "per_image.csv": self.per_image,
                "summary.json": summary,
                "report.md": self.to_markdown(),
            },
        )


def _resolve(spec: RefineConfig | Mapping[str, Any]) -> RefineConfig:
    from hrcam.postprocess import RefineConfig, resolve_config

    if isinstance(spec, RefineConfig):
        return spec
    spec = dict(spec)
    preset = spec.pop("preset", "paper")
    return resolve_config(preset, None, **spec)


def refine_study(
    cams: CamSet,
    sources: Sequence[str] = ("expansion",),
    configs: Mapping[str, RefineConfig | Mapping[str, Any]] | None = None,
    oracle_smoothness: float = 1.0,
    oracle_noise: float = 0.3,
    include_raw: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
    keep_results: Sequence[int] = (),
    progress: bool = False,
    box_metrics: bool = True,
    units: Mapping[int, Any] | None = None,
) -> StudyResult:
    """Run the post-processing on every image for each high-res source and config; score it.

    Every refined map is scored exactly as :func:`hrcam.evaluate.evaluate` scores a method
    (min-max normalised, the same threshold grid, :func:`hrcam.evaluate.summary_rows` for the
    means and percentile-bootstrap CIs), and compared with the bilinear low-res CAM on the
    same images (paired bootstrap of the per-image difference).

    Parameters
    ----------
    cams
        From :func:`compute_cams`.
    sources
        Names from :data:`SOURCES` (or ``["all"]``) and keys of ``cams.extra_high_res``.
    configs
        ``{name: RefineConfig or {"preset": ..., **overrides}}``; default
        :data:`PRESET_CONFIGS` (the two presets unchanged).
    oracle_smoothness, oracle_noise
        The oracle's blur sigma (pixels) and noise share (see :func:`oracle_map`).
    include_raw
        Also score each source map itself (``raw@<source>``).
    n_boot, seed
        Bootstrap resamples and seed (also seeds the noise and oracle maps).
    keep_results
        Positions in ``cams`` whose :class:`~hrcam.postprocess.RefineResult` objects are kept in
        :attr:`StudyResult.results` for figures.
    progress
        Show a tqdm bar.
    box_metrics
        Also compute MaxBoxAccV2. Its box extraction over the threshold grid costs about
        45 ms per map on one CPU core, some 30x the rest of the scoring and the
        post-processing together, so large sweeps switch it off.
    units
        ``{dataset index: unit}`` (e.g. each cut-out's stamp): the bootstrap resamples units
        instead of images, for images that share a source.

    Returns
    -------
    StudyResult
    """
    from tqdm import tqdm

    from hrcam.evaluate import TABLE_METRICS, summary_rows
    from hrcam.metrics import DEFAULT_THRESHOLDS

    src = _check_sources(sources, tuple(cams.extra_high_res))
    resolved = _resolve_configs(configs)
    source_args = (seed, oracle_smoothness, oracle_noise)
    study = _StudyRecorder(cams, src, resolved, include_raw, source_args, DEFAULT_THRESHOLDS,
                           box_metrics)  # fmt: skip
    methods = study.methods
    keep = {int(k) for k in keep_results}
    for i in tqdm(range(len(cams)), desc="refine study", unit="img", disable=not progress):
        study.refine_image(i, i in keep)
    metrics = [m for m in TABLE_METRICS if box_metrics or m != "max_box_acc_v2"]
    curves = study.packed_curves()
    table = summary_rows(study.records, curves, methods, n_boot, seed, metrics, units)
    for row in table:
        row["config"], _, row["source"] = row["method"].partition("@")
        row["label"] = _label(row["method"])
    config = {
        "num_images": len(cams),
        "accuracy": cams.accuracy,
        "sources": src,
        "configs": {k: _config_dict(v) for k, v in resolved.items()},
        "oracle_smoothness": float(oracle_smoothness),
        "oracle_noise": float(oracle_noise),
        "n_boot": n_boot,
        "seed": seed,
    }
    config["bootstrap_unit"] = "images" if units is None else "units"
    paired = _paired_rows(study.records, curves, methods, n_boot, seed, units)
    return StudyResult(methods, table, paired, study.records, config, study.kept, curves,
                       None if units is None else dict(units))  # fmt: skip


def _check_sources(sources: Sequence[str], extra: Sequence[str] = ()) -> list[str]:
    src = list(SOURCES) if list(sources) == ["all"] else list(sources)
    known = [*SOURCES, *extra]
    unknown = [s for s in src if s not in known]
    if unknown or not src:
        raise ValueError(f"unknown high-res source(s) {unknown}; choose from {known}")
    if len(set(src)) != len(src):
        raise ValueError(f"sources must not repeat, got {src}")
    return src


def _resolve_configs(
    configs: Mapping[str, RefineConfig | Mapping[str, Any]] | None,
) -> dict[str, RefineConfig]:
    resolved = {name: _resolve(spec) for name, spec in (configs or PRESET_CONFIGS).items()}
    if not resolved:
        raise ValueError("configs must name at least one post-processing setting")
    if "@" in "".join(resolved):
        raise ValueError("config names must not contain '@'")
    return resolved


class _StudyRecorder:
    """Scores every map of the study on its image and keeps the records and curves."""

    def __init__(
        self,
        cams: CamSet,
        sources: list[str],
        configs: Mapping[str, RefineConfig],
        include_raw: bool,
        source_args: tuple[int, float, float],
        grid: np.ndarray,
        box_metrics: bool,
    ) -> None:
        from hrcam.evaluate import SCALAR_METRICS

        self.cams, self.grid, self.box_metrics = cams, grid, box_metrics
        self.sources, self.configs, self.include_raw = sources, configs, include_raw
        self.source_args = source_args  # (seed, oracle smoothness, oracle noise)
        methods = ["low_res_cam"]
        for s in sources:
            methods += [f"{c}@{s}" for c in configs]
            if include_raw:
                methods.append(f"raw@{s}")
        self.methods = methods
        self.blank = dict.fromkeys(SCALAR_METRICS, float("nan"))
        self.records: list[dict[str, Any]] = []
        self.curves: dict[str, dict[str, list]] = {
            m: {"mask_iou": [], "box_iou": [], "index": []} for m in methods
        }
        self.kept: dict[tuple[int, str], RefineResult] = {}

    def add(self, i: int, method: str, cam: np.ndarray, extra: dict[str, Any]) -> dict[str, Any]:
        """Score ``cam`` (image ``i``) as ``method``; returns its record."""
        from hrcam.evaluate.scoring import append_counts, image_scores, mask_scores

        cams = self.cams
        if self.box_metrics:
            scores, iou, box_iou, counts = image_scores(
                cam, cams.masks[i], cams.boxes[i], self.grid
            )
        else:
            scores, iou, counts = mask_scores(cam, cams.masks[i], self.grid)
            box_iou = np.zeros_like(iou)
        append_counts(self.curves[method], counts)
        self.curves[method]["index"].append(int(cams.index[i]))
        self.curves[method]["mask_iou"].append(iou)
        self.curves[method]["box_iou"].append(box_iou)
        config, _, source = method.partition("@")
        rec = {"index": int(cams.index[i]), "position": i, "method": method, "config": config,
               "source": source, "label": int(cams.labels[i]), "target": int(cams.targets[i]),
               **self.blank, **scores, **extra}  # fmt: skip
        self.records.append(rec)
        return rec

    def refine_image(self, i: int, keep: bool) -> None:
        """Score the low-res CAM, each raw source map and each refined map of image ``i``.

        ``keep`` also keeps each refinement's :class:`~hrcam.postprocess.RefineResult`.
        """
        from hrcam.postprocess import refine
        from hrcam.postprocess.steps import resize_bilinear

        cams = self.cams
        base = self.add(
            i, "low_res_cam", resize_bilinear(cams.low_res[i], cams.masks.shape[1:]), {}
        )
        for s in self.sources:
            high = high_res_source(s, cams, i, *self.source_args)
            if self.include_raw:
                self.add(i, f"raw@{s}", high, {})
            for name, cfg in self.configs.items():
                res = refine(cams.low_res[i], high, config=cfg)
                method = f"{name}@{s}"
                rec = self.add(i, method, res.refined, {
                    "fallback": bool(res.used_fallback),
                    "fallback_reason": res.fallback or "",
                    "region_ratio": float(res.region_ratio),
                    "roi_iou": mask_iou(res.roi, cams.masks[i]),
                    "grown_iou": mask_iou(res.grown, cams.masks[i]),
                    "filled_iou": mask_iou(res.filled, cams.masks[i]),
                    "low_res_pointing": base["pointing"],
                    "low_res_image_ap": base["image_ap"],
                    "low_res_mask_iou_oracle": base["mask_iou_oracle"],
                })  # fmt: skip
                rec["kind"] = failure_kind(rec)
                if keep:
                    self.kept[(i, method)] = res

    def packed_curves(self) -> dict[str, dict[str, np.ndarray]]:
        """Return ``{method: {"mask_iou", "box_iou", pixel counts, "index"}}`` as arrays."""
        from hrcam.evaluate.scoring import pack_curves

        return {m: pack_curves(c, self.grid.size) for m, c in self.curves.items()}


def _paired_rows(
    records: list[dict[str, Any]],
    curves: Mapping[str, Mapping[str, np.ndarray]],
    methods: list[str],
    n_boot: int,
    seed: int,
    units: Mapping[int, Any] | None = None,
) -> list[dict[str, Any]]:
    """Each method minus the low-res CAM on the same images, per :data:`PAIRED_METRICS`."""
    from hrcam.evaluate.scoring import paired_dataset_ci
    from hrcam.metrics.statistics import paired_mean_ci

    paired = []
    low = {r["index"]: r for r in records if r["method"] == "low_res_cam"}
    for m in methods[1:]:
        recs = {r["index"]: r for r in records if r["method"] == m}
        config, _, source = m.partition("@")
        better = [recs[i]["image_ap"] > low[i]["image_ap"] for i in recs]
        for metric in PAIRED_METRICS:
            if metric == "pxap":
                d = paired_dataset_ci(curves[m], curves["low_res_cam"], "pxap", n_boot, seed,
                                      units)  # fmt: skip
                n, mean, lo, hi = d["n"], d["difference"], d["ci_low"], d["ci_high"]
                ours, theirs = d["method_mean"], d["other_mean"]
            else:
                a = {i: r[metric] for i, r in recs.items()}
                b = {i: low[i][metric] for i in recs}
                n, mean, lo, hi = paired_mean_ci(a, b, n_boot, seed, units)
                ours, theirs = float(np.mean(list(a.values()))), float(np.mean(list(b.values())))
            paired.append({"method": m, "label": _label(m), "config": config, "source": source,
                           "metric": metric, "n": int(n), "method_mean": ours,
                           "low_res_mean": theirs, "difference": mean, "ci_low": lo,
                           "ci_high": hi, "share_better": float(np.mean(better))})  # fmt: skip
    return paired


def _label(method: str) -> str:
    if method == "low_res_cam":
        return "low-res CAM (bilinear)"
    config, _, source = method.partition("@")
    what = "raw map" if config == "raw" else f"refined, {config}"
    return f"{what} ({SOURCE_LABELS.get(source, source)})"


def _config_dict(cfg: RefineConfig) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(cfg)


def paired_between(
    study: StudyResult, a: str, b: str, metric: str = "pxap", n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Subtract method ``b`` from ``a`` on the same images: difference and bootstrap CI.

    PxAP (and the other data-set metrics) is recomputed for both on every resample; a
    per-image metric is a mean difference. Resamples follow the study's ``units``.
    """
    from hrcam.evaluate import DATASET_METRICS
    from hrcam.evaluate.scoring import paired_dataset_ci
    from hrcam.metrics.statistics import paired_mean_ci

    if metric in DATASET_METRICS:
        d = paired_dataset_ci(study.curves[a], study.curves[b], metric, n_boot, seed, study.units)
        n, mean, lo, hi = d["n"], d["difference"], d["ci_low"], d["ci_high"]
    else:
        ra = {r["index"]: r[metric] for r in study.per_image if r["method"] == a}
        rb = {r["index"]: r[metric] for r in study.per_image if r["method"] == b}
        n, mean, lo, hi = paired_mean_ci(ra, rb, n_boot, seed, study.units)
    if not n:
        raise KeyError(f"no images with both {a!r} and {b!r}")
    return {"n": n, "difference": mean, "ci_low": lo, "ci_high": hi}


def verdict(low: float, high: float, better: str = "better", worse: str = "worse") -> str:
    """Words for a 95 % CI of a difference: ``better`` above 0, ``worse`` below, else none."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "not measured"
    if low > 0:
        return better
    if high < 0:
        return worse
    return "no difference shown, the 95% CI contains 0"
