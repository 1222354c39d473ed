"""Everything that turns a model and images into saliency maps, one module per family.

>>> from hrcam.methods import build_methods, method_names
>>> methods = build_methods(model, ["refined_paper", "gradcam"])  # doctest: +SKIP
>>> maps = methods["gradcam"](images01, targets).maps  # (B, H, W) in [0, 1]  # doctest: +SKIP

``registry``
    :func:`register_method`, :class:`MethodEntry` and the lookups; it imports no method.
``base``
    The interface every method has (:class:`SaliencyMethod`, :class:`MethodMaps`), the
    pixel-space classifier and :func:`build_methods`.
``paper``
    The paper's maps: low-res CAM, high-res CAM, and the refined CAM with both presets.
``gradcam``
    grad-cam's baselines at the CAM head (Grad-CAM, Grad-CAM++, LayerCAM, Score-CAM).
``hires``
    The high-resolution peers (fused LayerCAM, FullGrad, HiResCAM, CRF, guided filter,
    OpenCV's full-resolution joint bilateral filter).
``bilateral``
    Joint bilateral upsampling of the low-res CAM as Kopf et al. define it (``cam_jbu``).
``upsamplers``
    Learned upsamplers of the CAM (``featup_jbu``, a FeatUp-style learned JBU).
``camset``
    :class:`CamSet` and :func:`compute_cams`: the low-res and high-res CAMs of a data set,
    which the evaluation's localization and the studies post-process.
``images``
    Any registered method on image files (:func:`explain_methods`, what
    ``hrcam explain --methods`` runs); reading and writing are :mod:`hrcam.explain.files`'.

The families register their methods when this package is imported, through the explicit
import of the family modules below (so importing any ``hrcam.methods`` module, the registry
included, registers them all first). A new method is one entry in its family's module plus
its test; a new family is one module, its name in that import, and its test.
No module here imports torch at module level.
"""

from __future__ import annotations

from typing import Any

from hrcam.methods import bilateral, gradcam, hires, paper, upsamplers  # noqa: F401 (importing them registers them)
from hrcam.methods.base import (
    MethodMaps,
    SaliencyMethod,
    build_methods,
    normalize_maps,
    pixel_space_model,
)
from hrcam.methods.bilateral import KOPF_DEFAULTS, joint_bilateral_upsample
from hrcam.methods.gradcam import gradcam_method
from hrcam.methods.hires import (
    BILATERAL_DEFAULTS,
    CRF_DEFAULTS,
    GUIDED_DEFAULTS,
    StageTaps,
    bilateral_refine,
    crf_refine,
    guided_refine,
    hires_method,
    require_ximgproc,
)
from hrcam.methods.paper import hrcam_methods
from hrcam.methods.registry import (
    FAMILIES,
    GRADIENT_COST,
    MethodEntry,
    MethodOptions,
    UnknownMethodError,
    get_method,
    method_label,
    method_names,
    register_method,
)

__all__ = [
    "BILATERAL_DEFAULTS",
    "CRF_DEFAULTS",
    "FAMILIES",
    "GRADIENT_COST",
    "GUIDED_DEFAULTS",
    "KOPF_DEFAULTS",
    "MethodEntry",
    "MethodMaps",
    "MethodOptions",
    "SaliencyMethod",
    "StageTaps",
    "UnknownMethodError",
    "bilateral_refine",
    "build_methods",
    "crf_refine",
    "get_method",
    "gradcam_method",
    "guided_refine",
    "hires_method",
    "hrcam_methods",
    "joint_bilateral_upsample",
    "method_label",
    "method_names",
    "normalize_maps",
    "pixel_space_model",
    "register_method",
    "require_ximgproc",
]

# The name tuples and the label table of earlier versions, read from the registry when asked
# for (so that a method registered later is in them too).
_DERIVED = {
    "HRCAM_METHODS": lambda: method_names("hrcam"),
    "GRADCAM_METHODS": lambda: method_names("grad-cam"),
    "HIRES_METHODS": lambda: method_names("high-res"),
    "ALL_METHODS": lambda: method_names(),
    "LABELS": lambda: {n: get_method(n).label for n in method_names()},
}


def __getattr__(name: str) -> Any:
    """Return a name list derived from the method registry.

    ``HRCAM_METHODS``, ``GRADCAM_METHODS``, ``HIRES_METHODS``, ``ALL_METHODS`` (name tuples)
    and ``LABELS`` (name -> display label) are read from the registry when asked for.
    """
    if name in _DERIVED:
        return _DERIVED[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
