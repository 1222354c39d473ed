"""Torchvision backbones turned into multi-scale feature extractors.

A backbone returns the feature maps the expansion network latches onto (the stem and the output
of each stage but the last, highest resolution first) and the final feature map that feeds the
CAM head. Extraction uses ``torchvision.models.feature_extraction.create_feature_extractor``,
so any torchvision DenseNet or ResNet works without re-implementing its forward pass.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from hrcam.models.state_dicts import BATCHNORM_FILLS_IN, state_dict_differences

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

__all__ = [
    "ARCHITECTURES",
    "COMPACT_DENSENET",
    "ArchSpec",
    "Backbone",
    "build_backbone",
    "load_backbone_state_dict",
]


@dataclass(frozen=True)
class ArchSpec:
    """What an architecture name means.

    Attributes
    ----------
    family
        ``"densenet"`` or ``"resnet"``: decides which graph nodes are extracted.
    torchvision_name
        Name for ``torchvision.models.get_model`` / ``get_model_weights``; ``None`` for the
        compact DenseNet, which torchvision has no pretrained weights for.
    description
        One line for help texts.
    """

    family: str
    torchvision_name: str | None
    description: str


# Growth 12, three blocks of 4 layers: ~0.1M backbone parameters, so the classifier trains on
# a 2-core CPU at 96-128 px in minutes (measured in the tests' benchmark, see the report).
COMPACT_DENSENET: dict[str, Any] = {
    "growth_rate": 12,
    "block_config": (4, 4, 4),
    "num_init_features": 24,
}

ARCHITECTURES: dict[str, ArchSpec] = {
    "densenet_compact": ArchSpec(
        "densenet", None, "torchvision DenseNet(growth 12, blocks (4,4,4), 24 init), stride 16"
    ),
    **{
        name: ArchSpec("densenet", name, f"torchvision {name}, stride 32")
        for name in ("densenet121", "densenet161", "densenet169", "densenet201")
    },
    **{
        name: ArchSpec("resnet", name, f"torchvision {name}, stride 32")
        for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
    },
}

# Old DenseNet checkpoints (including torchvision's hosted ImageNet weights) name layers
# "norm.1" where the current modules use "norm1"; torchvision renames them the same way.
_LEGACY_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)
_HEAD_PREFIXES = ("classifier.", "fc.")


class Backbone(nn.Module):
    """A feature extractor returning ``(skips, final)``.

    Parameters
    ----------
    extractor
        Graph module from ``create_feature_extractor`` whose outputs are named ``"skip0"``...
        and ``"final"``.
    num_skips
        Number of skip outputs.
    final_relu
        Apply a ReLU to the final map (DenseNet ends in a BatchNorm; torchvision applies the ReLU
        in ``forward``, outside ``features``).
    out_channels
        Channels of the final map.
    stride
        Input size divided by the final map's size.
    """

    def __init__(
        self,
        extractor: nn.Module,
        num_skips: int,
        final_relu: bool,
        out_channels: int,
        stride: int,
    ) -> None:
        super().__init__()
        self.extractor = extractor
        self.num_skips = num_skips
        self.final_relu = final_relu
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Return the skip feature maps of ``x`` and its final feature map."""
        feats = self.extractor(x)
        skips = [feats[f"skip{i}"] for i in range(self.num_skips)]
        final = feats["final"]
        if self.final_relu:
            final = torch.relu(final)
        return skips, final


def _is_path_like(weights: str | os.PathLike) -> bool:
    if isinstance(weights, os.PathLike):
        return True
    return os.sep in weights or weights.endswith((".pt", ".pth", ".bin")) or Path(weights).exists()


def _resolve_weights_enum(arch: str, name: str) -> WeightsEnum:
    from torchvision.models import get_model_weights

    spec = ARCHITECTURES[arch]
    if spec.torchvision_name is None:
        raise ValueError(
            f"weights={name!r}: torchvision has no pretrained weights for {arch!r}; "
            "pass weights=None or the path of a local state-dict file"
        )
    enum = get_model_weights(spec.torchvision_name)
    try:
        return enum[name]
    except KeyError:
        available = sorted(enum.__members__)
        raise ValueError(
            f"weights={name!r} is neither an existing file nor a torchvision weights name for "
            f"{arch!r}; choose one of {available} or give a state-dict path"
        ) from None


def _read_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"weights file {str(path)!r} is not a readable torch state dict "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from exc
    if isinstance(obj, Mapping) and obj.get("format") == "hrcam-checkpoint":
        kind = (obj.get("metadata") or {}).get("kind", "?")
        raise ValueError(
            f"weights file {str(path)!r} is an hrcam checkpoint (kind {kind!r}), not a state "
            "dict of the named model's own weights: give it as the classifier checkpoint "
            "(--classifier PATH) instead, or give the model's original weights file here"
        )
    # Common wrappers: {"state_dict": ...} (Lightning) and {"model": ...}.
    for key in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(
            f"weights file {str(path)!r}: expected a state dict (name -> tensor), "
            f"found {type(obj).__name__}"
        )
    return dict(obj)


