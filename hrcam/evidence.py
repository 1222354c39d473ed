"""Which part carries the refined CAM? Measurements behind the book's evidence chapter.

The post-processing of paper §3.3 combines a low-res CAM (location) with a high-res map
(shape). This module runs that same post-processing with controlled inputs and settings and
scores every output with the metrics of :mod:`hrcam.evaluate` (same threshold grid, same
bootstrap CIs):

* **high-res-source ablation** (:func:`high_res_source`): the high-res map is the expansion
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

from hrcam._shared import find_row

if TYPE_CHECKING:
    from hrcam.models import HRCAM
    from hrcam.postprocess import RefineConfig, RefineResult

__all__ = [
    "BOUNDS_SWEEP",
    "FAILURE_KINDS",
    "LOCALIZATION_MAPS",
    "PAIRED_METRICS",
    "PRESET_CONFIGS",
    "SOURCES",
    "CamSet",
    "StudyResult",
    "compute_cams",
    "failure_kind",
    "high_res_source",
    "localization_columns",
    "localization_summary",
    "mask_iou",
    "oracle_map",
    "refine_study",
    "refinement_summary",
    "stage_summary",
]

SOURCES: tuple[str, ...] = ("expansion", "image", "noise", "oracle")
"""High-res maps the post-processing can be fed (see :func:`high_res_source`)."""

SOURCE_LABELS: dict[str, str] = {
    "expansion": "expansion network (high-res CAM)",
    "image": "image luminance",
    "noise": "uniform noise",
    "oracle": "oracle (blurred mask + noise)",
}

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

PAIRED_METRICS: tuple[str, ...] = ("pxap", "mask_iou_oracle", "pointing", "energy_pointing")
"""Per-image metrics compared with the low-res CAM on the same images (paired bootstrap)."""

_SOURCE_CODES = {name: i for i, name in enumerate(SOURCES)}


# -- inputs ------------------------------------------------------------------------------------


@dataclass
class CamSet:
    """Everything the post-processing needs for a set of images, computed once.

    Attributes
    ----------
    index
        ``(N,)`` dataset indices.
    images
        ``(N, H, W, 3)`` uint8.
    masks
        ``(N, H, W)`` bool ground-truth object masks.
    boxes
        ``(N, 4)`` object boxes (x0, y0, x1, y1, end-exclusive).
    labels, targets
        ``(N,)`` true class and explained class (the prediction by default).
    low_res
        ``(N, h, w)`` float32 low-res CAMs of ``targets``.
    high_res
        ``(N, H, W)`` float32 high-res CAMs of ``targets`` (expansion network).
    extra_high_res
        Further ``(N, H, W)`` high-res maps by source name, usable as sources of
        :func:`refine_study` beside :data:`SOURCES` (e.g. another expansion network on the same
        classifier; see :func:`hrcam.evaluate.evaluate_sources`).
    """

    index: np.ndarray
    images: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    targets: np.ndarray
    low_res: np.ndarray
    high_res: np.ndarray
    extra_high_res: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.index.size)

    @property
    def accuracy(self) -> float:
        """Share of images whose explained class is the true one."""
        return float(np.mean(self.labels == self.targets)) if len(self) else float("nan")


def compute_cams(
    model: HRCAM,
    dataset: Any,
    limit: int | None = None,
    batch_size: int = 32,
    target: str = "predicted",
    progress: bool = False,
    channels_last: bool = False,
) -> CamSet:
    """Low-res and high-res CAMs of the first ``limit`` images of a store with masks.

    Parameters
    ----------
    model
        A trained :class:`~hrcam.models.HRCAM`, on any device.
    dataset
        A :class:`~hrcam.data.store.StoreDataset` with masks.
    limit
        Number of images (default: all).
    batch_size
        Images per forward pass.
    target
        ``"predicted"`` (the class a user sees explained) or ``"label"``.
    progress
        Show a tqdm bar.
    channels_last
        Convert the model (in place) to channels-last memory format first, as
        :class:`~hrcam.explain.Explainer` does: the convolutions then sum in the Explainer's
        order, so the CAMs equal the Explainer's bit for bit (they differ by float rounding,
        ~1e-7, otherwise).

    Returns
    -------
    CamSet
    """
    import torch
    from tqdm import tqdm

    from hrcam.models import high_res_cam, low_res_cam, normalize_images

    if target not in ("predicted", "label"):
        raise ValueError(f"target must be 'predicted' or 'label', got {target!r}")
    if not getattr(dataset, "has_masks", False):
        raise ValueError("the dataset has no ground-truth masks; localization cannot be measured")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    n = len(dataset) if limit is None else min(int(limit), len(dataset))
    if n < 1:
        raise ValueError("nothing to evaluate: the dataset is empty or limit < 1")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model = model.eval()
    device = next(model.parameters()).device
    fc = model.classifier.fc.weight
    keys = ("index", "images", "masks", "boxes", "labels", "targets", "low", "high")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for start in tqdm(range(0, n, batch_size), desc="CAMs", disable=not progress):
        batch = dataset.get_batch(np.arange(start, min(n, start + batch_size)))
        x = normalize_images(batch["image"].to(device).float() / 255.0)
        with torch.no_grad():
            out = model(x)
            pred = out.logits.argmax(dim=1)
            cls = pred if target == "predicted" else batch["label"].to(device).long()
            low = low_res_cam(out.cam_features, fc, cls)
            high = high_res_cam(out.hr_features, fc, cls)
        parts["index"].append(batch["index"].numpy())
        parts["images"].append(batch["image"].permute(0, 2, 3, 1).numpy())
        parts["masks"].append(batch["mask"].numpy().astype(bool))
        parts["boxes"].append(batch["box"].numpy())
        parts["labels"].append(batch["label"].numpy())
        parts["targets"].append(cls.cpu().numpy())
        parts["low"].append(low.float().cpu().numpy())
        parts["high"].append(high.float().cpu().numpy())
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    return CamSet(
        index=cat["index"].astype(np.int64),
        images=cat["images"],
        masks=cat["masks"],
        boxes=cat["boxes"],
        labels=cat["labels"].astype(np.int64),
        targets=cat["targets"].astype(np.int64),
        low_res=cat["low"],
        high_res=cat["high"],
    )


def oracle_map(
    mask: np.ndarray,
    rng: np.random.Generator,
    smoothness: float = 1.0,
    noise: float = 0.3,
) -> np.ndarray:
    """Make a high-res map from the ground truth: ``(1 - noise) * blur(mask) + noise * U(0, 1)``.

    Parameters
    ----------
    mask
        ``(H, W)`` object mask.
    rng
        Source of the noise.
    smoothness
        Sigma in pixels of the Gaussian blur of the mask (0: the sharp mask).
    noise
        Share of uniform noise in [0, 1] (0: the blurred mask itself; 1: pure noise).

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` float32 in [0, 1].
    """
    from scipy.ndimage import gaussian_filter

    if not (isinstance(smoothness, int | float) and smoothness >= 0):
        raise ValueError(f"oracle smoothness must be a number >= 0, got {smoothness!r}")
    if not (isinstance(noise, int | float) and 0.0 <= noise <= 1.0):
        raise ValueError(f"oracle noise must be a number in [0, 1], got {noise!r}")
    m = np.asarray(mask, dtype=np.float32)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {m.shape}")
    if smoothness > 0:
        m = gaussian_filter(m, sigma=float(smoothness), mode="nearest")
    out = (1.0 - noise) * m + noise * rng.random(m.shape, dtype=np.float32)
    return out.astype(np.float32)


def high_res_source(
    source: str,
    cams: CamSet,
    i: int,
    seed: int = 0,
    oracle_smoothness: float = 1.0,
    oracle_noise: float = 0.3,
) -> np.ndarray:
    """Return the high-res map of image ``i`` of ``cams`` taken from ``source``.

    Parameters
    ----------
    source
        One of :data:`SOURCES`: ``"expansion"`` (the expansion network's high-res CAM),
        ``"image"`` (the image's luminance, Rec. 601 weights), ``"noise"`` (uniform noise) or
        ``"oracle"`` (:func:`oracle_map` of the ground-truth mask), or a key of
        ``cams.extra_high_res``.
    cams
        The images, masks and CAMs.
    i
        Position in ``cams``.
    seed
        Seed of the noise; with the dataset index and the source it fixes the draw.
    oracle_smoothness, oracle_noise
        See :func:`oracle_map`.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` float32.
    """
    if source in cams.extra_high_res:
        return cams.extra_high_res[source][i]
    if source not in _SOURCE_CODES:
        raise ValueError(f"unknown high-res source {source!r}; choose from {list(SOURCES)}")
    if source == "expansion":
        return cams.high_res[i]
    if source == "image":
        rgb = cams.images[i].astype(np.float32) / 255.0
        return (rgb @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.float32)
    rng = np.random.default_rng([int(seed), int(cams.index[i]), _SOURCE_CODES[source]])
    if source == "noise":
        return rng.random(cams.masks[i].shape, dtype=np.float32)
    return oracle_map(cams.masks[i], rng, oracle_smoothness, oracle_noise)


# -- per-image analysis ------------------------------------------------------------------------


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean masks (0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def failure_kind(record: Mapping[str, Any]) -> str:
    """Classify one image's refinement into one of :data:`FAILURE_KINDS`.

    The stages are tested in pipeline order: a §5 fallback (the refined map *is* the low-res
    map), then a ROI that does not hold the object (the low-res CAM's maximum is off the
    object: the pointing game misses), then whether the refined map's PxAP beats the low-res
    map's on the same image.

    Parameters
    ----------
    record
        A per-image record of :func:`refine_study` (keys ``fallback_reason``,
        ``low_res_pointing``, ``pxap``, ``low_res_pxap``).
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
    return "refined wins" if record["pxap"] > record["low_res_pxap"] else "refined loses"


