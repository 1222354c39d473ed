"""The paper's augmentation (§4.2): flip, rotation, scale, translation and shear, each p=0.5.

Its settings are one frozen :class:`AugmentConfig`, the only place their defaults live; every
function below takes ``config=`` and/or single fields as keyword overrides
(``augment_batch(images, p=1.0)``).

Two implementations with the same parameters and the same geometry:

* :func:`paper_augmentation` is a ``torchvision.transforms.v2`` transform for one sample
  (or a batch sharing one draw). ``tv_tensors.Image`` and ``tv_tensors.Mask`` passed
  together are transformed together (masks with nearest-neighbour sampling).
* :func:`augment_batch` draws *per-sample* parameters and warps a whole batch with one
  ``grid_sample`` call, on whatever device the batch lives (CPU or CUDA), so data
  augmentation never starves a GPU. Its random draws come from a CPU ``torch.Generator``,
  which makes a run exactly reproducible and resumable on any device.

Each of the five components is switched on independently with probability ``p``. The
ranges follow the reference code: rotation uniform in ``[-rotation, rotation]`` degrees (the
paper just says "rotation"; the code uses 180), scale in ``[0.9, 1.1]``, translation up to
``translate`` times the image size (rounded to whole pixels, as torchvision does) and an
x-shear in ``[-shear, shear]`` degrees. All active affine components are composed into one
warp (one interpolation) using torchvision's affine convention, so ``augment_batch`` with a
given parameter set reproduces ``torchvision.transforms.v2.functional.affine``.
Pixels that come from outside the image are filled with ``fill`` (0, black).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = [  # plus PaperAugmentation, created lazily (see __getattr__)
    "AugmentConfig",
    "apply_augmentation",
    "augment_batch",
    "paper_augmentation",
    "sample_augmentation_params",
]


@dataclass(frozen=True)
class AugmentConfig:
    """The settings of the paper's augmentation; the defaults follow the reference code.

    Parameters
    ----------
    p
        Probability with which each of the five components is switched on, per sample.
    rotation
        Rotation uniform in ``[-rotation, rotation]`` degrees.
    scale
        ``(low, high)`` range of the isotropic scale.
    translate
        Largest shift, as a fraction of the image size (rounded to whole pixels).
    shear
        x-shear uniform in ``[-shear, shear]`` degrees.
    flip
        Allow the horizontal flip at all.
    fill
        Value of the image pixels that come from outside the image.

    Raises
    ------
    ValueError
        For a probability outside ``[0, 1]``, a negative range or an empty scale interval.
    """

    p: float = 0.5
    rotation: float = 180.0
    scale: tuple[float, float] = (0.9, 1.1)
    translate: float = 0.2
    shear: float = 5.0
    flip: bool = True
    fill: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.p) <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {self.p}")
        ranges = (self.rotation, self.shear, self.translate)
        if any(float(value) < 0 for value in ranges):
            raise ValueError(f"rotation, shear and translate must be >= 0, got {ranges}")
        if float(self.translate) > 1:
            raise ValueError(
                f"translate is a fraction of the image size in [0, 1], got {self.translate}"
            )
        scale = self.scale
        if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
            raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {scale}")
        # A tuple (not the caller's list), so that the frozen config stays hashable.
        object.__setattr__(self, "scale", tuple(scale))


def _settings(config: AugmentConfig | None, overrides: dict[str, Any]) -> AugmentConfig:
    """``config`` (default: :class:`AugmentConfig`) with single fields replaced."""
    if config is not None and not isinstance(config, AugmentConfig):
        raise ValueError(f"config must be an AugmentConfig, got {type(config).__name__}")
    base = config if config is not None else AugmentConfig()
    if not overrides:
        return base
    known = {f.name for f in dataclasses.fields(AugmentConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(
            f"unknown augmentation setting(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    return dataclasses.replace(base, **overrides)


def sample_augmentation_params(
    batch_size: int,
    height: int,
    width: int,
    generator: Any = None,
    config: AugmentConfig | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Draw per-sample augmentation parameters on the CPU.

    Parameters
    ----------
    batch_size, height, width
        How many samples, and their image size (translations are whole pixels).
    generator : torch.Generator, optional
        A CPU generator to draw from (default: torch's global one).
    config
        The settings (default: :class:`AugmentConfig`); ``fill`` is not used here.
    **overrides
        Single :class:`AugmentConfig` fields to change, e.g. ``p=1.0``.

    Returns
    -------
    dict of CPU tensors, each of length ``batch_size``
        ``flip`` (bool), ``angle`` (deg), ``scale``, ``tx``, ``ty`` (pixels, integers),
        ``shear`` (deg, x-shear). Inactive components hold their identity value.
    """
    import torch

    settings = _settings(config, overrides)
    p, rotation, scale = settings.p, settings.rotation, settings.scale
    translate, shear = settings.translate, settings.shear
    n = int(batch_size)
    # One fixed-size draw per component, whatever is active: the generator advances by the
    # same amount every batch, which keeps resumed runs in lockstep.
    on = torch.rand(5, n, generator=generator) < p
    u = torch.rand(5, n, generator=generator, dtype=torch.float64)
    angle = (u[0] * 2 - 1) * rotation
    scl = scale[0] + u[1] * (scale[1] - scale[0])
    tx = torch.round((u[2] * 2 - 1) * translate * width)
    ty = torch.round((u[3] * 2 - 1) * translate * height)
    sh = (u[4] * 2 - 1) * shear
    return {
        "flip": on[0] & bool(settings.flip),
        "angle": torch.where(on[1], angle, 0.0),
        "scale": torch.where(on[2], scl, 1.0),
        "tx": torch.where(on[3], tx, 0.0),
        "ty": torch.where(on[3], ty, 0.0),
        "shear": torch.where(on[4], sh, 0.0),
    }


