"""The expansion network (paper §3.2): an FC-DenseNet-style up path on the classifier's skips.

Each up step is a stride-``s`` transposed convolution, a concatenation with the skip of that
resolution and a small dense block (Jégou et al. 2017, "Tiramisu"). A last transposed
convolution reaches the input resolution with ``k`` channels and a ReLU (as in the reference
code); the high-res CAM is read from that map, and a bias-free 1×1 conv turns it into a
3-channel reconstruction. The reconstruction target is the *normalised* input image (the
classifier's own input), trained with MSE while the classifier stays frozen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from hrcam.models.classifier import CAMClassifier

__all__ = ["ExpansionNetwork", "ExpansionOutput", "build_expansion"]


class ExpansionOutput(NamedTuple):
    """Outputs of the expansion network.

    Attributes
    ----------
    hr_features
        ``(B, k, H, W)`` non-negative full-resolution feature maps (the high-res CAM's input).
    reconstruction
        ``(B, 3, H, W)`` reconstruction of the normalised input image.
    """

    hr_features: torch.Tensor
    reconstruction: torch.Tensor


def _upsample(in_channels: int, out_channels: int, factor: int) -> nn.Module:
    """Transposed conv growing the map by an integer ``factor``."""
    if factor == 1:
        return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
    if factor == 2:  # Tiramisu's 3×3, stride-2 transposed conv
        return nn.ConvTranspose2d(
            in_channels, out_channels, kernel_size=3, stride=2, padding=1, output_padding=1
        )
    return nn.ConvTranspose2d(in_channels, out_channels, kernel_size=factor, stride=factor)


class _DenseLayer(nn.Sequential):
    def __init__(self, in_channels: int, growth_rate: int) -> None:
        super().__init__(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, growth_rate, kernel_size=3, padding=1, bias=False),
        )


class _DenseBlock(nn.Module):
    """Dense block returning only its new feature maps (as in Tiramisu's up path)."""

    def __init__(self, in_channels: int, growth_rate: int, num_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            _DenseLayer(in_channels + i * growth_rate, growth_rate) for i in range(num_layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new: list[torch.Tensor] = []
        for layer in self.layers:
            new.append(layer(torch.cat([x, *new], dim=1)))
        return torch.cat(new, dim=1)


class _UpStep(nn.Module):
    def __init__(
        self, in_channels: int, skip_channels: int, factor: int, growth_rate: int, num_layers: int
    ) -> None:
        super().__init__()
        width = growth_rate * num_layers
        self.up = _upsample(in_channels, width, factor)
        self.block = _DenseBlock(width + skip_channels, growth_rate, num_layers)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        if x.shape[-2:] != skip.shape[-2:]:
            raise ValueError(
                f"upsampled map {tuple(x.shape[-2:])} does not match skip {tuple(skip.shape[-2:])}"
                "; the input size must be divisible by the backbone stride"
            )
        return self.block(torch.cat([x, skip], dim=1))


class ExpansionNetwork(nn.Module):
    """FC-DenseNet up path from the classifier's skip features to input resolution.

    Parameters
    ----------
    skip_channels
        Channels of each skip, highest resolution first; the last is the deepest map.
    factors
        ``factors[i]`` = size of skip ``i`` / size of skip ``i+1`` (``len(skip_channels) - 1``
        integers).
    final_factor
        Input size / size of skip 0.
    k
        Channels of the full-resolution map (the classifier's CAM head width).
    growth_rate, layers_per_block
        Dense block shape of each up step (reference code: 16 and 4).
    config
        Builder arguments, stored for checkpoints.
    """

    def __init__(
        self,
        skip_channels: Sequence[int],
        factors: Sequence[int],
        final_factor: int,
        k: int,
        growth_rate: int = 16,
        layers_per_block: int = 4,
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if len(factors) != len(skip_channels) - 1:
            raise ValueError(
                f"expected {len(skip_channels) - 1} factors for {len(skip_channels)} skips, "
                f"got {len(factors)}"
            )
        self.skip_channels = list(skip_channels)
        steps = []
        in_channels = skip_channels[-1]
        for i in range(len(skip_channels) - 2, -1, -1):
            steps.append(
                _UpStep(in_channels, skip_channels[i], factors[i], growth_rate, layers_per_block)
            )
            in_channels = growth_rate * layers_per_block
        self.steps = nn.ModuleList(steps)
        self.head = nn.Sequential(_upsample(in_channels, k, final_factor), nn.ReLU(inplace=True))
        # Linear and bias-free, like the reference: the reconstruction is a plain linear read-out
        # of the same k maps that the high-res CAM uses.
        self.to_image = nn.Conv2d(k, 3, kernel_size=1, bias=False)
        self.config: dict[str, Any] = dict(config or {})

    @property
    def k(self) -> int:
        """Channels of the full-resolution feature map."""
        return self.to_image.in_channels

    def forward(self, skips: Sequence[torch.Tensor]) -> ExpansionOutput:
        """Grow ``skips`` (as in :attr:`ClassifierOutput.skips`) back to input resolution."""
        if len(skips) != len(self.skip_channels):
            raise ValueError(
                f"expected {len(self.skip_channels)} skip tensors, got {len(skips)}; pass "
                "ClassifierOutput.skips of the classifier this network was built for"
            )
        found = [int(s.shape[1]) for s in skips]
        if found != self.skip_channels:
            raise ValueError(f"skip channels: expected {self.skip_channels}, found {found}")
        x = skips[-1]
        for step, skip in zip(self.steps, reversed(skips[:-1]), strict=True):
            x = step(x, skip)
        hr_features = self.head(x)
        return ExpansionOutput(hr_features, self.to_image(hr_features))


def build_expansion(
    classifier: CAMClassifier,
    image_size: int = 224,
    growth_rate: int = 16,
    layers_per_block: int = 4,
) -> ExpansionNetwork:
    """Build an :class:`ExpansionNetwork` that fits ``classifier``.

    Skip channels and scale factors are read from one dummy forward pass at ``image_size``; the
    network then works at any size the classifier's stride divides.

    Parameters
    ----------
    classifier
        The (pre-trained) classifier whose skips it latches onto.
    image_size
        Side of the square dummy input; must be divisible by ``classifier.stride``.
    growth_rate, layers_per_block
        Dense block shape of each up step.

    Returns
    -------
    ExpansionNetwork
    """
    if not isinstance(image_size, int) or image_size < 1 or image_size % classifier.stride:
        raise ValueError(
            f"image_size={image_size!r} must be a positive multiple of the backbone stride "
            f"{classifier.stride}"
        )
    for name, value in (("growth_rate", growth_rate), ("layers_per_block", layers_per_block)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    param = next(classifier.parameters())
    was_training = classifier.training
    classifier.eval()  # BatchNorm must not update its statistics from the dummy input
    try:
        with torch.no_grad():
            dummy = torch.zeros(
                1, 3, image_size, image_size, device=param.device, dtype=param.dtype
            )
            skips = classifier.forward_features(dummy).skips
    finally:
        classifier.train(was_training)
    sizes = [int(s.shape[-1]) for s in skips]
    factors = [sizes[i] // sizes[i + 1] for i in range(len(sizes) - 1)]
    config = {
        "image_size": image_size,
        "growth_rate": growth_rate,
        "layers_per_block": layers_per_block,
    }
    network = ExpansionNetwork(
        skip_channels=[int(s.shape[1]) for s in skips],
        factors=factors,
        final_factor=image_size // sizes[0],
        k=classifier.k,
        growth_rate=growth_rate,
        layers_per_block=layers_per_block,
        config=config,
    )
    return network.to(device=param.device, dtype=param.dtype)
