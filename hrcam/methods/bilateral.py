r"""Joint bilateral upsampling of the low-res CAM as Kopf et al. (SIGGRAPH 2007) define it.

``cam_jbu`` computes each output pixel from the few *low-resolution* samples around it, not
from a full-resolution neighbourhood of the bilinearly enlarged CAM (that is OpenCV's joint
bilateral *filter*, ``cam_bilateral`` in :mod:`hrcam.methods.hires`). For an output pixel
``p`` at low-res position ``p↓`` (in sample units) and the samples ``q`` of the
``(2 r + 1)²`` window around the sample whose cell holds ``p``:

.. math::

   \tilde S(p) = \frac{\sum_q S(q)\, f(\lVert p↓ - q \rVert)\, g(\lVert I(p) - \bar I(q)
   \rVert)}{\sum_q f(\lVert p↓ - q \rVert)\, g(\lVert I(p) - \bar I(q) \rVert)}

with ``S`` the low-res CAM on its own grid, ``f`` a Gaussian of width ``sigma_spatial`` in
low-res samples, ``g`` a Gaussian of width ``sigma_range`` on RGB in [0, 1], ``I(p)`` the
guide's colour at ``p`` and ``Ī(q)`` the guide averaged over sample ``q``'s cell. Samples
outside the grid take no part. About 25 terms per output pixel (r = 2), against OpenCV's
~4,000 at stride 32.

The settings are fixed by that rule before any measurement (:data:`KOPF_DEFAULTS`) and are
not tuned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from hrcam.methods.base import MethodMaps, SaliencyMethod, normalize_maps
from hrcam.methods.registry import MethodOptions, register_method

if TYPE_CHECKING:
    import torch

    from hrcam.models import HRCAM

__all__ = ["KOPF_DEFAULTS", "jbu_maps_fn", "joint_bilateral_upsample"]

KOPF_DEFAULTS: dict[str, float] = {"radius": 2, "sigma_spatial": 1.0, "sigma_range": 0.1}
"""Window radius (samples), spatial width (low-res samples) and range width (RGB in [0, 1]) of
``cam_jbu``: a 5×5 window of samples, one sample's spacing, the guided filter's 0.1."""

# Weights computed at once, at most (floats); larger batches are split into groups of images,
# so a 448-px batch of 32 never holds the ~160M-float weight tensor in memory at once.
_CHUNK_FLOATS = 1 << 24


def joint_bilateral_upsample(
    source: torch.Tensor,
    guide: torch.Tensor,
    *,
    radius: int = int(KOPF_DEFAULTS["radius"]),
    sigma_spatial: float = KOPF_DEFAULTS["sigma_spatial"],
    sigma_range: float = KOPF_DEFAULTS["sigma_range"],
) -> torch.Tensor:
    """Upsample low-res maps to the guide's size by joint bilateral upsampling (Kopf et al.).

    Parameters
    ----------
    source
        ``(B, h, w)`` or ``(B, C, h, w)`` low-resolution maps.
    guide
        ``(B, G, H, W)`` guide image (RGB in [0, 1] for the default ``sigma_range``) with
        ``H`` a multiple of ``h`` and ``W`` a multiple of ``w``: the stride is ``H // h``
        (rows) and ``W // w`` (columns).
    radius
        The window holds the ``(2 radius + 1)²`` samples around the sample whose cell holds
        the output pixel.
    sigma_spatial
        Width of the spatial Gaussian, in low-res samples.
    sigma_range
        Width of the range Gaussian on the Euclidean colour distance between the output
        pixel's guide colour and each sample's cell-averaged guide colour.

    Returns
    -------
    torch.Tensor
        ``(B, H, W)`` or ``(B, C, H, W)`` (as ``source``), on ``source``'s device with its
        dtype (half precision is computed in float32 and cast back).

    Raises
    ------
    ValueError
        Shapes that do not fit (batch, a size the stride does not divide) or non-positive
        settings.
    """
    import torch

    squeeze = source.dim() == 3
    src = source.unsqueeze(1) if squeeze else source
    if src.dim() != 4 or guide.dim() != 4 or guide.shape[0] != src.shape[0]:
        raise ValueError(
            f"source must be (B, h, w) or (B, C, h, w) and guide (B, G, H, W) with the same B, "
            f"got {tuple(source.shape)} and {tuple(guide.shape)}"
        )
    (b, _, h, w), (H, W) = src.shape, guide.shape[-2:]
    if h < 1 or w < 1 or H % h or W % w:
        raise ValueError(
            f"the guide's size {H}x{W} must be a multiple of the source's {h}x{w} "
            "(an image size the classifier's stride divides)"
        )
    if radius < 0 or sigma_spatial <= 0 or sigma_range <= 0:
        raise ValueError(
            f"radius must be >= 0 and both sigmas > 0, got {radius}, {sigma_spatial}, {sigma_range}"
        )
    dtype = source.dtype if source.dtype in (torch.float32, torch.float64) else torch.float32
    src = src.to(dtype)
    guide = guide.to(device=src.device, dtype=dtype)
    per_image = H * W * (2 * radius + 1) ** 2  # the log-weights, the largest tensor
    step = max(1, _CHUNK_FLOATS // per_image)
    settings = (radius, sigma_spatial, sigma_range)
    parts = [
        _upsample_chunk(src[i : i + step], guide[i : i + step], *settings)
        for i in range(0, b, step)
    ]
    out = torch.cat(parts) if len(parts) > 1 else parts[0]
    out = out.to(source.dtype)
    return out[:, 0] if squeeze else out


# A sample off the grid gets this logit: exp() of it is 0, and unlike -inf it gives no NaN
# in the matrix product (0 * -inf).
_OFF_GRID = -1e30


def _upsample_chunk(
    src: torch.Tensor,
    guide: torch.Tensor,
    radius: int,
    sigma_spatial: float,
    sigma_range: float,
) -> torch.Tensor:
    """:func:`joint_bilateral_upsample` of a ``(B, C, h, w)`` source and ``(B, G, H, W)`` guide.

    The log-weight of pixel ``p`` (at offset ``f`` from its cell's sample, in samples) and
    window sample ``q`` (at offset ``d``) is, up to terms that depend on ``p`` alone and so
    cancel in the normalisation:

    ``I(p)·Ī(q) / σr²  -  |Ī(q)|² / 2σr²  +  f·d / σs²  -  |d|² / 2σs²``

    that is the product of a per-sample row ``[Ī(q) / σr², d / σs², -|Ī(q)|² / 2σr² - |d|² /
    2σs²]`` and a per-pixel column ``[I(p), f, 1]``: one batched matrix product
    gives every pixel's ``(2r+1)²`` log-weights. The largest is subtracted before ``exp``
    (so a pixel whose colour is far from all its samples' keeps finite weights), and a
    second product with ``[S(q), 1]`` gives the weighted sum and the normaliser at once.
    """
    import torch
    import torch.nn.functional as F

    (b, c, h, w), (g, H, W) = src.shape, guide.shape[1:]
    sy, sx, k = H // h, W // w, 2 * radius + 1
    dtype, device = src.dtype, src.device
    # Per pixel, a column: its colour, its offset from its cell's sample, and 1.
    colours = guide.reshape(b, g, h, sy, w, sx).permute(0, 2, 4, 1, 3, 5)  # (B, h, w, G, sy, sx)
    fy = (torch.arange(sy, device=device, dtype=dtype) + 0.5) / sy - 0.5
    fx = (torch.arange(sx, device=device, dtype=dtype) + 0.5) / sx - 0.5
    where = torch.stack(torch.broadcast_tensors(fy[:, None], fx[None, :], fy.new_ones(1, 1)))
    pixels = torch.cat([colours, where.expand(b, h, w, 3, sy, sx)], dim=3)
    pixels = pixels.reshape(b, h * w, g + 3, sy * sx)
    # Per window sample (row offset, then column offset: unfold's order), a row.
    cells = F.avg_pool2d(guide, (sy, sx))  # each sample's mean colour
    means = F.unfold(cells, k, padding=radius).view(b, g, k * k, h * w).permute(0, 3, 2, 1)
    offsets = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    dy, dx = (t.reshape(-1) for t in torch.meshgrid(offsets, offsets, indexing="ij"))
    inside = F.unfold(src.new_ones(1, 1, h, w), k, padding=radius).view(k * k, h * w).t() > 0
    bias = -(means**2).sum(3) / (2 * sigma_range**2) - (dy**2 + dx**2) / (2 * sigma_spatial**2)
    bias = bias.masked_fill(~inside, _OFF_GRID)  # (B, hw, k²)
    spatial = torch.stack([dy, dx], dim=1).div(sigma_spatial**2).expand(b, h * w, k * k, 2)
    samples = torch.cat([means / sigma_range**2, spatial, bias[..., None]], dim=3)
    # The window on the second-to-last axis: the reductions over it run along contiguous
    # pixels, several times faster than over 25-long rows.
    logits = torch.matmul(samples, pixels)  # (B, hw, k², sy*sx)
    logits -= logits.amax(dim=2, keepdim=True)
    # A weight below e^-80 of the largest (2e-35) is raised to it: nothing at float precision,
    # and exp() of the far tail would make subnormal floats, many times slower to compute.
    weights = logits.clamp_(min=-80.0).exp_()
    values = F.unfold(src, k, padding=radius).view(b, c, k * k, h * w).permute(0, 3, 1, 2)
    values = torch.cat([values, values.new_ones(b, h * w, 1, k * k)], dim=2)
    sums = torch.matmul(values, weights)  # (B, hw, C+1, sy*sx): weighted sums, normaliser
    out = (sums[:, :, :c] / sums[:, :, c:]).reshape(b, h, w, c, sy, sx)
    return out.permute(0, 3, 1, 4, 2, 5).reshape(b, c, H, W)


def jbu_maps_fn(
    model: HRCAM, **settings: float
) -> Callable[[torch.Tensor, Sequence[int]], MethodMaps]:
    """``fn(images01, targets) -> MethodMaps`` of ``cam_jbu`` on ``model``'s classifier.

    Parameters
    ----------
    model
        Anything with a ``classifier`` (an :class:`~hrcam.models.HRCAM`, or a bare classifier
        holder): the expansion network is not used.
    **settings
        ``radius``, ``sigma_spatial``, ``sigma_range`` (default :data:`KOPF_DEFAULTS`).
    """
    unknown = set(settings) - set(KOPF_DEFAULTS)
    if unknown:
        raise ValueError(f"cam_jbu takes no options {sorted(unknown)}")
    kwargs = {**KOPF_DEFAULTS, **settings}
    kwargs["radius"] = int(kwargs["radius"])

    def fn(images: torch.Tensor, targets: Sequence[int]) -> MethodMaps:
        from hrcam.methods.paper import low_res_tensor

        guide = images.clamp(0.0, 1.0)
        low = low_res_tensor(model, guide, targets)
        maps = joint_bilateral_upsample(low.float(), guide.to(low.device).float(), **kwargs)
        return MethodMaps(normalize_maps(maps.cpu().numpy().astype(np.float32)))

    return fn


@register_method(
    "cam_jbu", label="Low-res CAM + joint bilateral upsampling (Kopf)", family="high-res"
)
def _build_cam_jbu(model: HRCAM, options: MethodOptions) -> SaliencyMethod:
    return SaliencyMethod("cam_jbu", jbu_maps_fn(model), 1.0)
