"""Learning curves of the learned maps: what more training changes, on a doubling axis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["learning_curve_figure"]

_DIFFS = (
    ("refined_paper_minus_low_res", "refined (paper) − low-res", "tab:red"),
    ("refined_reference_minus_low_res", "refined (reference) − low-res", "tab:blue"),
    ("featup_jbu_minus_low_res", "learned JBU − low-res", "tab:green"),
)


def learning_curve_figure(
    curves: Mapping[str, Sequence[Mapping[str, Any]]], title: str = ""
) -> Figure:
    """Plot each learned map's curve against images seen (log2 axis), one row per map.

    Parameters
    ----------
    curves
        ``{label: points}`` with the points of :func:`hrcam.studies.learning.curve_point`
        (expansion network: ``val_psnr``, ``high_res_cam_pxap``, refined minus low-res) or
        :func:`~hrcam.studies.learning.upsampler_point` (learned JBU: ``val_loss``,
        ``featup_jbu_minus_low_res``). Each interval (95 %, stamps resampled) is a bar.
    title
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        Left: the map's own training quality (val PSNR, or the JBU's validation loss); right:
        PxAP differences against the low-res CAM, with zero marked.
    """
    from matplotlib.figure import Figure

    rows = len(curves)
    fig = Figure(figsize=(10.0, 3.4 * max(rows, 1)), layout="constrained")
    axes = fig.subplots(max(rows, 1), 2, squeeze=False)
    for (label, points), (own, diff) in zip(curves.items(), axes, strict=False):
        seen = [int(p["images_seen"]) for p in points]
        if points and "val_psnr" in points[0]:
            own.plot(seen, [p["val_psnr"] for p in points], "o-", color="black")
            own.set_ylabel("val PSNR (dB)")
            high = [p["high_res_cam_pxap"]["mean"] for p in points]
            twin = own.twinx()
            twin.plot(seen, high, "s--", color="tab:purple", label="raw high-res PxAP")
            twin.set_ylabel("raw high-res CAM PxAP", color="tab:purple")
        elif points:
            own.plot(seen, [p["val_loss"] for p in points], "o-", color="black")
            own.set_ylabel("validation loss (FeatUp's)")
        own.set_title(label)
        for key, name, color in _DIFFS:
            if not points or key not in points[0]:
                continue
            mid = [p[key]["difference"] for p in points]
            lo = [m - p[key]["ci_low"] for m, p in zip(mid, points, strict=True)]
            hi = [p[key]["ci_high"] - m for m, p in zip(mid, points, strict=True)]
            diff.errorbar(seen, mid, yerr=[lo, hi], fmt="o-", color=color, capsize=3, label=name)
        diff.axhline(0.0, color="grey", lw=0.8)
        diff.set_ylabel("PxAP difference")
        diff.legend(fontsize=8)
        for ax in (own, diff):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("training images seen")
    if title:
        fig.suptitle(title)
    return fig
