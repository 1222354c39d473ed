"""What every saliency method is: one interface, one map format, and the pixel-space classifier.

Every method has the same interface: ``method(images, targets) -> MethodMaps`` where
``images`` is a float ``(B, 3, H, W)`` batch in [0, 1] (pixel space, not normalised) and
``targets`` holds the class to explain per image. The maps come back at image resolution,
min-max normalised to [0, 1], as float32 numpy arrays.

The methods themselves live beside this module, one family each (:mod:`.paper`,
:mod:`.gradcam`, :mod:`.hires`), registered in :mod:`.registry`; :func:`build_methods` builds
any of them by name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hrcam.core.maps import normalize_batch
from hrcam.methods.registry import (
    MethodOptions,
    get_method,
    method_label,
    method_names,
    runnable_method_names,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

    from hrcam.models import HRCAM, CAMClassifier


__all__ = [
    "MethodMaps",
    "SaliencyMethod",
    "build_methods",
    "normalize_maps",
    "pixel_space_model",
]


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
        Key, a name of the method registry (:mod:`hrcam.methods.registry`) for the built-in
        ones.
    fn
        ``fn(images01, targets) -> MethodMaps``.
    forward_passes
        Rough cost in classifier forward(+backward) passes per image, for documentation.
    num_classes
        The classifier's number of classes, when known: a target outside ``[0, num_classes)``
        is refused before anything runs (:func:`build_methods` sets it).
    """

    name: str
    fn: Callable[[torch.Tensor, Sequence[int]], MethodMaps]
    forward_passes: float = 1.0
    num_classes: int | None = None

    @property
    def label(self) -> str:
        """Human-readable name."""
        return method_label(self.name)

    def __call__(self, images: torch.Tensor, targets: Sequence[int]) -> MethodMaps:
        """Compute maps for ``images`` (float (B, 3, H, W) in [0, 1]) and one class per image."""
        _check_batch(images, targets)
        if self.num_classes is not None:
            bad = [int(t) for t in targets if not 0 <= int(t) < self.num_classes]
            if bad:
                raise ValueError(
                    f"{self.name}: class index {bad[0]} is out of range; the classifier has "
                    f"{self.num_classes} classes (0 to {self.num_classes - 1})"
                )
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
    methods = {n: get_method(n).build(model, options) for n in names}
    num_classes = getattr(getattr(model, "classifier", None), "num_classes", None)
    for method in methods.values():
        if isinstance(num_classes, int) and method.num_classes is None:
            method.num_classes = num_classes
    return methods
