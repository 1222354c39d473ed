"""FeatUp's learned joint bilateral upsampler (JBU), in plain PyTorch.

FeatUp (Fu et al., ICLR 2024) lifts a frozen backbone's low-resolution features to the image's
resolution with a stack of x2 *joint bilateral upsampling* stages (its ``JBULearnedRange``).
Each stage upsamples its source bicubically to the guidance grid, then replaces every pixel by
a weighted sum over its 7x7 neighbourhood; the weights are a spatial Gaussian of the window
offsets in FeatUp's units (``linspace(-1, 1, 7)``, so the learned sigma starts at 1, i.e. 3
px) times a range kernel, a softmax over the window of similarities between learned
embeddings of the guidance image, plus a small learned correction of the kernel from the
guidance. The official code computes the per-pixel weighted sum with a compiled extension;
here it is a sum over the 49 window offsets of shifted views (no 49-fold tensor).

The kernels depend on the guidance only, so every stage, and the stack, is *linear in its
source* and acts on each channel alike: upsampling the classifier's CAM features and then
applying a class's weights equals upsampling that class's *exact* low-res CAM, which is what
method ``featup_jbu`` does (:meth:`JBUUpsampler.upsample_cam`), whatever the number of CAM
channels. FeatUp's last 1x1 channel mix of the stack (``fixup_proj``) is left out: a channel
mix cannot act on a one-channel CAM, and without it the statement above is exact.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hrcam.errors import HrcamError
from hrcam.models.fingerprint import classifier_fingerprint

__all__ = [
    "UPSAMPLER_FORMAT",
    "UPSAMPLER_VERSION",
    "JBUStage",
    "JBUUpsampler",
    "UpsamplerError",
    "build_upsampler",
    "channel_norm",
    "jbu_weighted_sum",
    "load_upsampler",
    "save_upsampler",
    "with_upsampler",
]

UPSAMPLER_FORMAT = "hrcam-upsampler"
UPSAMPLER_VERSION = 2  # 2: FeatUp's spatial units, dropout, no channel mix, no basis
RADIUS = 3  # FeatUp's 7x7 window


class UpsamplerError(HrcamError):
    """A missing, untrained or mismatched learned upsampler."""


def channel_norm(features: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Normalise ``(B, C, H, W)`` features over channels at every pixel (FeatUp's ChannelNorm).

    FeatUp appends ``ChannelNorm`` (a ``LayerNorm`` over channels) to the frozen backbone and
    never trains its affine part (it is not in the optimiser), so it is the identity affine.
    """
    return F.layer_norm(features.movedim(1, -1), (features.shape[1],), eps=eps).movedim(-1, 1)


def _window(padded: torch.Tensor, radius: int, size: tuple[int, int]) -> Iterator[torch.Tensor]:
    """Yield the ``(2 r + 1)^2`` shifted views of a reflect-padded map, row-major."""
    h, w = size
    d = 2 * radius + 1
    for dy in range(d):
        for dx in range(d):
            yield padded[..., dy : dy + h, dx : dx + w]


def jbu_weighted_sum(source: torch.Tensor, kernel: torch.Tensor, radius: int) -> torch.Tensor:
    """Replace every pixel by a per-pixel weighted sum over its window (reflect-padded).

    Parameters
    ----------
    source
        ``(B, C, H, W)``.
    kernel
        ``(B, (2 r + 1)^2, H, W)`` weights, row-major over the window; shared by all channels.
    radius
        The window's radius r.

    Returns
    -------
    torch.Tensor
        ``(B, C, H, W)``: ``out[b, c, y, x] = sum_p kernel[b, p, y, x] * window_p(source)``.
    """
    h, w = source.shape[-2:]
    padded = F.pad(source, [radius] * 4, mode="reflect")
    out = torch.zeros_like(source)
    # Shifted views cost no memory, and autograd keeps views only: far less than F.unfold's
    # (B, C, 49, H, W) copy, which at 224 px and 30 channels is 590 MB an image.
    for p, view in enumerate(_window(padded, radius, (h, w))):
        out = out + view * kernel[:, p : p + 1]
    return out


