"""Class activation maps, batched: one class per image.

Both maps apply the classifier's FC weights w^c to k feature maps: the CAM head's output for the
low-res CAM (Zhou et al. 2016), the expansion network's full-resolution output for the high-res
CAM. The bias is left out, so the spatial mean of the low-res CAM equals the logit minus the
bias.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hrcam.core.maps import check_class_indices

__all__ = ["class_activation_map", "high_res_cam", "low_res_cam", "predicted_classes"]


def predicted_classes(logits: torch.Tensor) -> torch.Tensor:
    """Arg-max class per row of ``(B, C)`` logits, as a ``(B,)`` long tensor."""
    return logits.argmax(dim=1)


def _class_index(
    classes: torch.Tensor | Sequence[int] | int, batch: int, num_classes: int, device: torch.device
) -> torch.Tensor:
    index = torch.as_tensor(classes, device=device)
    if index.is_floating_point() or index.is_complex():
        raise ValueError(f"classes must be integers, got dtype {index.dtype}")
    index = index.long()
    if index.dim() == 0:
        index = index.expand(batch)
    if index.shape != (batch,):
        raise ValueError(f"classes must be one int or {batch} ints, got shape {tuple(index.shape)}")
    check_class_indices(index, num_classes)
    return index


def class_activation_map(
    features: torch.Tensor,
    fc_weight: torch.Tensor,
    classes: torch.Tensor | Sequence[int] | int,
) -> torch.Tensor:
    """Σ_k w_k^c f_k(x, y) for one class c per image.

    Parameters
    ----------
    features
        ``(B, k, h, w)`` feature maps.
    fc_weight
        ``(num_classes, k)`` FC weight matrix (``classifier.fc.weight``).
    classes
        ``(B,)`` class indices, a sequence of B ints, or one int for the whole batch.

    Returns
    -------
    torch.Tensor
        ``(B, h, w)`` maps in float32 (float64 if the inputs are float64), never reduced
        precision, even under autocast.
    """
    if features.dim() != 4:
        raise ValueError(f"features must be (B, k, h, w), got shape {tuple(features.shape)}")
    if fc_weight.dim() != 2 or fc_weight.shape[1] != features.shape[1]:
        raise ValueError(
            f"fc_weight must be (num_classes, {features.shape[1]}), got {tuple(fc_weight.shape)}"
        )
    index = _class_index(classes, features.shape[0], fc_weight.shape[0], features.device)
    dtype = torch.float64 if features.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=features.device.type, enabled=False):
        weights = fc_weight.detach().to(dtype)[index]  # (B, k)
        return torch.einsum("bkhw,bk->bhw", features.to(dtype), weights)


def low_res_cam(
    cam_features: torch.Tensor,
    fc_weight: torch.Tensor,
    classes: torch.Tensor | Sequence[int] | int,
) -> torch.Tensor:
    """Low-res CAM ``(B, h, w)`` from the classifier's CAM features (``out.cam_features``)."""
    return class_activation_map(cam_features, fc_weight, classes)


def high_res_cam(
    hr_features: torch.Tensor,
    fc_weight: torch.Tensor,
    classes: torch.Tensor | Sequence[int] | int,
) -> torch.Tensor:
    """High-res CAM ``(B, H, W)`` from the expansion network's full-resolution features."""
    return class_activation_map(hr_features, fc_weight, classes)