# -- the study ---------------------------------------------------------------------------------


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
    """

    methods: list[str]
    table: list[dict[str, Any]]
    paired: list[dict[str, Any]]
    per_image: list[dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)
    results: dict[tuple[int, str], Any] = field(default_factory=dict, repr=False)

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
        from hrcam.evaluate import CI_METHOD, METRIC_LABELS
        from hrcam.evaluate.report import paired_cell, table_header, table_row

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
                cells.append(
                    "–" if r is None else f"{r['mean']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
                )
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
    table = summary_rows(study.records, study.packed_curves(), methods, n_boot, seed, metrics)
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
    paired = _paired_rows(study.records, methods, n_boot, seed)
    return StudyResult(methods, table, paired, study.records, config, study.kept)


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
            m: {"mask_iou": [], "box_iou": []} for m in methods
        }
        self.kept: dict[tuple[int, str], RefineResult] = {}

    def add(self, i: int, method: str, cam: np.ndarray, extra: dict[str, Any]) -> dict[str, Any]:
        """Score ``cam`` (image ``i``) as ``method``; returns its record."""
        from hrcam.evaluate import image_scores, mask_scores

        cams = self.cams
        if self.box_metrics:
            scores, iou, box_iou = image_scores(cam, cams.masks[i], cams.boxes[i], self.grid)
        else:
            scores, iou = mask_scores(cam, cams.masks[i], self.grid)
            box_iou = np.zeros_like(iou)
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
                    "low_res_pxap": base["pxap"],
                    "low_res_mask_iou_oracle": base["mask_iou_oracle"],
                })  # fmt: skip
                rec["kind"] = failure_kind(rec)
                if keep:
                    self.kept[(i, method)] = res

    def packed_curves(self) -> dict[str, dict[str, np.ndarray]]:
        """Return ``{method: {"mask_iou", "box_iou"}}`` as ``(N, T)`` arrays."""
        size = self.grid.size
        return {
            m: {k: np.array(v).reshape(-1, size) for k, v in c.items()}
            for m, c in self.curves.items()
        }


def _paired_rows(
    records: list[dict[str, Any]], methods: list[str], n_boot: int, seed: int
) -> list[dict[str, Any]]:
    """Each method minus the low-res CAM on the same images, per :data:`PAIRED_METRICS`."""
    from hrcam.evaluate import bootstrap_mean_ci

    paired = []
    low = {r["index"]: r for r in records if r["method"] == "low_res_cam"}
    for m in methods[1:]:
        recs = [r for r in records if r["method"] == m]
        for metric in PAIRED_METRICS:
            ours = np.array([r[metric] for r in recs], np.float64)
            theirs = np.array([low[r["index"]][metric] for r in recs], np.float64)
            mean, lo, hi = bootstrap_mean_ci(ours - theirs, n_boot, seed)
            config, _, source = m.partition("@")
            paired.append({"method": m, "label": _label(m), "config": config, "source": source,
                           "metric": metric, "n": int(ours.size),
                           "method_mean": float(ours.mean()), "low_res_mean": float(theirs.mean()),
                           "difference": mean, "ci_low": lo, "ci_high": hi,
                           "share_better": float(np.mean(ours > theirs))})  # fmt: skip
    return paired


LOCALIZATION_MAPS: tuple[str, ...] = ("low_res", "high_res", "refined_paper", "refined_reference")
"""Maps whose localization :func:`localization_summary` records."""


def localization_columns() -> list[str]:
    """Column names :func:`localization_summary` returns, in order (``loc_*``)."""
    cols = []
    for name in LOCALIZATION_MAPS:
        cols += [f"loc_{name}_pxap", f"loc_{name}_mask_iou"]
        if name.startswith("refined"):
            cols.append(f"loc_{name}_fallback")
    return cols


def localization_summary(
    model: HRCAM, dataset: Any, limit: int | None = 64, batch_size: int = 32
) -> dict[str, float]:
    """Localization of the low-res, high-res and both refined CAMs on held-out images.

    For each map: the mean per-image PxAP and the mask IoU at the best threshold shared by
    all images (as :func:`hrcam.evaluate.evaluate` reports them); for the refined maps also
    the share of images where region growing failed and the map fell back to the low-res CAM.
    Expansion training calls it every ``eval_every`` epochs.

    Parameters
    ----------
    model
        The :class:`~hrcam.models.HRCAM` being trained (left in eval mode).
    dataset
        A split with masks.
    limit
        First this many images.
    batch_size
        Images per forward pass.

    Returns
    -------
    dict
        ``{column: value}`` for :func:`localization_columns`.
    """
    from hrcam.evaluate import mask_scores
    from hrcam.metrics import DEFAULT_THRESHOLDS
    from hrcam.postprocess import refine
    from hrcam.postprocess.steps import resize_bilinear

    cams = compute_cams(model, dataset, limit, batch_size)
    grid = DEFAULT_THRESHOLDS
    pxap: dict[str, list[float]] = {m: [] for m in LOCALIZATION_MAPS}
    ious: dict[str, list[np.ndarray]] = {m: [] for m in LOCALIZATION_MAPS}
    fallback: dict[str, list[bool]] = {"refined_paper": [], "refined_reference": []}
    size = cams.masks.shape[1:]
    for i in range(len(cams)):
        maps = {
            "low_res": resize_bilinear(cams.low_res[i], size),
            "high_res": cams.high_res[i],
        }
        for preset in ("paper", "reference"):
            res = refine(cams.low_res[i], cams.high_res[i], preset)
            maps[f"refined_{preset}"] = res.refined
            fallback[f"refined_{preset}"].append(bool(res.used_fallback))
        for name, cam in maps.items():
            scores, iou = mask_scores(cam, cams.masks[i], grid)
            pxap[name].append(scores["pxap"])
            ious[name].append(iou)
    out: dict[str, float] = {}
    for name in LOCALIZATION_MAPS:
        out[f"loc_{name}_pxap"] = float(np.mean(pxap[name]))
        out[f"loc_{name}_mask_iou"] = float(np.mean(ious[name], axis=0).max())
        if name in fallback:
            out[f"loc_{name}_fallback"] = float(np.mean(fallback[name]))
    return out


def _label(method: str) -> str:
    if method == "low_res_cam":
        return "low-res CAM (bilinear)"
    config, _, source = method.partition("@")
    what = "raw map" if config == "raw" else f"refined, {config}"
    return f"{what} ({SOURCE_LABELS.get(source, source)})"


def _config_dict(cfg: RefineConfig) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(cfg)


# -- helpers of the evidence chapter -----------------------------------------------------------


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
    score is the share of failures rescued.

    Returns
    -------
    dict
        ``n``, ``method_mean``, ``low_res_mean``, ``difference``, ``ci_low``, ``ci_high``.
    """
    from hrcam.evaluate import bootstrap_mean_ci

    low = {r["index"]: r for r in study.per_image if r["method"] == "low_res_cam"}
    recs = [
        r
        for r in study.per_image
        if r["method"] == method and (low[r["index"]]["pointing"] < 0.5) == low_res_miss
    ]
    ours = np.array([r[metric] for r in recs], float)
    base = np.array([low[r["index"]][metric] for r in recs], float)
    mean, lo, hi = bootstrap_mean_ci(ours - base, n_boot, seed)
    nan = float("nan")
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


