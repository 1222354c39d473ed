"""Expansion-network training (paper §4.3): MSE reconstruction of the input, classifier frozen.

With adadelta and the paper's augmentation; validation measures MSE and PSNR.

Beyond the paper (issue #12.2), an optional *consistency* term ties the expansion network's
full-resolution k-channel map F (the one the high-res CAM is made of) to the frozen
classifier's CAM features f: F is average-pooled to f's grid and compared by squared error,
relative to the features' own energy (so that the weight does not depend on their scale)::

    loss = MSE(reconstruction, input) + W * ||avgpool(F) - f||^2 / ||f||^2

Because a CAM is linear in its features (M_c = sum_k w_k^c f_k), the pooled high-res CAM then
approximates the low-res CAM for every class at once. The target f is detached and the
classifier frozen, so predictions and low-res CAMs never change. W = 0 (the default) is the
paper: the term is not even computed.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hrcam.train.callbacks import Callback
from hrcam.train.config import TrainConfig, task_config
from hrcam.train.loop import fit
from hrcam.train.result import TrainResult
from hrcam.train.rng import seed_everything
from hrcam.train.tasks import DEFAULTS, ImageTask, load_into, open_splits

__all__ = [
    "ExpansionTask",
    "train_expansion",
]


def consistency_error(output: Any, eps: float = 1e-8) -> torch.Tensor:
    """Compute, per image, the consistency error ``||avgpool(F) - f||^2 / ||f||^2``.

    F is the full-resolution k-channel map ``output.hr_features``, average-pooled to the grid
    of the (detached) CAM features f, ``output.cam_features``.

    Parameters
    ----------
    output
        An :class:`~hrcam.models.HRCAMOutput`.
    eps
        Added to the denominator (an all-zero CAM map).

    Returns
    -------
    torch.Tensor
        ``(B,)`` float32; 0 when the pooled map equals the CAM features, 1 for a zero map.
    """
    target = output.cam_features.detach().float()
    pooled = F.adaptive_avg_pool2d(output.hr_features.float(), target.shape[-2:])
    error = (pooled - target).pow(2).sum(dim=(1, 2, 3))
    return error / (target.pow(2).sum(dim=(1, 2, 3)) + eps)


class ExpansionTask(ImageTask):
    """MSE reconstruction training of the expansion network of an :class:`~hrcam.models.HRCAM`.

    The HRCAM's classifier is frozen. The target is the normalised input after augmentation:
    the network must reproduce what the classifier saw.
    """

    name = "expansion"
    monitor = "val_loss"
    monitor_mode = "min"

    #: Held-out split with masks and schedule of the localization columns (see
    #: :meth:`epoch_metrics`); set by :func:`train_expansion` from ``eval_every``.
    localization_set: Any = None
    eval_every: int = DEFAULTS["eval_every"]
    eval_images: int = DEFAULTS["eval_images"]

    def __init__(
        self,
        model: nn.Module,
        *args: Any,
        consistency_weight: float = DEFAULTS["consistency_weight"],
        **kwargs: Any,
    ) -> None:
        # ``args`` and ``kwargs`` are ImageTask's (augment, augment_p, metadata), as they are.
        super().__init__(model, *args, **kwargs)
        if not (consistency_weight >= 0 and math.isfinite(consistency_weight)):
            raise ValueError(
                f"consistency_weight must be a finite number >= 0, got {consistency_weight!r}"
            )
        self.consistency_weight = float(consistency_weight)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Return the expansion network's trainable parameters (the classifier stays frozen)."""
        return [p for p in self.model.expansion.parameters() if p.requires_grad]

    def epoch_metrics(self, epoch: int, last: bool) -> dict[str, float]:
        """``loc_*`` columns: localization of the four maps every ``eval_every`` epochs."""
        if not self.eval_every or self.localization_set is None:
            return {}
        from hrcam.evaluate.localization import localization_columns, localization_summary

        if epoch % self.eval_every and not last:
            return dict.fromkeys(localization_columns(), float("nan"))
        try:
            return localization_summary(self.model, self.localization_set, self.eval_images)
        finally:
            self.set_train_mode()

    def set_train_mode(self) -> None:
        """Put the expansion network in training mode, keeping the classifier in eval mode."""
        self.model.train()
        # HRCAM already keeps it in eval; say so here too, because BatchNorm running
        # statistics updating would silently change the classifier's predictions.
        self.model.classifier.eval()

    def loss(self, output: Any, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Return the reconstruction MSE, plus the weighted consistency term when it is on."""
        mse = F.mse_loss(output.reconstruction.float(), inputs.float())
        if not self.consistency_weight:
            return mse
        return mse + self.consistency_weight * consistency_error(output).mean()

    def eval_sums(
        self, output: Any, inputs: torch.Tensor, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Return the batch's summed loss, pixel-scale MSE and PSNR (and consistency error)."""
        from hrcam.models import denormalize_images, input_stats

        mean, std = input_stats(self.model)
        recon = output.reconstruction.float()
        target = inputs.float()
        mse = (recon - target).pow(2).mean(dim=(1, 2, 3))
        # PSNR on the [0, 1] pixel scale, the usual convention for 8-bit images.
        pix = (
            (
                denormalize_images(recon, mean=mean, std=std)
                - denormalize_images(target, mean=mean, std=std)
            )
            .pow(2)
            .mean(dim=(1, 2, 3))
        )
        psnr = 10.0 * torch.log10(1.0 / pix.clamp_min(1e-10))
        sums = {"loss": mse.sum().double(), "mse": pix.sum().double(), "psnr": psnr.sum().double()}
        if self.consistency_weight:
            consistency = consistency_error(output)
            sums["loss"] = sums["loss"] + self.consistency_weight * consistency.sum().double()
            sums["consistency"] = consistency.sum().double()
        return sums

    def save(self, path: Path, extra: dict[str, Any]) -> None:
        """Save the HRCAM model with its metadata and the loop's ``extra`` payload."""
        from hrcam.models import save_checkpoint

        save_checkpoint(path, self.model, metadata=self.metadata, extra=extra)

    def load(self, path: Path) -> dict[str, Any]:
        """Load an expansion checkpoint into the model; return its ``extra`` payload."""
        from hrcam.models import load_checkpoint

        checkpoint = load_checkpoint(path)
        if checkpoint.expansion is None:
            raise ValueError(f"{path} is not an expansion checkpoint (it has no expansion network)")
        load_into(self.model.classifier, checkpoint.classifier, "classifier", path)
        load_into(self.model.expansion, checkpoint.expansion, "expansion network", path)
        return dict(checkpoint.extra or {})


def _is_zoo_spec(spec: str) -> bool:
    from hrcam.errors import HrcamError
    from hrcam.models.wrap import parse_zoo_name

    try:
        parse_zoo_name(spec)
    except HrcamError:
        return False
    return not Path(spec).exists()  # a checkpoint file whose name looks like ZOO:NAME


class _ZooSource:
    """What ``load_checkpoint`` would give, for a classifier named ``timm:NAME``."""

    def __init__(self, classifier: Any) -> None:
        self.classifier = classifier
        self.metadata = {
            "class_names": classifier.config.get("class_names"),
            "image_size": None,
        }


def _zoo_source(spec: str, weights: str | None) -> _ZooSource:
    from hrcam.models.wrap import build_wrapped

    if weights is None:
        raise ValueError(
            f"--classifier {spec} needs --weights FILE: a local state dict of that model "
            "(hrcam downloads nothing); without it the classifier would be random"
        )
    return _ZooSource(build_wrapped(spec, weights))


def train_expansion(
    config: TrainConfig | None = None, *, callbacks: Sequence[Callback] = (), **overrides: Any
) -> TrainResult:
    """Train the expansion network on top of a trained, frozen classifier.

    Parameters
    ----------
    config
        The run's settings; ``classifier_checkpoint`` must name a classifier run's checkpoint.
    **overrides
        Fields of :class:`TrainConfig` to change, e.g. ``train_expansion(data_root=...,
        run_dir="runs/exp", classifier_checkpoint="runs/clf/best.pt", epochs=4)``.
    callbacks
        :class:`~hrcam.train.callbacks.Callback` s told about every step and epoch end.

    Returns
    -------
    TrainResult
        Per-epoch metrics (``val_loss``, ``val_mse``, ``val_psnr``...) and checkpoint paths.
    """
    config = task_config("expansion", config, overrides)
    from hrcam.models import HRCAM, build_expansion, load_checkpoint
    from hrcam.train.config import parse_classes

    train_set, val_set = open_splits(config.data_root)
    spec = str(config.classifier_checkpoint)
    if _is_zoo_spec(spec):
        # A pretrained timm/torchvision classifier by name, with local weights (--weights):
        # the expansion network is trained unsupervised, so the store's labels do not matter.
        source = _zoo_source(spec, config.pretrained)
    else:
        source = load_checkpoint(config.classifier_checkpoint)
        if source.metadata.get("kind") == "hrcam":
            print(
                f"hrcam: note: {config.classifier_checkpoint} is an expansion checkpoint; its "
                "classifier is used and its expansion network is ignored (a new one is trained)",
                file=sys.stderr,
            )
    classifier = source.classifier
    if classifier is None:
        raise ValueError(
            f"classifier_checkpoint {config.classifier_checkpoint} holds no classifier"
        )
    wrapped = "zoo" in classifier.config
    if not wrapped and classifier.num_classes != len(train_set.classes):
        raise ValueError(
            f"classifier_checkpoint has {classifier.num_classes} classes but the store at "
            f"{config.data_root} has {len(train_set.classes)}; train the classifier on this store"
        )
    seed_everything(config.seed)
    expansion = build_expansion(
        classifier,
        image_size=int(train_set.image_size),
        growth_rate=config.growth_rate,
        layers_per_block=config.layers_per_block,
        rank=config.cam_rank,
        classes=None if config.cam_classes is None else parse_classes(config.cam_classes),
    )
    model = HRCAM(classifier, expansion)
    # The expansion network's input size, not the classifier's: explaining uses it.
    metadata = {
        **dict(source.metadata or {}),
        "task": "expansion",
        "image_size": int(train_set.image_size),
        "classifier_image_size": (source.metadata or {}).get("image_size"),
        "consistency_weight": float(config.consistency_weight),
    }
    task = ExpansionTask(
        model,
        config.augment,
        config.augment_p,
        metadata,
        consistency_weight=config.consistency_weight,
    )
    if config.eval_every:
        if not val_set.has_masks:
            raise ValueError(
                f"eval_every needs ground-truth masks, and the store at {config.data_root} has "
                "none; use a store with masks (hrcam data synthetic ...) or eval_every=0"
            )
        task.localization_set = val_set
        task.eval_every, task.eval_images = config.eval_every, config.eval_images
    return fit(task, train_set, val_set, config, callbacks=callbacks)
