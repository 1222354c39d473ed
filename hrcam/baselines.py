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

if TYPE_CHECKING:
    import torch
    from torch import nn

    from hrcam.models import HRCAM, CAMClassifier

HRCAM_METHODS: tuple[str, ...] = (
    "low_res_cam",
    "high_res_cam",
    "refined_paper",
    "refined_reference",
)
GRADCAM_METHODS: tuple[str, ...] = ("gradcam", "gradcam++", "layercam", "scorecam")
# High-resolution baselines (issue #12), implemented in hrcam.hires_baselines.
HIRES_METHODS: tuple[str, ...] = ("layercam_fused", "fullgrad", "hirescam", "cam_crf", "cam_guided")
ALL_METHODS: tuple[str, ...] = HRCAM_METHODS + GRADCAM_METHODS + HIRES_METHODS

LABELS: dict[str, str] = {
    "low_res_cam": "Low-res CAM (bilinear)",
    "high_res_cam": "High-res CAM (raw)",
    "refined_paper": "Refined CAM (paper)",
    "refined_reference": "Refined CAM (reference)",
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "layercam": "LayerCAM",
    "scorecam": "Score-CAM",
    "layercam_fused": "LayerCAM (stages fused, max)",
    "fullgrad": "FullGrad",
    "hirescam": "HiResCAM (mid-res stage)",
    "cam_crf": "Low-res CAM + dense CRF",
    "cam_guided": "Low-res CAM + guided filter",
}
"""Display names for tables and plots."""


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
        Key, one of :data:`ALL_METHODS` for the built-in ones.
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
        return LABELS.get(self.name, self.name)

    def __call__(self, images: torch.Tensor, targets: Sequence[int]) -> MethodMaps:
        """Maps for ``images`` (float (B, 3, H, W) in [0, 1]) and one class per image."""
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
        """``images in [0, 1] -> logits``: normalisation inside, so perturbation metrics
        (Score-CAM's masking, average drop) act on real pixels, where 0 means black."""

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
    model: HRCAM, names: Iterable[str] = HRCAM_METHODS, workers: int | None = None
) -> dict[str, SaliencyMethod]:
    """hrcam's maps as :class:`SaliencyMethod` adapters.

    Each adapter runs its own forward pass, so its measured runtime is what a user of that
    map alone would pay: the low-res CAM needs only the classifier; the high-res and refined
    CAMs need the expansion network too; the refined CAM adds the post-processing.

    Parameters
    ----------
    model
        An :class:`hrcam.models.HRCAM` (classifier + trained expansion network).
    names
        Subset of :data:`HRCAM_METHODS`.
    workers
        Post-processing processes of the refined CAMs (see :class:`hrcam.explain.Explainer`).

    Returns
    -------
    dict
        name -> SaliencyMethod.
    """
    makers: dict[str, Callable[[], SaliencyMethod]] = {
        "low_res_cam": lambda: SaliencyMethod("low_res_cam", _low_res_fn(model), 1.0),
        "high_res_cam": lambda: SaliencyMethod("high_res_cam", _high_res_fn(model), 1.0),
        "refined_paper": lambda: SaliencyMethod(
            "refined_paper", _refined_fn(model, "paper", workers), 1.0
        ),
        "refined_reference": lambda: SaliencyMethod(
            "refined_reference", _refined_fn(model, "reference", workers), 1.0
        ),
    }
    out = {}
    for name in names:
        if name not in makers:
            raise ValueError(f"unknown hrcam method {name!r}; choose from {list(HRCAM_METHODS)}")
        out[name] = makers[name]()
    return out


# -- grad-cam baselines -------------------------------------------------------------------------


def _gradcam_class(name: str) -> type:
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM

    return {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "layercam": LayerCAM,
            "scorecam": ScoreCAM}[name]  # fmt: skip


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
    """The module whose output is the CAM features: ``cam_relu``, else ``cam_conv``."""
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
    """A grad-cam (``pytorch_grad_cam``) method as a :class:`SaliencyMethod`.

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
    if name not in GRADCAM_METHODS:
        raise ValueError(f"unknown grad-cam method {name!r}; choose from {list(GRADCAM_METHODS)}")
    layer = target_layer if target_layer is not None else _cam_head_layer(classifier)
    if layer is None:
        raise ValueError(
            "target_layer is required: the classifier has no CAM head (cam_relu or cam_conv)"
        )
    wrapped = pixel_space_model(classifier)
    cam_class = _gradcam_class(name)

    def fn(images: torch.Tensor, targets: Sequence[int]) -> MethodMaps:
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        with cam_class(model=wrapped, target_layers=[layer]) as cam, _quiet_score_cam():
            if name == "scorecam":
                cam.batch_size = score_cam_batch_size
            maps = cam(
                input_tensor=images.detach(),
                targets=[ClassifierOutputTarget(int(t)) for t in targets],
            )
        return MethodMaps(normalize_maps(maps))

    channels = getattr(layer, "out_channels", None) or getattr(classifier, "k", None)
    passes = {"gradcam": 2.5, "gradcam++": 2.5, "layercam": 2.5}.get(name, float(channels or 0))
    return SaliencyMethod(name, fn, passes)


def build_methods(
    model: HRCAM,
    names: Iterable[str] = ALL_METHODS,
    score_cam_batch_size: int = 32,
    workers: int | None = None,
) -> dict[str, SaliencyMethod]:
    """All requested methods on one model, in the order given.

    Parameters
    ----------
    model
        An :class:`hrcam.models.HRCAM`.
    names
        Any of :data:`ALL_METHODS`.
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
    names = list(names)
    unknown = [n for n in names if n not in ALL_METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(ALL_METHODS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"methods must not repeat, got {names}")
    own = hrcam_methods(model, [n for n in names if n in HRCAM_METHODS], workers=workers)
    out: dict[str, SaliencyMethod] = {}
    for n in names:
        if n in HIRES_METHODS:
            from hrcam.hires_baselines import hires_method

            out[n] = hires_method(model, n)
            continue
        out[n] = (
            own[n] if n in own else gradcam_method(model.classifier, n, None, score_cam_batch_size)
        )
    return out
