"""Saliency methods compared on one model: hrcam's own maps and grad-cam's baselines.

Every method has the same interface: ``method(images, targets) -> MethodMaps`` where
``images`` is a float ``(B, 3, H, W)`` batch in [0, 1] (pixel space, not normalised) and
``targets`` holds the class to explain per image. The maps come back at image resolution,
min-max normalised to [0, 1], as float32 numpy arrays.

* hrcam's maps: the bilinear-resized low-res CAM, the raw high-res CAM, and the refined CAM
  with the ``paper`` and ``reference`` post-processing presets.
* Grad-CAM, Grad-CAM++, LayerCAM and Score-CAM from the ``grad-cam`` package
  (``pytorch_grad_cam``), not reimplemented. Their target layer is the classifier's CAM head
  (``classifier.cam_relu``, the head's ReLU module, whose output is exactly the CAM features
  f_k) at the resolution of the low-res CAM. On a GAP + FC head the gradient of class c at
  that layer is w_k^c / (h w) everywhere, so Grad-CAM there *is* relu(CAM), resized
  (Selvaraju et al. 2017, §3.1; checked in the tests to float32 rounding), which is the fair
  comparison. The head has only ``k`` (16) channels, so Score-CAM costs ``k`` forward passes
  per image here rather than the ~1000 it needs on DenseNet-121's last block.
"""

from __future__ import annotations

