"""The evaluation loop: every method on every image, scored against the ground truth.

>>> from hrcam.evaluate import evaluate  # doctest: +SKIP
>>> result = evaluate(model, StoreDataset(root, "val"), limit=64)  # doctest: +SKIP
>>> print(result.to_markdown())  # doctest: +SKIP
>>> result.save("runs/eval")  # doctest: +SKIP

For every image the model first predicts a class; each method then explains one class per
image (the prediction by default, or the label), and every map is scored against the image's
ground-truth mask and box with :mod:`hrcam.metrics`. Scores are summarised per method as a
mean with a 95% **percentile bootstrap** confidence interval over images (1000 resamples,
seeded). Data-set metrics are recomputed inside every bootstrap resample: PxAP (Choe et al.
2020) from the resampled images' summed pixel counts, and the metrics that choose a threshold
over the whole data set (mask IoU at the best shared threshold, MaxBoxAccV2) with the
threshold chosen again.

The paper's §5 claim, that the refined CAM survives when the low-res CAM fails, is measured
on the images where the low-res CAM misses the object in the pointing game: there each method
is compared with the low-res CAM on the same images (paired bootstrap of the difference).

Cost control for CPU runs: Score-CAM runs one forward pass per channel of its target layer,
and deletion/insertion needs ``2 * (steps + 1)`` forward passes per image, so both are
computed on the first ``score_cam_limit`` / ``faithfulness_limit`` images only (the table's
``n`` column says how many; a method's registry entry names the limit that caps it).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.evaluate.config import EvaluateConfig
from hrcam.evaluate.results import EvaluationResult
from hrcam.evaluate.scoring import (
    append_counts,
    image_scores,
    pack_curves,
    section5_rows,
    summary_rows,
)
from hrcam.metrics.statistics import ci_method

if TYPE_CHECKING:
    import torch
    from torch import nn

    from hrcam.methods import SaliencyMethod
    from hrcam.models import HRCAM

__all__ = ["evaluate", "run_evaluation", "source_units"]


def _read_batch(dataset: Any, indices: np.ndarray) -> dict[str, np.ndarray]:
    """Images (B, 3, H, W) uint8, labels, masks (B, H, W), boxes (B, 4) as numpy."""
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


@dataclass
class _Batch:
    """One batch: its dataset indices, the numpy arrays, and the images on the device."""

    idx: np.ndarray
    arrays: dict[str, np.ndarray]
    images: torch.Tensor
    labels: np.ndarray
    predicted: np.ndarray
    targets: np.ndarray


def _load_batch(
    dataset: Any, idx: np.ndarray, classifier: nn.Module, device: Any, target: str
) -> _Batch:
    """Read a batch, move it to ``device`` as floats in [0, 1] and predict its classes."""
    import torch

    arrays = _read_batch(dataset, idx)
    images = torch.from_numpy(np.ascontiguousarray(arrays["image"])).to(device)
    images = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    labels = arrays["label"].astype(np.int64)
    with torch.no_grad():
        predicted = classifier(images).argmax(dim=1).cpu().numpy()
    targets = predicted if target == "predicted" else labels
    return _Batch(idx, arrays, images, labels, predicted, targets)


@dataclass
class _Collected:
    """What the loop gathers: per-image records, threshold curves and example maps."""

    names: list[str]
    keep_examples: int
    records: list[dict[str, Any]] = field(default_factory=list)
    curves: dict[str, dict[str, list]] = field(default_factory=dict)
    examples: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.curves = {m: {"mask_iou": [], "box_iou": [], "index": []} for m in self.names}
        self.examples = {"index": [], "image": [], "mask": [], "target": [],
                         "maps": {m: [] for m in self.names}}  # fmt: skip

    def add_examples(self, b: _Batch) -> None:
        keep = b.idx < self.keep_examples
        if keep.any():
            self.examples["index"].extend(b.idx[keep].tolist())
            self.examples["image"].append(np.moveaxis(b.arrays["image"][keep], 1, -1))
            self.examples["mask"].append(b.arrays["mask"][keep])
            self.examples["target"].extend(b.targets[keep].tolist())

    def packed_curves(self, grid: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        return {m: {"thresholds": grid, **pack_curves(c, grid.size)}
                for m, c in self.curves.items()}  # fmt: skip

    def packed_examples(self) -> dict[str, Any]:
        return _pack_examples(self.examples, self.names)


def _faithfulness(
    classifier: nn.Module,
    images: torch.Tensor,
    maps: np.ndarray,
    targets: list[int],
    faithful: np.ndarray,
    config: EvaluateConfig,
) -> tuple[np.ndarray, ...]:
    """Average drop, increase in confidence, deletion and insertion AUC (nan where skipped)."""
    import torch

    from hrcam import metrics

    drop, inc, dele, ins = (np.full(faithful.size, np.nan) for _ in range(4))
    if faithful.any():
        f = torch.from_numpy(np.flatnonzero(faithful)).to(images.device)
        f_targets = [targets[i] for i in np.flatnonzero(faithful)]
        change = metrics.confidence_change(
            classifier, images[f], maps[faithful], f_targets, config.batch_size
        )
        curves_di = metrics.deletion_insertion(
            classifier, images[f], maps[faithful], f_targets,
            steps=config.deletion_steps,
            batch_size=max(config.batch_size, config.deletion_steps + 1), seed=config.seed,
        )  # fmt: skip
        drop[faithful] = 100.0 * change.drop
        inc[faithful] = 100.0 * change.increase
        dele[faithful] = curves_di.deletion_auc
        ins[faithful] = curves_di.insertion_auc
    return drop, inc, dele, ins


def _road(
    classifier: nn.Module,
    images: torch.Tensor,
    maps: np.ndarray,
    targets: list[int],
    roaded: np.ndarray,
    config: EvaluateConfig,
) -> np.ndarray:
    """(3, n) ROAD MoRF, LeRF and combined scores (nan where skipped)."""
    import torch

    from hrcam import metrics

    road_scores = np.full((3, roaded.size), np.nan)
    if roaded.any():
        r = torch.from_numpy(np.flatnonzero(roaded)).to(images.device)
        scores_road = metrics.road(
            classifier, images[r], maps[roaded], [targets[i] for i in np.flatnonzero(roaded)],
            percentiles=config.road_percentiles, batch_size=config.batch_size, seed=config.seed,
        )  # fmt: skip
        road_scores[:, roaded] = (scores_road.morf, scores_road.lerf, scores_road.combined)
    return road_scores


def _score_method(
    name: str,
    method: SaliencyMethod,
    b: _Batch,
    classifier: nn.Module,
    config: EvaluateConfig,
    grid: np.ndarray,
    out: _Collected,
    num_images: int,
) -> None:
    """Run one method on the batch's images within its cap; score and record every map."""
    import torch

    sel = b.idx < config.images_for(name, num_images)
    if not sel.any():
        return
    sub = torch.from_numpy(np.flatnonzero(sel)).to(b.images.device)
    sub_images, sub_targets = b.images[sub], b.targets[sel].tolist()
    t0 = time.perf_counter()
    maps = method(sub_images, sub_targets)
    per_image_ms = 1000.0 * (time.perf_counter() - t0) / int(sel.sum())
    faithful, roaded = b.idx[sel] < config.faithfulness_limit, b.idx[sel] < config.road_limit
    drop, inc, dele, ins = _faithfulness(
        classifier, sub_images, maps.maps, sub_targets, faithful, config
    )
    road = _road(classifier, sub_images, maps.maps, sub_targets, roaded, config)
    for j, i in enumerate(np.flatnonzero(sel)):
        scores, iou, box_iou, counts = image_scores(
            maps.maps[j], b.arrays["mask"][i], b.arrays["box"][i], grid
        )
        append_counts(out.curves[name], counts)
        out.curves[name]["mask_iou"].append(iou)
        out.curves[name]["box_iou"].append(box_iou)
        out.curves[name]["index"].append(int(b.idx[i]))
        record = {
            "index": int(b.idx[i]),
            "label": int(b.labels[i]),
            "predicted": int(b.predicted[i]),
            "target": int(b.targets[i]),
            "method": name,
            **scores,
            "average_drop": float(drop[j]),
            "increase_in_confidence": float(inc[j]),
            "deletion_auc": float(dele[j]),
            "insertion_auc": float(ins[j]),
            "road_morf": float(road[0, j]),
            "road_lerf": float(road[1, j]),
            "road_combined": float(road[2, j]),
            "runtime_ms": per_image_ms,
        }
        for key, values in maps.info.items():
            record[key] = bool(values[j]) if values.dtype == bool else float(values[j])
        out.records.append(record)
        if b.idx[i] < out.keep_examples:
            out.examples["maps"][name].append((int(b.idx[i]), maps.maps[j].astype(np.float16)))


