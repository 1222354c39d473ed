"""Learned-JBU training as FeatUp trains its JBU (multi-view reconstruction, no labels).

Per step and image, ``N_JITTERS`` (5) jitters as FeatUp draws them (reflect padding by 20 px
of 224, in half the draws a zoom in by up to 2x, a random crop back to the image size, a
horizontal flip in half the draws), each expressed as one affine warp drawn from the loop's
augmentation generator so that a resume repeats it. The classifier's CAM features pass through
FeatUp's ``ChannelNorm``; for each jitter, a fresh random projection to ``RANDOM_PROJECTION``
(30) unit-norm directions of those K channels is upsampled with the image's kernels, warped,
brought back to the classifier's grid by the downsampler, and must match the same projection
of the classifier's features of the warped image, weighed by FeatUp's predicted uncertainty
(``ScaleNet``)::

    loss = sum_j mean( mse_j / (2 s_j^2) + log s_j ) / N_JITTERS + CRF_WEIGHT * crf

with ``s_j = exp(conv(f(warp_j(x))) + 0.1)`` and ``crf`` FeatUp's sampled CRF loss on the
first jitter's high-res features (weight 0.001); no total-variation term (FeatUp's JBU
recipe: TV 0). NAdam at lr 1e-3 is the CLI's default for this task.

Every difference from FeatUp's JBU recipe, with its reason, is in
:data:`FEATUP_DIFFERENCES` (the book lists them).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from hrcam.train.callbacks import Callback
from hrcam.train.config import TrainConfig, task_config
from hrcam.train.loop import fit
from hrcam.train.result import TrainResult
from hrcam.train.rng import seed_everything
from hrcam.train.tasks import ImageTask, open_splits

__all__ = [
    "CRF_WEIGHT",
    "FEATUP_DIFFERENCES",
    "N_JITTERS",
    "RANDOM_PROJECTION",
    "LearnedDownsampler",
    "MultiViewOutput",
    "ScaleNet",
    "UpsamplerTask",
    "UpsamplerTrainer",
    "jitter_thetas",
    "multiview_loss",
    "sampled_crf_loss",
    "train_upsampler",
    "warp",
]

N_JITTERS = 5
"""Jitters per image and step (FeatUp's ``n_jitters``)."""

FEATUP_DIFFERENCES: tuple[str, ...] = (
    "the downsampler is FeatUp's simple learned kernel, not its attention downsampler, whose "
    "attention reads every feature channel at full resolution (1280 channels at 224 px per "
    "jitter), beyond a CPU's budget",
    "the upsampler sees random 30-dimensional projections of the features, not all K "
    "channels: its kernels are channel-blind, so only the loss could tell, and FeatUp computes "
    "its loss on such projections too",
    "FeatUp's last 1x1 channel mix of the stack (fixup_proj) is left out: it cannot act on a "
    "one-channel CAM, and without it the learned JBU applied to the exact low-res CAM equals "
    "the class weights applied to the upsampled features",
    "FeatUp clips gradients to norm 1e-4 for its first 10 steps; this training loop does not",
    "the CRF term pairs the first jitter's high-res features with the unwarped image (FeatUp "
    "pairs the warped features with the unwarped image, which we read as an oversight)",
)
"""Every way this training departs from FeatUp's JBU recipe, with its reason (for the book)."""
RANDOM_PROJECTION = 30
"""Random unit-norm directions the loss compares per jitter (FeatUp's ``random_projection``)."""
CRF_WEIGHT = 0.001
"""Weight of FeatUp's sampled CRF loss (its JBU recipe's ``crf_weight``)."""
CRF_SAMPLES = 1000
MAX_ZOOM = 2.0  # FeatUp's max_zoom
PAD_FRACTION = 20 / 224  # FeatUp's max_pad of 20 px at its 224-px load size


def jitter_thetas(
    n: int, generator: torch.Generator, device: Any = "cpu", size: int = 224
) -> torch.Tensor:
    """``(n, 2, 3)`` affine warps equal to FeatUp's ``sample_transform`` + ``apply_jitter``.

    FeatUp reflect-pads the image by ``max_pad``, zooms in by ``z ~ U(1, 2)`` in half the
    draws (else 1), crops a window of the image's size at a uniform integer offset and flips
    it in half the draws. In the normalised coordinates of ``F.affine_grid`` an output
    position ``u`` then reads the input at ``±u / z + t`` with
    ``t = (1 + 2 offset / size) / z - 2 pad / size - 1``.
    """
    u = torch.rand(n, 5, generator=generator, device=generator.device).to(device)
    pad = round(PAD_FRACTION * size)
    zoom = torch.where(u[:, 0] < 0.5, 1.0 + (MAX_ZOOM - 1.0) * u[:, 1], torch.ones_like(u[:, 1]))
    valid = torch.floor((size + 2 * pad) * zoom) - size + 1
    offsets = torch.floor(u[:, 2:4] * valid.unsqueeze(1))  # (n, 2): y, x
    flip = torch.where(u[:, 4] < 0.5, -1.0, 1.0)
    shift = (1 + 2 * offsets / size) / zoom.unsqueeze(1) - 2 * pad / size - 1
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = flip / zoom
    theta[:, 1, 1] = 1.0 / zoom
    theta[:, 0, 2] = shift[:, 1]  # a flip mirrors the crop: the sign of u only
    theta[:, 1, 2] = shift[:, 0]
    return theta


def warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Warp ``(B, C, H, W)`` by ``theta`` (bilinear, reflected borders)."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def sampled_crf_loss(
    guidance: torch.Tensor, features: torch.Tensor, coords: torch.Tensor
) -> torch.Tensor:
    """FeatUp's ``SampledCRFLoss`` (alpha .1, beta .15, gamma .005, w1 10, w2 3, shift 0).

    ``coords`` is ``(2, n)`` integer pixel positions (rows, columns) drawn uniformly; the loss
    is the mean over pairs of the features' squared distance times a bilateral affinity of
    the positions and the guidance colours plus a spatial one.
    """
    h, w = guidance.shape[-2:]
    scale = torch.tensor([h, w], device=coords.device, dtype=torch.float32).unsqueeze(-1)
    norm_coords = coords.float() / scale
    g = guidance[:, :, coords[0], coords[1]].float()
    f = features[:, :, coords[0], coords[1]].float()
    coord_diff = (norm_coords.unsqueeze(-1) - norm_coords.unsqueeze(-2)).square().sum(0)[None]
    guidance_diff = (g.unsqueeze(-1) - g.unsqueeze(-2)).square().sum(1)
    affinity = 10.0 * torch.exp(-coord_diff / (2 * 0.1) - guidance_diff / (2 * 0.15))
    affinity = affinity + 3.0 * torch.exp(-coord_diff / (2 * 0.005))
    feat_diff = (f.unsqueeze(-1) - f.unsqueeze(-2)).square().sum(1)
    return (feat_diff * affinity).mean()