def load_backbone_state_dict(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: str
) -> None:
    """Load a torchvision classification state dict into ``model``, ignoring its head.

    The head (``classifier.*`` / ``fc.*``) is skipped because the CAM head replaces it; every
    other parameter and buffer must be present with the right shape.

    Parameters
    ----------
    model
        A torchvision DenseNet or ResNet.
    state_dict
        Its weights, possibly with legacy DenseNet key names or a ``module.`` prefix.
    source
        Where the weights came from, for error messages.

    Raises
    ------
    ValueError
        When keys are missing, unexpected or of the wrong shape; the message names some of each.
    """
    fixed: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        key = key.removeprefix("module.")
        match = _LEGACY_DENSENET_KEY.match(key)
        if match:
            key = match.group(1) + match.group(2)
        if not key.startswith(_HEAD_PREFIXES):
            fixed[key] = value
    own = {k: v for k, v in model.state_dict().items() if not k.startswith(_HEAD_PREFIXES)}
    missing, unexpected, mismatched = state_dict_differences(own, fixed, BATCHNORM_FILLS_IN)
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]})")
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatches (e.g. {mismatched[:2]})")
        raise ValueError(
            f"weights from {source} do not fit this backbone: " + "; ".join(parts) + ". "
            "Pass a state dict saved from the same torchvision architecture."
        )
    model.load_state_dict(fixed, strict=False)


def _torchvision_model(arch: str, backbone_kwargs: Mapping[str, Any]) -> nn.Module:
    import torchvision

    spec = ARCHITECTURES[arch]
    if spec.torchvision_name is None:
        return torchvision.models.DenseNet(**{**COMPACT_DENSENET, **backbone_kwargs})
    return torchvision.models.get_model(spec.torchvision_name, weights=None, **backbone_kwargs)


def build_backbone(
    arch: str,
    weights: str | os.PathLike | WeightsEnum | None = None,
    **backbone_kwargs: Any,
) -> Backbone:
    """Build a torchvision backbone as a :class:`Backbone` feature extractor.

    Parameters
    ----------
    arch
        A key of :data:`ARCHITECTURES`.
    weights
        ``None`` (random init), the path of a local state-dict file, or a torchvision weights
        name for ``arch`` such as ``"IMAGENET1K_V1"`` / ``"DEFAULT"`` (downloads on first use),
        or a ``WeightsEnum`` member.
    **backbone_kwargs
        Passed to the torchvision constructor (e.g. ``growth_rate`` for the compact DenseNet).

    Returns
    -------
    Backbone
    """
    from torchvision.models import WeightsEnum
    from torchvision.models.feature_extraction import create_feature_extractor

    if arch not in ARCHITECTURES:
        raise ValueError(f"arch={arch!r} is not supported; choose one of {sorted(ARCHITECTURES)}")
    model = _torchvision_model(arch, backbone_kwargs)

    if weights is not None:
        if isinstance(weights, WeightsEnum):
            enum_member: WeightsEnum | None = weights
        elif isinstance(weights, str | os.PathLike) and _is_path_like(weights):
            enum_member = None
            path = Path(weights)
            load_backbone_state_dict(model, _read_state_dict_file(path), source=str(path))
        elif isinstance(weights, str):
            enum_member = _resolve_weights_enum(arch, weights)
        else:
            raise ValueError(
                f"weights must be None, a path or a torchvision weights name, "
                f"got {type(weights).__name__}"
            )
        if enum_member is not None:
            # Downloads into the torch hub cache on a user's machine; the loading below is the
            # same code that a local file goes through.
            state = enum_member.get_state_dict(progress=True, check_hash=True)
            load_backbone_state_dict(model, state, source=f"torchvision weights {enum_member}")

    family = ARCHITECTURES[arch].family
    if family == "densenet":
        blocks = [n for n, _ in model.features.named_children() if n.startswith("denseblock")]
        skip_nodes = ["features.relu0"] + [f"features.{b}" for b in blocks[:-1]]
        final_node, final_relu = "features.norm5", True
        out_channels = model.classifier.in_features
        stride = 4 * 2 ** (len(blocks) - 1)  # conv0 /2, pool0 /2, one /2 per transition
    else:
        skip_nodes = ["relu", "layer1", "layer2", "layer3"]
        final_node, final_relu = "layer4", False
        out_channels = model.fc.in_features
        stride = 32
    return_nodes = {node: f"skip{i}" for i, node in enumerate(skip_nodes)}
    return_nodes[final_node] = "final"
    extractor = create_feature_extractor(model, return_nodes=return_nodes)
    return Backbone(extractor, len(skip_nodes), final_relu, out_channels, stride)
