"""Learned-JBU training (FeatUp's multi-view reconstruction); the classifier stays frozen.

Each step jitters every image once (zoom in or out with reflected borders, which is FeatUp's
pad and zoom, a shift and a horizontal flip: one affine warp, drawn from the loop's
augmentation generator so that a resume repeats it). The upsampler lifts the classifier's CAM
features of the *original* image to full resolution; the same warp is applied to those
high-res features, a learned downsampler brings them back to the classifier's grid, and they
must match the classifier's own features of the *warped* image::

    loss = mean( ||D(warp(U(f(x), x))) - f(warp(x))||^2 * exp(-s) + s ) + tv * TV(U(f(x), x))

with ``s`` a per-pixel log-variance predicted from the target features by a 1x1 conv
(FeatUp's predicted uncertainty; zero at the start) and TV the mean absolute difference of
neighbouring high-res pixels. No labels are used.
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
    "TV_WEIGHT",
    "LearnedDownsampler",
    "MultiViewOutput",
    "UpsamplerTask",
    "UpsamplerTrainer",
    "jitter_thetas",
    "multiview_loss",
    "train_upsampler",
    "warp",
]

TV_WEIGHT = 0.05
"""Weight of the total-variation term (FeatUp's small smoothness prior)."""

MAX_ZOOM = 1.8  # zoom in up to 1.8x, out (reflected borders, i.e. padding) down to 1/1.25
MIN_ZOOM = 0.8


def jitter_thetas(n: int, generator: torch.Generator, device: Any = "cpu") -> torch.Tensor:
    """``(n, 2, 3)`` affine warps: random zoom (in or out), shift and horizontal flip."""
    u = torch.rand(n, 4, generator=generator, device=generator.device).to(device)
    scale = MIN_ZOOM + (MAX_ZOOM - MIN_ZOOM) * u[:, 0]
    inv = 1.0 / scale  # sampling grid of a zoom by ``scale``
    room = (1.0 - inv).abs()
    shift = (2 * u[:, 1:3] - 1) * room.unsqueeze(1)
    flip = torch.where(u[:, 3] < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = inv * flip
    theta[:, 1, 1] = inv
    theta[:, :, 2] = shift
    return theta


def warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Warp ``(B, C, H, W)`` by ``theta`` (bilinear, reflected borders)."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


class LearnedDownsampler(nn.Module):
    """A learned ``stride x stride`` pooling kernel (softmax weights; starts as average pooling)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.logits = nn.Parameter(torch.zeros(stride * stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pool ``(B, C, H, W)`` to ``(B, C, H / stride, W / stride)``."""
        c = x.shape[1]
        kernel = torch.softmax(self.logits, 0).view(1, 1, self.stride, self.stride)
        return F.conv2d(x, kernel.expand(c, 1, -1, -1).to(x.dtype), stride=self.stride, groups=c)


class MultiViewOutput(NamedTuple):
    """What one training forward gives the loss."""

    target: torch.Tensor  # classifier features of the warped image, on the basis
    predicted: torch.Tensor  # downsampled warped high-res features
    log_var: torch.Tensor  # (B, 1, h, w) predicted log-variance
    high_res: torch.Tensor  # high-res features of the original image


def multiview_loss(output: MultiViewOutput, tv_weight: float = TV_WEIGHT) -> torch.Tensor:
    """Per-pixel-uncertainty reconstruction loss plus ``tv_weight`` times total variation."""
    mse = (output.predicted.float() - output.target.float()).square().mean(1, keepdim=True)
    s = output.log_var.float()
    rec = (mse * torch.exp(-s) + s).mean()
    hr = output.high_res.float()
    tv = (hr[..., 1:, :] - hr[..., :-1, :]).abs().mean() + (hr[..., 1:] - hr[..., :-1]).abs().mean()
    return rec + tv_weight * tv


class UpsamplerTrainer(nn.Module):
    """Frozen classifier + upsampler + the training-only downsampler and uncertainty head.

    ``forward(inputs)`` reads the warps drawn for this batch from :attr:`thetas`.
    """

    def __init__(self, classifier: nn.Module, upsampler: nn.Module) -> None:
        super().__init__()
        from hrcam.models.combined import freeze

        self.classifier = freeze(classifier)
        self.upsampler = upsampler
        channels = upsampler.correction.in_channels
        self.downsampler = LearnedDownsampler(int(classifier.stride))
        self.log_var = nn.Conv2d(channels, 1, 1)
        nn.init.zeros_(self.log_var.weight)
        nn.init.zeros_(self.log_var.bias)
        self.thetas: torch.Tensor | None = None

    def train(self, mode: bool = True) -> UpsamplerTrainer:
        """Set the learned parts' mode; the classifier always stays in eval mode."""
        super().train(mode)
        self.classifier.eval()
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the classifier's CAM features of ``x`` on the upsampler's basis (no gradient)."""
        with torch.no_grad():
            return self.upsampler.project(self.classifier.forward_features(x).cam_features)

    def forward(self, x: torch.Tensor) -> MultiViewOutput:
        """Upsample ``x``'s features, warp them and the image, and pool them back."""
        if self.thetas is None:
            raise RuntimeError("draw the batch's warps first (UpsamplerTask.preprocess)")
        x = x.float()
        high = self.upsampler(self.features(x), x)
        moved = warp(x, self.thetas)
        target = self.features(moved)
        predicted = self.downsampler(warp(high, self.thetas))
        return MultiViewOutput(target, predicted, self.log_var(target), high)


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
        parts = (model.upsampler, model.downsampler, model.log_var)
        return [p for part in parts for p in part.parameters() if p.requires_grad]

    def set_train_mode(self) -> None:
        """Training mode for the learned parts; the classifier stays in eval mode."""
        self.model.train()

    def preprocess(
        self, images: torch.Tensor, train: bool, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Normalise, and draw this batch's warps (validation: a fixed set, seed 0)."""
        from hrcam.models import input_stats, normalize_images

        if generator is None:
            generator = torch.Generator(device=images.device.type).manual_seed(0)
        self.model.thetas = jitter_thetas(images.shape[0], generator, images.device)
        mean, std = input_stats(self.model.classifier)
        return normalize_images(images, mean=mean, std=std)

    def loss(self, output: Any, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """:func:`multiview_loss`."""
        return multiview_loss(output)

    def eval_sums(
        self, output: Any, inputs: torch.Tensor, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Return the summed loss and reconstruction error (relative to the features' energy)."""
        n = inputs.shape[0]
        err = (output.predicted.float() - output.target.float()).square().sum(dim=(1, 2, 3))
        energy = output.target.float().square().sum(dim=(1, 2, 3)).clamp_min(1e-8)
        return {
            "loss": multiview_loss(output).double() * n,
            "relative_error": (err / energy).sum().double(),
        }

    def save(self, path: Path, extra: dict[str, Any]) -> None:
        """Write the upsampler (marked trained) with the training-only parts in ``extra``."""
        from hrcam.models.jbu import save_upsampler

        self.model.upsampler.trained.fill_(True)
        training = {
            "downsampler": {
                k: v.detach().cpu() for k, v in self.model.downsampler.state_dict().items()
            },
            "log_var": {k: v.detach().cpu() for k, v in self.model.log_var.state_dict().items()},
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
            self.model.log_var.load_state_dict(extra["training"]["log_var"])
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
