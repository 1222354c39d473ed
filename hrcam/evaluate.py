"""Measure localization and faithfulness of every saliency method on one model and data set.

>>> from hrcam.evaluate import evaluate  # doctest: +SKIP
>>> result = evaluate(model, StoreDataset(root, "val"), limit=64)  # doctest: +SKIP
>>> print(result.to_markdown())  # doctest: +SKIP
>>> result.save("runs/eval")  # doctest: +SKIP

For every image the model first predicts a class; each method then explains one class per
image (the prediction by default, or the label), and every map is scored against the image's
ground-truth mask and box with :mod:`hrcam.metrics`. Scores are summarised per method as a
mean with a 95% **percentile bootstrap** confidence interval over images (1000 resamples,
seeded). Metrics that choose a threshold over the whole data set (mask IoU at the best shared
threshold, MaxBoxAccV2) are recomputed inside every bootstrap resample, threshold choice
included.

The paper's §5 claim, that the refined CAM survives when the low-res CAM fails, is measured
on the images where the low-res CAM misses the object in the pointing game: there each method
is compared with the low-res CAM on the same images (paired bootstrap of the difference).

Cost control for CPU runs: Score-CAM runs one forward pass per channel of its target layer,
and deletion/insertion needs ``2 * (steps + 1)`` forward passes per image, so both are
computed on the first ``score_cam_limit`` / ``faithfulness_limit`` images only (the table's
``n`` column says how many).
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.baselines import ALL_METHODS, LABELS
from hrcam.metrics import ROAD_PERCENTILES

if TYPE_CHECKING:
    from hrcam.models import HRCAM

DEFAULT_METHODS: tuple[str, ...] = ALL_METHODS

SCALAR_METRICS: dict[str, str] = {
    "pointing": "Pointing game",
    "energy_pointing": "Energy pointing game",
    "pxap": "PxAP",
    "mask_iou_oracle": "Mask IoU (per-image best t)",
    "average_drop": "Average drop % (lower better)",
    "increase_in_confidence": "Increase in confidence %",
    "deletion_auc": "Deletion AUC (lower better)",
    "insertion_auc": "Insertion AUC",
    "road_combined": "ROAD combined",
    "runtime_ms": "Runtime ms/image",
}
DATASET_METRICS: dict[str, str] = {
    "mask_iou": "Mask IoU (best shared t)",
    "max_box_acc_v2": "MaxBoxAccV2",
}
METRIC_LABELS: dict[str, str] = {**SCALAR_METRICS, **DATASET_METRICS}
LOWER_IS_BETTER: frozenset[str] = frozenset({"average_drop", "deletion_auc", "runtime_ms"})
# Table column order: localization first, then faithfulness, then cost.
TABLE_METRICS: tuple[str, ...] = (
    "pointing",
    "energy_pointing",
    "pxap",
    "mask_iou",
    "mask_iou_oracle",
    "max_box_acc_v2",
    "average_drop",
    "increase_in_confidence",
    "deletion_auc",
    "insertion_auc",
    "road_combined",
    "runtime_ms",
)
SECTION5_METRICS: tuple[str, ...] = ("pointing", "energy_pointing", "pxap", "mask_iou_oracle")
CI_METHOD = "95% CI: percentile bootstrap over images (1000 resamples)"


# -- statistics ---------------------------------------------------------------------------------


def _bootstrap_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) resample counts: mean over a resample = weights @ values / n."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap confidence interval of ``values``.

    Returns
    -------
    (mean, low, high) : tuple of float
        ``nan`` for all three when ``values`` is empty; ``low == high == mean`` for one value.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return (float("nan"),) * 3
    stats = _bootstrap_weights(v.size, n_boot, seed) @ v / v.size
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(v.mean()), float(low), float(high)


def _bootstrap_curve_max(
    curves: np.ndarray, n_boot: int, seed: int, level: float = 0.95
) -> tuple[float, float, float]:
    """Max over thresholds of the mean curve, with a bootstrap CI (threshold re-chosen)."""
    n = curves.shape[0]
    if n == 0:
        return (float("nan"),) * 3
    stats = (_bootstrap_weights(n, n_boot, seed) @ curves / n).max(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(curves.mean(axis=0).max()), float(low), float(high)


def _bootstrap_max_box_acc(
    box_curves: np.ndarray, levels: Sequence[float], n_boot: int, seed: int, level: float = 0.95
) -> tuple[float, float, float]:
    """MaxBoxAccV2 with a bootstrap CI: per resample, best threshold per IoU level, then mean."""
    n = box_curves.shape[0]
    if n == 0:
        return (float("nan"),) * 3
    weights = _bootstrap_weights(n, n_boot, seed)
    point, boots = [], []
    for d in levels:
        hits = (box_curves >= d).astype(np.float64)  # (N, T)
        point.append(hits.mean(axis=0).max())
        boots.append((weights @ hits / n).max(axis=1))
    stats = np.mean(boots, axis=0)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(np.mean(point)), float(low), float(high)


# -- result -------------------------------------------------------------------------------------


@dataclass
class EvaluationResult:
    """Everything :func:`evaluate` measured.

    Attributes
    ----------
    methods
        Method names in evaluation order.
    table
        One row per (method, metric): ``method``, ``label``, ``metric``, ``metric_label``,
        ``n``, ``mean``, ``ci_low``, ``ci_high``.
    per_image
        One record per (image, method): ``index``, ``label``, ``predicted``, ``target``,
        ``method`` and every per-image score (``nan`` where not computed).
    section5
        Rows of the §5 measurement (see :func:`section5_rows`).
    curves
        ``{method: {"thresholds", "mask_iou" (N, T), "box_iou" (N, T), "index" (N,)}}``.
    examples
        Images, masks and maps of the first ``keep_examples`` images, for plots:
        ``{"index", "image" (n, H, W, 3) uint8, "mask", "target", "maps": {method: (n, H, W)}}``.
    config
        The settings used.
    """

    methods: list[str]
    table: list[dict[str, Any]]
    per_image: list[dict[str, Any]]
    section5: list[dict[str, Any]]
    curves: dict[str, dict[str, np.ndarray]]
    examples: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)

    def value(self, method: str, metric: str) -> float:
        """Mean of ``metric`` for ``method`` from :attr:`table`."""
        for row in self.table:
            if row["method"] == method and row["metric"] == metric:
                return float(row["mean"])
        raise KeyError(f"no {metric!r} for method {method!r} in the table")

    def scores(self, metrics: Iterable[str] = TABLE_METRICS) -> dict[str, dict[str, float]]:
        """``{method label: {metric label: mean}}`` (the shape plotting helpers take)."""
        wanted = list(metrics)
        out: dict[str, dict[str, float]] = {}
        for row in self.table:
            if row["metric"] in wanted:
                out.setdefault(row["label"], {})[row["metric_label"]] = row["mean"]
        return out

    def to_markdown(self) -> str:
        """Markdown report: summary table, §5 table and notes."""
        return render_markdown(self)

    def save(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Write ``table.csv``, ``per_image.csv``, ``section5.csv``, ``report.md``,
        ``summary.json`` and ``curves.npz`` into ``out_dir``; returns the paths by name."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "table": _write_csv(out / "table.csv", self.table),
            "per_image": _write_csv(out / "per_image.csv", self.per_image),
            "section5": _write_csv(out / "section5.csv", self.section5),
        }
        paths["report"] = out / "report.md"
        paths["report"].write_text(self.to_markdown(), encoding="utf-8")
        paths["summary"] = out / "summary.json"
        summary = {"config": self.config, "table": self.table, "section5": self.section5}
        paths["summary"].write_text(json.dumps(summary, indent=2, default=_json_default))
        paths["curves"] = out / "curves.npz"
        np.savez_compressed(
            paths["curves"],
            **{f"{m}__{k}": v for m, parts in self.curves.items() for k, v in parts.items()},
        )
        return paths


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    keys: list[str] = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(row.get(k)) for k in keys})
    return path


def _csv_value(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return "" if np.isnan(v) else f"{float(v):.6g}"
    if isinstance(v, np.generic):
        return v.item()
    return v


def _fmt(row: Mapping[str, Any]) -> str:
    if row["n"] == 0 or np.isnan(row["mean"]):
        return "–"
    scale = 1.0
    digits = 1 if row["metric"] in {"average_drop", "increase_in_confidence", "runtime_ms"} else 3
    return (
        f"{row['mean'] * scale:.{digits}f} "
        f"[{row['ci_low'] * scale:.{digits}f}, {row['ci_high'] * scale:.{digits}f}]"
    )


def render_markdown(result: EvaluationResult) -> str:
    """The report as markdown: one row per method, one column per metric."""
    cfg = result.config
    lines = [
        "# Localization and faithfulness",
        "",
        f"{cfg.get('num_images', '?')} images of split `{cfg.get('split', '?')}`; each method "
        f"explains the **{cfg.get('target', '?')}** class. Mean and {CI_METHOD}. "
        "All maps are min-max normalised; thresholds on a grid of "
        f"{cfg.get('num_thresholds', 100)} steps.",
        "",
    ]
    metrics = [m for m in TABLE_METRICS if any(r["metric"] == m for r in result.table)]
    by_key = {(r["method"], r["metric"]): r for r in result.table}
    header = ["Method", *(METRIC_LABELS[m] for m in metrics)]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] * len(header)) + "|")
    for method in result.methods:
        cells = [LABELS.get(method, method)]
        for m in metrics:
            row = by_key.get((method, m))
            cells.append(_fmt(row) if row else "–")
        lines.append("| " + " | ".join(cells) + " |")
    notes = []
    faith = cfg.get("faithfulness_limit")
    if faith is not None and faith < cfg.get("num_images", 0):
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
    score_cap = cfg.get("score_cam_limit")
    if "scorecam" in result.methods and score_cap < cfg.get("num_images", 0):
        notes.append(f"Score-CAM on the first {score_cap} images")
    if notes:
        lines += ["", "Cost caps: " + "; ".join(notes) + " (column `n` of table.csv)."]
    lines += [
        "",
        "Runtime: wall time of the method's own call per image (including its forward "
        f"pass), on {cfg.get('device', '?')} with {cfg.get('torch_threads', '?')} torch threads.",
    ]
    fallback = [r for r in result.table if r["metric"] == "fallback_rate"]
    for r in fallback:
        lines.append("")
        lines.append(
            f"{LABELS.get(r['method'], r['method'])}: region growing failed and the map fell "
            f"back to the low-res CAM on {100 * r['mean']:.1f}% of images "
            f"[{100 * r['ci_low']:.1f}, {100 * r['ci_high']:.1f}]."
        )
    lines += ["", "## Paper §5: does the refined CAM survive a failed low-res CAM?", ""]
    if not result.section5:
        lines.append("Not measured: needs the `low_res_cam` method.")
        return "\n".join(lines) + "\n"
    lines += [
        "Images are split by the low-res CAM's pointing game (a miss: the maximum is off the "
        "object). On each subset every method is compared with the low-res CAM on the same "
        "images: its mean, then the paired difference (method minus low-res CAM) with a "
        "bootstrap 95% CI. On the miss subset, the pointing game of a method is the share "
        "of failed low-res CAMs it rescues.",
        "",
    ]
    s5_metrics = list(dict.fromkeys(r["metric"] for r in result.section5))
    header = ["Subset", "Method", "n", *(METRIC_LABELS.get(m, m) for m in s5_metrics)]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] * len(header)) + "|")
    groups: dict[tuple[str, str], dict[str, Mapping[str, Any]]] = {}
    for r in result.section5:
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
                f"| {subset} | {LABELS['low_res_cam']} | {first['n']} | " + " | ".join(base) + " |"
            )
        cells = [
            f"{by_metric[m]['method_mean']:.3f} ({by_metric[m]['difference']:+.3f} "
            f"[{by_metric[m]['ci_low']:+.3f}, {by_metric[m]['ci_high']:+.3f}])"
            for m in s5_metrics
        ]
        lines.append(
            f"| {subset} | {LABELS.get(method, method)} | {first['n']} | "
            + " | ".join(cells)
            + " |"
        )
    empty = sorted({k[0] for k, v in groups.items()} - seen_subsets)
    for subset in empty:
        lines += ["", f"No images in subset *{subset}*."]
    return "\n".join(lines) + "\n"


# -- evaluation ---------------------------------------------------------------------------------


def _read_batch(dataset: Any, indices: np.ndarray) -> dict[str, np.ndarray]:
    """images (B, 3, H, W) uint8, labels, masks (B, H, W), boxes (B, 4) as numpy."""
    if hasattr(dataset, "get_batch"):
        batch = dataset.get_batch(indices)
    else:
        items = [dataset[int(i)] for i in indices]
        batch = {k: np.stack([np.asarray(it[k]) for it in items]) for k in items[0]}
    out = {k: np.asarray(v) for k, v in batch.items() if k in ("image", "label", "mask", "box")}
    missing = {"image", "label", "mask"} - set(out)
    if missing:
        raise ValueError(
            f"dataset items lack {sorted(missing)}; evaluation needs images with ground-truth "
            "masks (e.g. the built-in synthetic store: hrcam data synthetic ...)"
        )
    if "box" not in out:
        from hrcam.data.store import boxes_from_masks

        out["box"] = boxes_from_masks(out["mask"])
    return out


def _image_scores(cam: np.ndarray, mask: np.ndarray, box: np.ndarray, grid: np.ndarray):
    from hrcam import metrics

    iou = metrics.iou_curve(cam, mask, grid)
    counts = metrics.pixel_counts(cam, mask, grid)
    return (
        {
            "pointing": metrics.pointing_game(cam, mask),
            "energy_pointing": metrics.energy_pointing_game(cam, mask),
            "pxap": metrics.average_precision_from_counts(counts.tp, counts.fp, counts.num_pos),
            "mask_iou_oracle": float(iou.max()),
        },
        iou,
        metrics.box_iou_curve(cam, box, grid),
    )


def evaluate(
    model: HRCAM,
    dataset: Any,
    methods: Iterable[str] = DEFAULT_METHODS,
    limit: int | None = None,
    batch_size: int = 16,
    target: str = "predicted",
    score_cam_limit: int = 32,
    faithfulness_limit: int = 32,
    deletion_steps: int = 16,
    road_limit: int = 0,
    road_percentiles: Sequence[float] = ROAD_PERCENTILES,
    thresholds: Sequence[float] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    keep_examples: int = 32,
    progress: bool = True,
    workers: int | None = None,
) -> EvaluationResult:
    """Score every method on the first ``limit`` images of ``dataset``.

    Parameters
    ----------
    model
        :class:`hrcam.models.HRCAM` (classifier + trained expansion network), on the CPU or
        any device; maps are computed on the model's device.
    dataset
        A :class:`hrcam.data.store.StoreDataset` with masks (its ``get_batch`` is used), or
        any indexable of dicts with ``image`` (uint8 (3, H, W)), ``label``, ``mask`` and
        optionally ``box`` (x0, y0, x1, y1, end-exclusive).
    methods
        Names from :data:`hrcam.baselines.ALL_METHODS`.
    limit
        Evaluate the first ``limit`` images (default: all).
    batch_size
        Images per batch.
    target
        ``"predicted"`` (explain the model's top-1 class, as a user sees it) or ``"label"``
        (the ground-truth class, the WSOL convention of Choe et al.).
    score_cam_limit
        Score-CAM only on the first this many images (it costs one forward pass per channel
        of its target layer per image); 0 skips it.
    faithfulness_limit
        Average drop, increase in confidence and deletion/insertion AUC only on the first
        this many images; 0 skips them.
    deletion_steps
        Steps of the deletion/insertion curves.
    road_limit
        ROAD (grad-cam's implementation, :func:`hrcam.metrics.road`) only on the first this
        many images; 0 (default) skips it. It costs two sparse linear solves per percentile
        per image and method (about 0.2 s each on one CPU core).
    road_percentiles
        ROAD thresholds.
    thresholds
        CAM threshold grid (default 0, 0.01, ..., 0.99).
    n_boot, seed
        Bootstrap resamples and seed for the confidence intervals.
    keep_examples
        Keep images and maps of the first this many images for example plots.
    progress
        Show a tqdm progress bar.
    workers
        Processes that post-process the refined CAMs; ``None``: see
        :func:`hrcam.parallel.resolve_workers`.
        Results are identical for any number.

    Returns
    -------
    EvaluationResult
    """
    import torch
    from tqdm import tqdm

    from hrcam import metrics
    from hrcam.baselines import build_methods, pixel_space_model
    from hrcam.metrics._validation import as_thresholds

    if target not in ("predicted", "label"):
        raise ValueError(f"target must be 'predicted' or 'label', got {target!r}")
    for name, value in (
        ("batch_size", batch_size),
        ("deletion_steps", deletion_steps),
        ("n_boot", n_boot),
    ):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    for name, value in (
        ("score_cam_limit", score_cam_limit),
        ("faithfulness_limit", faithfulness_limit),
        ("road_limit", road_limit),
        ("keep_examples", keep_examples),
    ):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    total = len(dataset)
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    n = total if limit is None else min(limit, total)
    if n == 0:
        raise ValueError("dataset is empty: nothing to evaluate")
    grid = as_thresholds(thresholds)
    names = list(methods)
    if "scorecam" in names and score_cam_limit == 0:
        names.remove("scorecam")
    method_fns = build_methods(model, names, workers=workers)
    model = model.eval()
    device = next(model.parameters()).device
    classifier = pixel_space_model(model.classifier)

    records: list[dict[str, Any]] = []
    curves: dict[str, dict[str, list]] = {m: {"mask_iou": [], "box_iou": [], "index": []}
                                          for m in names}  # fmt: skip
    examples: dict[str, Any] = {"index": [], "image": [], "mask": [], "target": [],
                                "maps": {m: [] for m in names}}  # fmt: skip
    bar = tqdm(total=n, desc="evaluate", unit="img", disable=not progress)
    for start in range(0, n, batch_size):
        idx = np.arange(start, min(n, start + batch_size))
        batch = _read_batch(dataset, idx)
        images = torch.from_numpy(np.ascontiguousarray(batch["image"])).to(device)
        images = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        labels = batch["label"].astype(np.int64)
        with torch.no_grad():
            predicted = classifier(images).argmax(dim=1).cpu().numpy()
        targets = predicted if target == "predicted" else labels
        keep = idx < keep_examples
        if keep.any():
            examples["index"].extend(idx[keep].tolist())
            examples["image"].append(np.moveaxis(batch["image"][keep], 1, -1))
            examples["mask"].append(batch["mask"][keep])
            examples["target"].extend(targets[keep].tolist())
        if start == 0:
            # One untimed call per method, so that the first batch's runtime does not include
            # one-off costs (allocator growth, lazy imports, hook set-up).
            for method in method_fns.values():
                method(images[:1], targets[:1].tolist())
        for name, method in method_fns.items():
            sel = np.ones(idx.size, dtype=bool)
            if name == "scorecam":
                sel = idx < score_cam_limit
            if not sel.any():
                continue
            sub = torch.from_numpy(np.flatnonzero(sel)).to(device)
            sub_images, sub_targets = images[sub], targets[sel].tolist()
            t0 = time.perf_counter()
            maps = method(sub_images, sub_targets)
            per_image_ms = 1000.0 * (time.perf_counter() - t0) / int(sel.sum())
            faithful = idx[sel] < faithfulness_limit
            drop = inc = dele = ins = np.full(int(sel.sum()), np.nan)
            if faithful.any():
                f = torch.from_numpy(np.flatnonzero(faithful)).to(device)
                f_targets = [sub_targets[i] for i in np.flatnonzero(faithful)]
                change = metrics.confidence_change(
                    classifier, sub_images[f], maps.maps[faithful], f_targets, batch_size
                )
                curves_di = metrics.deletion_insertion(
                    classifier, sub_images[f], maps.maps[faithful], f_targets,
                    steps=deletion_steps, batch_size=max(batch_size, deletion_steps + 1),
                    seed=seed,
                )  # fmt: skip
                drop, inc, dele, ins = (np.full(int(sel.sum()), np.nan) for _ in range(4))
                drop[faithful] = 100.0 * change.drop
                inc[faithful] = 100.0 * change.increase
                dele[faithful] = curves_di.deletion_auc
                ins[faithful] = curves_di.insertion_auc
            road_scores = np.full((3, int(sel.sum())), np.nan)  # morf, lerf, combined
            roaded = idx[sel] < road_limit
            if roaded.any():
                r = torch.from_numpy(np.flatnonzero(roaded)).to(device)
                scores_road = metrics.road(
                    classifier, sub_images[r], maps.maps[roaded],
                    [sub_targets[i] for i in np.flatnonzero(roaded)],
                    percentiles=road_percentiles, batch_size=batch_size, seed=seed,
                )  # fmt: skip
                road_scores[:, roaded] = (scores_road.morf, scores_road.lerf, scores_road.combined)
            for j, i in enumerate(np.flatnonzero(sel)):
                scores, iou, box_iou = _image_scores(
                    maps.maps[j], batch["mask"][i], batch["box"][i], grid
                )
                curves[name]["mask_iou"].append(iou)
                curves[name]["box_iou"].append(box_iou)
                curves[name]["index"].append(int(idx[i]))
                record = {
                    "index": int(idx[i]),
                    "label": int(labels[i]),
                    "predicted": int(predicted[i]),
                    "target": int(targets[i]),
                    "method": name,
                    **scores,
                    "average_drop": float(drop[j]),
                    "increase_in_confidence": float(inc[j]),
                    "deletion_auc": float(dele[j]),
                    "insertion_auc": float(ins[j]),
                    "road_morf": float(road_scores[0, j]),
                    "road_lerf": float(road_scores[1, j]),
                    "road_combined": float(road_scores[2, j]),
                    "runtime_ms": per_image_ms,
                }
                for key, values in maps.info.items():
                    record[key] = bool(values[j]) if values.dtype == bool else float(values[j])
                records.append(record)
                if idx[i] < keep_examples:
                    examples["maps"][name].append((int(idx[i]), maps.maps[j].astype(np.float16)))
        bar.update(idx.size)
    bar.close()

    packed = {
        m: {
            "thresholds": grid,
            "mask_iou": np.array(c["mask_iou"]).reshape(-1, grid.size),
            "box_iou": np.array(c["box_iou"]).reshape(-1, grid.size),
            "index": np.array(c["index"], dtype=np.int64),
        }
        for m, c in curves.items()
    }
    table = summary_rows(records, packed, names, n_boot, seed)
    examples_out = _pack_examples(examples, names)
    config = {
        "num_images": n,
        "split": getattr(dataset, "split", None),
        "target": target,
        "methods": names,
        "batch_size": batch_size,
        "score_cam_limit": score_cam_limit,
        "faithfulness_limit": faithfulness_limit,
        "deletion_steps": deletion_steps,
        "road_limit": road_limit,
        "road_percentiles": [float(p) for p in road_percentiles],
        "num_thresholds": int(grid.size),
        "n_boot": n_boot,
        "seed": seed,
        "ci": CI_METHOD,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "accuracy": float(
            np.mean([r["label"] == r["predicted"] for r in records if r["method"] == names[0]])
        )
        if records
        else float("nan"),
    }
    return EvaluationResult(
        methods=names,
        table=table,
        per_image=records,
        section5=section5_rows(records, names, n_boot, seed),
        curves=packed,
        examples=examples_out,
        config=config,
    )


def _pack_examples(examples: dict[str, Any], names: list[str]) -> dict[str, Any]:
    if not examples["index"]:
        return {"index": np.zeros(0, np.int64), "maps": {}}
    order = {int(i): k for k, i in enumerate(examples["index"])}
    shape = (len(order), *examples["mask"][0].shape[1:])
    maps = {}
    for m in names:
        arr = np.full(shape, np.nan, dtype=np.float16)
        for i, cam in examples["maps"][m]:
            arr[order[i]] = cam
        maps[m] = arr
    return {
        "index": np.array(examples["index"], dtype=np.int64),
        "image": np.concatenate(examples["image"]),
        "mask": np.concatenate(examples["mask"]),
        "target": np.array(examples["target"], dtype=np.int64),
        "maps": maps,
    }


def summary_rows(
    records: list[dict[str, Any]],
    curves: Mapping[str, Mapping[str, np.ndarray]],
    methods: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Per method and metric: ``n``, mean and bootstrap 95% CI (see module docstring)."""
    from hrcam.metrics import IOU_THRESHOLDS

    rows: list[dict[str, Any]] = []
    for m in methods:
        recs = [r for r in records if r["method"] == m]

        def add(
            metric: str, n: int, stats: tuple[float, float, float], label: str, m: str = m
        ) -> None:
            rows.append(
                {
                    "method": m,
                    "label": LABELS.get(m, m),
                    "metric": metric,
                    "metric_label": label,
                    "n": n,
                    "mean": stats[0],
                    "ci_low": stats[1],
                    "ci_high": stats[2],
                }
            )

        for metric in TABLE_METRICS:
            if metric in SCALAR_METRICS:
                vals = np.array([r[metric] for r in recs], dtype=np.float64)
                vals = vals[~np.isnan(vals)]
                if vals.size:
                    add(metric, int(vals.size), bootstrap_mean_ci(vals, n_boot, seed),
                        METRIC_LABELS[metric])  # fmt: skip
            elif metric == "mask_iou":
                c = curves[m]["mask_iou"]
                add(metric, int(c.shape[0]), _bootstrap_curve_max(c, n_boot, seed),
                    METRIC_LABELS[metric])  # fmt: skip
            elif metric == "max_box_acc_v2":
                c = curves[m]["box_iou"]
                add(metric, int(c.shape[0]),
                    _bootstrap_max_box_acc(c, IOU_THRESHOLDS, n_boot, seed),
                    METRIC_LABELS[metric])  # fmt: skip
        if recs and "fallback" in recs[0]:
            vals = np.array([float(r["fallback"]) for r in recs])
            add("fallback_rate", int(vals.size), bootstrap_mean_ci(vals, n_boot, seed),
                "Fallback to low-res CAM")  # fmt: skip
    return rows


def section5_rows(
    records: list[dict[str, Any]],
    methods: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
    miss_below: float = 0.5,
) -> list[dict[str, Any]]:
    """The paper's §5 claim, measured: other methods vs the low-res CAM where it fails.

    Images are split by the low-res CAM's pointing-game score (``< miss_below``: "low-res
    miss", else "low-res hit"). For each other method and each metric of
    :data:`SECTION5_METRICS`, on the same images: both means, the mean paired difference
    (method minus low-res) and its percentile-bootstrap 95% CI. On the miss subset the
    refined CAM's pointing score is the share of failed low-res CAMs it rescues.

    Returns
    -------
    list of dict
        Empty when ``low_res_cam`` was not evaluated.
    """
    if "low_res_cam" not in methods:
        return []
    low = {r["index"]: r for r in records if r["method"] == "low_res_cam"}
    subsets = {
        "low-res miss": {i for i, r in low.items() if r["pointing"] < miss_below},
        "low-res hit": {i for i, r in low.items() if r["pointing"] >= miss_below},
    }
    rows = []
    for subset, members in subsets.items():
        for m in methods:
            if m == "low_res_cam":
                continue
            recs = {r["index"]: r for r in records if r["method"] == m and r["index"] in members}
            common = sorted(recs)
            for metric in SECTION5_METRICS:
                ours = np.array([recs[i][metric] for i in common], dtype=np.float64)
                base = np.array([low[i][metric] for i in common], dtype=np.float64)
                mean, lo, hi = bootstrap_mean_ci(ours - base, n_boot, seed)
                rows.append(
                    {
                        "subset": subset,
                        "method": m,
                        "n": len(common),
                        "metric": metric,
                        "method_mean": float(ours.mean()) if common else float("nan"),
                        "low_res_mean": float(base.mean()) if common else float("nan"),
                        "difference": mean,
                        "ci_low": lo,
                        "ci_high": hi,
                    }
                )
    return rows


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
    high_res_models: Mapping[str, HRCAM] | None = None,
    box_metrics: bool = True,
) -> Any:
    """The high-res-source ablation: the same post-processing fed different high-res maps.

    The low-res CAM, the focal points, the ROI and every post-processing setting stay as they
    are; only the high-res map changes (see :func:`hrcam.evidence.high_res_source`): the
    expansion network's high-res CAM, the image's luminance, uniform noise, or an oracle made
    from the ground-truth mask. Each refined map is scored with the same metrics and bootstrap
    CIs as :func:`evaluate`, and compared with the low-res CAM on the same images.

    Parameters
    ----------
    model, dataset, limit, batch_size, target, n_boot, seed, progress
        As for :func:`evaluate`.
    sources
        Names of :data:`hrcam.evidence.SOURCES`, or ``["all"]``.
    configs
        Post-processing settings ``{name: {"preset": ..., **overrides}}``; default both
        presets unchanged (:data:`hrcam.evidence.PRESET_CONFIGS`).
    oracle_smoothness, oracle_noise
        The oracle's Gaussian blur sigma (pixels) and share of uniform noise.
    high_res_models
        Further expansion networks on the *same* classifier, ``{source name: HRCAM}``: each
        one's high-res CAM is one more source (appended to ``sources``), e.g. a network
        trained with ``--consistency-weight``. The low-res CAMs and explained classes must
        match ``model``'s, so that every source refines the same low-res CAM.
    box_metrics
        Also compute MaxBoxAccV2 (see :func:`hrcam.evidence.refine_study`).

    Returns
    -------
    hrcam.evidence.StudyResult
    """
    from hrcam.evidence import SOURCES, compute_cams, refine_study

    cams = compute_cams(model, dataset, limit, batch_size, target, progress)
    sources = list(SOURCES) if list(sources) == ["all"] else list(sources)
    for name, other in (high_res_models or {}).items():
        if name in SOURCES:
            raise ValueError(f"high_res_models: {name!r} is a built-in source; choose another name")
        theirs = compute_cams(other, dataset, limit, batch_size, target, progress)
        # The same classifier gives the same low-res CAM; anything else would compare the
        # sources on different inputs of the post-processing.
        if not (
            np.array_equal(theirs.targets, cams.targets)
            and np.allclose(theirs.low_res, cams.low_res, rtol=1e-4, atol=1e-5)
        ):
            raise ValueError(
                f"high_res_models[{name!r}] does not share the model's classifier: its "
                "low-res CAMs or explained classes differ"
            )
        cams.extra_high_res[name] = theirs.high_res
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
        box_metrics=box_metrics,
    )