def _inverse_matrices(params: dict[str, Any]) -> Any:
    """(B,2,3) float64 inverse affine matrices, torchvision's convention (centre origin)."""
    import torch

    rot = torch.deg2rad(params["angle"].double())
    sx = torch.deg2rad(params["shear"].double())
    scale = params["scale"].double()
    tx, ty = params["tx"].double(), params["ty"].double()
    # RotateScaleShear = R(a) S(s) SHx(sx) (torchvision, y-shear 0); its inverse, see
    # torchvision.transforms.functional._get_inverse_affine_matrix.
    a = torch.cos(rot)
    b = -torch.cos(rot) * torch.tan(sx) - torch.sin(rot)
    c = torch.sin(rot)
    d = -torch.sin(rot) * torch.tan(sx) + torch.cos(rot)
    m = torch.stack([d, -b, torch.zeros_like(a), -c, a, torch.zeros_like(a)], dim=1)
    m = m / scale[:, None]
    m[:, 2] = m[:, 0] * (-tx) + m[:, 1] * (-ty)
    m[:, 5] = m[:, 3] * (-tx) + m[:, 4] * (-ty)
    return m.view(-1, 2, 3)


def apply_augmentation(
    images: Any,
    params: dict[str, Any],
    masks: Any = None,
    fill: float = 0.0,
    interpolation: str = "bilinear",
) -> tuple[Any, Any]:
    """Warp a batch with given per-sample parameters (see :func:`sample_augmentation_params`).

    Parameters
    ----------
    images : Tensor (B, C, H, W)
        uint8 or floating point, on any device. The output has the same dtype and device.
    params : dict
        Per-sample parameters.
    masks : Tensor (B, H, W) or (B, 1, H, W), optional
        Warped with nearest-neighbour sampling; outside pixels become 0.
    fill : float
        Value for image pixels that come from outside the image.
    interpolation : {"bilinear", "nearest"}
        Image sampling mode.
    """
    import torch
    import torch.nn.functional as F

    if not torch.is_tensor(images) or images.ndim != 4:
        got = getattr(images, "shape", type(images).__name__)
        raise ValueError(f"images must be a (B, C, H, W) tensor, got {got}")
    bsz, _, h, w = images.shape
    if len(params["angle"]) != bsz:
        raise ValueError(f"params are for {len(params['angle'])} samples, images has {bsz}")
    device = images.device
    dtype = images.dtype if images.is_floating_point() else torch.float32
    theta = _inverse_matrices(params)
    # Same grid as torchvision's _affine_grid: pixel centres relative to the image centre,
    # mapped through the inverse matrix, normalised for align_corners=False.
    xs = torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, w, dtype=torch.float64)
    ys = torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, h, dtype=torch.float64)
    base = torch.stack(
        [xs[None, :].expand(h, w), ys[:, None].expand(h, w), torch.ones(h, w, dtype=torch.float64)],
        dim=-1,
    ).view(1, h * w, 3)
    grid = base.to(device).expand(bsz, -1, -1).bmm(theta.to(device).transpose(1, 2))
    grid = grid / torch.tensor([0.5 * w, 0.5 * h], dtype=torch.float64, device=device)
    # flip happens first: sample the flipped image, i.e. negate the source x coordinate
    flip = params["flip"].to(device)
    grid[..., 0] = torch.where(flip[:, None], -grid[..., 0], grid[..., 0])
    grid = grid.view(bsz, h, w, 2).to(dtype)

    x = images.to(dtype)
    if fill != 0:
        # warp an all-ones channel too, to know which pixels came from outside
        x = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
    out = F.grid_sample(x, grid, mode=interpolation, padding_mode="zeros", align_corners=False)
    if fill != 0:
        out, inside = out[:, :-1], out[:, -1:]
        out = out + (1.0 - inside) * fill
    if not images.is_floating_point():
        info = torch.iinfo(images.dtype)
        out = out.round_().clamp_(info.min, info.max).to(images.dtype)
    warped_masks = None
    if masks is not None:
        squeeze = masks.ndim == 3
        m = masks[:, None] if squeeze else masks
        if m.shape[0] != bsz or m.shape[-2:] != (h, w):
            raise ValueError(f"masks must be (B, H, W) matching images, got {tuple(masks.shape)}")
        m = m.to(device=device, dtype=dtype)
        wm = F.grid_sample(m, grid, mode="nearest", align_corners=False)
        wm = wm.to(masks.dtype) if not masks.is_floating_point() else wm
        warped_masks = wm[:, 0] if squeeze else wm
    return out, warped_masks


