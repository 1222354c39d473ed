"""grad-cam's baselines at the CAM head: Grad-CAM, Grad-CAM++, LayerCAM, Score-CAM and SESS.

They come from the ``grad-cam`` package (``pytorch_grad_cam``), not reimplemented. Their target
layer is the classifier's CAM head (``classifier.cam_relu``, the head's ReLU module, whose
output is exactly the CAM features f_k) at the resolution of the low-res CAM. On a GAP + FC
head the gradient of class c at that layer is w_k^c / (h w) everywhere, so Grad-CAM there *is*
relu(CAM), resized (Selvaraju et al. 2017, §3.1; checked in the tests to float32 rounding),
which is the fair comparison. The head has only ``k`` (16) channels, so Score-CAM costs ``k``
forward passes per image here rather than the ~1000 it needs on DenseNet-121's last block.
"""

from __future__ import annotations

import contextlib
import functools
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hrcam.methods.base import MethodMaps, SaliencyMethod, normalize_maps, pixel_space_model
from hrcam.methods.registry import MethodOptions, family_entry, register_gradient_method

if TYPE_CHECKING:
    import torch
    from torch import nn

    from hrcam.models import HRCAM, CAMClassifier


__all__ = [
    "gradcam_method",
]


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
    method's (:data:`~hrcam.methods.registry.GRADIENT_COST`).
    """
    register_gradient_method(name, label, "grad-cam", _GradCAMBuilder(name, cam_class), **cost)


# One line per grad-cam method. Score-CAM runs one forward pass per channel of its target
# layer, so an evaluation runs it on its first images only (image cap ``per_channel``).
_register_gradcam("gradcam", "GradCAM", "Grad-CAM")
_register_gradcam("gradcam++", "GradCAMPlusPlus", "Grad-CAM++")
_register_gradcam("layercam", "LayerCAM", "LayerCAM")
_register_gradcam(
    "scorecam",
    "ScoreCAM",
    "Score-CAM",
    forward_passes=None,
    needs_gradients=False,
    image_cap="per_channel",
)
# SESS (Tyagi et al. 2022): Grad-CAM of sliding windows over 12 upscaled copies of the image,
# fused. With its defaults that is about 120 windows, each scored (1 pass) and explained (2.5),
# so it runs only when named (default=False): far too slow for a default evaluation.
_register_gradcam(
    "sess", "SESS", "SESS (Grad-CAM, multi-scale)", forward_passes=420.0, default=False
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
    entry = family_entry(name, "grad-cam", "grad-cam method")
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