def load_for_evaluation(
    checkpoint: str | os.PathLike, data: str | os.PathLike, split: str = "val", device: str = "cpu"
) -> tuple[Any, Any]:
    """Load an ``hrcam`` checkpoint and a store with masks, checking that they fit.

    Returns
    -------
    (model, dataset)
        The :class:`~hrcam.models.HRCAM` in eval mode and the split's ``StoreDataset``.
    """
    from hrcam.data.store import StoreDataset
    from hrcam.models import load_checkpoint

    ckpt = load_checkpoint(checkpoint, map_location=device)
    model = ckpt.model().eval()
    dataset = StoreDataset(data, split=split)
    if not dataset.has_masks:
        raise ValueError(
            f"store {str(data)!r} has no ground-truth masks; localization cannot be measured "
            "(use the built-in synthetic data set)"
        )
    size = ckpt.metadata.get("image_size")
    if size and dataset.image_size != size:
        raise ValueError(
            f"the checkpoint was trained at {size} px but the store holds {dataset.image_size} "
            "px images; evaluate on a store of the same size"
        )
    return model, dataset


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    data: str | os.PathLike,
    split: str = "val",
    device: str = "cpu",
    **kwargs: Any,
) -> EvaluationResult:
    """Load an ``hrcam`` checkpoint and a store, then :func:`evaluate` (the CLI's path).

    Parameters
    ----------
    checkpoint
        Checkpoint with a trained expansion network (``kind`` "hrcam").
    data
        Store directory (e.g. written by ``hrcam data synthetic``).
    split
        Split to evaluate (the held-out ``val`` by default).
    device
        Torch device for the model.
    **kwargs
        Passed to :func:`evaluate`.
    """
    model, dataset = load_for_evaluation(checkpoint, data, split, device)
    return evaluate(model, dataset, **kwargs)
