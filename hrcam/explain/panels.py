"""The pictures ``hrcam explain`` writes: maps resized to an image, and the Fig.-4 panel.

Pure drawing, no file planning: :mod:`hrcam.explain.files` decides what is written where,
and :mod:`hrcam.methods.images` draws every method's map with the same helpers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hrcam.atomic import atomic_write

__all__ = ["draw_panel", "panel_figsize", "resize_map", "square_image", "thumbnail"]

_PANEL_MIN_RATIO, _PANEL_MAX_RATIO = 0.25, 4.0  # panel height/width bounds
_PANEL_MAX_SIDE = 1024  # pixels drawn per panel image, at most, on either side


def resize_map(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinearly resize a float map to ``(height, width)`` (anti-aliased when shrinking)."""
    from PIL import Image

    height, width = size
    img = Image.fromarray(np.asarray(cam, dtype=np.float32), mode="F")
    out = np.asarray(img.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    return np.clip(out, 0.0, 1.0)


def panel_figsize(height: int, width: int) -> tuple[float, float]:
    """Figure size (inches) of a two-image panel, bounded in both directions.

    The panel is 8 inches wide; its height follows the image's aspect ratio, clamped to
    [1/4, 4] so that a 2000x1 strip gives a 16.6-inch panel, not an 8000-inch one.
    """
    ratio = min(max(height / max(width, 1), _PANEL_MIN_RATIO), _PANEL_MAX_RATIO)
    return 8.0, 4.0 * ratio + 0.6


def thumbnail(rgb: np.ndarray, refined: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shrink what the panel draws to at most ``_PANEL_MAX_SIDE`` pixels a side.

    The panel is rendered at about 800 px wide, so drawing a 40-Mpx photo at full size only
    costs memory and time.
    """
    from PIL import Image

    h, w = refined.shape
    scale = _PANEL_MAX_SIDE / max(h, w)
    if scale >= 1.0:
        return rgb, refined
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
    return small, resize_map(refined, (size[1], size[0]))


def draw_panel(
    rgb: np.ndarray, refined: np.ndarray, keep_percent: float, title: str, path: Path
) -> None:
    """Write the paper's Fig. 4 for one image to ``path`` (PNG, atomically).

    Left, the refined CAM over the image; right, the image masked by the map's brightest
    ``keep_percent`` per cent.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rgb, refined = thumbnail(rgb, refined)
    keep = refined >= np.percentile(refined, 100.0 - keep_percent)
    h, w = refined.shape
    fig, axes = plt.subplots(1, 2, figsize=panel_figsize(h, w))
    axes[0].imshow(rgb)
    axes[0].imshow(refined, cmap="jet", alpha=0.5, vmin=0.0, vmax=1.0)
    axes[0].set_title("Refined CAM", fontsize=10)
    axes[1].imshow(rgb * keep[..., None])
    axes[1].set_title(f"Image masked by the top {keep_percent:g}%", fontsize=10)
    for ax in axes:
        ax.axis("off")
        ax.set_aspect("auto" if not _PANEL_MIN_RATIO <= h / w <= _PANEL_MAX_RATIO else "equal")
    # Names are drawn as typed: "$5_$" in a file or class name is text, not mathtext to parse.
    fig.suptitle(title, fontsize=10, parse_math=False)
    fig.tight_layout()
    try:
        atomic_write(path, lambda f: fig.savefig(f, dpi=100, format="png"))
    finally:
        plt.close(fig)


def square_image(rgb: np.ndarray, side: int) -> np.ndarray:
    """Resize an (H, W, 3) uint8 image to (side, side, 3), as the paper squashes to 224x224."""
    from PIL import Image

    resized = Image.fromarray(rgb).resize((side, side), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)