def _num_images(dataset: Any, limit: int | None) -> int:
    n = len(dataset) if limit is None else min(limit, len(dataset))
    if n == 0:
        raise ValueError("dataset is empty: nothing to evaluate")
    return n


def _settings(
    config: EvaluateConfig, n: int, dataset: Any, names: list[str], grid: np.ndarray, device: Any
) -> dict[str, Any]:
    """Return the ``config`` of the result: the settings used, as plain JSON-able values."""
    import torch

    return {
        "num_images": n,
        "split": getattr(dataset, "split", None),
        "target": config.target,
        "methods": names,
        "batch_size": config.batch_size,
        "score_cam_limit": config.score_cam_limit,
        "faithfulness_limit": config.faithfulness_limit,
        "deletion_steps": config.deletion_steps,
        "road_limit": config.road_limit,
        "road_percentiles": [float(p) for p in config.road_percentiles],
        "num_thresholds": int(grid.size),
        "n_boot": config.n_boot,
        "seed": config.seed,
        "ci": ci_method(config.n_boot),
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
    }


def source_units(dataset: Any, n: int) -> dict[int, str] | None:
    """Each image's stamp when ``dataset`` is a store whose builder recorded sources, else None.

    The cut-out builder records every image's target stamp; images that show one stamp are not
    independent, so the bootstrap resamples stamps there (Efron & Tibshirani 1993, ch. 8).
    """
    from hrcam.data.store import shard_extras

    root, split = getattr(dataset, "root", None), getattr(dataset, "split", None)
    if root is None or split is None:
        return None
    try:
        sources = shard_extras(root, split, "sources")
    except (KeyError, OSError, ValueError):
        return None
    return {i: str(sources[i][0]) for i in range(min(n, len(sources)))}