def classifier_unchanged(
    classifier_checkpoint: str | os.PathLike,
    model: HRCAM,
    dataset: Any,
    limit: int | None = 256,
    batch_size: int = 32,
) -> dict[str, float]:
    """Measure whether expansion training leaves the classifier alone: logits before and after.

    The classifier checkpoint (before expansion training) and the trained
    :class:`~hrcam.models.HRCAM`'s classifier see the same validation images.

    Returns
    -------
    dict
        ``num_images``, ``max_abs_logit_diff``, ``prediction_agreement``,
        ``max_abs_cam_diff`` (low-res CAMs of the predicted class), ``accuracy_before`` and
        ``accuracy_after``.
    """
    import torch

    from hrcam.models import load_checkpoint, low_res_cam, normalize_images

    device = next(model.parameters()).device
    before = load_checkpoint(classifier_checkpoint, map_location=device).classifier
    if before is None:
        raise ValueError(f"{classifier_checkpoint} holds no classifier")
    before = before.eval()
    after = model.classifier.eval()
    n = len(dataset) if limit is None else min(int(limit), len(dataset))
    logit_diff = cam_diff = 0.0
    agree = correct_before = correct_after = 0
    for start in range(0, n, batch_size):
        batch = dataset.get_batch(np.arange(start, min(n, start + batch_size)))
        x = normalize_images(batch["image"].to(device).float() / 255.0)
        labels = batch["label"].to(device)
        with torch.no_grad():
            a, b = before.forward_features(x), after.forward_features(x)
            pa, pb = a.logits.argmax(1), b.logits.argmax(1)
            ca = low_res_cam(a.cam_features, before.fc.weight, pa)
            cb = low_res_cam(b.cam_features, after.fc.weight, pa)
        logit_diff = max(logit_diff, float((a.logits - b.logits).abs().max()))
        cam_diff = max(cam_diff, float((ca - cb).abs().max()))
        agree += int((pa == pb).sum())
        correct_before += int((pa == labels).sum())
        correct_after += int((pb == labels).sum())
    return {"num_images": n, "max_abs_logit_diff": logit_diff, "max_abs_cam_diff": cam_diff,
            "prediction_agreement": agree / n, "accuracy_before": correct_before / n,
            "accuracy_after": correct_after / n}  # fmt: skip


