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

import errno
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.atomic import atomic_write, atomic_write_text
from hrcam.core.maps import check_class_indices
from hrcam.errors import HrcamError, describe_os_error, ensure_output_dir
from hrcam.explain.panels import draw_panel, resize_map, square_image
from hrcam.locking import folder_lock

if TYPE_CHECKING:
    from PIL import Image

    from hrcam.models import HRCAM


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "OUTPUT_SUFFIXES",
    "ExplainReport",
    "ExplainedImage",
    "SkippedImage",
    "expand_inputs",
    "explain_images",
    "load_rgb",
    "plan_outputs",
    "unique_stems",
]


DEFAULT_MAX_PIXELS = 50_000_000
"""Default pixel cap of :func:`explain_images` (a 50-Mpx photo; ImageNet's largest is ~40)."""


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


def load_rgb(path: str | os.PathLike, max_pixels: int | None = None) -> Image.Image:
    """Open any Pillow-readable image as RGB, through :func:`hrcam.data.imageio.decode_image`.

    Transparency is composited onto white, 16-bit, 32-bit and float images are rescaled from
    their own range (not clipped at 255), and the EXIF orientation is applied, exactly as the
    dataset builders do.

    Parameters
    ----------
    path
        Image file.
    max_pixels
        Refuse images with more pixels than this (read from the header, before decoding);
        default :data:`DEFAULT_MAX_PIXELS`.

    Raises
    ------
    ValueError
        The file is missing, a folder, not an image, too large, or cannot be decoded (the
        message says which).
    """
    from PIL import Image

    from hrcam.data.imageio import decode_image

    limit = DEFAULT_MAX_PIXELS if max_pixels is None else int(max_pixels)
    return Image.fromarray(decode_image(path, size=None, max_pixels=limit))


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


OUTPUT_SUFFIXES: tuple[str, ...] = ("_refined.png", "_refined.npy", "_panel.png")
"""The files written per image: ``STEM`` + each suffix."""

IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"}
    | {".avif", ".heic", ".heif"}  # read where Pillow has the codec; else a reported skip
)
"""File endings taken from a folder given as an input (other files there are ignored)."""