def run_evaluation(model: HRCAM, dataset: Any, config: EvaluateConfig) -> EvaluationResult:
    """Score every method of ``config`` on the first ``config.limit`` images of ``dataset``.

    Parameters
    ----------
    model
        :class:`hrcam.models.HRCAM` (classifier + trained expansion network), on the CPU or
        any device; maps are computed on the model's device.
    dataset
        A :class:`hrcam.data.store.StoreDataset` with masks (its ``get_batch`` is used), or
        any indexable of dicts with ``image`` (uint8 (3, H, W)), ``label``, ``mask`` and
        optionally ``box`` (x0, y0, x1, y1, end-exclusive).
    config
        The settings (:class:`~hrcam.evaluate.EvaluateConfig`).

    Returns
    -------
    EvaluationResult
    """
    from tqdm import tqdm

    from hrcam.methods import build_methods, pixel_space_model
    from hrcam.metrics._validation import as_thresholds

    n = _num_images(dataset, config.limit)
    grid = as_thresholds(config.thresholds)
    names = config.evaluated_methods()
    method_fns = build_methods(model, names, workers=config.workers)
    model = model.eval()
    device = next(model.parameters()).device
    classifier = pixel_space_model(model.classifier)
    out = _Collected(names, config.keep_examples)
    bar = tqdm(total=n, desc="evaluate", unit="img", disable=not config.progress)
    for start in range(0, n, config.batch_size):
        b = _load_batch(dataset, np.arange(start, min(n, start + config.batch_size)),
                        classifier, device, config.target)  # fmt: skip
        out.add_examples(b)
        if start == 0:
            # One untimed call per method, so that the first batch's runtime does not include
            # one-off costs (allocator growth, lazy imports, hook set-up).
            for method in method_fns.values():
                method(b.images[:1], b.targets[:1].tolist())
        for name, method in method_fns.items():
            _score_method(name, method, b, classifier, config, grid, out, n)
        bar.update(b.idx.size)
    bar.close()
    packed = out.packed_curves(grid)
    settings = _settings(config, n, dataset, names, grid, device)
    units = source_units(dataset, n)
    if units is not None:
        settings.update(bootstrap_unit="stamps", num_units=len(set(units.values())),
                        ci=ci_method(config.n_boot, "stamps"))  # fmt: skip
    first = [r["label"] == r["predicted"] for r in out.records if r["method"] == names[0]]
    settings["accuracy"] = float(np.mean(first)) if out.records else float("nan")
    return EvaluationResult(
        methods=names,
        table=summary_rows(out.records, packed, names, config.n_boot, config.seed, units=units),
        per_image=out.records,
        section5=section5_rows(out.records, names, config.n_boot, config.seed, units=units),
        curves=packed,
        examples=out.packed_examples(),
        config=settings,
    )


def evaluate(
    model: HRCAM,
    dataset: Any,
    methods: Iterable[str] | None = None,
    *,
    config: EvaluateConfig | None = None,
    **options: Any,
) -> EvaluationResult:
    """Score every method on the first ``limit`` images of ``dataset``.

    A thin wrapper of :func:`run_evaluation` that builds the
    :class:`~hrcam.evaluate.EvaluateConfig` from keyword arguments.

    Parameters
    ----------
    model, dataset
        See :func:`run_evaluation`.
    methods
        Names of the method registry (default: all registered methods).
    config
        A ready :class:`~hrcam.evaluate.EvaluateConfig` instead of ``methods`` and
        ``**options``.
    **options
        Any field of :class:`~hrcam.evaluate.EvaluateConfig`: ``limit``, ``batch_size``,
        ``target``, ``score_cam_limit``, ``faithfulness_limit``, ``deletion_steps``,
        ``road_limit``, ``road_percentiles``, ``thresholds``, ``n_boot``, ``seed``,
        ``keep_examples``, ``progress``, ``workers``.

    Returns
    -------
    EvaluationResult
    """
    if config is not None and (methods is not None or options):
        raise TypeError("pass either config or methods/options to evaluate, not both")
    if config is None:
        config = EvaluateConfig.from_options(methods, **options)
    return run_evaluation(model, dataset, config)


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
