"""Image normalisation: uint8 or [0, 1] images ↔ the ImageNet-normalised model input."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "denormalize_images", "normalize_images"]

# torchvision's ImageNet statistics, so that torchvision's pretrained weights see what they expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_TOLERANCE = 1e-4  # resampling can overshoot [0, 1] by rounding errors


def _stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return mean, std


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
    images: Any, dtype: torch.dtype = torch.float32, check_range: bool = True
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

    Returns
    -------
    torch.Tensor
        ``(images / 255 - mean) / std`` with torchvision's ImageNet statistics.

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
    mean, std = _stats(x)
    return (x - mean) / std


def denormalize_images(x: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """Invert :func:`normalize_images`: model input (or reconstruction) → floats in [0, 1].

    Parameters
    ----------
    x
        ``(B, 3, H, W)`` normalised images.
    clamp
        Clip to [0, 1] (a reconstruction can overshoot); set False to see raw values.
    """
    x = _as_batch(x, "x")
    if not x.is_floating_point():
        raise ValueError(f"x must be a float tensor of normalised images, got {x.dtype}")
    mean, std = _stats(x)
    out = x * std + mean
    return out.clamp(0.0, 1.0) if clamp else out
