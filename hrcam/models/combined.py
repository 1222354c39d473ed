"""The expansion-training model: a frozen classifier with the expansion network on top."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import nn

from hrcam.models.classifier import CAMClassifier
from hrcam.models.expansion import ExpansionNetwork, InferenceBuffers

__all__ = ["HRCAM", "HRCAMOutput", "freeze", "with_expansion_dtype"]


class HRCAMOutput(NamedTuple):
    """One pass through classifier and expansion network.

    Attributes
    ----------
    logits
        ``(B, num_classes)``.
    cam_features
        ``(B, k, h, w)`` low-res CAM features.
    hr_features
        ``(B, k, H, W)`` high-res CAM features (``expansion.k`` channels: use
        :attr:`HRCAM.high_res_weight` to turn them into class maps).
    reconstruction
        ``(B, 3, H, W)`` reconstruction of the normalised input (``None`` if not asked for).
    """

    logits: torch.Tensor
    cam_features: torch.Tensor
    hr_features: torch.Tensor
    reconstruction: torch.Tensor | None


def freeze(module: nn.Module) -> nn.Module:
    """Stop gradients into ``module`` and put it (BatchNorm included) in eval mode."""
    module.requires_grad_(False)
    return module.eval()


class HRCAM(nn.Module):
    """Classifier + expansion network, with the classifier frozen (paper §3.2).

    The classifier's parameters get ``requires_grad=False`` and it stays in eval mode even
    under ``model.train()``, so training the expansion network can change neither the
    predictions nor the low-res CAMs (BatchNorm statistics included).

    Parameters
    ----------
    classifier
        A trained :class:`CAMClassifier`.
    expansion
        An :class:`ExpansionNetwork` built for it (:func:`build_expansion`).
    """

    def __init__(self, classifier: CAMClassifier, expansion: ExpansionNetwork) -> None:
        super().__init__()
        if expansion.cam_channels != classifier.k:
            raise ValueError(
                f"expansion network stands for {expansion.cam_channels} CAM channels, classifier "
                f"has k={classifier.k}"
            )
        self.classifier = freeze(classifier)
        self.expansion = expansion

    def train(self, mode: bool = True) -> HRCAM:
        """Set the expansion network's mode; the classifier always stays in eval mode."""
        super().train(mode)
        self.classifier.eval()
        return self

    @property
    def high_res_weight(self) -> torch.Tensor:
        """``(num_classes, expansion.k)`` weights for :func:`~hrcam.models.high_res_cam`.

        They apply to ``hr_features``: the classifier's FC weights, fused with the expansion
        network's ``cam_basis`` when it has one (wrapped models with wide CAM features).
        """
        return self.expansion.cam_weight(self.classifier.fc.weight)

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """Return the expansion network's parameters (give these to the optimiser)."""
        return self.expansion.parameters()

    def forward(
        self,
        x: torch.Tensor,
        *,
        reconstruct: bool = True,
        buffers: InferenceBuffers | None = None,
    ) -> HRCAMOutput:
        """Run a normalised ``(B, 3, H, W)`` batch through both networks.

        ``reconstruct`` and ``buffers`` are passed on to :meth:`ExpansionNetwork.forward`.
        """
        if self.classifier.training:  # someone called classifier.train() directly
            self.classifier.eval()
        out = self.classifier.forward_features(x)
        hr_features, reconstruction = self.expansion(
            out.skips, reconstruct=reconstruct, buffers=buffers
        )
        return HRCAMOutput(out.logits, out.cam_features, hr_features, reconstruction)


def with_expansion_dtype(model: HRCAM, dtype: torch.dtype) -> HRCAM:
    """Return ``model`` with its expansion network copied to ``dtype``; ``model`` is unchanged.

    The classifier is shared, not copied, so predictions and low-res CAMs stay exactly those of
    ``model``; the expansion network's skips are cast to ``dtype`` on the way in, and only the
    high-res features (hence the high-res and refined CAMs) change. With ``torch.bfloat16`` on
    a CPU with bfloat16 dot products (AVX512-BF16, AMX) or on a GPU, the expansion network runs
    faster at about three significant digits; :class:`hrcam.explain.Explainer`'s
    ``precision="bfloat16-expansion"`` uses this.

    Parameters
    ----------
    model
        A (trained) classifier + expansion network.
    dtype
        Floating-point type of the copy, e.g. ``torch.bfloat16``.

    Returns
    -------
    HRCAM
        A new model in ``model``'s mode.
    """
    if not isinstance(model, HRCAM):
        raise ValueError(f"model must be an hrcam.models.HRCAM, got {type(model).__name__}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    with torch.inference_mode(False):  # a copy made under inference mode could not be trained
        expansion = copy.deepcopy(model.expansion).to(dtype)
        if model.expansion.cam_basis is not None:
            # The basis only meets the float32 FC weights (cam_weight); rounding it would make
            # the copy's high-res CAMs differ from what the float32 features give.
            expansion.cam_basis = model.expansion.cam_basis.detach().clone()
    expansion.clear_inference_caches()  # the folds copied along belong to the float32 weights
    return HRCAM(model.classifier, expansion).train(model.training)
