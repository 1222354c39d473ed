"""The expansion network (paper §3.2): an FC-DenseNet-style up path on the classifier's skips.

Each up step is a stride-``s`` transposed convolution, a concatenation with the skip of that
resolution and a small dense block (Jégou et al. 2017, "Tiramisu"). A last transposed
convolution reaches the input resolution with ``k`` channels and a ReLU (as in the reference
code); the high-res CAM is read from that map, and a bias-free 1×1 conv turns it into a
3-channel reconstruction. The reconstruction target is the *normalised* input image (the
classifier's own input), trained with MSE while the classifier stays frozen.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from hrcam.models.basis import _parse_classes, class_basis, kept_share
from hrcam.models.classifier import CAMClassifier
from hrcam.models.folding import _fold_or_none, _Folded, _norm_relu_conv

__all__ = [
    "ExpansionNetwork",
    "ExpansionOutput",
    "InferenceBuffers",
    "build_expansion",
]


class ExpansionOutput(NamedTuple):
    """Outputs of the expansion network.

    Attributes
    ----------
    hr_features
        ``(B, k, H, W)`` non-negative full-resolution feature maps (the high-res CAM's input).
    reconstruction
        ``(B, 3, H, W)`` reconstruction of the normalised input image; ``None`` when the
        forward pass was asked not to compute it.
    """

    hr_features: torch.Tensor
    reconstruction: torch.Tensor | None


class InferenceBuffers:
    """Scratch memory that inference calls of an :class:`ExpansionNetwork` reuse.

    On CPU, a fresh tensor of tens of megabytes (one dense block's input at 112×112) costs
    about as much to allocate, in page faults, as the convolution that reads it. Passing the
    same ``InferenceBuffers`` to repeated eval-mode, no-grad forward passes of the same batch
    shape keeps those tensors between calls. :class:`hrcam.Explainer` owns one.

    The memory is held until :meth:`clear` or until the object is garbage-collected. One
    object must not be used by two forward passes at the same time (threads).
    """

    def __init__(self) -> None:
        self._tensors: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def get(
        self,
        owner: nn.Module,
        features_shape: tuple[int, int, int, int],
        scratch_numel: int,
        like: torch.Tensor,
        dtype: torch.dtype,
        memory_format: torch.memory_format,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return a ``features`` tensor of ``features_shape`` and a flat ``scratch`` for ``owner``.

        Cached tensors are returned when shape, dtype, device and memory format all match;
        otherwise new ones replace them. Their contents are undefined.
        """
        cached = self._tensors.get(id(owner))
        if (
            cached is not None
            and tuple(cached[0].shape) == tuple(features_shape)
            and cached[1].numel() >= scratch_numel
            and cached[0].dtype == dtype
            and cached[0].device == like.device
            and cached[0].is_contiguous(memory_format=memory_format)
        ):
            return cached[0], cached[1]
        features = torch.empty(
            features_shape, dtype=dtype, device=like.device, memory_format=memory_format
        )
        fresh = features, torch.empty(scratch_numel, dtype=dtype, device=like.device)
        self._tensors[id(owner)] = fresh
        return fresh

    def clear(self) -> None:
        """Free every cached tensor."""
        self._tensors.clear()

    @property
    def nbytes(self) -> int:
        """Bytes currently held."""
        return sum(t.numel() * t.element_size() for pair in self._tensors.values() for t in pair)


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
    """Dense block returning only its new feature maps (as in Tiramisu's up path).

    In training, or whenever autograd records, it runs the textbook way: each layer gets
    ``torch.cat`` of everything so far. Without autograd in eval mode it takes an equivalent
    inference path (:meth:`_forward_inference`) that avoids most of the memory traffic.
    """

    def __init__(self, in_channels: int, growth_rate: int, num_layers: int) -> None:
        super().__init__()
        self.growth_rate = growth_rate
        self.fast_inference = True
        # Per layer: BatchNorm folded into the conv (see _fold_norm_relu_conv), reused while
        # the parameters, buffers, map size, dtype and device are unchanged. Not state.
        self._folds: dict[int, tuple[tuple[Any, ...], _Folded]] = {}
        self.layers = nn.ModuleList(
            _DenseLayer(in_channels + i * growth_rate, growth_rate) for i in range(num_layers)
        )

    def forward(
        self,
        parts: Sequence[torch.Tensor],
        buffers: InferenceBuffers | None = None,
        *,
        may_alias: bool = False,
    ) -> torch.Tensor:
        """Run the block on the channel-wise concatenation of ``parts``.

        ``may_alias=True`` lets the inference path return a view of ``buffers``' memory
        instead of a copy; the caller must be done with it before the next call that uses the
        same ``buffers`` (:class:`ExpansionNetwork` consumes it at once).
        """
        if (
            self.fast_inference
            and not self.training
            and not torch.is_grad_enabled()
            # Under torch.compile, inductor fuses the textbook path itself; the eager fast path
            # (out= writes into views, a Python-side buffer cache) would only break the graph.
            and not torch.compiler.is_compiling()
        ):
            return self._forward_inference(parts, buffers, may_alias and buffers is not None)
        x = torch.cat(list(parts), dim=1)
        new: list[torch.Tensor] = []
        for layer in self.layers:
            new.append(layer(torch.cat([x, *new], dim=1)))
        return torch.cat(new, dim=1)

    def _forward_inference(
        self, parts: Sequence[torch.Tensor], buffers: InferenceBuffers | None, may_alias: bool
    ) -> torch.Tensor:
        """Compute the training path's result, with eval-mode BatchNorm, at far less cost.

        On CPU this block is memory-bound, not compute-bound: the textbook path allocates a
        fresh concatenation, a BatchNorm output and a ReLU pass per layer, and each fresh large
        allocation is paid again in page faults. Here every input and new feature map is
        written once into one preallocated tensor, and each layer's BatchNorm (a per-channel
        affine map in eval mode) + ReLU is written, in one pass, into one reused scratch tensor
        (:func:`_norm_relu_conv`).
        """
        first = parts[0]
        batch, _, height, width = first.shape
        dtype = functools.reduce(torch.promote_types, (p.dtype for p in parts))
        channels_last = (
            first.is_contiguous(memory_format=torch.channels_last) and not first.is_contiguous()
        )
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        start = sum(int(p.shape[1]) for p in parts)
        total = start + len(self.layers) * self.growth_rate
        # Contiguous per-layer views need one flat scratch as big as the widest layer input (a
        # channel slice of one tensor is not contiguous, and convolutions copy such inputs).
        widest = total - self.growth_rate
        shape = (batch, total, height, width)
        scratch_numel = batch * widest * height * width
        # Without a caller's cache, a fresh one: the tensors then live for this call only.
        cache = buffers if buffers is not None else InferenceBuffers()
        features, scratch = cache.get(self, shape, scratch_numel, first, dtype, memory_format)
        filled = 0
        for part in parts:
            features[:, filled : filled + part.shape[1]].copy_(part)
            filled += int(part.shape[1])
        for index, layer in enumerate(self.layers):
            norm, _, conv = layer
            size = batch * filled * height * width
            if channels_last:
                activated = scratch[:size].view(batch, height, width, filled).permute(0, 3, 1, 2)
            else:
                activated = scratch[:size].view(batch, filled, height, width)
            _norm_relu_conv(
                features[:, :filled],
                norm,
                conv,
                activated,
                out=features[:, filled : filled + self.growth_rate],
                folded=self._folded(index, norm, conv, features),
            )
            filled += self.growth_rate
        if may_alias:
            return features[:, start:]
        # Otherwise a clone, never a view: ``features`` may be reused by the next call.
        return features[:, start:].clone(memory_format=memory_format)

    def _folded(
        self, index: int, norm: nn.BatchNorm2d, conv: nn.Conv2d, like: torch.Tensor
    ) -> _Folded | None:
        """Return layer ``index``'s folded BatchNorm for maps like ``like`` (cached).

        ``None`` (the direct two-pass form) for float16, and for a bfloat16 layer whose fold
        would lose accuracy (:func:`_fold_is_accurate`).
        """
        tensors = (norm.weight, norm.bias, norm.running_mean, norm.running_var, conv.weight)
        if any(t.is_inference() for t in tensors):
            # Inference tensors keep no version counter, so an in-place load under
            # torch.inference_mode would go unseen by the cache: decide afresh every call.
            return _fold_or_none(norm, conv, tuple(like.shape[-2:]), like.dtype)
        # ``_version`` counts in-place writes (optimiser steps, load_state_dict), data_ptr
        # catches replaced tensors: either makes the cached fold stale.
        key = (
            tuple((t.data_ptr(), t._version) for t in tensors),
            float(norm.eps),
            tuple(like.shape[-2:]),
            like.dtype,
            like.device,
        )
        cached = self._folds.get(index)
        if cached is not None and cached[0] == key:
            return cached[1]
        folded = _fold_or_none(norm, conv, tuple(like.shape[-2:]), like.dtype)
        self._folds[index] = (key, folded)
        return folded


class _UpStep(nn.Module):
    def __init__(
        self, in_channels: int, skip_channels: int, factor: int, growth_rate: int, num_layers: int
    ) -> None:
        super().__init__()
        width = growth_rate * num_layers
        self.up = _upsample(in_channels, width, factor)
        self.block = _DenseBlock(width + skip_channels, growth_rate, num_layers)

    def forward(
        self,
        x: torch.Tensor,
        skip: torch.Tensor,
        buffers: InferenceBuffers | None = None,
        *,
        may_alias: bool = False,
    ) -> torch.Tensor:
        x = self.up(x)
        if x.shape[-2:] != skip.shape[-2:]:
            raise ValueError(
                f"upsampled map {tuple(x.shape[-2:])} does not match skip {tuple(skip.shape[-2:])}"
                "; the input size must be divisible by the backbone stride"
            )
        return self.block((x, skip), buffers, may_alias=may_alias)


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
    cam_basis
        Optional ``(K, k)`` matrix for a classifier whose CAM features have many channels K
        (a wrapped ImageNet model: 1280, 2048). The network then ends in ``k`` channels h, and
        the K-channel map of the paper's construction is the *virtual* ``cam_basis @ h``; the
        high-res CAM ``w^c · (cam_basis @ h) = (w^c @ cam_basis) · h`` is computed through that
        fused map (:meth:`cam_weight`) without ever building a K-channel full-resolution tensor.
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
        cam_basis: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if cam_basis is not None and (cam_basis.dim() != 2 or cam_basis.shape[1] != k):
            raise ValueError(f"cam_basis must be (K, {k}), got {tuple(cam_basis.shape)}")
        self.cam_basis: torch.Tensor | None
        self.register_buffer("cam_basis", cam_basis)
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

    def clear_inference_caches(self) -> None:
        """Drop every dense block's cached BatchNorm folds (rebuilt on the next no-grad call)."""
        for module in self.modules():
            if isinstance(module, _DenseBlock):
                module._folds.clear()

    def set_fast_inference(self, enabled: bool = True) -> ExpansionNetwork:
        """Use (default) or bypass the dense blocks' exact no-grad inference path.

        Bypassing it runs the textbook ``torch.cat`` path everywhere; it exists to compare the
        two (``benchmarks/explain.py`` does) and to rule the fast path out when debugging.
        """
        for module in self.modules():
            if isinstance(module, _DenseBlock):
                module.fast_inference = bool(enabled)
        return self

    @property
    def k(self) -> int:
        """Channels of the full-resolution feature map."""
        return self.to_image.in_channels

    @property
    def cam_channels(self) -> int:
        """Channels of the classifier's CAM features that the high-res map stands in for."""
        return self.k if self.cam_basis is None else int(self.cam_basis.shape[0])

    def cam_weight(self, fc_weight: torch.Tensor) -> torch.Tensor:
        """Return the ``(num_classes, k)`` weights that turn ``hr_features`` into high-res CAMs.

        They apply to :attr:`ExpansionOutput.hr_features`: ``fc_weight`` itself, or
        ``fc_weight @ cam_basis`` (fused).
        """
        if self.cam_basis is None:
            return fc_weight
        basis = self.cam_basis.to(device=fc_weight.device, dtype=fc_weight.dtype)
        return fc_weight @ basis

    @property
    def explained_classes(self) -> list[int] | None:
        """Classes whose high-res CAM the basis holds by construction (``None``: all)."""
        classes = self.config.get("classes")
        return None if classes is None else [int(c) for c in classes]

    def kept_share(self, fc_weight: torch.Tensor) -> torch.Tensor:
        """``(C,)`` share of each class's FC weights that the high-res map keeps (1: exact).

        1 for every class without a basis, and for every explained class of an exact basis;
        below 1 for an opt-in ``rank`` or for classes outside :attr:`explained_classes`.
        """
        return kept_share(fc_weight, self.cam_basis)

    def describe_basis(self, fc_weight: torch.Tensor) -> str:
        """One sentence on what the high-res map is, for pages that show its maps."""
        if self.cam_basis is None:
            return f"the paper's construction: a {self.k}-channel full-resolution map"
        share = self.kept_share(fc_weight)
        classes = self.explained_classes
        chosen = share if classes is None else share[torch.as_tensor(classes)]
        which = "each class" if classes is None else f"each of the {len(chosen)} explained classes"
        if self.config.get("rank") is None:
            return (
                f"exact for {which}: a {self.k}-channel map on an orthonormal basis of their "
                f"FC weights' span stands for the classifier's {self.cam_channels} channels "
                f"(kept share of each class's weights {float(chosen.min()):.6f} at least)"
            )
        return (
            f"a rank-{self.k} approximation (opt-in): it keeps on average "
            f"{100 * float(chosen.mean()):.1f}% ({100 * float(chosen.min()):.1f}–"
            f"{100 * float(chosen.max()):.1f}%) of the FC weight energy of {which}"
        )

    def forward(
        self,
        skips: Sequence[torch.Tensor],
        *,
        reconstruct: bool = True,
        buffers: InferenceBuffers | None = None,
    ) -> ExpansionOutput:
        """Grow ``skips`` (as in :attr:`ClassifierOutput.skips`) back to input resolution.

        Parameters
        ----------
        skips
            The classifier's skip features, highest resolution first.
        reconstruct
            Also compute the 3-channel reconstruction (training needs it; CAMs do not).
        buffers
            Scratch memory to reuse across eval-mode, no-grad calls (see
            :class:`InferenceBuffers`); ignored in training or when autograd records.

        Returns
        -------
        ExpansionOutput
        """
        if len(skips) != len(self.skip_channels):
            raise ValueError(
                f"expected {len(self.skip_channels)} skip tensors, got {len(skips)}; pass "
                "ClassifierOutput.skips of the classifier this network was built for"
            )
        found = [int(s.shape[1]) for s in skips]
        if found != self.skip_channels:
            raise ValueError(f"skip channels: expected {self.skip_channels}, found {found}")
        dtype = self.to_image.weight.dtype
        if not torch.is_autocast_enabled(skips[0].device.type) and any(
            s.dtype != dtype for s in skips
        ):
            # A network in another precision than its classifier, e.g. a bfloat16 copy on a
            # float32 classifier (hrcam.models.with_expansion_dtype).
            skips = [s.to(dtype) for s in skips]
        x = skips[-1]
        for step, skip in zip(self.steps, reversed(skips[:-1]), strict=True):
            # Each step's output is consumed by the next transposed conv right away, so it may
            # be a view of the step's reused buffer (one full copy fewer per step).
            x = step(x, skip, buffers, may_alias=True)
        hr_features = self.head(x)
        return ExpansionOutput(hr_features, self.to_image(hr_features) if reconstruct else None)


_MAX_FULL_RES_CHANNELS = 64  # above this, a full-resolution K-channel map is too big


def build_expansion(
    classifier: CAMClassifier,
    image_size: int = 224,
    growth_rate: int = 16,
    layers_per_block: int = 4,
    rank: int | None = None,
    classes: Sequence[int] | None = None,
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
    rank
        Opt-in low-rank map: keep only the ``rank`` directions of feature space that the
        explained classes' FC weights weigh most (their top right singular vectors); each
        class then keeps :meth:`ExpansionNetwork.kept_share` of its weights. The reference
        code's CAM head is 16 wide. Default ``None``: nothing dropped.
    classes
        The classes the network must explain exactly (e.g. Lite0's 398 ImageNet animal
        classes, :func:`hrcam.models.wrap.imagenet_animal_indices`). A classifier with more
        than 64 CAM channels K (a wrapped ImageNet model: 1280) gets a full-resolution map of
        r channels h, with r the rank of these classes' FC rows, and ``cam_basis`` B, an
        orthonormal basis of their span: the paper's K-channel map is the virtual ``B h``, and
        every listed class's high-res CAM ``w_c · (B h) = (w_c B) · h`` is exact (``w_c`` lies
        in the span). Default: all classes (r = min(K, C), 1000 for Lite0). With at most 64
        channels and neither argument, the paper's construction: the map has K channels.

    Returns
    -------
    ExpansionNetwork

    Notes
    -----
    The last layer's ReLU acts on the r coordinates of ``h``, so with a basis the virtual
    K-channel map ``B h`` is not confined to non-negative values, as the paper's K-channel
    ReLU map is: the price of never building a 1280 × 224² tensor per image.
    """
    classes = _parse_classes(classes, int(classifier.num_classes))
    explained = len(classes) if classes is not None else int(classifier.num_classes)
    most = min(classifier.k, explained)  # the explained FC rows' rank at most
    if rank is not None and (
        not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= most
    ):
        raise ValueError(f"rank must be an integer in [1, {most}], got {rank!r}")
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
    config: dict[str, Any] = {
        "image_size": image_size,
        "growth_rate": growth_rate,
        "layers_per_block": layers_per_block,
    }
    basis = None
    if rank is not None or classes is not None or classifier.k > _MAX_FULL_RES_CHANNELS:
        basis = class_basis(classifier.fc.weight, classes, rank)
        config["rank"] = rank
        config["classes"] = classes
    network = ExpansionNetwork(
        skip_channels=[int(s.shape[1]) for s in skips],
        factors=factors,
        final_factor=image_size // sizes[0],
        k=classifier.k if basis is None else int(basis.shape[1]),
        growth_rate=growth_rate,
        layers_per_block=layers_per_block,
        config=config,
        cam_basis=basis,
    )
    return network.to(device=param.device, dtype=param.dtype)