def augment_batch(
    images: Any,
    masks: Any = None,
    generator: Any = None,
    config: AugmentConfig | None = None,
    **overrides: Any,
) -> tuple[Any, Any]:
    """Apply the paper's augmentation to a batch, with independent draws per sample.

    Parameters
    ----------
    images : Tensor (B, C, H, W)
        uint8 or float, CPU or CUDA; output keeps dtype and device.
    masks : Tensor (B, H, W) or (B, 1, H, W), optional
        Transformed with the same parameters (nearest neighbour).
    generator : torch.Generator, optional
        A **CPU** generator; the same generator state gives the same output on any device.
    config
        The settings (default: :class:`AugmentConfig`).
    **overrides
        Single :class:`AugmentConfig` fields to change, e.g. ``p=1.0``.

    Returns
    -------
    (images, masks)
        ``masks`` is ``None`` when none were given.
    """
    import torch

    if not torch.is_tensor(images) or images.ndim != 4:
        got = getattr(images, "shape", type(images).__name__)
        raise ValueError(f"images must be a (B, C, H, W) tensor, got {got}")
    if generator is not None and generator.device.type != "cpu":
        raise ValueError("generator must be a CPU torch.Generator (parameters are drawn on CPU)")
    settings = _settings(config, overrides)
    b, _, h, w = images.shape
    params = sample_augmentation_params(b, h, w, generator, settings)
    return apply_augmentation(images, params, masks=masks, fill=settings.fill)


def _make_transform_class() -> type:
    from torchvision.transforms import v2
    from torchvision.transforms.v2 import functional as F

    class _PaperAugmentation(v2.Transform):
        """torchvision v2 transform: the paper's augmentation with one draw per call."""

        def __init__(self, config: AugmentConfig | None = None, **overrides: Any) -> None:
            super().__init__()
            self.config = _settings(config, overrides)

        def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
            from torchvision.transforms.v2._utils import query_size

            h, w = query_size(flat_inputs)
            prm = sample_augmentation_params(1, h, w, None, self.config)
            return {k: v[0].item() for k, v in prm.items()}

        def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
            if params["flip"]:
                inpt = F.horizontal_flip(inpt)
            if (params["angle"], params["scale"], params["tx"], params["ty"], params["shear"]) == (
                0.0,
                1.0,
                0.0,
                0.0,
                0.0,
            ):
                return inpt
            return F.affine(
                inpt,
                angle=params["angle"],
                translate=[params["tx"], params["ty"]],
                scale=params["scale"],
                shear=[params["shear"], 0.0],
                interpolation=v2.InterpolationMode.BILINEAR,
                fill=self.config.fill,
            )

    _PaperAugmentation.__name__ = "PaperAugmentation"
    _PaperAugmentation.__qualname__ = "PaperAugmentation"
    return _PaperAugmentation


_CLASS_CACHE: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    # Build the torchvision-backed class lazily so importing hrcam.data stays torch-free.
    if name == "PaperAugmentation":
        if name not in _CLASS_CACHE:
            _CLASS_CACHE[name] = _make_transform_class()
        return _CLASS_CACHE[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def paper_augmentation(config: AugmentConfig | None = None, **overrides: Any) -> Any:
    """Build the paper's augmentation as a ``torchvision.transforms.v2.Compose``.

    Call it on a ``tv_tensors.Image`` (and ``tv_tensors.Mask`` / ``BoundingBoxes``) or a dict
    of them; all are transformed with the same random draw. Uses torch's global RNG.

    Parameters
    ----------
    config
        The settings (default: :class:`AugmentConfig`).
    **overrides
        Single :class:`AugmentConfig` fields to change, e.g. ``p=1.0``.
    """
    from torchvision.transforms import v2

    cls = __getattr__("PaperAugmentation")
    return v2.Compose([cls(_settings(config, overrides))])
