"""Refined CAMs for image files: any size, grayscale or RGBA, one bad file never stops the rest.

>>> from hrcam.explain import explain_images
>>> report = explain_images(["cat.jpg"], "runs/demo/03_expansion/best.pt", "out/")  # doctest: +SKIP
>>> report.written[0].refined_png  # doctest: +SKIP
PosixPath('out/cat_refined.png')

Each readable image is converted to RGB (transparent pixels composited onto white), resized to
the model's input size (the paper squashes every image to a square), explained in batches,
and its refined CAM is resized back to the original resolution. For each image three files
are written: ``STEM_refined.png`` (8-bit grayscale map), ``STEM_refined.npy`` (float32 map
in [0, 1]) and ``STEM_panel.png`` (the paper's Fig. 4: the refined CAM over the image, and the
image masked by the map's brightest pixels).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

    from hrcam.models import HRCAM


@dataclass
class ExplainedImage:
    """Files written for one image."""

    path: str
    size: tuple[int, int]  # original (height, width)
    label: int
    class_name: str | None
    probability: float
    predicted: int
    fallback: bool  # region growing failed; the refined CAM is the low-res CAM
    refined_png: str
    refined_npy: str
    panel: str


@dataclass
class SkippedImage:
    """An input that could not be explained, and why."""

    path: str
    reason: str


@dataclass
class ExplainReport:
    """What :func:`explain_images` wrote and what it skipped."""

    written: list[ExplainedImage] = field(default_factory=list)
    skipped: list[SkippedImage] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (what ``report.json`` holds)."""
        return {
            "written": [asdict(w) for w in self.written],
            "skipped": [asdict(s) for s in self.skipped],
        }


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Open any Pillow-readable image as RGB; transparency is composited onto white.

    Raises
    ------
    ValueError
        The file is missing, not an image, or cannot be decoded (the message says which).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"no such file: {p}")
    try:
        with Image.open(p) as img:
            img.load()
            img = ImageOps.exif_transpose(img)  # camera photos: honour the orientation tag
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                rgba = img.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                return Image.alpha_composite(white, rgba).convert("RGB")
            return img.convert("RGB")
    except UnidentifiedImageError:
        raise ValueError(f"not an image Pillow can read: {p}") from None
    except (OSError, SyntaxError) as exc:  # truncated or corrupt data
        raise ValueError(f"cannot decode {p}: {exc}") from None