def run_variant(
    variant: str,
    out_dir: str | os.PathLike,
    *,
    image_size: int = 96,
    num_classes: int = 4,
    num_train: int = 800,
    num_val: int = 200,
    classifier_epochs: int = 4,
    expansion_epochs: int = 2,
    batch_size: int = 32,
    arch: str = "densenet_compact",
    seed: int = 0,
    device: str = "auto",
    eval_images: int | None = None,
    n_boot: int = 1000,
    resume: bool = False,
) -> tuple[StudyResult, dict[str, Any]]:
    """Train both networks on one generated synthetic variant and measure refined minus low-res.

    The classifier and the expansion network are trained on the variant; refined minus low-res
    is measured on its validation split (both presets, expansion source).

    Everything is written under ``out_dir`` (``data/``, ``classifier/``, ``expansion/``,
    ``study/``). The settings are the same for every variant, so the variants differ only in
    their data.

    Returns
    -------
    (StudyResult, dict)
        The study and a summary: ``variant``, ``accuracy``, ``val_psnr``, seconds.
    """
    import time

    from hrcam.data.store import StoreDataset
    from hrcam.data.synthetic import generate_synthetic
    from hrcam.models import load_checkpoint
    from hrcam.train import train_classifier, train_expansion
    from hrcam.train.device import resolve_device

    out = Path(out_dir)
    t0 = time.perf_counter()
    generate_synthetic(out / "data", num_train, num_val, image_size=image_size, seed=seed,
                       num_classes=num_classes, num_workers=0, variant=variant)  # fmt: skip
    common = {"data_root": out / "data", "batch_size": batch_size, "seed": seed,
              "device": device, "progress": False, "resume": resume, "num_workers": 0}  # fmt: skip
    clf = train_classifier(run_dir=out / "classifier", arch=arch, epochs=classifier_epochs,
                           **common)  # fmt: skip
    exp = train_expansion(run_dir=out / "expansion", classifier_checkpoint=clf.best_checkpoint,
                          epochs=expansion_epochs, **common)  # fmt: skip
    t1 = time.perf_counter()
    model = load_checkpoint(exp.best_checkpoint, map_location=resolve_device(device)).model()
    cams = compute_cams(model, StoreDataset(out / "data", "val"), eval_images, batch_size)
    study = refine_study(cams, ["expansion"], n_boot=n_boot, seed=seed, box_metrics=False)
    study.save(out / "study")
    summary = {
        "variant": variant,
        "accuracy": cams.accuracy,
        "val_psnr": float(exp.history[-1].get("val_psnr", float("nan"))),
        "train_seconds": t1 - t0,
        "study_seconds": time.perf_counter() - t1,
    }
    return study, summary


