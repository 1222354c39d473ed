"""The classifier with a CAM head (paper §3.1): backbone → 1×1 conv to k channels → GAP → FC.

With the k CAM feature maps f_k and the FC weights w_k^c the class score is
S_c = Σ_k w_k^c · mean_xy f_k(x, y) + b_c, so the low-res CAM M_c = Σ_k w_k^c f_k averages to
the logit minus the bias (see :mod:`hrcam.models.cams`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import nn

from hrcam.models.backbones import ARCHITECTURES, Backbone, build_backbone

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

__all__ = ["CAMClassifier", "ClassifierOutput", "build_classifier", "check_images"]


class ClassifierOutput(NamedTuple):
    """Everything one classifier pass produces.

    Attributes
    ----------
    logits
        ``(B, num_classes)`` class scores (before softmax).
    cam_features
        ``(B, k, h, w)`` CAM feature maps f_k (non-negative, after the head's ReLU).
    skips
        Backbone feature maps for the expansion network, highest resolution first; the last
        entry is the backbone's final map that feeds the CAM head.
    """

    logits: torch.Tensor
    cam_features: torch.Tensor
    skips: list[torch.Tensor]


def check_images(x: Any, stride: int, name: str = "x") -> None:
    """Raise ``ValueError`` unless ``x`` is a float ``(B, 3, H, W)`` tensor.

    H and W must also be divisible by ``stride``.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (B, 3, H, W), got {type(x)}")
    if x.dim() != 4:
        raise ValueError(
            f"{name} must be 4-D (B, 3, H, W), got shape {tuple(x.shape)}; "
            "add a batch dimension with x.unsqueeze(0)"
        )
    if x.shape[1] != 3:
        hint = " (channels-last? use x.permute(0, 3, 1, 2))" if x.shape[-1] == 3 else ""
        hint = hint or (
            " (grayscale? repeat it: x.expand(-1, 3, -1, -1))" if x.shape[1] == 1 else ""
        )
        raise ValueError(f"{name} must have 3 channels, got shape {tuple(x.shape)}{hint}")
    if not x.is_floating_point():
        raise ValueError(
            f"{name} must be a float tensor normalised with normalize_images, got {x.dtype}"
        )
    height, width = x.shape[-2:]
    if height % stride or width % stride:
        nearest = max(1, round(height / stride)) * stride
        raise ValueError(
            f"{name} has size {height}x{width}, which the backbone stride {stride} does not "
            f"divide; resize to a multiple of {stride} (e.g. {nearest})"
        )


class CAMClassifier(nn.Module):
    """Backbone + CAM head: 1×1 conv to ``k`` channels with ReLU, global average pooling, FC.

    The head's modules are ``cam_conv`` (the 1×1 conv, pre-ReLU output), ``cam_relu``
    (:class:`torch.nn.ReLU`, whose output is exactly the CAM features f_k, so hook-based
    libraries should target it) and ``fc``.

    Parameters
    ----------
    backbone
        A :class:`~hrcam.models.backbones.Backbone`.
    num_classes
        Outputs of the FC layer.
    k
        Channels of the CAM head (16 in the reference code).
    config
        Builder arguments, stored so a checkpoint can rebuild the model.
    """

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        k: int = 16,
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.cam_conv = nn.Conv2d(backbone.out_channels, k, kernel_size=1)
        # A module, not a function call, so that a forward hook on ``cam_relu`` (grad-cam,
        # torchcam, captum) sees exactly the CAM features f_k. Not in-place: an in-place ReLU
        # would overwrite ``cam_conv``'s output under a hook on that layer. It has no
        # parameters, so state dicts (and old checkpoints) keep the same keys.
        self.cam_relu = nn.ReLU()
        self.fc = nn.Linear(k, num_classes)
        self.stride = backbone.stride
        self.config: dict[str, Any] = dict(config or {})

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return self.fc.out_features

    @property
    def k(self) -> int:
        """Channels of the CAM feature maps."""
        return self.fc.in_features

    @property
    def arch(self) -> str | None:
        """Architecture name it was built with (``None`` if built by hand)."""
        return self.config.get("arch")

    def forward_features(self, x: torch.Tensor) -> ClassifierOutput:
        """Logits, CAM feature maps and skip features of a normalised batch ``(B, 3, H, W)``."""
        check_images(x, self.stride)
        skips, final = self.backbone(x)
        cam_features = self.cam_relu(self.cam_conv(final))
        logits = self.fc(cam_features.mean(dim=(2, 3)))
        return ClassifierOutput(logits, cam_features, [*skips, final])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, num_classes)`` of a normalised batch."""
        return self.forward_features(x).logits


def build_classifier(
    arch: str = "densenet_compact",
    num_classes: int = 10,
    k: int = 16,
    weights: str | os.PathLike | WeightsEnum | None = None,
    **backbone_kwargs: Any,
) -> CAMClassifier:
    """Build a :class:`CAMClassifier` on a torchvision backbone.

    Parameters
    ----------
    arch
        ``"densenet_compact"`` (CPU-sized), any torchvision DenseNet (``"densenet121"`` ...)
        or ResNet (``"resnet50"`` ...); see :data:`~hrcam.models.ARCHITECTURES`.
    num_classes
        Number of classes.
    k
        CAM head channels.
    weights
        Backbone initialisation: ``None``, a local state-dict file, or a torchvision weights
        name such as ``"IMAGENET1K_V1"`` (downloaded on first use). The head is always new.
    **backbone_kwargs
        Extra arguments for the torchvision constructor.

    Returns
    -------
    CAMClassifier
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch={arch!r} is not supported; choose one of {sorted(ARCHITECTURES)}")
    backbone = build_backbone(arch, weights=weights, **backbone_kwargs)
    config = {"arch": arch, "num_classes": num_classes, "k": k, **backbone_kwargs}
    return CAMClassifier(backbone, num_classes=num_classes, k=k, config=config)
