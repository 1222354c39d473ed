"""Batch norm, ReLU and convolution folded into one pass, for the expansion network's inference.

An eval-mode ``BatchNorm2d -> ReLU -> Conv2d`` layer of the dense blocks
(:mod:`hrcam.models.expansion`) is computed as a convolution of the raw input with the
normalisation folded into its weights, where that is as accurate as the two-pass form
(:func:`_fold_is_accurate`); :func:`_norm_relu_conv` runs either form.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

# bfloat16 has float32's exponent range, so the folded clamp bounds (-b / a) cannot overflow
# it; float16's narrow range can, and float16 keeps the direct two-pass form.
_FOLDABLE = (torch.float32, torch.float64, torch.bfloat16)
# The fold convolves the raw input (about |mean| + std in size) where the two-pass form
# convolves the normalised one (about std): in bfloat16 its rounding error grows by about
# 1 + |mean| / std. Up to this ratio (2 for post-ReLU features, ~1.3) the fold stays within a
# few times the two-pass form's error; beyond it the layer takes the two-pass form.
_BF16_FOLD_MAX_MEAN_OVER_STD = 2.0


def _fold_is_accurate(norm: nn.BatchNorm2d, dtype: torch.dtype) -> bool:
    """Whether folding ``norm`` is safe in ``dtype``: never in float16, always above 16 bits."""
    if dtype not in _FOLDABLE:
        return False
    if dtype != torch.bfloat16:
        return True
    with torch.no_grad():
        std = torch.sqrt(norm.running_var.float() + norm.eps)
        ratio = (norm.running_mean.float().abs() / std).max()
    return bool(ratio <= _BF16_FOLD_MAX_MEAN_OVER_STD)


def _fold_or_none(
    norm: nn.BatchNorm2d, conv: nn.Conv2d, size: tuple[int, int], dtype: torch.dtype
) -> _Folded | None:
    if not _fold_is_accurate(norm, dtype):
        return None
    return _fold_norm_relu_conv(norm, conv, size, dtype)


class _Folded(NamedTuple):
    """An eval-mode BatchNorm + ReLU folded into the following bias-free conv."""

    lower: torch.Tensor  # (1, C, 1, 1) clamp bounds
    upper: torch.Tensor
    weight: torch.Tensor  # conv weight scaled by the BatchNorm's per-channel factor
    bias: torch.Tensor  # (O,) the constant map's value away from the border
    border: torch.Tensor  # (1, O, H, W) what the zero padding changes; zero inside
    reach: tuple[int, int]  # rows and columns from the border where ``border`` may be non-zero
    one_sided: bool  # every ``upper`` is +inf (no negative or zero BatchNorm scale)


def _fold_norm_relu_conv(
    norm: nn.BatchNorm2d, conv: nn.Conv2d, size: tuple[int, int], dtype: torch.dtype
) -> _Folded:
    """Fold ``conv(relu(norm(x)))`` into ``conv_w'(clamp(x, lower, upper)) + offset``.

    See :func:`_norm_relu_conv`. The offset (the conv of the constant per-channel map,
    zero-padded) is the conv bias ``bias`` everywhere but within the padding's reach of the
    border, where ``border`` holds the difference.
    """
    # A bfloat16 network's fold is worked out in float32 and rounded once at the end.
    work = torch.promote_types(conv.weight.dtype, torch.float32)
    with torch.no_grad(), torch.autocast(conv.weight.device.type, enabled=False):
        gain, beta = norm.weight.to(work), norm.bias.to(work)
        mean, var = norm.running_mean.to(work), norm.running_var.to(work)
        kernel = conv.weight.to(work)
        scale = gain * torch.rsqrt(var + norm.eps)
        shift = beta - mean * scale
        positive, negative = scale > 0, scale < 0
        bound = -shift / torch.where(scale == 0, torch.ones_like(scale), scale)
        infinity = torch.full_like(bound, float("inf"))
        zero = torch.zeros_like(bound)
        lower = torch.where(positive, bound, torch.where(negative, -infinity, zero))
        upper = torch.where(negative, bound, torch.where(positive, infinity, zero))
        offset = torch.where(scale == 0, shift.clamp(min=0), shift)
        weight = kernel * scale.view(1, -1, 1, 1)
        taps = (kernel * offset.view(1, -1, 1, 1)).sum(dim=1, keepdim=True)
        ones = torch.ones((1, 1, *size), dtype=dtype, device=conv.weight.device)
        offset_map = F.conv2d(
            ones.to(work), taps, None, conv.stride, conv.padding, conv.dilation
        ).to(dtype)
        # Beyond the padding's reach of the border every tap sees a one, so the map is one
        # constant per channel there: take it from such a pixel (the map's centre, when the map
        # has one), so that the result matches the full offset map's everywhere.
        reach = (int(conv.padding[0]), int(conv.padding[1]))
        centre = (min(reach[0], size[0] - 1), min(reach[1], size[1] - 1))
        bias = offset_map[0, :, centre[0], centre[1]].clone()
        border = offset_map - bias.view(1, -1, 1, 1)
        return _Folded(
            lower.to(dtype).view(1, -1, 1, 1).contiguous(),
            upper.to(dtype).view(1, -1, 1, 1).contiguous(),
            weight.to(dtype).contiguous(),
            bias.contiguous(),
            border.contiguous(),
            reach,
            bool(positive.all()),
        )


def _norm_relu_conv(
    x: torch.Tensor,
    norm: nn.BatchNorm2d,
    conv: nn.Conv2d,
    scratch: torch.Tensor,
    out: torch.Tensor,
    folded: _Folded | None = None,
) -> None:
    """Write ``conv(relu(norm(x)))`` (``norm`` in eval mode, ``conv`` bias-free) into ``out``.

    ``scratch`` (contiguous, shaped like ``x``) receives the activated input. In eval mode the
    BatchNorm is ``a * x + b`` per channel, and per channel ``relu(a * x + b)`` equals
    ``a * clamp(x, lo, hi) + b'`` (``lo = -b / a`` when ``a > 0``, ``hi = -b / a`` when
    ``a < 0``; ``b' = relu(b)`` when ``a == 0``). So one clamp pass replaces the affine pass
    and the ReLU pass: ``a`` is folded into the conv weights, and the conv of the constant
    ``b'`` is a fixed map (constant inside, different at the zero-padded border) computed
    from a one-channel image of ones. Its constant goes in as the conv's bias, and only the
    border pixels get a correction. ``folded`` is :func:`_fold_norm_relu_conv` for this
    ``norm``, ``conv`` and map size, computed once; ``None`` takes the direct two-pass form
    (float16, whose range ``-b/a`` can overflow, and ill-conditioned bfloat16 layers).
    """
    if folded is None:
        scale = norm.weight.float() * torch.rsqrt(norm.running_var.float() + norm.eps)
        shift = norm.bias.float() - norm.running_mean.float() * scale
        torch.addcmul(
            shift.to(x.dtype).view(1, -1, 1, 1), x, scale.to(x.dtype).view(1, -1, 1, 1), out=scratch
        )
        out.copy_(conv(scratch.relu_()))
        return
    if folded.one_sided and x.dtype == torch.bfloat16:
        # The same values: torch's bfloat16 clamp with tensor bounds is ~3x slower on CPU than
        # a maximum. float32 keeps the clamp (as fast there), so its outputs stay as they were.
        torch.maximum(x, folded.lower, out=scratch)
    else:
        torch.clamp(x, min=folded.lower, max=folded.upper, out=scratch)
    raw = F.conv2d(
        scratch, folded.weight, folded.bias, conv.stride, conv.padding, conv.dilation, conv.groups
    )
    height, width = raw.shape[-2:]
    top, left = folded.reach
    if 2 * top >= height or 2 * left >= width:
        raw += folded.border
    else:
        for rows, cols in (
            (slice(0, top), slice(None)),
            (slice(height - top, height), slice(None)),
            (slice(top, height - top), slice(0, left)),
            (slice(top, height - top), slice(width - left, width)),
        ):
            raw[..., rows, cols] += folded.border[..., rows, cols]
    out.copy_(raw)
