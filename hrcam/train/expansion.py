"""Expansion-network training (paper §4.3): MSE reconstruction of the input with the
classifier frozen, adadelta, the paper's augmentation; validation MSE and PSNR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hrcam.train.config import TrainConfig
from hrcam.train.engine import TrainResult, fit
from hrcam.train.resume import seed_everything
from hrcam.train.tasks import ImageTask, load_into, open_splits


class ExpansionTask(ImageTask):
    """MSE reconstruction training of the expansion network inside an
    :class:`~hrcam.models.HRCAM` whose classifier is frozen.

    The target is the normalised input after augmentation: the network must reproduce what
    the classifier saw.
    """

    name = "expansion"
    monitor = "val_loss"
    monitor_mode = "min"

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.model.expansion.parameters() if p.requires_grad]

    def set_train_mode(self) -> None:
        self.model.train()
        # HRCAM already keeps it in eval; say so here too, because BatchNorm running
        # statistics updating would silently change the classifier's predictions.
        self.model.classifier.eval()

    def loss(self, output: Any, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(output.reconstruction.float(), inputs.float())

    def eval_sums(
        self, output: Any, inputs: torch.Tensor, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
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
        return {"loss": mse.sum().double(), "mse": pix.sum().double(), "psnr": psnr.sum().double()}

    def save(self, path: Path, extra: dict[str, Any]) -> None:
        from hrcam.models import save_checkpoint

        save_checkpoint(path, self.model, metadata=self.metadata, extra=extra)

    def load(self, path: Path) -> dict[str, Any]:
        from hrcam.models import load_checkpoint

        checkpoint = load_checkpoint(path)
        if checkpoint.expansion is None:
            raise ValueError(f"{path} is not an expansion checkpoint (it has no expansion network)")
        load_into(self.model.classifier, checkpoint.classifier, "classifier", path)
        load_into(self.model.expansion, checkpoint.expansion, "expansion network", path)
        return dict(checkpoint.extra or {})


def _is_zoo_spec(spec: str) -> bool:
    from hrcam.models.wrap import ZOOS

    zoo, sep, name = spec.partition(":")
    return bool(sep and name) and zoo in ZOOS and not Path(spec).exists()


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


def train_expansion(config: TrainConfig | None = None, **overrides: Any) -> TrainResult:
    """Train the expansion network on top of a trained, frozen classifier.

    Parameters
    ----------
    config
        The run's settings; ``classifier_checkpoint`` must name a classifier run's checkpoint.
    **overrides
        Fields of :class:`TrainConfig` to change, e.g. ``train_expansion(data_root=...,
        run_dir="runs/exp", classifier_checkpoint="runs/clf/best.pt", epochs=4)``.

    Returns
    -------
    TrainResult
        Per-epoch metrics (``val_loss``, ``val_mse``, ``val_psnr``...) and checkpoint paths.
    """
    if config is None:
        config = TrainConfig(
            task="expansion",
            run_dir="runs/expansion",
            classifier_checkpoint=overrides.pop("classifier_checkpoint", None),
        )
    config = config.replace(task="expansion", **overrides)
    from hrcam.models import HRCAM, build_expansion, load_checkpoint

    train_set, val_set = open_splits(config.data_root)
    spec = str(config.classifier_checkpoint)
    if _is_zoo_spec(spec):
        # A pretrained timm/torchvision classifier by name, with local weights (--weights):
        # the expansion network is trained unsupervised, so the store's labels do not matter.
        source = _zoo_source(spec, config.pretrained)
    else:
        source = load_checkpoint(config.classifier_checkpoint)
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
    expansion = build_expansion(classifier, image_size=int(train_set.image_size))
    model = HRCAM(classifier, expansion)
    # The expansion network's input size, not the classifier's: explaining uses it.
    metadata = {
        **dict(source.metadata or {}),
        "task": "expansion",
        "image_size": int(train_set.image_size),
        "classifier_image_size": (source.metadata or {}).get("image_size"),
    }
    task = ExpansionTask(model, config.augment, config.augment_p, metadata)
    return fit(task, train_set, val_set, config)