class LearnedDownsampler(nn.Module):
    """A learned ``stride x stride`` pooling kernel (softmax weights; starts as average pooling).

    FeatUp's ``SimpleDownsampler`` with the kernel the size of the stride.
    """

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.logits = nn.Parameter(torch.zeros(stride * stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool ``(B, C, H, W)`` to ``(B, C, H / stride, W / stride)``."""
        c = x.shape[1]
        kernel = torch.softmax(self.logits, 0).view(1, 1, self.stride, self.stride)
        return F.conv2d(x, kernel.expand(c, 1, -1, -1).to(x.dtype), stride=self.stride, groups=c)


class ScaleNet(nn.Module):
    """FeatUp's predicted uncertainty: ``s = exp(conv1x1(f) + 0.1)``, weights scaled by 0.1."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Conv2d(channels, 1, 1)
        with torch.no_grad():
            self.net.weight.mul_(0.1)
            self.net.bias.mul_(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, h, w)`` scales of the features ``x``."""
        return torch.exp(self.net(x) + 0.1).clamp_min(1e-4)


class MultiViewOutput(NamedTuple):
    """What one training forward gives the loss (lists: one entry per jitter)."""

    targets: list[torch.Tensor]  # projected classifier features of each warped image
    predicted: list[torch.Tensor]  # projected, warped, downsampled high-res features
    scales: list[torch.Tensor]  # (B, 1, h, w) predicted uncertainty per jitter
    crf: torch.Tensor  # FeatUp's sampled CRF loss (0 when its weight is 0)


def multiview_loss(output: MultiViewOutput, crf_weight: float = CRF_WEIGHT) -> torch.Tensor:
    """FeatUp's JBU loss: uncertainty-weighted reconstruction over jitters plus the CRF term."""
    total = torch.zeros((), device=output.crf.device)
    n = len(output.targets)
    for target, predicted, scales in zip(
        output.targets, output.predicted, output.scales, strict=True
    ):
        mse = (predicted.float() - target.float()).square()
        s = scales.float()
        total = total + (mse / (2 * s.square()) + s.log()).mean() / n
    return total + crf_weight * output.crf


class UpsamplerTrainer(nn.Module):
    """Frozen classifier + upsampler + the training-only downsampler and uncertainty head.

    ``forward(inputs)`` reads the warps drawn for this batch from :attr:`thetas` (``(J, B, 2,
    3)``), the random projections from :attr:`projections` (``(J, B, K, 30)``) and the CRF's
    pixel pairs from :attr:`crf_coords`.
    """

    def __init__(self, classifier: nn.Module, upsampler: nn.Module) -> None:
        super().__init__()
        from hrcam.models.combined import freeze

        self.classifier = freeze(classifier)
        self.upsampler = upsampler
        self.downsampler = LearnedDownsampler(int(classifier.stride))
        self.scale_net = ScaleNet(int(classifier.k))
        self.thetas: torch.Tensor | None = None
        self.projections: torch.Tensor | None = None
        self.crf_coords: torch.Tensor | None = None

    def train(self, mode: bool = True) -> UpsamplerTrainer:
        """Set the learned parts' mode; the classifier always stays in eval mode."""
        super().train(mode)
        self.classifier.eval()
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x``'s CAM features through FeatUp's ChannelNorm (no gradient)."""
        from hrcam.models.jbu import channel_norm

        with torch.no_grad():
            return channel_norm(self.classifier.forward_features(x).cam_features.float())

    def forward(self, x: torch.Tensor) -> MultiViewOutput:
        """Upsample projections of ``x``'s features, warp them and pool them back, per jitter."""
        if self.thetas is None or self.projections is None:
            raise RuntimeError("draw the batch's warps first (UpsamplerTask.preprocess)")
        x = x.float()
        features = self.features(x)
        kernels = self.upsampler.kernels(x, tuple(features.shape[-2:]))
        targets, predicted, scales = [], [], []
        crf = torch.zeros((), device=x.device)
        for j, (theta, proj) in enumerate(zip(self.thetas, self.projections, strict=True)):
            high = self.upsampler.upsample(torch.einsum("bkhw,bkd->bdhw", features, proj), kernels)
            if j == 0 and self.crf_coords is not None:
                crf = sampled_crf_loss(x, high, self.crf_coords)
            moved = self.features(warp(x, theta))
            targets.append(torch.einsum("bkhw,bkd->bdhw", moved, proj))
            predicted.append(self.downsampler(warp(high, theta)))
            scales.append(self.scale_net(moved))
        return MultiViewOutput(targets, predicted, scales, crf)


class UpsamplerTask(ImageTask):
    """Multi-view reconstruction training of a :class:`~hrcam.models.jbu.JBUUpsampler`.

    The classifier is frozen; the image augmentation is the multi-view jitter itself (the
    paper's augmentation of the expansion task is not applied on top).
    """

    name = "upsampler"
    monitor = "val_loss"
    monitor_mode = "min"

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Upsampler, downsampler and uncertainty head (not the classifier)."""
        model = self.model
        parts = (model.upsampler, model.downsampler, model.scale_net)
        return [p for part in parts for p in part.parameters() if p.requires_grad]

    def set_train_mode(self) -> None:
        """Training mode for the learned parts; the classifier stays in eval mode."""
        self.model.train()

    def preprocess(
        self, images: torch.Tensor, train: bool, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Normalise, and draw this batch's jitters, projections and CRF pixel pairs.

        Validation draws a fixed set (seed 0), so that its loss compares across epochs.
        """
        from hrcam.models import input_stats, normalize_images

        if generator is None:
            generator = torch.Generator(device=images.device.type).manual_seed(0)
        b, _, h, w = images.shape
        model = self.model
        k = int(model.classifier.k)
        model.thetas = torch.stack(
            [jitter_thetas(b, generator, images.device, h) for _ in range(N_JITTERS)]
        )
        proj = torch.randn(
            N_JITTERS, b, k, RANDOM_PROJECTION, generator=generator, device=generator.device
        ).to(images.device)
        model.projections = proj / proj.square().sum(2, keepdim=True).sqrt()
        rows = torch.randint(0, h, (CRF_SAMPLES,), generator=generator, device=generator.device)
        cols = torch.randint(0, w, (CRF_SAMPLES,), generator=generator, device=generator.device)
        model.crf_coords = torch.stack([rows, cols]).to(images.device)
        mean, std = input_stats(model.classifier)
        return normalize_images(images, mean=mean, std=std)

    def loss(self, output: Any, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """:func:`multiview_loss`."""
        return multiview_loss(output)

    def eval_sums(
        self, output: Any, inputs: torch.Tensor, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Return the summed loss and reconstruction error (relative to the features' energy)."""
        n = inputs.shape[0]
        relative = torch.zeros(n, dtype=torch.float64, device=inputs.device)
        for target, predicted in zip(output.targets, output.predicted, strict=True):
            err = (predicted.float() - target.float()).square().sum(dim=(1, 2, 3))
            energy = target.float().square().sum(dim=(1, 2, 3)).clamp_min(1e-8)
            relative += (err / energy).double() / len(output.targets)
        return {
            "loss": multiview_loss(output).double() * n,
            "relative_error": relative.sum(),
        }

    def save(self, path: Path, extra: dict[str, Any]) -> None:
        """Write the upsampler (marked trained) with the training-only parts in ``extra``."""
        from hrcam.models.jbu import save_upsampler

        self.model.upsampler.trained.fill_(True)
        training = {
            "downsampler": {
                k: v.detach().cpu() for k, v in self.model.downsampler.state_dict().items()
            },
            "scale_net": {
                k: v.detach().cpu() for k, v in self.model.scale_net.state_dict().items()
            },
        }
        save_upsampler(path, self.model.upsampler, {**extra, **self.metadata, "training": training})

    def load(self, path: Path) -> dict[str, Any]:
        """Load an upsampler checkpoint of this run; return its ``extra`` payload."""
        from hrcam.models.jbu import read_upsampler_payload

        payload = read_upsampler_payload(path)
        extra = dict(payload["extra"])
        recorded = payload["config"].get("classifier_fingerprint")
        ours = self.model.upsampler.config.get("classifier_fingerprint")
        if recorded is not None and recorded != ours:  # the classifier changed under the run
            raise ValueError(
                f"{path}: its upsampler was trained for another classifier ({recorded[:23]}) "
                f"than this run's ({str(ours)[:23]}); use a new run_dir"
            )
        try:
            self.model.upsampler.load_state_dict(payload["upsampler"])
            self.model.downsampler.load_state_dict(extra["training"]["downsampler"])
            self.model.scale_net.load_state_dict(extra["training"]["scale_net"])
        except (RuntimeError, KeyError) as exc:
            raise ValueError(
                f"{path}: its upsampler does not fit this run's classifier ({exc}); use a new "
                "run_dir"
            ) from exc
        return extra


def train_upsampler(
    config: TrainConfig | None = None, *, callbacks: Sequence[Callback] = (), **overrides: Any
) -> TrainResult:
    """Train a learned JBU upsampler for a trained, frozen classifier (no labels used).

    Parameters
    ----------
    config
        The run's settings; ``classifier_checkpoint`` must name a classifier checkpoint (a
        classifier run's ``best.pt``, or an expansion checkpoint: its classifier is used).
    callbacks
        :class:`~hrcam.train.callbacks.Callback` s told about every step and epoch end.
    **overrides
        Fields of :class:`TrainConfig` to change.

    Returns
    -------
    TrainResult
        Per-epoch ``val_loss`` and ``val_relative_error``; ``best.pt`` is the upsampler that
        :func:`hrcam.models.jbu.load_upsampler` reads.
    """
    config = task_config("upsampler", config, overrides)
    from hrcam.models import load_checkpoint
    from hrcam.models.jbu import build_upsampler

    train_set, val_set = open_splits(config.data_root)
    source = load_checkpoint(config.classifier_checkpoint)
    if source.classifier is None:
        raise ValueError(
            f"classifier_checkpoint {config.classifier_checkpoint} holds no classifier"
        )
    classifier = source.classifier
    if int(train_set.image_size) % int(classifier.stride):
        raise ValueError(
            f"the store's images ({train_set.image_size} px) are not a multiple of the "
            f"classifier's stride {classifier.stride}"
        )
    seed_everything(config.seed)
    upsampler = build_upsampler(classifier)
    metadata = {
        "task": "upsampler",
        "image_size": int(train_set.image_size),
        "classifier_checkpoint": str(config.classifier_checkpoint),
    }
    task = UpsamplerTask(UpsamplerTrainer(classifier, upsampler), False, 0.0, metadata)
    return fit(task, train_set, val_set, config, callbacks=callbacks)
