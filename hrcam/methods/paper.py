"""The paper's maps: the bilinear low-res CAM, the raw high-res CAM and both refined presets.

* the bilinear-resized low-res CAM (the classifier alone);
* the raw high-res CAM (classifier and expansion network);
* the refined CAM with the ``paper`` and ``reference`` post-processing presets, exactly as
  :class:`hrcam.explain.Explainer` produces it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from hrcam.methods.base import MethodMaps, SaliencyMethod, normalize_maps
from hrcam.methods.registry import MethodOptions, get_method, method_names, register_method

if TYPE_CHECKING:
    import torch

    from hrcam.models import HRCAM


__all__ = [
    "hrcam_methods",
]


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


def low_res_tensor(model: HRCAM, images: torch.Tensor, targets: Sequence[int]) -> torch.Tensor:
    """Low-res CAMs ``(B, h, w)`` of [0, 1] ``images``, on the classifier's device, no gradient.

    Only ``model.classifier`` is used, so any holder of a classifier will do.
    """
    import torch

    from hrcam.models import input_stats, low_res_cam, normalize_images

    clf = model.classifier
    mean, std = input_stats(clf)  # a wrapped model's own normalisation
    x = normalize_images(images.clamp(0.0, 1.0), mean=mean, std=std)
    with torch.no_grad():
        out = clf.forward_features(x)
        return low_res_cam(out.cam_features, clf.fc.weight, list(targets))


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


@register_method("high_res_cam", label="High-res CAM (raw)", family="hrcam", needs_expansion=True)
def _build_high_res(model: HRCAM, options: MethodOptions) -> SaliencyMethod:
    return SaliencyMethod("high_res_cam", _high_res_fn(model), 1.0)


@register_method("refined_paper", label="Refined CAM (paper)", family="hrcam", needs_expansion=True)
def _build_refined_paper(model: HRCAM, options: MethodOptions) -> SaliencyMethod:
    return SaliencyMethod("refined_paper", _refined_fn(model, "paper", options.workers), 1.0)


@register_method(
    "refined_reference", label="Refined CAM (reference)", family="hrcam", needs_expansion=True
)
def _build_refined_reference(model: HRCAM, options: MethodOptions) -> SaliencyMethod:
    fn = _refined_fn(model, "reference", options.workers)
    return SaliencyMethod("refined_reference", fn, 1.0)
