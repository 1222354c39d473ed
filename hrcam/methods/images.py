"""Any registered saliency method for image files, with or without an expansion network.

>>> from hrcam.methods.images import explain_methods, load_explain_model
>>> loaded = load_explain_model(classifier="torchvision:resnet18", weights="w")  # doctest: +SKIP
>>> explain_methods(["cat.jpg"], loaded, "out/", ["cam_jbu", "gradcam"])  # doctest: +SKIP

What ``hrcam explain --methods`` runs. The model is an hrcam checkpoint (with or without its
expansion network) or a pretrained timm/torchvision classifier wrapped by
:func:`hrcam.models.wrap.build_wrapped`; the methods that need an expansion network
(:attr:`~hrcam.methods.MethodEntry.needs_expansion`) are refused on a bare classifier, in one
line that says what to pass. Per image and method ``STEM_METHOD.png`` (8-bit map) and
``STEM_METHOD.npy`` (float32 in [0, 1]) are written at the image's own resolution, and one
panel, ``STEM_methods.png``, shows every method's map over the image, titled by its label.
Reading, resizing, the output checks (never an input replaced, nothing overwritten without
``overwrite``) and the skipping of bad files are those of :func:`hrcam.explain.explain_images`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.atomic import atomic_write, atomic_write_text
from hrcam.core.maps import check_class_indices
from hrcam.errors import CLIError, HrcamError, ensure_output_dir
from hrcam.explain import files, panels
from hrcam.locking import folder_lock

if TYPE_CHECKING:
    from torch import nn

    from hrcam.models import CAMClassifier

__all__ = [
    "PAPER_DEFAULT",
    "ExplainModel",
    "MethodsReport",
    "explain_methods",
    "load_explain_model",
]

PAPER_DEFAULT: tuple[str, ...] = ("refined_paper",)
"""What ``hrcam explain`` draws when no ``--methods`` are named: the paper's refined CAM."""

NO_EXPANSION_HINT = "--methods low_res_cam cam_jbu"
"""Methods to suggest for a model without an expansion network."""


@dataclass
class ExplainModel:
    """A model to explain with, and what is known about it.

    Attributes
    ----------
    model
        An :class:`~hrcam.models.HRCAM`, or a :class:`BareClassifier` (no expansion network).
    source
        Where it came from (a checkpoint path or ``ZOO:NAME``), for messages.
    class_names
        One name per class, or ``None``.
    image_size
        Input side the images are resized to (a multiple of the classifier's stride).
    """

    model: Any
    source: str
    class_names: list[str] | None
    image_size: int

    @property
    def has_expansion(self) -> bool:
        """Whether the model has an expansion network (the paper's maps need one)."""
        return getattr(self.model, "expansion", None) is not None


class BareClassifier:
    """A classifier on its own, where the methods expect an HRCAM: only ``.classifier``.

    The methods that need no expansion network read nothing else from the model.
    """

    expansion = None

    def __init__(self, classifier: CAMClassifier | nn.Module) -> None:
        self.classifier = classifier.eval()