def resize_map(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinearly resize a float map to ``(height, width)`` (anti-aliased when shrinking)."""
    from PIL import Image

    height, width = size
    img = Image.fromarray(np.asarray(cam, dtype=np.float32), mode="F")
    out = np.asarray(img.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    return np.clip(out, 0.0, 1.0)


def _resolve_classes(
    classes: int | str | Sequence[int | str] | None, count: int, names: list[str] | None
) -> list[int] | None:
    if classes is None:
        return None
    values = [classes] * count if isinstance(classes, int | str) else list(classes)
    if len(values) != count:
        raise ValueError(f"classes must be one class or one per image ({count}), got {len(values)}")
    out = []
    for v in values:
        if isinstance(v, str) and not v.lstrip("-").isdigit():
            if not names or v not in names:
                known = (
                    f"; known: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}"
                    if names
                    else ""
                )
                raise ValueError(f"unknown class name {v!r}{known}")
            out.append(names.index(v))
        else:
            out.append(int(v))
    return out


def _panel(
    rgb: np.ndarray, refined: np.ndarray, keep_percent: float, title: str, path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    keep = refined >= np.percentile(refined, 100.0 - keep_percent)
    h, w = refined.shape
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 4.0 * h / max(w, 1) + 0.6))
    axes[0].imshow(rgb)
    axes[0].imshow(refined, cmap="jet", alpha=0.5, vmin=0.0, vmax=1.0)
    axes[0].set_title("Refined CAM", fontsize=10)
    axes[1].imshow(rgb * keep[..., None])
    axes[1].set_title(f"Image masked by the top {keep_percent:g}%", fontsize=10)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _square(rgb: np.ndarray, side: int) -> np.ndarray:
    """Resize an (H, W, 3) uint8 image to (side, side, 3), as the paper squashes to 224x224."""
    from PIL import Image

    resized = Image.fromarray(rgb).resize((side, side), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


def _unique_stems(paths: Sequence[Path]) -> list[str]:
    """File stems, with ``-2``, ``-3`` ... added where two inputs share one."""
    seen: dict[str, int] = {}
    stems = []
    for p in paths:
        stem = p.stem or "image"
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return stems


def explain_images(
    paths: Sequence[str | os.PathLike],
    checkpoint: str | os.PathLike | HRCAM,
    out_dir: str | os.PathLike,
    classes: int | str | Sequence[int | str] | None = None,
    preset: str = "paper",
    batch_size: int = 8,
    image_size: int | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> ExplainReport:
    """Write the refined CAM (PNG, ``.npy``) and a Fig.-4 panel for every image in ``paths``.

    Parameters
    ----------
    paths
        Image files in any format and size Pillow reads (grayscale and RGBA included).
    checkpoint
        An ``hrcam`` checkpoint file (with a trained expansion network), or an
        :class:`hrcam.models.HRCAM` model (then ``image_size`` is required).
    out_dir
        Output folder (created).
    classes
        Class to explain: ``None`` for the predicted class, one index or class name for all
        images, or one per image.
    preset
        Post-processing preset, ``"paper"`` or ``"reference"``.
    batch_size
        Images per forward pass.
    image_size
        Model input side; default: the checkpoint's training size.
    device
        Torch device.
    progress
        Show a tqdm progress bar.

    Returns
    -------
    ExplainReport
        The files written per image and the images skipped with the reason. Also saved as
        ``out_dir/report.json``.
    """
    import torch
    from tqdm import tqdm

    from hrcam.explainer import Explainer
    from hrcam.models import HRCAM, load_checkpoint

    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("paths is empty: give at least one image file")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    names: list[str] | None = None
    if isinstance(checkpoint, HRCAM):
        model = checkpoint
        if image_size is None:
            raise ValueError("image_size is required when passing a model instead of a checkpoint")
    else:
        ckpt = load_checkpoint(checkpoint, map_location=device)
        model = ckpt.model()
        names = ckpt.metadata.get("class_names")
        image_size = image_size or ckpt.metadata.get("image_size")
        if not image_size:
            raise ValueError(f"{checkpoint}: no image_size in the checkpoint; pass image_size")
    stride = model.classifier.stride
    if not isinstance(image_size, int) or image_size < stride or image_size % stride:
        raise ValueError(
            f"image_size must be a positive multiple of the backbone stride {stride}, "
            f"got {image_size!r}"
        )
    wanted = _resolve_classes(classes, len(paths), names)
    num_classes = model.classifier.num_classes
    if wanted is not None and any(not 0 <= c < num_classes for c in wanted):
        raise ValueError(f"classes must lie in [0, {num_classes}), got {sorted(set(wanted))}")
    explainer = Explainer(model, preset=preset, device=device, batch_size=batch_size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stems = _unique_stems(paths)
    report = ExplainReport()
    bar = tqdm(total=len(paths), desc="explain", unit="img", disable=not progress)
    for start in range(0, len(paths), batch_size):
        chunk = range(start, min(len(paths), start + batch_size))
        loaded: list[tuple[int, np.ndarray]] = []
        for i in chunk:
            try:
                img = load_rgb(paths[i])
            except ValueError as exc:
                report.skipped.append(SkippedImage(str(paths[i]), str(exc)))
                continue
            loaded.append((i, np.asarray(img, dtype=np.uint8)))
        if loaded:
            batch = np.stack([_square(rgb, image_size) for _, rgb in loaded])
            images = torch.from_numpy(batch).permute(0, 3, 1, 2)
            chosen = None if wanted is None else [wanted[i] for i, _ in loaded]
            explanations = explainer.explain(images, chosen)
            for (i, rgb), expl in zip(loaded, explanations, strict=True):
                report.written.append(_write_outputs(paths[i], stems[i], rgb, expl, names, out))
        bar.update(len(chunk))
    bar.close()
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    return report


def _write_outputs(
    path: Path, stem: str, rgb: np.ndarray, expl: Any, names: list[str] | None, out: Path
) -> ExplainedImage:
    from PIL import Image

    size = rgb.shape[:2]
    refined = resize_map(expl.refinement.refined, size)
    png, npy, panel = (out / f"{stem}_refined.png", out / f"{stem}_refined.npy",
                       out / f"{stem}_panel.png")  # fmt: skip
    Image.fromarray(np.round(refined * 255.0).astype(np.uint8), mode="L").save(png)
    np.save(npy, refined)
    class_name = names[expl.label] if names and 0 <= expl.label < len(names) else None
    title = f"{path.name}: {class_name or f'class {expl.label}'} (p={expl.probability:.2f})"
    if expl.refinement.used_fallback:
        title += ", region growing fell back to the low-res CAM"
    _panel(rgb, refined, expl.refinement.config.keep_percent, title, panel)
    return ExplainedImage(
        path=str(path),
        size=(int(size[0]), int(size[1])),
        label=int(expl.label),
        class_name=class_name,
        probability=float(expl.probability),
        predicted=int(expl.predicted),
        fallback=bool(expl.refinement.used_fallback),
        refined_png=str(png),
        refined_npy=str(npy),
        panel=str(panel),
    )
