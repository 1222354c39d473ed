"""High-resolution baselines from maintained packages, on the same classifier (issue #12).

The four grad-cam methods of :mod:`hrcam.methods.gradcam` all work at the CAM head, so their
maps are as coarse as the low-res CAM. A user who wants a *fine* map would reach for one of these
instead; each is a :class:`~hrcam.methods.SaliencyMethod` with the same call signature,
class, normalisation and metrics as the others:

``layercam_fused``
    grad-cam's ``LayerCAM`` on several backbone stages (every stage output from stride 4 on,
    plus the CAM head): grad-cam's single-layer LayerCAM maps (min-max normalised, resized to
    the image) fused by element-wise **maximum**, as the LayerCAM paper (Jiang et al. 2021)
    fuses its stages. grad-cam itself would average them; only that aggregation step is
    overridden.
``fullgrad``
    grad-cam's ``FullGrad`` (Srinivas & Fleuret 2019): input-gradient × input plus the
    bias-gradients of every Conv2d and BatchNorm2d layer.
``hirescam``
    grad-cam's ``HiResCAM`` (Draelos & Carin 2020): element-wise gradient × activation, on a
    mid-resolution backbone stage (the deepest one at >= 4× the low-res CAM's resolution).
``cam_crf``
    The bilinear low-res CAM refined by a fully connected CRF (Krähenbühl & Koltun 2011;
    ``pydensecrf2``): the CAM gives the unary (foreground probability = normalised CAM), the
    image gives the pairwise terms (a spatial Gaussian and a bilateral kernel); the map is the
    CRF's foreground marginal.
``cam_guided``
    The bilinear low-res CAM refined by a guided filter (He et al. 2013; opencv-contrib's
    ``cv2.ximgproc.guidedFilter``) with the RGB image as the guide.
``cam_bilateral``
    The bilinear low-res CAM filtered at full resolution by opencv-contrib's joint bilateral
    filter (``cv2.ximgproc.jointBilateralFilter``) guided by the RGB image: a window of
    ``2 * stride + 1`` pixels, about 4,000 neighbours per pixel at stride 32. Joint bilateral
    *upsampling* as Kopf et al. (2007) define it, from the ~25 low-res samples around each
    pixel, is ``cam_jbu`` (:mod:`hrcam.methods.bilateral`).
``refinecam``
    grad-cam's ``RefineCAM`` (the product of Grad-CAM++ maps of several layers) on the
    layers ``layercam_fused`` fuses.

Backbone stages are not modules that hooks can see (the backbone is a ``torch.fx`` graph
module whose stage outputs are graph nodes), so :class:`StageTaps` passes each stage's output
through an ``nn.Identity`` on the way out of the backbone; grad-cam hooks those. The tensors
are the ones the rest of the network consumes, so their gradients are the true ones.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.extras import require, require_ximgproc
from hrcam.methods.base import MethodMaps, SaliencyMethod, normalize_maps, pixel_space_model
from hrcam.methods.paper import _low_res_fn
from hrcam.methods.registry import MethodOptions, family_entry, register_gradient_method

if TYPE_CHECKING:
    import torch
    from torch import nn

    from hrcam.models import HRCAM, CAMClassifier

    MapsFn = Callable[[torch.Tensor, Sequence[int]], MethodMaps]
    MakeMaps = Callable[[HRCAM, dict[str, Any]], MapsFn]  # a baseline's maps, from options
    RefineFn = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (cam, pixels) -> refined map
    MakeFilter = Callable[[int, dict[str, Any]], RefineFn]  # (stride, options) -> RefineFn

__all__ = [
    "BILATERAL_DEFAULTS",
    "CRF_DEFAULTS",
    "GUIDED_DEFAULTS",
    "StageTaps",
    "bilateral_refine",
    "crf_refine",
    "guided_refine",
    "hires_method",
    "require_ximgproc",
]

CRF_DEFAULTS: dict[str, float] = {
    "gaussian_sxy": 3.0,
    "gaussian_compat": 3.0,
    "bilateral_srgb": 13.0,
    "bilateral_compat": 10.0,
    "iterations": 10,
}
"""Dense-CRF settings (DeepLab's, Chen et al. 2018); the bilateral kernel's spatial width
``bilateral_sxy`` defaults to the classifier's stride, one low-res CAM cell (DeepLab's 80 px at
~500 px is about 0.16 of the image; one cell is 0.17 at 96 px and 0.14 at 224 px)."""

BILATERAL_DEFAULTS: dict[str, float] = {"sigma_color": 0.1}
"""Joint bilateral filter's range width on a guide in [0, 1] (the guided filter's 0.1, i.e.
sqrt(eps)); the spatial sigma defaults to half the classifier's stride and the window to
``2 * stride + 1`` pixels (about +-2 sigma)."""

GUIDED_DEFAULTS: dict[str, float] = {"eps": 1e-2}
"""Guided-filter regularisation on a guide in [0, 1] (He et al.'s 0.1²); the radius defaults
to half the classifier's stride, so the window spans about one low-res CAM cell."""


# -- hook points on the backbone's stages --------------------------------------------------------


class StageTaps:
    """Hook points for a :class:`~hrcam.models.CAMClassifier`'s backbone stages.

    Inside :meth:`active`, every backbone forward passes each output (the skip features,
    highest resolution first, then the final map) through one ``nn.Identity`` of :attr:`taps`,
    so that forward hooks on ``taps[i]`` see stage ``i``'s output tensor itself.

    Parameters
    ----------
    classifier
        A CAMClassifier (any module with a ``backbone`` returning ``(skips, final)``).

    Attributes
    ----------
    taps
        One ``nn.Identity`` per backbone output.
    strides
        Input size divided by each output's size.
    """

    def __init__(self, classifier: CAMClassifier | nn.Module) -> None:
        import torch
        from torch import nn

        backbone = getattr(classifier, "backbone", None)
        stride = getattr(classifier, "stride", None)
        if backbone is None or not stride:
            raise ValueError(
                "stage baselines need an hrcam CAMClassifier (with .backbone and .stride)"
            )
        self.backbone = backbone
        param = next(classifier.parameters())
        probe = torch.zeros(1, 3, 2 * stride, 2 * stride, device=param.device, dtype=param.dtype)
        with torch.no_grad():
            skips, final = backbone(probe)
        outputs = [*skips, final]
        self.strides: list[int] = [probe.shape[-1] // t.shape[-1] for t in outputs]
        self.taps = nn.ModuleList(nn.Identity() for _ in outputs)

    def _hook(self, module: nn.Module, inputs: Any, output: Any) -> None:
        skips, final = output
        for tap, tensor in zip(self.taps, [*skips, final], strict=True):
            tap(tensor)

    @contextlib.contextmanager
    def active(self) -> Iterator[StageTaps]:
        """Route backbone outputs through the taps while the context is open."""
        handle = self.backbone.register_forward_hook(self._hook)
        try:
            yield self
        finally:
            handle.remove()

    def stage(self, stride: int) -> nn.Module:
        """Return the tap of the backbone output at ``stride``."""
        if stride not in self.strides:
            raise ValueError(f"no backbone stage at stride {stride}; strides: {self.strides}")
        return self.taps[self.strides.index(stride)]


def fused_stages(taps: StageTaps, classifier: Any) -> list[nn.Module]:
    """Return the layers fused by ``layercam_fused``, in forward order.

    They are the stage outputs at stride >= 4 but the final map (its resolution is the CAM
    head's), then the CAM head (``cam_relu``).
    """
    from hrcam.methods.gradcam import _cam_head_layer

    final_stride = taps.strides[-1]
    layers = [t for t, s in zip(taps.taps, taps.strides, strict=True) if 4 <= s < final_stride]
    head = _cam_head_layer(classifier)
    return [*layers, head] if head is not None else [*layers, taps.taps[-1]]


def hirescam_stride(taps: StageTaps) -> int:
    """Return the stride of ``hirescam``'s layer.

    The layer is the deepest stage at >= 4× the low-res CAM resolution (stride 4 on the compact
    DenseNet, 8 on DenseNet-121 / ResNet-50).
    """
    final_stride = taps.strides[-1]
    candidates = [s for s in taps.strides if s * 4 <= final_stride]
    return max(candidates) if candidates else taps.strides[0]


# -- the refinements ------------------------------------------------------------------------------


def _map_for_guide(cam: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Return ``cam`` as contiguous float32 once ``image`` is an (H, W, 3) guide of its size."""
    cam = np.ascontiguousarray(cam, dtype=np.float32)
    if image.shape[:2] != cam.shape or image.ndim != 3:
        raise ValueError(f"image must be (H, W, 3) with H, W = {cam.shape}, got {image.shape}")
    return cam


def guided_refine(
    cam: np.ndarray, image: np.ndarray, radius: int, eps: float = GUIDED_DEFAULTS["eps"]
) -> np.ndarray:
    """Filter a map by opencv-contrib's guided filter with ``image`` as the guide.

    Parameters
    ----------
    cam
        ``(H, W)`` map (float).
    image
        ``(H, W, 3)`` guide, float in [0, 1] (or uint8).
    radius
        Window radius in pixels (window ``2 r + 1``).
    eps
        Regularisation: edges with local variance well above ``eps`` are kept.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` float32. With a constant guide it is a box mean applied twice (He et al.,
        eq. 8 with a = 0), borders reflected.
    """
    ximgproc = require_ximgproc("guided_refine")
    cam = _map_for_guide(cam, image)
    guide = np.ascontiguousarray(image if image.dtype == np.uint8 else image.astype(np.float32))
    return ximgproc.guidedFilter(guide=guide, src=cam, radius=int(radius), eps=float(eps))


def bilateral_refine(
    cam: np.ndarray,
    image: np.ndarray,
    diameter: int,
    sigma_space: float,
    sigma_color: float = BILATERAL_DEFAULTS["sigma_color"],
) -> np.ndarray:
    """Filter a map by opencv-contrib's joint bilateral filter with ``image`` as the guide.

    Parameters
    ----------
    cam, image
        The map and its guide, as for :func:`guided_refine` (the guide here in [0, 1]).
    diameter
        Window diameter in pixels.
    sigma_space, sigma_color
        Spatial (pixels) and range (guide units) widths of the Gaussians.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` float32, ``cv2.ximgproc.jointBilateralFilter(guide, cam, ...)``.
    """
    ximgproc = require_ximgproc("bilateral_refine")
    cam = _map_for_guide(cam, image)
    guide = np.ascontiguousarray(image, dtype=np.float32)
    return ximgproc.jointBilateralFilter(
        guide, cam, int(diameter), float(sigma_color), float(sigma_space)
    )


def crf_refine(
    cam: np.ndarray,
    image: np.ndarray,
    bilateral_sxy: float,
    gaussian_sxy: float = CRF_DEFAULTS["gaussian_sxy"],
    gaussian_compat: float = CRF_DEFAULTS["gaussian_compat"],
    bilateral_srgb: float = CRF_DEFAULTS["bilateral_srgb"],
    bilateral_compat: float = CRF_DEFAULTS["bilateral_compat"],
    iterations: int = int(CRF_DEFAULTS["iterations"]),
    clip: float = 1e-5,
) -> np.ndarray:
    """Foreground marginal of a 2-label fully connected CRF (``pydensecrf2``).

    Parameters
    ----------
    cam
        ``(H, W)`` map in [0, 1], read as the foreground probability (background ``1 - cam``).
    image
        ``(H, W, 3)`` uint8 RGB image for the bilateral (appearance) kernel.
    bilateral_sxy, bilateral_srgb, bilateral_compat
        Bilateral kernel: spatial and colour widths (pixels, intensity levels) and Potts weight.
    gaussian_sxy, gaussian_compat
        Smoothness kernel: spatial width and Potts weight.
    iterations
        Mean-field iterations.
    clip
        Probabilities are clipped to [clip, 1] before the log.

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` float32 foreground probability after inference. With both Potts weights 0
        it is the (clipped, renormalised) input.
    """
    dcrf = require("pydensecrf.densecrf", extra="crf", feature="the dense-CRF baseline (cam_crf)")
    from pydensecrf.utils import unary_from_softmax

    cam = np.clip(np.asarray(cam, dtype=np.float32), 0.0, 1.0)
    if cam.ndim != 2:
        raise ValueError(f"cam must be (H, W), got shape {cam.shape}")
    h, w = cam.shape
    if image.shape != (h, w, 3) or image.dtype != np.uint8:
        raise ValueError(
            f"image must be uint8 (H, W, 3) with H, W = {cam.shape}, got {image.dtype} "
            f"{image.shape}"
        )
    crf = dcrf.DenseCRF2D(w, h, 2)
    crf.setUnaryEnergy(
        np.ascontiguousarray(unary_from_softmax(np.stack([1 - cam, cam]), clip=clip))
    )
    if gaussian_compat:
        crf.addPairwiseGaussian(sxy=gaussian_sxy, compat=gaussian_compat)
    if bilateral_compat:
        crf.addPairwiseBilateral(
            sxy=bilateral_sxy,
            srgb=bilateral_srgb,
            rgbim=np.ascontiguousarray(image),
            compat=bilateral_compat,
        )
    q = np.asarray(crf.inference(int(iterations)), dtype=np.float32).reshape(2, h, w)
    return q[1]


# -- the methods ----------------------------------------------------------------------------------


def _pixels_hwc(images: torch.Tensor) -> np.ndarray:
    """(B, H, W, 3) float32 in [0, 1] on the CPU."""
    return images.detach().clamp(0.0, 1.0).permute(0, 2, 3, 1).float().cpu().numpy()


def _refined_low_res_fn(
    model: HRCAM, refine: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> Callable[[torch.Tensor, Sequence[int]], MethodMaps]:
    low_res = _low_res_fn(model)

    def fn(images: torch.Tensor, targets: Sequence[int]) -> MethodMaps:
        low = low_res(images, targets).maps
        pixels = _pixels_hwc(images)
        refined = [refine(m, p) for m, p in zip(low, pixels, strict=True)]
        return MethodMaps(normalize_maps(np.stack(refined)))

    return fn


def _max_fused_layercam() -> type:
    from pytorch_grad_cam import LayerCAM
    from pytorch_grad_cam.utils.image import scale_cam_image

    class MaxFusedLayerCAM(LayerCAM):
        """The LayerCAM of grad-cam, aggregating layers by their element-wise maximum.

        The maximum is over the single-layer maps, each exactly what LayerCAM on that layer
        alone returns.
        """

        def aggregate_multi_layers(self, cam_per_target_layer: list[np.ndarray]) -> np.ndarray:
            single = [scale_cam_image(np.maximum(c[:, 0], 0)) for c in cam_per_target_layer]
            return scale_cam_image(np.max(single, axis=0))

    return MaxFusedLayerCAM


def _gradcam_fn(
    classifier: Any,
    cam_class: type,
    layers: Callable[[], list[nn.Module]],
    taps: StageTaps | None,
) -> Callable[[torch.Tensor, Sequence[int]], MethodMaps]:
    wrapped = pixel_space_model(classifier)

    def fn(images: torch.Tensor, targets: Sequence[int]) -> MethodMaps:
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        context = taps.active() if taps is not None else contextlib.nullcontext()
        with context, cam_class(model=wrapped, target_layers=layers()) as cam:
            maps = cam(
                input_tensor=images.detach(),
                targets=[ClassifierOutputTarget(int(t)) for t in targets],
            )
        return MethodMaps(normalize_maps(maps))

    return fn


def hires_method(model: HRCAM, name: str, **options: Any) -> SaliencyMethod:
    """One of the registry's high-res baselines as a :class:`~hrcam.methods.SaliencyMethod`.

    Parameters
    ----------
    model
        An :class:`hrcam.models.HRCAM` (only its classifier is used).
    name
        A name of the registry's ``high-res`` family built here (``layercam_fused``,
        ``refinecam``, ``fullgrad``, ``hirescam``, ``cam_crf``, ``cam_guided``, ``cam_bilateral``).
    **options
        ``cam_crf``: any argument of :func:`crf_refine`; ``cam_guided``: ``radius``, ``eps``;
        ``cam_bilateral``: ``diameter``, ``sigma_space``, ``sigma_color``;
        ``hirescam``: ``stride`` (of the stage to use).

    Returns
    -------
    SaliencyMethod
    """
    # One dispatch: the registry entry holds the function that builds this baseline's maps,
    # and its cost.
    entry = family_entry(name, "high-res", "high-res baseline")
    if not isinstance(entry.builder, _HiresBuilder):
        raise ValueError(
            f"method {name!r} is registered in the 'high-res' family without a high-res builder; "
            "register it with hrcam.methods.hires' own decorator, or in another family"
        )
    return SaliencyMethod(name, entry.builder.make(model, dict(options)), entry.forward_passes)


def _no_options(name: str, options: dict[str, Any]) -> None:
    if options:
        raise ValueError(f"{name} takes no options {sorted(options)}")


@dataclass(frozen=True)
class _HiresBuilder:
    """Builder of a registered high-res baseline: ``make(model, options)`` gives its maps."""

    name: str
    make: MakeMaps

    def __call__(self, model: HRCAM, options: MethodOptions) -> SaliencyMethod:
        return hires_method(model, self.name)


def _register_hires(name: str, label: str, **cost: Any) -> Callable[[MakeMaps], MakeMaps]:
    """Register the decorated ``make(model, options)`` as :func:`hires_method` ``name``.

    ``cost`` holds :func:`register_method`'s cost keywords where they differ from a gradient
    method's (:data:`~hrcam.methods.registry.GRADIENT_COST`). The registry keeps the order
    of registration, which is the order of the evaluation's tables.
    """

    def wrap(make: MakeMaps) -> MakeMaps:
        register_gradient_method(name, label, "high-res", _HiresBuilder(name, make), **cost)
        return make

    return wrap


def _register_filter(name: str, label: str, extra: str) -> Callable[[MakeFilter], MakeFilter]:
    """Register the low-res CAM refined by an image-guided filter as :func:`hires_method` ``name``.

    One forward pass, no gradients; ``extra`` is the pip extra of the filter's package. The
    decorated ``make(stride, options)`` (the classifier's stride, the method's options) checks
    that package and returns ``refine(cam, pixels)``: the bilinearly upsampled low-res CAM
    and the image in [0, 1], ``(H, W, 3)``, to the refined map.
    """

    def wrap(make: MakeFilter) -> MakeFilter:
        def maps(model: HRCAM, options: dict[str, Any]) -> MapsFn:
            return _refined_low_res_fn(model, make(int(model.classifier.stride), options))

        _register_hires(name, label, forward_passes=1.0, needs_gradients=False, extra=extra)(maps)
        return make

    return wrap


def _fused_layers(name: str, model: HRCAM, options: dict[str, Any]) -> tuple[Any, StageTaps, list]:
    """Return the classifier, its stage taps and its fused stages (the method takes no options)."""
    clf = model.classifier
    taps = StageTaps(clf)
    _no_options(name, options)
    return clf, taps, fused_stages(taps, clf)


@_register_hires("layercam_fused", "LayerCAM (stages fused, max)")
def _layercam_fused(model: HRCAM, options: dict[str, Any]) -> MapsFn:
    import pytorch_grad_cam  # noqa: F401  (fail here, not on the first image)

    clf, taps, layers = _fused_layers("layercam_fused", model, options)
    return _gradcam_fn(clf, _max_fused_layercam(), lambda: layers, taps)


@functools.cache
def _refine_cam_class() -> type:
    from pytorch_grad_cam import RefineCAM

    class ClosingRefineCAM(RefineCAM):
        """grad-cam's RefineCAM, usable in a ``with`` block like its other methods."""

        def __enter__(self) -> ClosingRefineCAM:
            return self

        def __exit__(self, *exc: Any) -> None:
            for cam in self.base_cam_per_layer:
                cam.__exit__(*exc)

    return ClosingRefineCAM


# One Grad-CAM++ (a forward and a backward pass) per fused layer, about four of them.
@_register_hires("refinecam", "RefineCAM (stages, product)", forward_passes=10.0)
def _refinecam(model: HRCAM, options: dict[str, Any]) -> MapsFn:
    clf, taps, layers = _fused_layers("refinecam", model, options)
    return _gradcam_fn(clf, _refine_cam_class(), lambda: layers, taps)


@_register_hires("fullgrad", "FullGrad")
def _fullgrad(model: HRCAM, options: dict[str, Any]) -> MapsFn:
    from pytorch_grad_cam import FullGrad

    _no_options("fullgrad", options)
    return _gradcam_fn(model.classifier, FullGrad, list, None)


@_register_hires("hirescam", "HiResCAM (mid-res stage)")
def _hirescam(model: HRCAM, options: dict[str, Any]) -> MapsFn:
    from pytorch_grad_cam import HiResCAM

    clf = model.classifier
    taps = StageTaps(clf)
    layer = taps.stage(int(options.pop("stride", hirescam_stride(taps))))
    _no_options("hirescam", options)
    return _gradcam_fn(clf, HiResCAM, lambda: [layer], taps)


@_register_filter("cam_crf", "Low-res CAM + dense CRF", extra="crf")
def _cam_crf(stride: int, options: dict[str, Any]) -> RefineFn:
    require("pydensecrf.densecrf", extra="crf", feature="the dense-CRF baseline (cam_crf)")

    kwargs = {**CRF_DEFAULTS, "bilateral_sxy": float(stride), **options}

    def crf(cam: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        return crf_refine(cam, np.round(pixels * 255).astype(np.uint8), **kwargs)

    return crf


@_register_filter("cam_guided", "Low-res CAM + guided filter", extra="contrib")
def _cam_guided(stride: int, options: dict[str, Any]) -> RefineFn:
    require_ximgproc("method cam_guided")
    radius = int(options.pop("radius", max(1, stride // 2)))
    eps = float(options.pop("eps", GUIDED_DEFAULTS["eps"]))
    _no_options("cam_guided", options)

    def guided(cam: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        return guided_refine(cam, pixels, radius, eps)

    return guided


@_register_filter("cam_bilateral", "Low-res CAM + joint bilateral filter (OpenCV)", "contrib")
def _cam_bilateral(stride: int, options: dict[str, Any]) -> RefineFn:
    require_ximgproc("method cam_bilateral")
    sigma_space = float(options.pop("sigma_space", stride / 2))
    diameter = int(options.pop("diameter", 2 * stride + 1))
    sigma_color = float(options.pop("sigma_color", BILATERAL_DEFAULTS["sigma_color"]))
    _no_options("cam_bilateral", options)

    def bilateral(cam: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        return bilateral_refine(cam, pixels, diameter, sigma_space, sigma_color)

    return bilateral
