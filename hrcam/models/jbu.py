"""A FeatUp-style learned joint bilateral upsampler (JBU), in plain PyTorch.

FeatUp (Fu et al., ICLR 2024) lifts a frozen backbone's low-resolution features to the image's
resolution with a stack of x2 *joint bilateral upsampling* stages. Each stage upsamples its
source bicubically to the guidance grid, then replaces every pixel by a weighted sum over its
7x7 neighbourhood; the weights are a spatial Gaussian (learned sigma) times a range kernel, a
softmax over the window of similarities between learned embeddings of the guidance image (plus
a small learned correction of the kernel from the guidance). The official code computes the
per-pixel weighted sum with a compiled extension; here it is ``F.unfold``.

The kernels depend on the guidance only, so every stage, and the stack, is *linear in its
source* and acts on each channel alike: upsampling the CAM features and then applying the
class weights equals upsampling the CAM (:meth:`JBUUpsampler.upsample_cam`). The final 1x1
correction (FeatUp's ``fixup_proj``) is kept linear too (no bias), so it folds into the class
weights.

For a classifier with many CAM channels (a wrapped ImageNet model, K = 1280) the upsampler
works on the same r-channel basis as the expansion network (``cam_basis``, the top-r right
singular vectors of the FC weights): it upsamples ``cam_basis.T @ f``.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hrcam.errors import HrcamError
from hrcam.models.fingerprint import classifier_fingerprint

__all__ = [
    "UPSAMPLER_FORMAT",
    "JBUStage",
    "JBUUpsampler",
    "UpsamplerError",
    "build_upsampler",
    "jbu_weighted_sum",
    "load_upsampler",
    "save_upsampler",
    "with_upsampler",
]

UPSAMPLER_FORMAT = "hrcam-upsampler"
RADIUS = 3  # FeatUp's 7x7 window


class UpsamplerError(HrcamError):
    """A missing, untrained or mismatched learned upsampler."""


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
    b, c, h, w = source.shape
    d = 2 * radius + 1
    padded = F.pad(source, [radius] * 4, mode="reflect")
    windows = F.unfold(padded, d).view(b, c, d * d, h, w)
    return (windows * kernel.unsqueeze(1)).sum(2)


class JBUStage(nn.Module):
    """One x2 learned JBU stage (FeatUp's ``JBULearnedRange``).

    Parameters
    ----------
    guidance_channels
        Channels of the guidance image (3).
    key_channels
        Width of the learned guidance embedding of the range kernel.
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
            nn.Conv2d(key_channels, key_channels, 1),
        )
        self.sigma_spatial = nn.Parameter(torch.tensor(1.0))
        self.kernel_fixup = nn.Sequential(
            nn.Conv2d(guidance_channels + taps, taps, 1), nn.GELU(), nn.Conv2d(taps, taps, 1)
        )

    def spatial_kernel(self) -> torch.Tensor:
        """``(d*d,)`` Gaussian of the window offsets with the learned sigma."""
        r = self.radius
        offsets = torch.arange(
            -r, r + 1, dtype=self.sigma_spatial.dtype, device=self.sigma_spatial.device
        )
        dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")
        sigma = self.sigma_spatial.abs().clamp_min(1e-3)
        return torch.exp(-(dx.square() + dy.square()) / (2 * sigma.square())).reshape(-1)

    def kernel(self, guidance: torch.Tensor) -> torch.Tensor:
        """``(B, d*d, H, W)`` normalised weights from the guidance ``(B, 3, H, W)``."""
        b, _, h, w = guidance.shape
        d = 2 * self.radius + 1
        keys = self.range_proj(guidance)
        windows = F.unfold(F.pad(keys, [self.radius] * 4, mode="reflect"), d)
        windows = windows.view(b, keys.shape[1], d * d, h, w)
        temp = self.range_temp.exp().clamp(1e-4, 1e4)
        range_kernel = torch.softmax(temp * (windows * keys.unsqueeze(2)).sum(1), 1)
        combined = range_kernel * self.spatial_kernel().view(1, -1, 1, 1)
        combined = combined / combined.sum(1, keepdim=True).clamp_min(1e-7)
        return combined + 0.1 * self.kernel_fixup(torch.cat([combined, guidance], 1))

    def forward(self, source: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        """Upsample ``source`` to ``guidance``'s grid (bicubic first, then the JBU sum)."""
        up = F.interpolate(source, guidance.shape[-2:], mode="bicubic", align_corners=False)
        return jbu_weighted_sum(up, self.kernel(guidance), self.radius)


class JBUUpsampler(nn.Module):
    """A stack of x2 :class:`JBUStage` s and a linear 1x1 correction (FeatUp's ``JBUStack``).

    Parameters
    ----------
    channels
        Channels of the features it upsamples (k, or r with a basis).
    stages
        Number of x2 stages: log2 of the classifier's stride (FeatUp's four for stride 16).
    cam_basis
        Optional ``(K, r)`` basis: the upsampler then works on ``cam_basis.T @ f``.
    config
        Builder arguments, stored in checkpoints.
    """

    def __init__(
        self,
        channels: int,
        stages: int,
        cam_basis: torch.Tensor | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.stages = nn.ModuleList(JBUStage() for _ in range(stages))
        self.correction = nn.Conv2d(channels, channels, 1, bias=False)
        nn.init.zeros_(self.correction.weight)
        self.register_buffer("cam_basis", cam_basis)
        self.register_buffer("trained", torch.tensor(False))
        self.config = dict(config or {})

    @property
    def scale(self) -> int:
        """Total upsampling factor, ``2 ** stages``."""
        return 2 ** len(self.stages)

    def project(self, cam_features: torch.Tensor) -> torch.Tensor:
        """Project the classifier's CAM features on the upsampler's basis (none: unchanged)."""
        if self.cam_basis is None:
            return cam_features
        basis = self.cam_basis.to(cam_features)
        return torch.einsum("bkhw,kr->brhw", cam_features, basis)

    def class_weight(self, fc_weight: torch.Tensor) -> torch.Tensor:
        """``(C, channels)`` weights on the upsampled features (FC weights, basis fused)."""
        if self.cam_basis is None:
            return fc_weight
        return fc_weight @ self.cam_basis.to(fc_weight)

    def _stack(self, source: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            size = (source.shape[-2] * 2, source.shape[-1] * 2)
            source = stage(source, F.adaptive_avg_pool2d(guidance, size))
        return source

    def forward(self, source: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        """Upsample ``(B, channels, h, w)`` features guided by the normalised image.

        ``guidance`` is ``(B, 3, H, W)`` with ``H = h * scale``; the result is
        ``(B, channels, H, W)``.
        """
        up = self._stack(source, guidance)
        return up + 0.1 * self.correction(up)

    def upsample_cam(
        self, low_cam: torch.Tensor, weight: torch.Tensor, guidance: torch.Tensor
    ) -> torch.Tensor:
        """Upsample class maps directly: equal to ``weight`` applied to the upsampled features.

        Parameters
        ----------
        low_cam
            ``(B, channels, h, w)`` features on the upsampler's basis (:meth:`project`).
        weight
            ``(B, channels)`` class weights per image (:meth:`class_weight` rows).
        guidance
            ``(B, 3, H, W)`` normalised images.

        Returns
        -------
        torch.Tensor
            ``(B, H, W)`` high-res CAMs. Every stage is linear in its source and the same for
            each channel, and the correction is a linear channel mix, so this is
            ``sum_k w_k (U f)_k`` computed on one channel instead of ``channels``.
        """
        eye = torch.eye(weight.shape[1], dtype=weight.dtype, device=weight.device)
        mix = eye + 0.1 * self.correction.weight.view(weight.shape[1], weight.shape[1])
        folded = weight @ mix  # (B, channels): the correction folded into the weights
        cam = torch.einsum("bk,bkhw->bhw", folded, low_cam).unsqueeze(1)
        return self._stack(cam, guidance)[:, 0]


def build_upsampler(classifier: nn.Module, rank: int | None = None) -> JBUUpsampler:
    """Build an untrained :class:`JBUUpsampler` for ``classifier`` (expansion network's basis).

    The basis is :func:`hrcam.models.expansion.build_expansion`'s: none when the classifier has
    at most 64 CAM channels, else the top-r right singular vectors of its FC weights (r = 16
    by default). The number of x2 stages is log2 of the classifier's stride. The config (and
    so every checkpoint of it) records the classifier's
    :func:`~hrcam.models.fingerprint.classifier_fingerprint`.
    """
    from hrcam.models.expansion import _DEFAULT_RANK, _MAX_FULL_RES_CHANNELS, _fc_basis

    stride = int(classifier.stride)
    stages = round(math.log2(stride))
    if 2**stages != stride:
        raise UpsamplerError(f"the learned JBU needs a power-of-two stride, got {stride}")
    k = int(classifier.k)
    if rank is None and k > _MAX_FULL_RES_CHANNELS:
        rank = min(_DEFAULT_RANK, k, int(classifier.num_classes))
    basis = None if rank is None else _fc_basis(classifier.fc.weight, rank)
    # The classifier's identity: loading this upsampler for any other classifier is refused.
    fingerprint = classifier_fingerprint(classifier)
    config = {"k": k, "stages": stages, "rank": rank, "classifier_fingerprint": fingerprint}
    param = next(classifier.parameters())
    upsampler = JBUUpsampler(k if rank is None else rank, stages, basis, config)
    return upsampler.to(device=param.device)


def save_upsampler(
    path: str | os.PathLike, upsampler: JBUUpsampler, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``upsampler`` (and plain-data ``extra``) atomically to ``path``."""
    from hrcam.models.checkpoint import atomic_torch_save

    state = {k: v.detach().cpu() for k, v in upsampler.state_dict().items()}
    payload = {
        "format": UPSAMPLER_FORMAT,
        "config": dict(upsampler.config),
        "has_basis": upsampler.cam_basis is not None,
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
    try:
        channels = config["k"] if config["rank"] is None else config["rank"]
        basis = state.get("cam_basis") if payload["has_basis"] else None
        upsampler = JBUUpsampler(channels, config["stages"], basis, config)
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
