"""Typed configuration of a training run (classifier pre-training or expansion training)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hrcam.data.augment import AugmentConfig

__all__ = [
    "TrainConfig",
]


Task = Literal["classifier", "expansion", "upsampler"]

TASKS: tuple[str, ...] = ("classifier", "expansion", "upsampler")
SCHEDULERS: tuple[str, ...] = ("plateau", "none")
OPTIMIZERS: tuple[str, ...] = ("adadelta", "sgd", "adam", "nadam")

TASK_DEFAULTS: dict[str, dict[str, Any]] = {"upsampler": {"optimizer": "nadam", "lr": 1e-3}}
"""Per-task defaults that differ from :class:`TrainConfig`'s: FeatUp trains its JBU with NAdam
at lr 1e-3 (the paper's adadelta at lr 1.0 is for the classifier and expansion network)."""

#: The command-line option of each field whose option is not simply ``--field-name`` (the
#: CLI builds its options from it, and a refused resume names the option to change).
OPTION_NAMES: dict[str, str] = {
    "data_root": "--data",
    "classifier_checkpoint": "--classifier",
    "num_workers": "--workers",
}


def parse_classes(spec: str) -> list[int]:
    """Class indices from ``"imagenet-animals"`` or a list such as ``"0-397"``, ``"3,7,10-12"``.

    Raises ``ValueError`` that quotes the spec and shows the accepted forms.
    """
    text = str(spec).strip()
    if text == "imagenet-animals":
        from hrcam.models.wrap import imagenet_animal_indices

        return imagenet_animal_indices()
    out: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.strip().partition("-")
            first, last = int(low), int(high) if high else int(low)
            if first < 0 or last < first:
                raise ValueError
            out.extend(range(first, last + 1))
    except ValueError:
        raise ValueError(
            f"cam_classes {spec!r} is not a class list: use 'imagenet-animals' or indices and "
            "ranges such as '0-397' or '3,7,10-12'"
        ) from None
    if len(set(out)) != len(out):
        raise ValueError(f"cam_classes {spec!r} names a class twice")
    return out


def option_name(field: str) -> str:
    """Return the command-line option that sets a config field: ``"--lr"``, ``"--data"``."""
    return OPTION_NAMES.get(field, "--" + field.replace("_", "-"))


def default_run_dir(task: str) -> str:
    """Return the output folder of a task's run when none is given: ``runs/<task>``."""
    return f"runs/{task}"


def task_config(task: str, config: Any, overrides: dict[str, Any]) -> Any:
    """Return the :class:`TrainConfig` a ``train_<task>(config=None, **overrides)`` call runs.

    Without ``config``, a fresh one in ``runs/<task>`` (taking ``classifier_checkpoint`` from
    ``overrides``); the task and the remaining overrides are then applied.
    """
    if config is None:
        config = TrainConfig(
            task=task,
            run_dir=default_run_dir(task),
            classifier_checkpoint=overrides.pop("classifier_checkpoint", None),
            **TASK_DEFAULTS.get(task, {}),
        )
    return config.replace(task=task, **overrides)


# Computed once here rather than in the field list (a call there would read as per-instance).
_CLASSIFIER_RUN_DIR = default_run_dir("classifier")
_AUGMENT_P = AugmentConfig().p  # the paper's per-transform probability, said in hrcam.data


@dataclass
class TrainConfig:
    """Everything one training run needs; defaults follow the reference code (DESIGN.md).

    Parameters
    ----------
    task
        ``"classifier"`` (cross-entropy pre-training, paper §4.2) or ``"expansion"``
        (MSE reconstruction of the input with the classifier frozen, paper §4.3) or
        ``"upsampler"`` (a learned JBU upsampler by multi-view reconstruction of the frozen
        classifier's CAM features, :mod:`hrcam.train.upsampler`).
    data_root
        Folder of an ``hrcam.data`` store (``StoreDataset(root, split)``).
    run_dir
        Output folder: ``metrics.csv``, ``metrics.json``, ``best.pt``, ``last.pt``.
    arch, k, pretrained
        Classifier architecture and CAM-head width, passed to ``build_classifier``;
        ``pretrained`` is an optional local state-dict path: the classifier task's backbone
        weights, or, for the expansion task with ``classifier_checkpoint="timm:NAME"`` /
        ``"torchvision:NAME"``, that pretrained model's weights.
    classifier_checkpoint
        Trained classifier (a ``best.pt``/``last.pt`` of a classifier run); required for the
        expansion task.
    epochs, batch_size, val_batch_size
        Schedule; ``val_batch_size`` defaults to ``batch_size``.
    optimizer, lr, weight_decay
        ``adadelta`` at lr 1.0 is the paper's and Keras' default; ``train_upsampler`` and
        ``hrcam train upsampler`` default to FeatUp's NAdam at lr 1e-3 (:data:`TASK_DEFAULTS`).
    scheduler, plateau_factor, plateau_patience, min_lr
        ``"plateau"``: ReduceLROnPlateau on the validation loss, as in the reference code.
    seed
        Seeds model init, data order, augmentation and every RNG.
    device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    amp, channels_last
        ``None`` means automatic: bf16 autocast on CUDA only, channels_last everywhere.
    compile
        Wrap the model in ``torch.compile`` (worth it on a GPU for long runs).
    num_workers
        DataLoader workers; ``None`` picks 0 on CPU and up to 8 on CUDA.
    augment, augment_p
        The paper's augmentation (flip, rotation, scale, translation, shear), each with
        probability ``augment_p``, applied batched on the training device.
    max_train_batches, max_val_batches
        Cap batches per epoch (quick runs and tests); ``None`` = the full split.
    checkpoint_every
        Also write ``last.pt`` every N optimizer steps inside an epoch (0 = at epoch ends only),
        so that a killed run loses at most N steps.
    resume
        Continue from ``run_dir/last.pt`` when it exists. ``False`` starts afresh and deletes
        the folder's old checkpoints and metrics first (so no stale ``best.pt`` survives).
    progress
        Show tqdm progress bars (rank 0 only).
    consistency_weight
        Expansion task only: weight W of the consistency loss that ties the pooled
        full-resolution CAM features to the classifier's (:mod:`hrcam.train.expansion`);
        0 (default) is the paper's reconstruction-only training.
    growth_rate, layers_per_block
        Expansion task only: the expansion network's dense-block shape
        (:func:`hrcam.models.build_expansion`). 16 and 4 are the reference code's; smaller
        values make a cheaper network than the paper's (``benchmarks/explain.py`` times it),
        whose maps the book does not measure.
    cam_classes, cam_rank
        Expansion task only, for a classifier with more than 64 CAM channels (a wrapped
        ImageNet model): the classes whose high-res CAM must be exact, as
        ``"imagenet-animals"`` (the 398 animal classes) or indices and ranges such as
        ``"0-397"`` (``None``: every class); and an opt-in low rank of the map (``None``:
        exact). See ``classes`` and ``rank`` of :func:`hrcam.models.build_expansion`.
    eval_every, eval_images
        Expansion task: every ``eval_every`` epochs (and after the last one) measure the
        localization of the low-res, high-res and both refined CAMs on the first
        ``eval_images`` validation images with masks (``loc_*`` columns of ``metrics.csv``;
        ``nan`` in the other epochs). 0 switches it off.
    """

    task: Task = "classifier"
    data_root: str | Path = "data/synthetic"
    run_dir: str | Path = _CLASSIFIER_RUN_DIR
    arch: str = "densenet_compact"
    k: int = 16
    pretrained: str | None = None
    classifier_checkpoint: str | Path | None = None
    epochs: int = 50
    batch_size: int = 16
    val_batch_size: int | None = None
    optimizer: str = "adadelta"
    lr: float = 1.0
    weight_decay: float = 0.0
    scheduler: str = "plateau"
    plateau_factor: float = math.sqrt(0.1)
    plateau_patience: int = 10
    min_lr: float = 1e-5
    seed: int = 0
    device: str = "auto"
    amp: bool | None = None
    channels_last: bool | None = None
    compile: bool = False
    num_workers: int | None = None
    augment: bool = True
    augment_p: float = _AUGMENT_P
    max_train_batches: int | None = None
    max_val_batches: int | None = None
    checkpoint_every: int = 0
    resume: bool = True
    progress: bool = True
    consistency_weight: float = 0.0
    growth_rate: int = 16
    layers_per_block: int = 4
    cam_classes: str | None = None
    cam_rank: int | None = None
    eval_every: int = 0
    eval_images: int = 64

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field and what is expected."""
        self._check_choices()
        self._check_counts()
        self._check_numbers()
        self._check_task()

    def _check_choices(self) -> None:
        for name, choices in (
            ("task", TASKS),
            ("optimizer", OPTIMIZERS),
            ("scheduler", SCHEDULERS),
        ):
            value = getattr(self, name)
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")

    def _check_counts(self) -> None:
        for name in ("epochs", "batch_size", "k", "growth_rate", "layers_per_block"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("val_batch_size", "max_train_batches", "max_val_batches"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        if self.num_workers is not None and self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0 or None, got {self.num_workers!r}")
        for name in ("eval_every", "eval_images"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if self.cam_rank is not None and (
            not isinstance(self.cam_rank, int)
            or isinstance(self.cam_rank, bool)
            or self.cam_rank < 1
        ):
            raise ValueError(f"cam_rank must be a positive integer or None, got {self.cam_rank!r}")
        if self.cam_classes is not None:
            parse_classes(self.cam_classes)
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {self.checkpoint_every!r}")

    def _check_numbers(self) -> None:
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if not (0.0 < self.plateau_factor < 1.0):
            raise ValueError(f"plateau_factor must be in (0, 1), got {self.plateau_factor!r}")
        if self.plateau_patience < 0:
            raise ValueError(f"plateau_patience must be >= 0, got {self.plateau_patience!r}")
        if self.min_lr < 0:
            raise ValueError(f"min_lr must be >= 0, got {self.min_lr!r}")
        if not (0.0 <= self.augment_p <= 1.0):
            raise ValueError(f"augment_p must be in [0, 1], got {self.augment_p!r}")
        if not (self.consistency_weight >= 0 and math.isfinite(self.consistency_weight)):
            raise ValueError(
                f"consistency_weight must be a finite number >= 0, got {self.consistency_weight!r}"
            )

    def _check_task(self) -> None:
        for name in (
            "consistency_weight",
            "growth_rate",
            "layers_per_block",
            "cam_classes",
            "cam_rank",
        ):
            if self.task != "expansion" and getattr(self, name) != getattr(TrainConfig, name):
                raise ValueError(f"{name} applies to the expansion task only")
        if self.task != "classifier" and self.classifier_checkpoint is None:
            raise ValueError(
                f"classifier_checkpoint is required for the {self.task} task: pass the best.pt "
                "of a classifier run (hrcam train classifier ...)"
            )

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every field's default value, by name (what the CLI shows and starts from)."""
        return {f.name: f.default for f in dataclasses.fields(cls)}

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON- and checkpoint-safe dict (paths as strings)."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, Path):
                out[key] = str(value)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error that names them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s): {', '.join(unknown)}")
        return cls(**values)

    def replace(self, **changes: Any) -> TrainConfig:
        """Return a copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)