class JBUStage(nn.Module):
    """One x2 learned JBU stage (FeatUp's ``JBULearnedRange``).

    Parameters
    ----------
    guidance_channels
        Channels of the guidance image (3).
    key_channels
        Width of the learned guidance embedding of the range kernel (FeatUp: 32).
    radius
        Window radius (3: a 7x7 window).
    """

    def __init__(self, guidance_channels: int = 3, key_channels: int = 32, radius: int = RADIUS):
        super().__init__()
        self.radius = radius
        taps = (2 * radius + 1) ** 2
        self.range_temp = nn.Parameter(torch.tensor(0.0))
        self.range_proj = nn.Sequential(
            nn.Conv2d(guidance_channels, key_channels, 1),
            nn.GELU(),
            nn.Dropout2d(0.1),
            nn.Conv2d(key_channels, key_channels, 1),
        )
        self.sigma_spatial = nn.Parameter(torch.tensor(1.0))
        self.kernel_fixup = nn.Sequential(
            nn.Conv2d(guidance_channels + taps, taps, 1),
            nn.GELU(),
            nn.Dropout2d(0.1),
            nn.Conv2d(taps, taps, 1),
        )

    def spatial_kernel(self) -> torch.Tensor:
        """``(d*d,)`` Gaussian of the window offsets in FeatUp's units (``linspace(-1, 1, d)``)."""
        d = 2 * self.radius + 1
        offsets = torch.linspace(
            -1, 1, d, dtype=self.sigma_spatial.dtype, device=self.sigma_spatial.device
        )
        dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")
        spread = 2 * self.sigma_spatial.square()
        return torch.exp(-(dx.square() + dy.square()) / spread).reshape(-1)

    def kernel(self, guidance: torch.Tensor) -> torch.Tensor:
        """``(B, d*d, H, W)`` normalised weights from the guidance ``(B, 3, H, W)``."""
        h, w = guidance.shape[-2:]
        keys = self.range_proj(guidance)
        padded = F.pad(keys, [self.radius] * 4, mode="reflect")
        similarity = torch.stack(
            [(view * keys).sum(1) for view in _window(padded, self.radius, (h, w))], 1
        )
        temp = self.range_temp.exp().clamp(1e-4, 1e4)
        range_kernel = torch.softmax(temp * similarity, 1)
        combined = range_kernel * self.spatial_kernel().view(1, -1, 1, 1)
        combined = combined / combined.sum(1, keepdim=True).clamp_min(1e-7)
        return combined + 0.1 * self.kernel_fixup(torch.cat([combined, guidance], 1))

    def apply(self, source: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        """Upsample ``source`` to ``kernel``'s grid (bicubic first, then the JBU sum)."""
        up = F.interpolate(source, kernel.shape[-2:], mode="bicubic", align_corners=False)
        return jbu_weighted_sum(up, kernel.to(up.dtype), self.radius)

    def forward(self, source: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        """Upsample ``source`` to ``guidance``'s grid."""
        return self.apply(source, self.kernel(guidance))


class JBUUpsampler(nn.Module):
    """A stack of x2 :class:`JBUStage` s (FeatUp's ``JBUStack``, without its channel mix).

    Parameters
    ----------
    stages
        Number of x2 stages: log2 of the classifier's stride (FeatUp's four for stride 16).
    config
        Builder arguments, stored in checkpoints.
    """

    def __init__(self, stages: int, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.stages = nn.ModuleList(JBUStage() for _ in range(stages))
        self.register_buffer("trained", torch.tensor(False))
        self.config = dict(config or {})

    @property
    def scale(self) -> int:
        """Total upsampling factor, ``2 ** stages``."""
        return 2 ** len(self.stages)

    def kernels(self, guidance: torch.Tensor, low_size: tuple[int, int]) -> list[torch.Tensor]:
        """Every stage's kernel for a source of ``low_size`` (they depend on the image only).

        Computed once, they serve any number of sources of that image (the jitters and random
        projections of one training step, or every class's CAM).
        """
        out = []
        h, w = int(low_size[0]), int(low_size[1])
        for stage in self.stages:
            h, w = h * 2, w * 2
            out.append(stage.kernel(F.adaptive_avg_pool2d(guidance, (h, w))))
        return out

    def upsample(self, source: torch.Tensor, kernels: list[torch.Tensor]) -> torch.Tensor:
        """Run the stack on ``source`` with precomputed :meth:`kernels`."""
        for stage, kernel in zip(self.stages, kernels, strict=True):
            source = stage.apply(source, kernel)
        return source

    def forward(self, source: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        """Upsample ``(B, C, h, w)`` features guided by the normalised image ``(B, 3, H, W)``.

        ``H = h * scale``; the result is ``(B, C, H, W)``.
        """
        return self.upsample(source, self.kernels(guidance, tuple(source.shape[-2:])))

    def upsample_cam(self, low_cam: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        """Upsample exact low-res CAMs ``(B, h, w)`` to ``(B, H, W)``.

        The stack is linear and channel-blind, so this equals the class weights applied to the
        upsampled K-channel features, computed on one channel.
        """
        return self(low_cam.unsqueeze(1), guidance)[:, 0]


def build_upsampler(classifier: nn.Module) -> JBUUpsampler:
    """Build an untrained :class:`JBUUpsampler` for ``classifier``.

    The number of x2 stages is log2 of the classifier's stride. The config (and so every
    checkpoint of it) records the classifier's CAM width k, its stride and its
    :func:`~hrcam.models.fingerprint.classifier_fingerprint`.
    """
    stride = int(classifier.stride)
    stages = round(math.log2(stride))
    if 2**stages != stride:
        raise UpsamplerError(f"the learned JBU needs a power-of-two stride, got {stride}")
    # The classifier's identity: loading this upsampler for any other classifier is refused.
    fingerprint = classifier_fingerprint(classifier)
    config = {
        "k": int(classifier.k),
        "stages": stages,
        "version": UPSAMPLER_VERSION,
        "classifier_fingerprint": fingerprint,
    }
    param = next(classifier.parameters())
    return JBUUpsampler(stages, config).to(device=param.device)


def save_upsampler(
    path: str | os.PathLike, upsampler: JBUUpsampler, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``upsampler`` (and plain-data ``extra``) atomically to ``path``."""
    from hrcam.models.checkpoint import atomic_torch_save

    state = {k: v.detach().cpu() for k, v in upsampler.state_dict().items()}
    payload = {
        "format": UPSAMPLER_FORMAT,
        "config": dict(upsampler.config),
        "upsampler": state,
        "extra": dict(extra or {}),
    }
    return atomic_torch_save(payload, path)


def read_upsampler_payload(path: str | os.PathLike) -> dict[str, Any]:
    """Read an upsampler checkpoint's payload (``torch.load(weights_only=True)``).

    Raises
    ------
    UpsamplerError
        The file is missing, or is not an hrcam upsampler checkpoint (any other file, junk
        included, is named as such instead of surfacing the unpickler's error).
    """
    path = Path(path)
    if not path.is_file():
        raise UpsamplerError(
            f"{path} does not exist: train an upsampler first "
            "(`hrcam train upsampler --classifier CKPT --data DIR --run-dir DIR`)"
        )
    not_ours = f"{path} is not an hrcam upsampler checkpoint ({UPSAMPLER_FORMAT})"
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as exc:  # pickle, zip and torch raise a dozen kinds for a junk file
        raise UpsamplerError(
            f"{not_ours}: torch.load cannot read it ({type(exc).__name__})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != UPSAMPLER_FORMAT:
        raise UpsamplerError(not_ours)
    parts = (payload.get("config"), payload.get("upsampler"))
    if not all(isinstance(part, dict) for part in parts):
        raise UpsamplerError(f"{not_ours}: its config or weights are missing")
    return payload


def load_upsampler(
    path: str | os.PathLike,
    classifier: nn.Module | None = None,
    classifier_source: str | os.PathLike | None = None,
) -> JBUUpsampler:
    """Rebuild a :class:`JBUUpsampler` from ``path``; check it fits ``classifier`` if given.

    Parameters
    ----------
    path
        An upsampler checkpoint (``hrcam train upsampler``'s ``best.pt``).
    classifier
        The classifier it will serve: its k, stride and
        :func:`~hrcam.models.fingerprint.classifier_fingerprint` must match the ones the
        upsampler was trained for.
    classifier_source
        Where ``classifier`` was loaded from (its checkpoint), named in a refusal.

    Raises
    ------
    UpsamplerError
        Not an upsampler checkpoint, or trained for another classifier (the message names
        both checkpoints and both fingerprints).

    Notes
    -----
    Upsamplers written before hrcam recorded the classifier's fingerprint cannot be checked:
    they are accepted with a warning that says so (retrain to have them checked), and the
    evaluation report says the identity was not checked.
    """
    payload = read_upsampler_payload(path)
    config = payload["config"]
    state = payload["upsampler"]
    if config.get("version") != UPSAMPLER_VERSION:
        raise UpsamplerError(
            f"{path} was written by an earlier hrcam (upsampler format version "
            f"{config.get('version', 1)}, this hrcam reads {UPSAMPLER_VERSION}: FeatUp's "
            "spatial units, no channel mix); retrain it with `hrcam train upsampler`"
        )
    try:
        upsampler = JBUUpsampler(config["stages"], config)
        upsampler.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UpsamplerError(
            f"{path} is not a usable hrcam upsampler checkpoint: its weights do not match its "
            f"config ({reason[:120]})"
        ) from None
    extra = payload.get("extra") if isinstance(payload.get("extra"), dict) else {}
    upsampler.checkpoint = str(path)
    upsampler.trained_for = extra.get("classifier_checkpoint")
    if classifier is not None:
        source = None if classifier_source is None else str(classifier_source)
        _check_fits(upsampler, classifier, str(path), source)
    return upsampler


def _check_fits(
    upsampler: JBUUpsampler, classifier: nn.Module, where: str, source: str | None = None
) -> None:
    """Refuse an upsampler trained for another classifier (shape first, then identity)."""
    k, stride = int(classifier.k), int(classifier.stride)
    if upsampler.config.get("k") != k or upsampler.scale != stride:
        raise UpsamplerError(
            f"{where}: the upsampler was trained for k={upsampler.config.get('k')} CAM channels "
            f"at stride {upsampler.scale}, the classifier has k={k} at stride {stride}; "
            "train one for this classifier (hrcam train upsampler)"
        )
    recorded = upsampler.config.get("classifier_fingerprint")
    if recorded is None:
        warnings.warn(
            f"hrcam: {where} records no classifier fingerprint (written before hrcam recorded "
            "one), so it cannot be checked that it was trained for this classifier; retrain it "
            "(hrcam train upsampler) to have it checked",
            UserWarning,
            stacklevel=3,
        )
        return
    actual = classifier_fingerprint(classifier)
    if recorded != actual:
        trained_for = getattr(upsampler, "trained_for", None) or "another classifier"
        this = source or "this classifier"
        raise UpsamplerError(
            f"{where} was trained for the classifier of {trained_for} ({_short(recorded)}), "
            f"not for the classifier of {this} ({_short(actual)}); train one for it (hrcam "
            f"train upsampler --classifier {source or 'CKPT'} --data DIR --run-dir DIR)"
        )


def _short(fingerprint: str) -> str:
    """Return a fingerprint cut to its hash name and 16 hex digits, for messages."""
    return fingerprint[: len("sha256:") + 16]


def with_upsampler(model: nn.Module, upsampler: JBUUpsampler) -> nn.Module:
    """Return an :class:`~hrcam.models.HRCAM` that also carries a trained upsampler.

    Method ``featup_jbu`` reads it from the model's ``upsampler`` attribute; every other
    method sees the same classifier and expansion network.
    """
    from hrcam.models.combined import HRCAM

    if not bool(upsampler.trained):
        raise UpsamplerError(
            "this upsampler is untrained: train it (hrcam train upsampler) and load its best.pt"
        )
    _check_fits(upsampler, model.classifier, getattr(upsampler, "checkpoint", "upsampler"))
    out = HRCAM(model.classifier, model.expansion)
    param = next(model.classifier.parameters())
    out.upsampler = upsampler.to(param.device).eval()
    return out
