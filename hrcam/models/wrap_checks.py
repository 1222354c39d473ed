"""The checks behind :func:`hrcam.models.wrap_classifier`: GAP + linear, same logits.

GAP-ness is decided by what the pooling is (timm's ``pool_type``; the fx graph's pooling node
in :mod:`hrcam.models.wrap`), and the logits are compared where the final map is at least
2x2, since on a 1x1 map a max (or any) pooling equals the mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from hrcam.errors import HrcamError

__all__ = [
    "ProbeFailed",
    "check_logits",
    "check_stats",
    "check_timm_pool",
    "final_stride",
    "probe_failed",
    "refuse",
]

_TOLERANCE = 1e-4  # relative: wrapped logits vs the model's own, checked once when wrapping


def refuse(model: nn.Module, why: str) -> HrcamError:
    """Return the refusal to wrap ``model``: ``why``, and what hrcam needs instead."""
    return HrcamError(
        f"cannot wrap {type(model).__name__}: {why}. hrcam needs a classifier whose output is "
        "one nn.Linear applied to the global average of a 4-D feature map (GAP + linear: "
        "ResNet, DenseNet, EfficientNet, MobileNetV2, RegNet ...), because only then does the "
        "class activation map add up to the logit"
    )


_AVERAGE_POOLS = frozenset({"avg", "fast", "fastavg"})  # timm's global average pool types


def check_timm_pool(model: nn.Module) -> None:
    """Refuse a timm model whose global pooling is not an average (max, avgmax, none)."""
    pool = getattr(model, "global_pool", None)
    if isinstance(pool, str):  # timm's transformers name their token pooling so
        raise refuse(
            model,
            f"it pools a sequence of tokens (global_pool={pool!r}), not a 4-D feature map: it "
            "is a transformer, which has no class activation map of this kind",
        )
    if not isinstance(pool, nn.Module):
        pool = getattr(getattr(model, "head", None), "global_pool", None)
    kind = getattr(pool, "pool_type", None)
    if not isinstance(kind, str) or kind in _AVERAGE_POOLS:
        return
    what = "no global pooling" if not kind else f"{kind!r} global pooling"
    raise refuse(
        model,
        f"it has {what} (timm global_pool={kind!r}), not an average; create it with "
        "global_pool='avg'",
    )


def final_stride(model: nn.Module, probe_size: int, side: int) -> int:
    """Return the final map's stride: timm's recorded reduction, else probe size / map size."""
    info = getattr(model, "feature_info", None)
    try:
        stride = int(info[-1]["reduction"])  # type: ignore[index]
    except (TypeError, KeyError, IndexError, ValueError):
        stride = probe_size // max(side, 1)
    if probe_size % stride or probe_size // stride != side:
        raise HrcamError(
            f"probe_size {probe_size} is not a multiple of the model's stride {stride} (its final "
            f"map is {side}x{side}); pass a multiple such as {2 * stride}"
        )
    return stride


def probe_failed(model: nn.Module, size: int, exc: BaseException) -> ProbeFailed:
    """Return the refusal for a failing dummy input: the root cause's first line, what to try."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return ProbeFailed(
        str(
            refuse(
                model,
                f"it fails on a {size}x{size} dummy input ({type(exc).__name__}: {first}); if "
                "the model needs larger inputs, pass a larger probe_size (a multiple of its "
                "stride)",
            )
        )
    )


class ProbeFailed(HrcamError):
    """The model failed on the dummy input (too small for it, or another size it refuses)."""


def check_logits(
    model: nn.Module,
    wrapped: Any,
    image_size: int,
    device: torch.device,
    dtype: torch.dtype,
) -> None:
    """Refuse ``model`` unless ``wrapped`` reproduces its logits on an ``image_size`` input."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, image_size, image_size, generator=generator).to(device, dtype)
    with torch.no_grad():
        native = model(x)
        try:
            out = wrapped.forward_features(x)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise refuse(
                model, f"its linear layer does not take the average of its final map ({first})"
            ) from None
    ours, side = out.logits, int(out.cam_features.shape[-1])
    if side * wrapped.stride != image_size:
        raise refuse(
            model,
            f"its final map is {side}x{side} for a {image_size}-px input, not the input divided "
            f"by its stride {wrapped.stride} (a model of unpadded convolutions, such as "
            "Inception, has no whole stride)",
        )
    if not isinstance(native, torch.Tensor) or native.shape != ours.shape:
        raise refuse(model, f"its output {getattr(native, 'shape', type(native))} is not logits")
    error = float((native - ours).abs().max())
    scale = float(native.abs().max()) + 1e-6
    if error > _TOLERANCE * scale:
        raise refuse(
            model,
            f"the linear layer applied to the average of its final map gives logits that differ "
            f"from model(x) by {error:.3g} (something else runs between them, e.g. a norm "
            "layer or an MLP head)",
        )


def check_stats(name: str, value: Sequence[float]) -> tuple[float, ...]:
    """Return ``mean`` or ``std`` as 3 floats (one per RGB channel); ``std`` positive."""
    values = tuple(float(v) for v in value)
    if len(values) != 3:
        raise HrcamError(f"{name} must have 3 values (one per RGB channel), got {value!r}")
    if name == "std" and min(values) <= 0:
        raise HrcamError(f"std must be positive, got {value!r}")
    return values