def load_explain_model(
    checkpoint: str | os.PathLike | None = None,
    *,
    classifier: str | None = None,
    weights: str | os.PathLike | None = None,
    image_size: int | None = None,
    device: str = "cpu",
) -> ExplainModel:
    """Load an hrcam checkpoint, or a timm/torchvision classifier by name, to explain with.

    Parameters
    ----------
    checkpoint
        An hrcam checkpoint, with an expansion network or only a classifier.
    classifier
        ``"timm:NAME"`` or ``"torchvision:NAME"`` (needs ``weights``); not with ``checkpoint``.
    weights
        Local state-dict file of that model (hrcam downloads nothing).
    image_size
        Input side; default: the checkpoint's, or 224 for a named classifier.
    device
        Torch device.

    Raises
    ------
    CLIError
        Both or neither of ``checkpoint`` and ``classifier``, ``weights`` without
        ``classifier`` or the reverse, or an image size the stride does not divide.
    """
    from hrcam.models import HRCAM, load_checkpoint
    from hrcam.models.device import resolve_device

    if (checkpoint is None) == (classifier is None):
        raise CLIError(
            "give --checkpoint CKPT (an hrcam checkpoint) or --classifier timm:NAME|"
            "torchvision:NAME with --weights FILE, " + ("not both" if classifier else "one of them")
        )
    where = resolve_device(device)
    if classifier is not None:
        from hrcam.models.wrap import build_wrapped

        if weights is None:
            raise CLIError(
                f"--classifier {classifier} needs --weights FILE: a local state dict of that "
                "model (hrcam downloads nothing); without it the classifier would be random"
            )
        clf = build_wrapped(classifier, weights).to(where)
        names = clf.config.get("class_names")
        loaded = ExplainModel(BareClassifier(clf), classifier, names, image_size or 224)
    else:
        if weights is not None:
            raise CLIError("--weights goes with --classifier timm:NAME|torchvision:NAME")
        ckpt = load_checkpoint(checkpoint, map_location=where)
        model = (
            HRCAM(ckpt.classifier, ckpt.expansion)
            if ckpt.expansion is not None
            else BareClassifier(ckpt.classifier)
        )
        size = image_size or ckpt.metadata.get("image_size") or 224
        loaded = ExplainModel(model, str(checkpoint), ckpt.metadata.get("class_names"), size)
    stride = int(loaded.model.classifier.stride)
    if loaded.image_size < stride or loaded.image_size % stride:
        raise CLIError(
            f"--image-size must be a positive multiple of the classifier's stride {stride}, "
            f"got {loaded.image_size}"
        )
    return loaded


def check_methods(methods: Sequence[str] | None, loaded: ExplainModel) -> list[str]:
    """Return the methods to run (default :data:`PAPER_DEFAULT`), each runnable on the model.

    Raises
    ------
    HrcamError
        An unknown or repeated method, or one that needs an expansion network the model lacks.
    """
    from hrcam.methods import get_method

    names = list(PAPER_DEFAULT if methods is None else methods)
    if not names or len(set(names)) != len(names):
        raise HrcamError(f"--methods must name each method once, got {names}")
    entries = [get_method(n) for n in names]  # an unknown name is refused here, by name
    need = [e.name for e in entries if e.needs_expansion]
    if need and not loaded.has_expansion:
        which = "the default map" if methods is None else "method(s)"
        raise HrcamError(
            f"{which} {', '.join(need)} need(s) an expansion network, which {loaded.source} "
            f"has not: pass methods that need none (e.g. {NO_EXPANSION_HINT}), or an hrcam "
            "checkpoint with an expansion network (--checkpoint)"
        )
    return names


@dataclass
class MethodsExplained:
    """Files written for one image: one map per method, and the panel."""

    path: str
    size: tuple[int, int]
    label: int
    class_name: str | None
    probability: float
    predicted: int
    maps: dict[str, dict[str, str]]  # method -> {"png": ..., "npy": ...}
    panel: str


