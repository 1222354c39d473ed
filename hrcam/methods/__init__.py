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

from typing import Any

import lazy_loader

from hrcam.core.exports import public_names

# Importing the families registers their methods (none imports torch at module level).
from hrcam.methods import bilateral, gradcam, hires, paper, upsamplers  # noqa: F401
from hrcam.methods.registry import get_method, method_names

# The other names load from their submodule on first use (scikit-image's lazy_loader).
_attribute, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs=public_names(
        __file__, ["base", "bilateral", "camset", "gradcam", "hires", "paper", "registry"]
    ),
)

# The name tuples and the label table of earlier versions, read from the registry whenever
# asked for (never cached), so that a method registered later is in them too.
_DERIVED = {
    "HRCAM_METHODS": lambda: method_names("hrcam"),
    "GRADCAM_METHODS": lambda: method_names("grad-cam"),
    "HIRES_METHODS": lambda: method_names("high-res"),
    "ALL_METHODS": lambda: method_names(),
    "LABELS": lambda: {n: get_method(n).label for n in method_names()},
}


def __getattr__(name: str) -> Any:
    """Return a registry-derived name list, else load ``name`` from its submodule."""
    if name in _DERIVED:
        return _DERIVED[name]()
    return _attribute(name)