def paired_between(
    study: StudyResult, a: str, b: str, metric: str = "pxap", n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Subtract method ``b`` from ``a`` on the same images: mean difference and bootstrap CI."""
    from hrcam.evaluate.statistics import paired_mean_ci

    ra = {r["index"]: r[metric] for r in study.per_image if r["method"] == a}
    rb = {r["index"]: r[metric] for r in study.per_image if r["method"] == b}
    n, mean, lo, hi = paired_mean_ci(ra, rb, n_boot, seed)
    if not n:
        raise KeyError(f"no images with both {a!r} and {b!r}")
    return {"n": n, "difference": mean, "ci_low": lo, "ci_high": hi}


def stage_summary(
    study: StudyResult, method: str, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Average one refined method stage by stage, to show where in the pipeline it goes wrong.

    Returns
    -------
    dict
        ``n``; ``roi_iou`` (mean, low, high): the ROI against the object; ``grown_iou`` and
        ``filled_iou`` on the images without fallback; ``fallback_<reason>`` shares;
        ``share_better`` (refined PxAP above the low-res CAM's on the same image) and the
        per-kind counts of :data:`FAILURE_KINDS`.
    """
    from hrcam.evaluate import bootstrap_mean_ci

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
    out["share_better"] = float(np.mean([r["pxap"] > r["low_res_pxap"] for r in recs]))
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


def verdict(low: float, high: float, better: str = "better", worse: str = "worse") -> str:
    """Words for a 95 % CI of a difference: ``better`` above 0, ``worse`` below, else none."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "not measured"
    if low > 0:
        return better
    if high < 0:
        return worse
    return "no difference shown (the 95% CI contains 0)"


def extra_heldout(
    store: str | os.PathLike, out_dir: str | os.PathLike, count: int, seed_offset: int = 7919
) -> Any:
    """More held-out images from the generator of a synthetic store, for the §5 subsets.

    The low-res CAM rarely misses on the synthetic set, so the subset where it does is small.
    Images are cheap to make: this renders ``count`` new validation images with the store's
    own settings (classes, size, variant) and seed ``seed + seed_offset``, which the classifier
    never saw.

    Returns
    -------
    StoreDataset or None
        The new ``val`` split, or ``None`` when ``store`` is not a synthetic store (real data
        cannot be extended).
    """
    from hrcam.data.store import StoreDataset, open_store
    from hrcam.data.synthetic import generate_synthetic

    info = open_store(store)
    src = info.source
    if src.get("dataset") != "synthetic-beetles" or count < 1:
        return None
    generate_synthetic(
        out_dir,
        num_train=0,
        num_val=int(count),
        image_size=info.image_size,
        seed=int(src.get("seed", 0)) + int(seed_offset),
        num_classes=int(src["num_classes"]),
        shard_size=int(src.get("shard_size", 1024)),
        num_workers=0,
        variant=src.get("variant", "default"),
    )
    return StoreDataset(out_dir, "val")


def concat_cams(a: CamSet, b: CamSet, offset: int = 0) -> CamSet:
    """Concatenate two :class:`CamSet` s; ``b``'s indices are shifted by ``offset``.

    The shift keeps the indices unique when ``b`` comes from another store. Both must hold
    the same :attr:`CamSet.extra_high_res` sources, which are concatenated too.

    Raises
    ------
    ValueError
        When ``a`` and ``b`` hold other extra high-res sources.
    """
    if a.extra_high_res.keys() != b.extra_high_res.keys():
        raise ValueError(
            f"cannot concatenate CamSets with other extra high-res sources: "
            f"{sorted(a.extra_high_res)} and {sorted(b.extra_high_res)}"
        )
    return CamSet(
        index=np.concatenate([a.index, b.index + int(offset)]),
        **{
            k: np.concatenate([getattr(a, k), getattr(b, k)])
            for k in ("images", "masks", "boxes", "labels", "targets", "low_res", "high_res")
        },
        extra_high_res={
            k: np.concatenate([v, b.extra_high_res[k]]) for k, v in a.extra_high_res.items()
        },
    )
