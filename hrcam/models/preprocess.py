"""Image normalisation: uint8 or [0, 1] images ↔ the ImageNet-normalised model input."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "denormalize_images",
    "input_stats",
    "normalize_images",
]

# torchvision's ImageNet statistics, so that torchvision's pretrained weights see what they expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_TOLERANCE = 1e-4  # resampling can overshoot [0, 1] by rounding errors


def input_stats(model: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(mean, std)`` a model expects its [0, 1] input normalised with.

    A classifier wrapped by :func:`hrcam.models.wrap_classifier` stores its own
    (``input_mean``, ``input_std``); an :class:`~hrcam.models.HRCAM` answers for its
    classifier; anything else gets torchvision's ImageNet statistics.
    """
    model = getattr(model, "classifier", model)
    mean = getattr(model, "input_mean", None)
    std = getattr(model, "input_std", None)
    if mean is None or std is None:
        return IMAGENET_MEAN, IMAGENET_STD
    return tuple(mean), tuple(std)


def _stats(x: torch.Tensor, mean: Any = None, std: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    mean = IMAGENET_MEAN if mean is None else mean
    std = IMAGENET_STD if std is None else std
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return mean_t, std_t


def _as_batch(images: Any, name: str) -> torch.Tensor:
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor or numpy array, got {type(images)}")
    if images.dim() != 4 or images.shape[1] != 3:
        hint = ""
        if images.dim() == 4 and images.shape[-1] == 3:
            hint = "; channels-last? use images.permute(0, 3, 1, 2)"
        elif images.dim() == 3 and images.shape[0] == 3:
            hint = "; a single image? use images.unsqueeze(0)"
        raise ValueError(f"{name} must have shape (B, 3, H, W), got {tuple(images.shape)}{hint}")
    return images


def normalize_images(
    images: Any,
    dtype: torch.dtype = torch.float32,
    check_range: bool = True,
    mean: Any = None,
    std: Any = None,
) -> torch.Tensor:
    """Turn ``(B, 3, H, W)`` uint8 images or floats in [0, 1] into the model's input.

    Parameters
    ----------
    images
        Tensor or numpy array, uint8 (0-255) or floating point in [0, 1].
    dtype
        Floating dtype of the result.
    check_range
        Check that float images lie in [0, 1]. The check reads the tensor's min and max, which
        synchronises a CUDA stream; a training loop whose inputs are known to be in range can
        turn it off.
    mean, std
        Per-channel statistics on the [0, 1] scale; default torchvision's ImageNet ones. Pass
        ``*input_stats(model)`` for a model with its own normalisation.

    Returns
    -------
    torch.Tensor
        ``(images / 255 - mean) / std``.

    Raises
    ------
    ValueError
        On a wrong shape, an integer type other than uint8, or floats outside [0, 1] (which
        usually means the images are already normalised or still 0-255).
    """
    x = _as_batch(images, "images")
    if x.dtype == torch.uint8:
        x = x.to(dtype) / 255.0
    elif x.is_floating_point():
        if check_range and x.numel():
            low, high = float(x.min()), float(x.max())
            if low < -_TOLERANCE or high > 1 + _TOLERANCE:
                raise ValueError(
                    f"float images must lie in [0, 1], found values in [{low:.3g}, {high:.3g}]; "
                    "divide 0-255 images by 255, and pass already-normalised images to the "
                    "model directly"
                )
        x = x.to(dtype)
    else:
        raise ValueError(f"images must be uint8 or floating point, got {x.dtype}")
    mean_t, std_t = _stats(x, mean, std)
    return (x - mean_t) / std_t


def denormalize_images(
    x: torch.Tensor, clamp: bool = True, mean: Any = None, std: Any = None
) -> torch.Tensor:
    """Invert :func:`normalize_images`: model input (or reconstruction) → floats in [0, 1].

    Parameters
    ----------
    x
        ``(B, 3, H, W)`` normalised images.
    clamp
        Clip to [0, 1] (a reconstruction can overshoot); set False to see raw values.
    mean, std
        The statistics it was normalised with (default: ImageNet's).
    """
    x = _as_batch(x, "x")
    if not x.is_floating_point():
        raise ValueError(f"x must be a float tensor of normalised images, got {x.dtype}")
    mean_t, std_t = _stats(x, mean, std)
    out = x * std_t + mean_t
    return out.clamp(0.0, 1.0) if clamp else out