@dataclass
class MethodsReport:
    """What :func:`explain_methods` wrote and skipped (``report.json``)."""

    methods: list[str]
    labels: dict[str, str]
    model: str
    written: list[MethodsExplained] = field(default_factory=list)
    skipped: list[files.SkippedImage] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (what ``report.json`` holds)."""
        out = asdict(self)
        out["written"] = [asdict(w) for w in self.written]
        out["skipped"] = [asdict(s) for s in self.skipped]
        return out


def plan_method_outputs(
    paths: Sequence[Path], out_dir: Path, methods: Sequence[str], overwrite: bool
) -> list[list[Path]]:
    """Per input: ``STEM_METHOD.png`` and ``.npy`` per method, then ``STEM_methods.png``.

    Raises
    ------
    HrcamError
        As :func:`hrcam.explain.plan_outputs`: an output would replace an input, or an
        existing file without ``overwrite``.
    """
    planned = [
        [out_dir / f"{stem}_{m}{ext}" for m in methods for ext in (".png", ".npy")]
        + [out_dir / f"{stem}_methods.png"]
        for stem in files.unique_stems(paths)
    ]
    inputs = {files._same_file_key(p) for p in paths if p.exists()}
    clash = [str(f) for fs in planned for f in fs if files._same_file_key(f) in inputs]
    if clash:
        raise HrcamError(
            f"explaining would overwrite input image(s) {clash[:3]} with output maps; "
            "choose another output folder (-o)"
        )
    existing = [str(f) for fs in planned for f in fs if f.exists()]
    if (out_dir / "report.json").exists():
        existing.append(str(out_dir / "report.json"))
    if existing and not overwrite:
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise HrcamError(
            f"output file(s) already exist: {', '.join(existing[:3])}{more}; use --overwrite "
            "(overwrite=True in Python) to replace them, or choose another output folder"
        )
    return planned


def explain_methods(
    paths: Sequence[str | os.PathLike],
    loaded: ExplainModel,
    out_dir: str | os.PathLike,
    methods: Sequence[str] | None = None,
    *,
    classes: int | str | Sequence[int | str] | None = None,
    batch_size: int = 8,
    progress: bool = True,
    max_pixels: int | None = None,
    overwrite: bool = False,
    workers: int | None = None,
    allowed_classes: Sequence[int] | None = None,
) -> MethodsReport:
    """Write each method's map (PNG, ``.npy``) and one panel for every image in ``paths``.

    Parameters
    ----------
    paths
        Image files or folders of them (see :func:`hrcam.explain.expand_inputs`).
    loaded
        The model (:func:`load_explain_model`).
    out_dir
        Output folder (created).
    methods
        Registered method names (default :data:`PAPER_DEFAULT`).
    classes, batch_size, max_pixels, overwrite, workers, allowed_classes, progress
        As :func:`hrcam.explain.explain_images`.

    Returns
    -------
    MethodsReport
        Also saved as ``out_dir/report.json``.

    Raises
    ------
    HrcamError
        Bad arguments, methods the model cannot run, or outputs that would replace existing
        files; nothing is written then.
    """
    from hrcam.methods import build_methods, method_label

    names = check_methods(methods, loaded)
    paths = files._image_paths(paths)
    limit = files._check_limits(max_pixels, batch_size)
    wanted = files._resolve_classes(classes, len(paths), loaded.class_names)
    num_classes = int(loaded.model.classifier.fc.out_features)
    if wanted is not None:
        check_class_indices(wanted, num_classes)
    allowed = None if allowed_classes is None else sorted({int(c) for c in allowed_classes})
    if allowed is not None:
        check_class_indices(allowed, num_classes, "allowed_classes")
    built = build_methods(loaded.model, names, workers=workers)
    out = ensure_output_dir(out_dir, "output folder")
    with folder_lock(out, "output folder"):
        planned = plan_method_outputs(paths, out, names, overwrite)
        report = MethodsReport(names, {n: method_label(n) for n in names}, loaded.source)
        run = _MethodsRun(loaded, built, paths, planned, wanted, allowed, limit)
        total = len(paths)
        with files._progress_bar(
            total=total, desc="explain", unit="img", disable=not progress
        ) as bar:
            for start in range(0, total, batch_size):
                chunk = range(start, min(total, start + batch_size))
                run.explain_chunk(chunk, report)
                bar.update(len(chunk))
        atomic_write_text(out / "report.json", json.dumps(report.to_dict(), indent=2))
    return report


@dataclass
class _MethodsRun:
    loaded: ExplainModel
    built: dict[str, Any]
    paths: list[Path]
    planned: list[list[Path]]
    wanted: list[int] | None
    allowed: list[int] | None
    max_pixels: int

    def predict(self, images01: Any) -> tuple[Any, Any]:
        """Softmax probabilities and the arg-max class (among the allowed ones) of a batch."""
        import torch

        from hrcam.methods import pixel_space_model

        clf = self.loaded.model.classifier
        device = next(clf.parameters()).device
        with torch.no_grad():
            probs = torch.softmax(pixel_space_model(clf)(images01.to(device)).float(), dim=1)
        if self.allowed is None:
            return probs.cpu(), probs.argmax(dim=1).cpu()
        keep = torch.zeros(probs.shape[1], dtype=torch.bool, device=probs.device)
        keep[self.allowed] = True
        return probs.cpu(), probs.masked_fill(~keep, -1.0).argmax(dim=1).cpu()

    def explain_chunk(self, chunk: range, report: MethodsReport) -> None:
        """Read, explain and write the images ``chunk``; unreadable ones go to ``skipped``."""
        import torch

        loaded: list[tuple[int, np.ndarray]] = []
        for i in chunk:
            try:
                img = files.load_rgb(self.paths[i], max_pixels=self.max_pixels)
            except Exception as exc:  # any unreadable file is a reported skip
                report.skipped.append(files.SkippedImage(str(self.paths[i]), files._reason(exc)))
                continue
            loaded.append((i, np.asarray(img, dtype=np.uint8)))
        if not loaded:
            return
        side = self.loaded.image_size
        batch = np.stack([panels.square_image(rgb, side) for _, rgb in loaded])
        images01 = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255.0
        probs, predicted = self.predict(images01)
        labels = (
            predicted if self.wanted is None else torch.tensor([self.wanted[i] for i, _ in loaded])
        )
        device = next(self.loaded.model.classifier.parameters()).device
        targets = [int(t) for t in labels]
        maps = {n: m(images01.to(device), targets).maps for n, m in self.built.items()}
        for k, (i, rgb) in enumerate(loaded):
            try:
                chosen = float(probs[k, targets[k]])
                mine = {n: v[k] for n, v in maps.items()}
                written = self.write(i, rgb, mine, targets[k], chosen, int(predicted[k]))
            except OSError as exc:
                files._remove(tuple(self.planned[i]))
                if exc.errno in files._RUN_WIDE_ERRNOS:  # every later image would fail too
                    raise
                report.skipped.append(files.SkippedImage(str(self.paths[i]), files._reason(exc)))
            except Exception as exc:  # one image's failure never stops the rest
                files._remove(tuple(self.planned[i]))
                report.skipped.append(files.SkippedImage(str(self.paths[i]), files._reason(exc)))
            else:
                report.written.append(written)

    def write(
        self,
        i: int,
        rgb: np.ndarray,
        maps: dict[str, np.ndarray],
        label: int,
        probability: float,
        predicted: int,
    ) -> MethodsExplained:
        """Write image ``i``'s maps at its own resolution and its panel."""
        from PIL import Image

        size = rgb.shape[:2]
        planned = self.planned[i]
        written: dict[str, dict[str, str]] = {}
        full: dict[str, np.ndarray] = {}
        for k, (name, cam) in enumerate(maps.items()):
            png, npy = planned[2 * k], planned[2 * k + 1]
            full[name] = panels.resize_map(cam, size)
            image = Image.fromarray(np.round(full[name] * 255.0).astype(np.uint8), mode="L")
            atomic_write(png, lambda f, image=image: image.save(f, format="PNG"))
            atomic_write(npy, lambda f, m=full[name]: np.save(f, m))
            written[name] = {"png": str(png), "npy": str(npy)}
        names = self.loaded.class_names
        class_name = names[label] if names and 0 <= label < len(names) else None
        path = self.paths[i]
        title = (
            f"{files.printable(path.name)}: {class_name or f'class {label}'} (p={probability:.2f})"
        )
        methods_panel(rgb, full, title, planned[-1])
        return MethodsExplained(
            path=str(path),
            size=(int(size[0]), int(size[1])),
            label=int(label),
            class_name=class_name,
            probability=probability,
            predicted=predicted,
            maps=written,
            panel=str(planned[-1]),
        )


def methods_panel(rgb: np.ndarray, maps: dict[str, np.ndarray], title: str, path: Path) -> None:
    """One panel: each method's map over the image, titled by the method's label."""
    from matplotlib.figure import Figure

    from hrcam.methods import method_label

    shown = {n: panels.thumbnail(rgb, m) for n, m in maps.items()}
    h, w = next(iter(shown.values()))[1].shape
    cols = len(maps)
    width, height = panels.panel_figsize(h, w)
    fig = Figure(figsize=(width / 2 * cols, height), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, cols))
    for ax, (name, (small, cam)) in zip(axes, shown.items(), strict=True):
        ax.imshow(small)
        ax.imshow(cam, cmap="jet", alpha=0.5, vmin=0.0, vmax=1.0)
        ax.set_title(f"{method_label(name)}\n({name})", fontsize=9, parse_math=False)
        ax.axis("off")
    # Names are drawn as typed: "$5_$" in a file or class name is text, not mathtext.
    fig.suptitle(title, fontsize=10, parse_math=False)
    atomic_write(path, lambda f: fig.savefig(f, dpi=100, format="png"))