import contextlib
import functools
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam._shared import normalize_batch
from hrcam.evaluate.registry import (
    GRADIENT_COST,
    MethodOptions,
    get_method,
    method_label,
    method_names,
    register_method,
    runnable_method_names,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

    from hrcam.models import HRCAM, CAMClassifier

# The method names, their labels and costs live in one registry (hrcam.evaluate.registry);
# the entries of hrcam's maps and of grad-cam's baselines are registered below, beside their
# builders, those of the high-res baselines in hrcam.hires_baselines. The tuples and the label
# table of earlier versions are read from it (module ``__getattr__`` below).
_DERIVED: dict[str, Callable[[], Any]] = {
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


@dataclass
class MethodMaps:
    """Maps of one batch and per-image side information.

    Attributes
    ----------
    maps
        ``(B, H, W)`` float32 in [0, 1].
    info
        Per-image arrays, e.g. ``fallback`` (bool) for the refined CAM: whether region
        growing failed and the map fell back to the low-res CAM.
    """

    maps: np.ndarray
    info: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class SaliencyMethod:
    """A named saliency method with a uniform call signature.

    Attributes
    ----------
    name
        Key, a name of the method registry (:mod:`hrcam.evaluate.registry`) for the built-in
        ones.
    fn
        ``fn(images01, targets) -> MethodMaps``.
    forward_passes
        Rough cost in classifier forward(+backward) passes per image, for documentation.
    """

    name: str
    fn: Callable[[torch.Tensor, Sequence[int]], MethodMaps]
    forward_passes: float = 1.0

    @property
    def label(self) -> str:
        """Human-readable name."""
        return method_label(self.name)

    def __call__(self, images: torch.Tensor, targets: Sequence[int]) -> MethodMaps:
        """Compute maps for ``images`` (float (B, 3, H, W) in [0, 1]) and one class per image."""
        _check_batch(images, targets)
        return self.fn(images, targets)


def _check_batch(images: Any, targets: Sequence[int]) -> None:
    import torch

    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise ValueError(f"images must be a float tensor (B, 3, H, W) in [0, 1], got {shape}")
    if not images.is_floating_point():
        raise ValueError(
            f"images must be floats in [0, 1] (divide uint8 by 255), got {images.dtype}"
        )
    if len(targets) != images.shape[0]:
        raise ValueError(
            f"targets must give one class per image ({images.shape[0]}), got {len(targets)}"
        )


def normalize_maps(maps: np.ndarray) -> np.ndarray:
    """Min-max normalise each map of a ``(B, H, W)`` stack to [0, 1] (flat maps -> 0)."""
    return normalize_batch(maps)


@functools.cache
def _pixel_space_class() -> type:
    import torch
    from torch import nn

    from hrcam.models import input_stats

    class _PixelSpaceClassifier(nn.Module):
        """``images in [0, 1] -> logits``, with the normalisation inside.

        So perturbation metrics (Score-CAM's masking, average drop) act on real pixels, where 0
        means black.
        """

        def __init__(self, classifier: nn.Module) -> None:
            super().__init__()
            self.classifier = classifier

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if torch.is_grad_enabled() and not x.requires_grad:
                # hrcam freezes the classifier (requires_grad=False); gradient-based CAMs
                # still need a graph, so let the gradient start at the input instead of
                # un-freezing weights.
                x = x.detach().requires_grad_(True)
            # Same arithmetic as hrcam.models.normalize_images, minus its range check, which
            # would read values out of a tensor that is part of the autograd graph.
            stats = input_stats(self.classifier)  # ImageNet's, or a wrapped model's own
            mean = torch.tensor(stats[0], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            std = torch.tensor(stats[1], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            return self.classifier((x.clamp(0.0, 1.0) - mean) / std)

    return _PixelSpaceClassifier


def pixel_space_model(classifier: CAMClassifier | nn.Module) -> nn.Module:
    """Wrap a classifier that takes normalised input into one that takes [0, 1] images.

    Parameters
    ----------
    classifier
        Module mapping ImageNet-normalised ``(B, 3, H, W)`` to logits.

    Returns
    -------
    torch.nn.Module
        In eval mode; its forward returns logits for images in [0, 1].
    """
    return _pixel_space_class()(classifier).eval()


# -- hrcam's own maps -------------------------------------------------------------------------


def _hrcam_forward(model: HRCAM, images: torch.Tensor, targets: Sequence[int], full: bool):
    import torch

    from hrcam.models import high_res_cam, input_stats, low_res_cam, normalize_images

    clf = model.classifier
    mean, std = input_stats(clf)  # a wrapped model's own normalisation
    x = normalize_images(images.clamp(0.0, 1.0), mean=mean, std=std)
    with torch.no_grad():
        if full:
            out = model(x)
            high = high_res_cam(out.hr_features, model.high_res_weight, list(targets))
        else:
            out = clf.forward_features(x)
            high = None
        low = low_res_cam(out.cam_features, clf.fc.weight, list(targets))
    return low.cpu().numpy(), None if high is None else high.cpu().numpy()


def _low_res_fn(model: HRCAM) -> Callable[[torch.Tensor, Sequence[int]], MethodMaps]:
    from hrcam.postprocess.steps import resize_bilinear

    def fn(images: torch.Tensor, targets: Sequence[int]) -> MethodMaps:
        low, _ = _hrcam_forward(model, images, targets, full=False)
        size = tuple(images.shape[-2:])
        return MethodMaps(normalize_maps(np.stack([resize_bilinear(m, size) for m in low])))

    return fn


def _high_res_fn(model: HRCAM) -> Callable[[torch.Tensor, Sequence[int]], MethodMaps]:
    def fn(images: torch.Tensor, targets: Sequence[int]) -> MethodMaps:
        _, high = _hrcam_forward(model, images, targets, full=True)
        return MethodMaps(normalize_maps(high))

    return fn


def _refined_fn(
    model: HRCAM, preset: str, workers: int | None = None
) -> Callable[[torch.Tensor, Sequence[int]], MethodMaps]:
    from hrcam.explain import Explainer

    # The refined CAM is exactly what the Explainer produces: one code path for both.
    explainer = Explainer(model, preset=preset, workers=workers)

    def fn(images: torch.Tensor, targets: Sequence[int]) -> MethodMaps:
        explanations = explainer.explain(images.clamp(0.0, 1.0), classes=list(targets))
        results = [e.refinement for e in explanations]
        maps = normalize_maps(np.stack([r.refined for r in results]))
        fallback = np.array([r.used_fallback for r in results], dtype=bool)
        return MethodMaps(maps, {"fallback": fallback})

    return fn


def hrcam_methods(
    model: HRCAM, names: Iterable[str] | None = None, workers: int | None = None
) -> dict[str, SaliencyMethod]:
    """Return hrcam's maps as :class:`SaliencyMethod` adapters.

    Each adapter runs its own forward pass, so its measured runtime is what a user of that
    map alone would pay: the low-res CAM needs only the classifier; the high-res and refined
    CAMs need the expansion network too; the refined CAM adds the post-processing.

    Parameters
    ----------
    model
        An :class:`hrcam.models.HRCAM` (classifier + trained expansion network).
    names
        Subset of :data:`HRCAM_METHODS` (default: all of them).
    workers
        Post-processing processes of the refined CAMs (see :class:`hrcam.explain.Explainer`).

    Returns
    -------
    dict
        name -> SaliencyMethod.
    """
    hrcam_names = method_names("hrcam")
    out = {}
    names = hrcam_names if names is None else names
    for name in names:
        if name not in hrcam_names:
            raise ValueError(f"unknown hrcam method {name!r}; choose from {list(hrcam_names)}")
        out[name] = get_method(name).build(model, MethodOptions(workers=workers))
    return out


@register_method("low_res_cam", label="Low-res CAM (bilinear)", family="hrcam")
def _build_low_res(model: HRCAM, options: MethodOptions) -> SaliencyMethod:
    return SaliencyMethod("low_res_cam", _low_res_fn(model), 1.0)


@register_method("high_res_cam", label="High-res CAM (raw)", family="hrcam")
def _build_high_res(model: HRCAM, options: MethodOptions) -> SaliencyMethod:
    return SaliencyMethod("high_res_cam", _high_res_fn(model), 1.0)


@register_method("refined_paper", label="Refined CAM (paper)", family="hrcam")
def _build_refined_paper(model: HRCAM, options: MethodOptions) -> SaliencyMethod:
    return SaliencyMethod("refined_paper", _refined_fn(model, "paper", options.workers), 1.0)


@register_method("refined_reference", label="Refined CAM (reference)", family="hrcam")
def _build_refined_reference(model: HRCAM, options: MethodOptions) -> SaliencyMethod:
    fn = _refined_fn(model, "reference", options.workers)
    return SaliencyMethod("refined_reference", fn, 1.0)


# -- grad-cam baselines -------------------------------------------------------------------------


@dataclass(frozen=True)
class _GradCAMBuilder:
    """Builder of a registered grad-cam method: which ``pytorch_grad_cam`` class it runs."""

    name: str
    cam_class: str

    def __call__(self, model: HRCAM, options: MethodOptions) -> SaliencyMethod:
        return gradcam_method(model.classifier, self.name, None, options.score_cam_batch_size)


def _register_gradcam(name: str, cam_class: str, label: str, **cost: Any) -> None:
    """Register grad-cam's ``cam_class`` at the CAM head as method ``name``.

    ``cost`` holds :func:`register_method`'s cost keywords where they differ from a gradient
    method's (:data:`~hrcam.evaluate.registry.GRADIENT_COST`).
    """
    register_method(name, label=label, family="grad-cam", **{**GRADIENT_COST, **cost})(
        _GradCAMBuilder(name, cam_class)
    )


# One line per grad-cam method. Score-CAM runs one forward pass per channel of its target
# layer, so an evaluation runs it on the first ``score_cam_limit`` images only.
_register_gradcam("gradcam", "GradCAM", "Grad-CAM")
_register_gradcam("gradcam++", "GradCAMPlusPlus", "Grad-CAM++")
_register_gradcam("layercam", "LayerCAM", "LayerCAM")
_register_gradcam(
    "scorecam",
    "ScoreCAM",
    "Score-CAM",
    forward_passes=None,
    needs_gradients=False,
    image_limit="score_cam_limit",
)


@contextlib.contextmanager
def _quiet_score_cam() -> Iterator[None]:
    """Silence the progress bar grad-cam's ScoreCAM draws for every single image."""
    import tqdm
    from pytorch_grad_cam import score_cam

    original = score_cam.tqdm
    score_cam.tqdm = types.SimpleNamespace(tqdm=functools.partial(tqdm.tqdm, disable=True))
    try:
        yield
    finally:
        score_cam.tqdm = original


def _cam_head_layer(classifier: Any) -> nn.Module | None:
    """Return the module whose output is the CAM features: ``cam_relu``, else ``cam_conv``."""
    for name in ("cam_relu", "cam_conv"):
        layer = getattr(classifier, name, None)
        if layer is not None:
            return layer
    return None


def gradcam_method(
    classifier: CAMClassifier | nn.Module,
    name: str,
    target_layer: nn.Module | None = None,
    score_cam_batch_size: int = 32,
) -> SaliencyMethod:
    """Wrap a grad-cam (``pytorch_grad_cam``) method as a :class:`SaliencyMethod`.

    Parameters
    ----------
    classifier
        A classifier taking ImageNet-normalised input; wrapped with :func:`pixel_space_model`.
    name
        One of :data:`GRADCAM_METHODS`: ``gradcam``, ``gradcam++``, ``layercam``, ``scorecam``.
    target_layer
        Layer whose activations are weighted; default ``classifier.cam_relu`` (the CAM head's
        ReLU, whose output is the CAM features), or ``classifier.cam_conv`` on a classifier
        built before the head had a ReLU module.
    score_cam_batch_size
        Masked images per forward pass in Score-CAM (grad-cam reads it from the
        ``batch_size`` attribute, not from the constructor).

    Returns
    -------
    SaliencyMethod
    """
    gradcam_names = method_names("grad-cam")
    if name not in gradcam_names:
        raise ValueError(f"unknown grad-cam method {name!r}; choose from {list(gradcam_names)}")
    entry = get_method(name)
    layer = target_layer if target_layer is not None else _cam_head_layer(classifier)
    if layer is None:
        raise ValueError(
            "target_layer is required: the classifier has no CAM head (cam_relu or cam_conv)"
        )
    wrapped = pixel_space_model(classifier)
    import pytorch_grad_cam

    cam_class = getattr(pytorch_grad_cam, entry.builder.cam_class)

    def fn(images: torch.Tensor, targets: Sequence[int]) -> MethodMaps:
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        with cam_class(model=wrapped, target_layers=[layer]) as cam, _quiet_score_cam():
            # Only Score-CAM reads this attribute (its masked images per forward pass).
            cam.batch_size = score_cam_batch_size
            maps = cam(
                input_tensor=images.detach(),
                targets=[ClassifierOutputTarget(int(t)) for t in targets],
            )
        return MethodMaps(normalize_maps(maps))

    channels = getattr(layer, "out_channels", None) or getattr(classifier, "k", None)
    passes = entry.forward_passes if entry.forward_passes is not None else float(channels or 0)
    return SaliencyMethod(name, fn, passes)


def build_methods(
    model: HRCAM,
    names: Iterable[str] | None = None,
    score_cam_batch_size: int = 32,
    workers: int | None = None,
) -> dict[str, SaliencyMethod]:
    """All requested methods on one model, in the order given.

    Parameters
    ----------
    model
        An :class:`hrcam.models.HRCAM`.
    names
        Names of the method registry (default: every registered method that this install
        can run; one whose pip extra is missing is refused by name when asked for).
    score_cam_batch_size
        See :func:`gradcam_method`.
    workers
        Post-processing processes of the refined CAMs; ``None``: see
        :func:`hrcam.parallel.resolve_workers`.

    Returns
    -------
    dict
        name -> SaliencyMethod.
    """
    known = method_names()
    names = list(runnable_method_names() if names is None else names)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(known)}")
    if len(set(names)) != len(names):
        raise ValueError(f"methods must not repeat, got {names}")
    options = MethodOptions(workers=workers, score_cam_batch_size=score_cam_batch_size)
    return {n: get_method(n).build(model, options) for n in names}
