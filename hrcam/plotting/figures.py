"""Figure helpers for the book: the paper's Figures 2–4 and the notebooks' other plots.

Every function returns a :class:`matplotlib.figure.Figure` and never calls ``plt.show``; a
notebook shows it by leaving it as the cell's last expression. Post-processing figures read
the intermediates of :class:`hrcam.postprocess.RefineResult`, so no logic lives in notebooks;
:func:`select_example` picks the image they show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from hrcam.explain import Explanation

__all__ = [
    "CAM_CMAP",
    "FOCAL_COLOR",
    "cam_grid",
    "dataset_grid",
    "figure2",
    "figure3",
    "figure4",
    "pipeline_steps",
    "reconstruction_grid",
    "score_bars",
    "select_example",
    "to_rgb",
    "training_curves",
]

# The paper draws focal points in yellow (Fig. 3).
FOCAL_COLOR = "yellow"
CAM_CMAP = "jet"


def _figure(nrows: int, ncols: int, size: float = 3.0, **kwargs: Any):
    # Figure (not pyplot.figure): nothing is registered with pyplot, so nothing leaks or
    # shows twice; the inline backend still renders the returned object.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size * ncols, size * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def to_rgb(image: Any) -> np.ndarray:
    """Return ``image`` as a float ``(H, W, 3)`` array in [0, 1] for ``imshow``.

    Parameters
    ----------
    image
        ``(3, H, W)`` or ``(H, W, 3)`` or ``(H, W)``, numpy or torch, ``uint8`` (0–255) or
        float (rescaled to [0, 1] by its own range when outside it, e.g. normalised input).

    Raises
    ------
    ValueError
        For any other shape.
    """
    a = _numpy(image)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"image must be (3,H,W), (H,W,3) or (H,W); got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    a = a.astype(np.float32)
    lo, hi = float(a.min()), float(a.max())
    if lo < 0.0 or hi > 1.0:
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a


def _off(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def dataset_grid(
    images: Sequence[Any],
    labels: Sequence[int],
    class_names: Sequence[str],
    masks: Sequence[Any] | None = None,
    ncols: int = 4,
):
    """Draw a grid of sample images titled by class, with the object mask outlined in yellow.

    Parameters
    ----------
    images
        Images in any layout :func:`to_rgb` accepts.
    labels
        Integer label of each image.
    class_names
        Name of each label.
    masks
        Optional ``(H, W)`` ground-truth masks, drawn as contours.
    ncols
        Images per row.
    """
    n = len(images)
    if n == 0:
        raise ValueError("images is empty; pass at least one image")
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = _figure(nrows, ncols, size=2.2)
    for i, ax in enumerate(axes.flat):
        _off(ax)
        if i >= n:
            ax.set_axis_off()
            continue
        ax.imshow(to_rgb(images[i]))
        if masks is not None:
            ax.contour(_numpy(masks[i]).astype(float), levels=[0.5], colors=FOCAL_COLOR)
        ax.set_title(str(class_names[int(labels[i])]), fontsize=9)
    return fig


def _history_series(history: Any) -> dict[str, list[float]]:
    """Accept ``{"loss": [...], ...}`` or a list of per-epoch dicts."""
    if isinstance(history, Mapping):
        return {k: list(v) for k, v in history.items() if _is_series(v)}
    rows = list(history)
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [float(r[k]) for r in rows if r.get(k) is not None] for k in keys}


def _is_series(v: Any) -> bool:
    return isinstance(v, Sequence | np.ndarray) and not isinstance(v, str)


# val_mse is val_psnr on a linear scale (PSNR is -10 log10 of the pixel MSE); next to PSNR's
# tens of dB it would be a flat line at zero.
_REDUNDANT_SERIES = frozenset({"val_mse"})


def training_curves(history: Any, title: str = ""):
    """Per-epoch curves: losses on the left, validation metrics on the right.

    Only losses (``*loss*``) and validation metrics (``val_*``) are drawn: bookkeeping such as
    ``lr``, ``global_step``, ``train_img_per_s`` or ``epoch_time_s`` lives on other scales and
    would flatten the curves.

    Parameters
    ----------
    history
        ``{"train_loss": [...], "val_top1": [...]}`` or a list of per-epoch dicts (a training
        run's ``history``).
    title
        Figure title.
    """
    series = {
        k: v
        for k, v in _history_series(history).items()
        if ("loss" in k or k.startswith("val_"))
        and k not in _REDUNDANT_SERIES
        and v
        and all(isinstance(x, int | float) for x in v)
    }
    if not series:
        raise ValueError("history holds no numeric loss (*loss*) or metric (val_*) series")
    losses = {k: v for k, v in series.items() if "loss" in k}
    others = {k: v for k, v in series.items() if "loss" not in k}
    panels = [p for p in (losses, others) if p]
    fig, axes = _figure(1, len(panels), size=3.6)
    for ax, panel, name in zip(axes[0], panels, ("loss", "value"), strict=True):
        for key, values in panel.items():
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=key)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


def reconstruction_grid(images: Sequence[Any], reconstructions: Sequence[Any]):
    """Show inputs (top row) and the expansion network's reconstructions (bottom row)."""
    n = len(images)
    if n == 0 or n != len(reconstructions):
        raise ValueError(
            f"need as many reconstructions as images (got {n} and {len(reconstructions)})"
        )
    fig, axes = _figure(2, n, size=2.2)
    for j in range(n):
        axes[0, j].imshow(to_rgb(images[j]))
        axes[1, j].imshow(to_rgb(reconstructions[j]))
        _off(axes[0, j])
        _off(axes[1, j])
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("reconstruction")
    return fig


def _cam(ax: Any, cam: Any, title: str, **kwargs: Any) -> Any:
    im = ax.imshow(_numpy(cam), cmap=CAM_CMAP, vmin=0.0, vmax=1.0, **kwargs)
    ax.set_title(title, fontsize=10)
    _off(ax)
    return im


def figure2(image: Any, low_res_cam: Any, title: str = ""):
    """Paper Fig. 2: the image (left) and its low-res CAM at the classifier's resolution (right).

    Parameters
    ----------
    image
        The input image.
    low_res_cam
        The normalised low-res CAM, e.g. ``RefineResult.low_res`` (drawn with nearest
        interpolation so its coarse grid stays visible).
    title
        Figure title (e.g. the predicted class).
    """
    fig, axes = _figure(1, 2)
    axes[0, 0].imshow(to_rgb(image))
    axes[0, 0].set_title("image", fontsize=10)
    _off(axes[0, 0])
    cam = _numpy(low_res_cam)
    _cam(axes[0, 1], cam, f"low-res CAM ({cam.shape[0]}×{cam.shape[1]})", interpolation="nearest")
    if title:
        fig.suptitle(title)
    return fig


def figure3(results: Mapping[str, Any]):
    """Paper Fig. 3, one row per preset: edges with focal points, and the bound selection.

    Left: the Sobel edges of the blurred high-res CAM with the focal points in yellow and the
    ROI outlined. Right: the histogram of the values region growing sees inside the ROI, with
    the lower and upper bounds.

    Parameters
    ----------
    results
        ``{preset name: RefineResult}``.
    """
    if not results:
        raise ValueError("results is empty; pass {preset: RefineResult}")
    fig, axes = _figure(len(results), 2, size=3.2)
    for row, (name, r) in zip(axes, results.items(), strict=True):
        ax = row[0]
        ax.imshow(_numpy(r.edges), cmap="gray")
        ax.contour(_numpy(r.roi).astype(float), levels=[0.5], colors="cyan", linewidths=0.8)
        pts = _numpy(r.focal_points).reshape(-1, 2)
        ax.scatter(pts[:, 1], pts[:, 0], s=18, c=FOCAL_COLOR, edgecolors="black", linewidths=0.5)
        ax.set_title(f"{name}: edges, {len(pts)} focal points", fontsize=10)
        _off(ax)
        ax = row[1]
        values = _numpy(r.roi_values).ravel()
        ax.hist(values, bins=40, color="0.55")
        ax.axvline(r.lower, color="tab:blue", label=f"lower {r.lower:.3f}")
        ax.axvline(r.upper, color="tab:red", label=f"upper {r.upper:.3f}")
        source = "gradient" if r.config.grow_on == "gradient" else "blurred high-res CAM"
        ax.set_title(f"{name}: bounds on the {source} in the ROI", fontsize=10)
        ax.set_xlabel("value")
        ax.legend(fontsize=8)
    return fig


def figure4(image: Any, results: Mapping[str, Any]):
    """Paper Fig. 4, one row per preset: the refined CAM and the image masked by it.

    Parameters
    ----------
    image
        The input image.
    results
        ``{preset name: RefineResult}``; the mask is ``RefineResult.keep_mask``.
    """
    if not results:
        raise ValueError("results is empty; pass {preset: RefineResult}")
    rgb = to_rgb(image)
    fig, axes = _figure(len(results), 2)
    for row, (name, r) in zip(axes, results.items(), strict=True):
        note = " (fell back to low-res)" if r.used_fallback else ""
        _cam(row[0], r.refined, f"{name}: refined CAM{note}")
        keep = _numpy(r.keep_mask).astype(bool)
        if keep.shape != rgb.shape[:2]:
            raise ValueError(f"keep_mask {keep.shape} does not match the image {rgb.shape[:2]}")
        row[1].imshow(rgb * keep[..., None])
        row[1].set_title(f"{name}: image masked by the refined CAM", fontsize=10)
        _off(row[1])
    return fig


def cam_grid(
    images: Sequence[Any],
    maps: Mapping[str, Sequence[Any]],
    masks: Sequence[Any] | None = None,
):
    """Images in the top row, then one row of maps per method (one column per image).

    Parameters
    ----------
    images
        The images.
    maps
        ``{row title: one map per image}``, each map in [0, 1] at the image's size.
    masks
        Optional ground-truth masks, outlined in white on every map.
    """
    n = len(images)
    if n == 0:
        raise ValueError("images is empty; pass at least one image")
    for name, row in maps.items():
        if len(row) != n:
            raise ValueError(f"maps[{name!r}] has {len(row)} maps for {n} images")
    fig, axes = _figure(1 + len(maps), n, size=2.0)
    for j in range(n):
        axes[0, j].imshow(to_rgb(images[j]))
        _off(axes[0, j])
        for i, (name, row) in enumerate(maps.items(), start=1):
            _cam(axes[i, j], row[j], "")
            if masks is not None:
                axes[i, j].contour(
                    _numpy(masks[j]).astype(float), levels=[0.5], colors="white", linewidths=0.8
                )
            if j == 0:
                axes[i, j].set_ylabel(name, fontsize=9)
    axes[0, 0].set_ylabel("image", fontsize=9)
    return fig


def pipeline_steps(image: Any, result: Any, title: str = ""):
    """Show the image and every intermediate of one refinement, in pipeline order, five per row.

    The panels are :data:`hrcam.postprocess.STEP_PANELS` (one entry per step).
    """
    from hrcam.postprocess import STEP_PANELS

    panels = [("image", to_rgb(image), None)]
    for panel in STEP_PANELS:
        cmap = CAM_CMAP if panel.kind == "map" else "gray"
        panels.append((panel.title, getattr(result, panel.attribute), cmap))
    fig, axes = _figure(-(-len(panels) // 5), 5, size=2.2)
    for ax in axes.flat[len(panels) :]:
        ax.set_axis_off()  # the last row's unused places stay blank
    for ax, (name, data, cmap) in zip(axes.flat, panels, strict=False):
        ax.imshow(_numpy(data).astype(float) if cmap else data, cmap=cmap)
        ax.set_title(name, fontsize=9)
        _off(ax)
    if title:
        fig.suptitle(title)
    return fig


def score_bars(table: Mapping[str, Mapping[str, float]], title: str = ""):
    """Draw grouped bars: ``{method: {metric: value}}`` with one group per metric.

    For a plain table of numbers; :func:`hrcam.plotting.evaluation.metric_bars` draws an
    evaluation result with its confidence intervals.

    Parameters
    ----------
    table
        Scores per method and metric (metrics missing for a method are left out).
    title
        Figure title.
    """
    if not table:
        raise ValueError("table is empty")
    methods = list(table)
    metrics = list(dict.fromkeys(m for scores in table.values() for m in scores))
    fig, axes = _figure(1, 1, size=4.0)
    ax = axes[0, 0]
    fig.set_size_inches(max(5.0, 1.6 * len(metrics)), 3.6)
    width = 0.8 / len(methods)
    x = np.arange(len(metrics))
    for i, method in enumerate(methods):
        ys = [table[method].get(m, np.nan) for m in metrics]
        bars = ax.bar(x + i * width - 0.4 + width / 2, ys, width, label=method)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(x, metrics)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def select_example(
    explanations: Sequence[Explanation],
    labels: Sequence[int] | np.ndarray,
    *,
    min_probability: float = 0.5,
) -> int:
    """Index of the first image that illustrates the pipeline working, as the paper's figures do.

    Preference order: the first image that the classifier gets right with probability at least
    ``min_probability`` *and* on which region growing succeeded (``refinement.fallback`` is
    ``None``); else the first correctly classified image; else image 0. Failures are not hidden
    by this choice: they are counted over the whole split by :mod:`hrcam.evaluate`.

    Parameters
    ----------
    explanations
        Output of :meth:`hrcam.explain.Explainer.explain` for a batch.
    labels
        True class of each image, same length as ``explanations``.
    min_probability
        Confidence needed for the first preference.

    Returns
    -------
    int
        An index into ``explanations``.

    Raises
    ------
    ValueError
        If the lengths differ or there are no explanations.
    """
    labels = [int(v) for v in np.asarray(labels).reshape(-1)]
    if len(labels) != len(explanations):
        raise ValueError(
            f"labels has {len(labels)} entries but explanations has {len(explanations)}"
        )
    if not explanations:
        raise ValueError("explanations is empty: explain at least one image")
    correct = [e.label == y for e, y in zip(explanations, labels, strict=True)]
    for i, e in enumerate(explanations):
        if correct[i] and e.probability >= min_probability and e.refinement.fallback is None:
            return i
    return correct.index(True) if any(correct) else 0
