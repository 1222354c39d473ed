"""The post-processing pipeline of the paper's §3.3: low-res + high-res CAM → refined CAM.

Degenerate but valid inputs have defined results:

- a constant low-res map carries no location: there are no focal points, ``fallback`` is
  ``"flat_low_res"`` and the refined CAM is the normalised low-res map, i.e. all zeros;
- a constant high-res map carries no shape: ``fallback`` is ``"flat_high_res"`` and the
  refined CAM is the normalised, resized low-res map.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np

from hrcam.postprocess import steps
from hrcam.postprocess.config import RefineConfig, resolve_config
from hrcam.postprocess.validation import as_map, check_pair

__all__ = [
    "FAILURE_REASONS",
    "STEP_PANELS",
    "RefineResult",
    "StepPanel",
    "refine",
]


_T = TypeVar("_T")

#: Reasons ``RefineResult.fallback`` can hold (``None`` when region growing succeeded).
FAILURE_REASONS = ("flat_low_res", "flat_high_res", "no_focal_points", "too_small", "too_large")


@dataclass(frozen=True)
class StepPanel:
    """One panel of the step-by-step figure (:func:`hrcam.plotting.pipeline_steps`).

    Attributes
    ----------
    attribute
        The :class:`RefineResult` attribute drawn.
    title
        The panel's title.
    kind
        ``"map"`` (a continuous map in [0, 1], drawn with the CAM colour map) or ``"mask"``
        (boolean, drawn in grey).
    """

    attribute: str
    title: str
    kind: Literal["map", "mask"]


#: The intermediates of :func:`refine` that the step-by-step figure shows, in pipeline order
#: (after the input image). A new post-processing step gets its panel by one entry here.
STEP_PANELS: tuple[StepPanel, ...] = (
    StepPanel("low_res_resized", "low-res, resized", "map"),
    StepPanel("roi", "ROI", "mask"),
    StepPanel("high_res", "high-res", "map"),
    StepPanel("blurred", "blurred", "map"),
    StepPanel("edges", "edges (Sobel)", "mask"),
    StepPanel("grown", "grown region", "mask"),
    StepPanel("filled", "+ edges, holes filled", "mask"),
    StepPanel("refined", "refined", "map"),
    StepPanel("keep_mask", "kept pixels", "mask"),
)


@dataclass(frozen=True)
class RefineResult:
    """The refined CAM and every intermediate of :func:`refine`, for figures and checks.

    All maps have the high-res map's shape ``(H, W)`` unless said otherwise.

    Attributes
    ----------
    refined
        The refined CAM, ``float32`` in [0, 1].
    low_res
        The normalised low-res CAM at its own resolution.
    low_res_resized
        ``low_res`` bilinearly resized to ``(H, W)``.
    high_res
        The normalised high-res CAM.
    focal_points
        ``(N, 2)`` ``int`` array of ``(row, col)`` seeds on the ``(H, W)`` grid.
    focal_points_low_res
        The same points on the low-res grid for the local-maxima modes; ``None`` for ``top_n``
        (those are picked on the resized map).
    roi
        Boolean ROI mask (top ``100 - roi_percentile`` % of ``low_res_resized``).
    blurred
        The box-blurred high-res CAM.
    edges
        Sobel gradient magnitude of ``blurred``, normalised to [0, 1].
    growth_source
        The image region growing ran on (``blurred`` or ``edges``, per ``config.grow_on``).
    roi_values
        ``growth_source[roi]``: the values whose percentiles are ``lower`` and ``upper``.
    lower, upper
        Region-growing bounds.
    edge_threshold
        Gradient value at or above which an ROI pixel is added back as an edge.
    grown
        Boolean grown region (:func:`~hrcam.postprocess.steps.connected_threshold`, which
        returns what SimpleITK's ``ConnectedThreshold`` returns).
    edge_mask
        Boolean edges added back, :func:`~hrcam.postprocess.steps.edge_mask`:
        ``(edges >= edge_threshold) & (edges > 0) & roi``.
    filled
        ``grown | edge_mask`` with small holes filled; what is merged with the low-res map.
    region_ratio
        ``grown.sum() / roi.sum()``, the size test of the paper's §5.
    fallback
        ``None`` when growing succeeded, else the reason it failed, one of
        :data:`FAILURE_REASONS`.
    used_fallback
        True when ``refined`` is the resized low-res CAM because growing failed.
    keep_mask
        Property: the brightest ``config.keep_percent`` % of ``refined`` (to mask the image,
        Fig. 4).
    config
        The configuration used.
    timings
        Seconds spent in each step, in pipeline order.
    """

    refined: np.ndarray
    low_res: np.ndarray
    low_res_resized: np.ndarray
    high_res: np.ndarray
    focal_points: np.ndarray
    focal_points_low_res: np.ndarray | None
    roi: np.ndarray
    blurred: np.ndarray
    edges: np.ndarray
    growth_source: np.ndarray
    roi_values: np.ndarray
    lower: float
    upper: float
    edge_threshold: float
    grown: np.ndarray
    edge_mask: np.ndarray
    filled: np.ndarray
    region_ratio: float
    fallback: str | None
    used_fallback: bool
    config: RefineConfig
    timings: dict[str, float] = field(default_factory=dict, repr=False, compare=False)

    @property
    def keep_mask(self) -> np.ndarray:
        """The brightest ``config.keep_percent`` % of ``refined``, to mask the image (Fig. 4).

        Computed on access: most callers never need it and it costs a 50k-pixel partition.
        """
        return steps.keep_top_percent(self.refined, self.config.keep_percent)


class _Clock:
    """Runs the steps and accumulates wall time per step name (cheap enough to leave on)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def run(self, name: str, step: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """``step(*args, **kwargs)``, its time added to ``timings[name]``."""
        start = time.perf_counter()
        out = step(*args, **kwargs)
        self.timings[name] = self.timings.get(name, 0.0) + (time.perf_counter() - start)
        return out


def normalized_maps(
    low_res_cam: Any, high_res_cam: Any, clock: _Clock | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the first steps of :func:`refine`: check and normalise both maps, resize the low-res.

    :class:`hrcam.parallel.RefinePool` recomputes these three maps in the parent with this
    function instead of shipping them back from its workers (cheaper than the transfer).

    Parameters
    ----------
    low_res_cam, high_res_cam
        As for :func:`refine`.
    clock
        Where the steps' times go (``normalize``, ``resize``); ``None``: nowhere.

    Returns
    -------
    tuple of numpy.ndarray
        ``(low_res, high_res, low_res_resized)``, as :class:`RefineResult` holds them.
    """
    clock = clock if clock is not None else _Clock()
    low = as_map(low_res_cam, "low_res_cam")
    high = as_map(high_res_cam, "high_res_cam")
    check_pair(low, high)
    low_n = clock.run("normalize", steps.normalize, low)
    high_n = clock.run("normalize", steps.normalize, high)
    low_resized = clock.run("resize", steps.resize_bilinear, low_n, high.shape)
    return low_n, high_n, low_resized


def refine(
    low_res_cam: Any,
    high_res_cam: Any,
    preset: str | None = "paper",
    *,
    config: RefineConfig | None = None,
    **overrides: Any,
) -> RefineResult:
    """Turn a low-res and a high-res CAM into the refined CAM (paper §3.3).

    Steps: normalise both maps to [0, 1]; resize the low-res map bilinearly; take focal points
    and the ROI from it; blur the high-res map (box filter) and take its Sobel gradient; compute
    the growth bounds from the ROI; grow a region from the focal points (the rule of SimpleITK's
    ``ConnectedThreshold``); add strong ROI edges back; fill small holes; merge with the
    low-res map. If the grown region is far too small or too large relative to the ROI (paper
    §5), the refined CAM is the resized low-res CAM (:attr:`RefineResult.fallback`).

    Parameters
    ----------
    low_res_cam
        2-D class activation map from the classifier (e.g. 7×7 or 14×14), any real dtype.
    high_res_cam
        2-D map at image resolution from the expansion network; sets the output shape.
    preset
        ``"paper"`` or ``"reference"`` (see :data:`hrcam.postprocess.PRESETS`).
    config
        Explicit :class:`RefineConfig`; replaces ``preset`` when given.
    **overrides
        Any :class:`RefineConfig` field, e.g. ``alpha=0.7`` or ``focal_mode="top_n"``.

    Returns
    -------
    RefineResult
        The refined CAM and all intermediates.

    Raises
    ------
    ValueError
        For an unknown preset or parameter, a map that is not a finite real 2-D array, or maps
        that do not fit together (see :mod:`hrcam.postprocess.validation`).

    """
    cfg = resolve_config(preset, config, **overrides)
    clock = _Clock()
    low_n, high_n, low_resized = normalized_maps(low_res_cam, high_res_cam, clock)
    focal, focal_low = clock.run(
        "focal_points", steps.focal_points, low_n, low_resized, cfg.focal_mode, cfg.top_n
    )
    roi = clock.run("roi", steps.roi_mask, low_resized, cfg.roi_percentile)
    blurred = clock.run("blur", steps.box_blur, high_n, cfg.blur_size)
    gradient = clock.run("sobel", steps.sobel_magnitude, blurred)
    on_gradient = cfg.grow_on == "gradient"
    source = gradient if on_gradient else blurred
    percentiles = (cfg.lower_percentile, cfg.upper_percentile, cfg.edge_percentile)
    lower, upper, edge_threshold, roi_values = clock.run(
        "bounds", steps.growth_bounds, source, gradient, roi, *percentiles, on_gradient
    )
    grown = clock.run("region_growing", steps.connected_threshold, source, focal, lower, upper)
    edge_mask = clock.run(
        "edges", steps.edge_mask, gradient, edge_threshold, roi, enabled=cfg.add_edges
    )
    # grown | edge_mask is steps.add_edges(grown, gradient, edge_threshold, roi), reusing the mask
    filled = clock.run("fill_holes", steps.fill_holes, grown | edge_mask, cfg.max_hole_size)
    region_ratio, fallback = steps.growth_failure(
        low_n, high_n, focal, grown, roi, cfg.min_region_ratio, cfg.max_region_ratio
    )
    used_fallback = fallback is not None and cfg.fallback_to_low_res
    crop = cfg.keep_percent if cfg.crop_refined else None
    refined = clock.run(
        "merge", steps.refined_map, filled, low_resized, used_fallback, cfg.merge, cfg.alpha, crop
    )
    return RefineResult(
        refined=refined,
        low_res=low_n,
        low_res_resized=low_resized,
        high_res=high_n,
        focal_points=focal,
        focal_points_low_res=focal_low,
        roi=roi,
        blurred=blurred,
        edges=gradient,
        growth_source=source,
        roi_values=roi_values,
        lower=lower,
        upper=upper,
        edge_threshold=edge_threshold,
        grown=grown,
        edge_mask=edge_mask,
        filled=filled,
        region_ratio=region_ratio,
        fallback=fallback,
        used_fallback=used_fallback,
        config=cfg,
        timings=clock.timings,
    )