def expand_inputs(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Expand ``paths`` into image files: files as given, folders by their image files.

    A folder contributes its files whose ending is in :data:`IMAGE_SUFFIXES`, sorted by name
    (not recursive). Anything else (a missing path, a broken file) is kept, so that it is
    reported and skipped like any unreadable input. A file named twice is kept once.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(
                sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            )
        else:
            out.append(p)
    # The same file named twice (a.png ./a.png, or a folder and a file in it) is explained once.
    seen: set[str] = set()
    unique = []
    for p in out:
        key = _same_file_key(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def unique_stems(paths: Sequence[Path]) -> list[str]:
    """One output stem per input, no two alike, and none equal to another input's own stem.

    The first input with a stem keeps it; later ones get ``-2``, ``-3`` ... with a number that
    no input's stem already uses, so ``good.jpg good.png good-2.jpg`` gives ``good``,
    ``good-3`` and ``good-2`` (three outputs, no collision). A stem too long for the file
    system's name limit is cut, with a hash of the whole name added.
    """
    natural = [_fit_stem(p.stem or "image") for p in paths]
    reserved = set(natural)
    taken: set[str] = set()
    stems = []
    for stem in natural:
        candidate, n = stem, 1
        while candidate in taken or (candidate != stem and candidate in reserved):
            n += 1
            candidate = f"{stem}-{n}"
        taken.add(candidate)
        stems.append(candidate)
    return stems


_MAX_STEM_BYTES = 200  # + "-NN" + "_refined.npy" stays under the usual 255-byte name limit


def _fit_stem(stem: str) -> str:
    """``stem``, or for a very long one its first bytes plus a hash of the whole."""
    raw = stem.encode("utf-8", "surrogateescape")
    if len(raw) <= _MAX_STEM_BYTES:
        return stem
    import hashlib

    digest = hashlib.sha1(raw).hexdigest()[:10]
    head = raw[: _MAX_STEM_BYTES - 11].decode("utf-8", "ignore")
    return f"{head}~{digest}"


def plan_outputs(
    paths: Sequence[Path], out_dir: Path, overwrite: bool = False
) -> list[tuple[Path, Path, Path]]:
    """Plan the (refined PNG, refined .npy, panel) paths of each input, checked before any work.

    Raises
    ------
    HrcamError
        An output would replace one of the inputs (never allowed), or would replace an
        existing file and ``overwrite`` is false; the message lists the files.
    """
    planned = [
        tuple(out_dir / f"{stem}{suffix}" for suffix in OUTPUT_SUFFIXES)
        for stem in unique_stems(paths)
    ]
    inputs = {_same_file_key(p) for p in paths if p.exists()}
    clash = [str(f) for files in planned for f in files if _same_file_key(f) in inputs]
    if clash:
        raise HrcamError(
            f"explaining would overwrite input image(s) {clash[:3]} with output maps; "
            "choose another output folder (-o)"
        )
    existing = [str(f) for files in planned for f in files if f.exists()]
    report = out_dir / "report.json"
    if report.exists():
        existing.append(str(report))
    if existing and not overwrite:
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise HrcamError(
            f"output file(s) already exist: {', '.join(existing[:3])}{more}; use --overwrite "
            "(overwrite=True in Python) to replace them, or choose another output folder"
        )
    return planned  # type: ignore[return-value]


def _same_file_key(path: Path) -> str:
    return os.path.normcase(os.path.realpath(path))


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
    max_pixels: int | None = None,
    overwrite: bool = False,
    workers: int | None = None,
    allowed_classes: Sequence[int] | None = None,
    precision: str = "float32",
) -> ExplainReport:
    """Write the refined CAM (PNG, ``.npy``) and a Fig.-4 panel for every image in ``paths``.

    Parameters
    ----------
    paths
        Image files in any format Pillow reads (grayscale, RGBA, 16-bit and float included),
        or folders, whose image files are taken (see :func:`expand_inputs`). Images are read
        one batch at a time, so memory stays flat over many files.
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
    max_pixels
        Images with more pixels are skipped with a reason (checked from the file header,
        before decoding); default :data:`DEFAULT_MAX_PIXELS`.
    overwrite
        Replace output files that already exist. Outputs that would replace an input are
        refused regardless.
    workers
        Processes that post-process the maps (:class:`hrcam.parallel.RefinePool`); ``None``
        as :func:`hrcam.parallel.resolve_workers` decides.
    allowed_classes
        Predict only among these classes (see :class:`hrcam.explain.Explainer`).
    precision
        Arithmetic precision, one of :data:`hrcam.explain.PRECISIONS` (see
        :class:`hrcam.explain.Explainer`); ``"float32"`` gives the exact maps.

    Returns
    -------
    ExplainReport
        The files written per image and the images skipped with the reason. Also saved as
        ``out_dir/report.json``.

    Raises
    ------
    HrcamError
        Bad arguments, or outputs that would replace existing files (see
        :func:`plan_outputs`); nothing is written then.
    """
    from hrcam.explain.explainer import Explainer, check_precision

    check_precision(precision)
    paths = _image_paths(paths)
    limit = _check_limits(max_pixels, batch_size)
    model, names, image_size = _load_model(checkpoint, image_size, device)
    wanted = _resolve_classes(classes, len(paths), names)
    if wanted is not None:
        check_class_indices(wanted, model.classifier.num_classes)
    out = ensure_output_dir(out_dir, "output folder")
    # Held from the check for existing outputs to the last write: a second explain into this
    # folder stops at once, instead of both finding it free and replacing each other's files.
    with folder_lock(out, "output folder"):
        planned = plan_outputs(paths, out, overwrite=overwrite)
        explainer = Explainer(
            model,
            preset=preset,
            device=device,
            batch_size=batch_size,
            workers=workers,
            allowed_classes=allowed_classes,
            precision=precision,
        )
        run = _Run(explainer, paths, planned, wanted, names, image_size, limit)
        report = run.explain_all(batch_size, progress)
        atomic_write_text(out / "report.json", json.dumps(report.to_dict(), indent=2))
    return report


def _check_limits(max_pixels: int | None, batch_size: int) -> int:
    """Return the pixel cap (``max_pixels`` or the default); refuse non-positive values."""
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise HrcamError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return limit


def _image_paths(paths: Sequence[str | os.PathLike] | str | os.PathLike) -> list[Path]:
    """Return the image files to explain (see :func:`expand_inputs`); none at all is an error."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    given = list(paths)
    found = expand_inputs(given)
    if not found:
        raise HrcamError(
            "no image files to explain: give image files, or folders holding "
            f"{'/'.join(sorted(s.lstrip('.') for s in IMAGE_SUFFIXES))} files"
            + (f" (got {', '.join(map(str, given[:3]))})" if given else "")
        )
    return found


def _load_model(
    checkpoint: str | os.PathLike | HRCAM, image_size: int | None, device: str
) -> tuple[HRCAM, list[str] | None, int]:
    """Load the model, its class names (``None`` when unknown) and the checked input side."""
    from hrcam.models import HRCAM, load_checkpoint
    from hrcam.models.device import resolve_device

    names: list[str] | None = None
    if isinstance(checkpoint, HRCAM):
        model = checkpoint
        if image_size is None:
            raise ValueError("image_size is required when passing a model instead of a checkpoint")
    else:
        ckpt = load_checkpoint(checkpoint, map_location=resolve_device(device))
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
    return model, names, image_size


def _progress_bar(**kwargs: Any) -> Any:
    """Make a tqdm progress bar (imported here: tqdm is not needed to import this module)."""
    from tqdm import tqdm

    return tqdm(**kwargs)


@dataclass
class _Run:
    """What every chunk of one :func:`explain_images` call shares."""

    explainer: Any
    paths: list[Path]
    planned: list[tuple[Path, Path, Path]]
    wanted: list[int] | None
    names: list[str] | None
    image_size: int
    max_pixels: int

    def explain_all(self, batch_size: int, progress: bool) -> ExplainReport:
        """Explain every image, ``batch_size`` at a time; return what was written and skipped."""
        report = ExplainReport()
        total = len(self.paths)
        with _progress_bar(total=total, desc="explain", unit="img", disable=not progress) as bar:
            for start in range(0, total, batch_size):
                chunk = range(start, min(total, start + batch_size))
                self.explain_chunk(chunk, report)
                bar.update(len(chunk))
        return report

    def explain_chunk(self, chunk: range, report: ExplainReport) -> None:
        """Read, explain and write the images ``chunk``; unreadable ones go to ``skipped``."""
        import torch

        loaded: list[tuple[int, np.ndarray]] = []
        for i in chunk:
            try:
                img = load_rgb(self.paths[i], max_pixels=self.max_pixels)
            except Exception as exc:  # any unreadable file is a reported skip
                report.skipped.append(SkippedImage(str(self.paths[i]), _reason(exc)))
                continue
            loaded.append((i, np.asarray(img, dtype=np.uint8)))
        if not loaded:
            return
        batch = np.stack([square_image(rgb, self.image_size) for _, rgb in loaded])
        images = torch.from_numpy(batch).permute(0, 3, 1, 2)
        chosen = None if self.wanted is None else [self.wanted[i] for i, _ in loaded]
        explanations = self.explainer.explain(images, chosen)
        for (i, rgb), expl in zip(loaded, explanations, strict=True):
            try:
                written = _write_outputs(self.paths[i], self.planned[i], rgb, expl, self.names)
            except OSError as exc:
                _remove(self.planned[i])
                if exc.errno in _RUN_WIDE_ERRNOS:  # every later image would fail the same way
                    raise
                report.skipped.append(SkippedImage(str(self.paths[i]), _reason(exc)))
            except Exception as exc:  # one image's failure never stops the rest
                _remove(self.planned[i])
                report.skipped.append(SkippedImage(str(self.paths[i]), _reason(exc)))
            else:
                report.written.append(written)


# A full disk, an exceeded quota or a read-only file system stop the run: no later image could
# be written either. Other errors while writing one image skip that image.
_RUN_WIDE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def _reason(exc: BaseException) -> str:
    """One line for a skipped image: the message, or the error type when it has none."""
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    text = " ".join(str(exc).split())
    return text if isinstance(exc, ValueError) and text else f"{type(exc).__name__}: {text}"


def _remove(files: tuple[Path, ...]) -> None:
    """Delete what was written for one image, so a failed image leaves no half set behind."""
    for f in files:
        f.unlink(missing_ok=True)


def printable(text: str | os.PathLike) -> str:
    r"""Return a path or name as text any terminal or font takes: bytes not UTF-8 as ``\xff``.

    A file name with non-UTF-8 bytes arrives as a ``str`` holding lone surrogates, which
    cannot be encoded for printing or drawing.
    """
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def _write_outputs(
    path: Path,
    files: tuple[Path, Path, Path],
    rgb: np.ndarray,
    expl: Any,
    names: list[str] | None,
) -> ExplainedImage:
    from PIL import Image

    size = rgb.shape[:2]
    refined = resize_map(expl.refinement.refined, size)
    png, npy, panel = files
    # Temp file + rename, so an interrupted run never leaves a half-written map behind.
    atomic_write(png, lambda f: Image.fromarray(
        np.round(refined * 255.0).astype(np.uint8), mode="L").save(f, format="PNG"))  # fmt: skip
    atomic_write(npy, lambda f: np.save(f, refined))
    class_name = names[expl.label] if names and 0 <= expl.label < len(names) else None
    title = (
        f"{printable(path.name)}: {class_name or f'class {expl.label}'} (p={expl.probability:.2f})"
    )
    if expl.refinement.used_fallback:
        title += ", region growing fell back to the low-res CAM"
    draw_panel(rgb, refined, expl.refinement.config.keep_percent, title, panel)
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
