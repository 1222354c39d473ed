"""Learned upsamplers of the CAM: ``featup_jbu``, a FeatUp-style learned JBU.

The upsampler (:class:`hrcam.models.jbu.JBUUpsampler`, trained by ``hrcam train upsampler``)
is not part of an :class:`~hrcam.models.HRCAM`; the model carries it when built with
:func:`hrcam.models.jbu.with_upsampler`. Building ``featup_jbu`` on a model without one (or
with an untrained one) is an :class:`~hrcam.models.jbu.UpsamplerError` that says how to get
one, so the method is not in the default method list (``default=False``): it runs when named.

Because the upsampler is linear in its source and channel-blind, the map is the classifier's
exact low-res CAM (the FC row of the class on all its K CAM channels) upsampled
(:meth:`~hrcam.models.jbu.JBUUpsampler.upsample_cam`): one channel, not K, and nothing of the
class's weights dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from hrcam.methods.base import MethodMaps, SaliencyMethod, normalize_maps
from hrcam.methods.registry import MethodOptions, register_method

if TYPE_CHECKING:
    import torch

    from hrcam.models import HRCAM

__all__ = ["featup_maps_fn"]


def featup_maps_fn(model: HRCAM) -> Callable[[torch.Tensor, Sequence[int]], MethodMaps]:
    """``fn(images01, targets) -> MethodMaps`` of the learned JBU that ``model`` carries.

    Raises
    ------
    hrcam.models.jbu.UpsamplerError
        When ``model`` carries no upsampler, or an untrained one.
    """
    from hrcam.models.jbu import UpsamplerError

    upsampler = getattr(model, "upsampler", None)
    if upsampler is None:
        raise UpsamplerError(
            # Commands in backticks: the book glues this message as Markdown, where a bare
            # "--" would be typeset as an en-dash and the command could not be copied.
            "featup_jbu needs a trained upsampler: train one for this classifier "
            "(`hrcam train upsampler --classifier CKPT --data DIR --run-dir DIR`), then pass "
            "`--upsampler RUN_DIR/best.pt` to `hrcam evaluate` (in Python: "
            "`hrcam.models.jbu.with_upsampler(model, load_upsampler('RUN_DIR/best.pt'))`)"
        )
    if not bool(upsampler.trained):
        raise UpsamplerError(
            "featup_jbu: the model's upsampler is untrained (`hrcam train upsampler`)"
        )

    def fn(images: torch.Tensor, targets: Sequence[int]) -> MethodMaps:
        import torch

        from hrcam.models import input_stats, normalize_images
        from hrcam.models.cams import low_res_cam

        clf = model.classifier
        mean, std = input_stats(clf)
        x = normalize_images(images.clamp(0.0, 1.0), mean=mean, std=std)
        with torch.no_grad():
            features = clf.forward_features(x).cam_features
            index = torch.as_tensor(list(targets), device=features.device)
            cam = low_res_cam(features.float(), clf.fc.weight.float(), index)
            maps = upsampler.upsample_cam(cam, x.float())
        return MethodMaps(normalize_maps(maps.cpu().numpy()))

    return fn


@register_method(
    "featup_jbu", label="Low-res CAM + learned JBU (FeatUp-style)", family="high-res", default=False
)
def _build_featup_jbu(model: HRCAM, options: MethodOptions) -> SaliencyMethod:
    return SaliencyMethod("featup_jbu", featup_maps_fn(model), 1.0)
