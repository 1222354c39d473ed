"""The generic training engine: epoch loop, validation, metrics files, best/last checkpoints,
bit-exact resume, and torchrun/DDP.

A task (:class:`TrainTask`) says what the model is, how a batch is preprocessed, what the loss
and the validation metrics are, and how a checkpoint is written and read. :func:`fit` does the
rest, identically for the classifier and the expansion network.

Data flow of one training step::

    store (uint8 memmap) -> DataLoader (pinned) -> device -> augment (on device, seeded
    generator) -> normalise -> channels_last -> autocast forward -> fp32 loss -> adadelta step
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from hrcam.train.config import TrainConfig
from hrcam.train.device import (
    DeviceSettings,
    autocast,
    maybe_compile,
    prepare_module,
    resolve_settings,
    to_memory_format,
)
from hrcam.train.distributed import (
    DistInfo,
    all_gather_objects,
    all_reduce_sum,
    barrier,
    broadcast_buffers,
    init_distributed,
    shutdown,
    wrap_ddp,
)
from hrcam.train.history import write_history
from hrcam.train.resume import (
    ResumableSampler,
    capture_rng_state,
    restore_rng_state,
    seed_everything,
)

#: Test-only: SIGKILL this process right after the given optimizer step (1-based), to prove
#: that a run killed mid-epoch resumes bit-exactly. Never set it outside tests.
KILL_ENV = "HRCAM_TEST_KILL_AFTER_STEP"

STATE_FORMAT = "hrcam-train-state/1"

# Config fields that change the training trajectory or its inputs: a resume with other values
# would not continue the same run (the optimizer state would even keep the old lr), so it is
# refused, naming the option. (``epochs`` may grow: that extends a run.)
_RESUME_MUST_MATCH = (
    "task",
    "data_root",
    "classifier_checkpoint",
    "pretrained",
    "arch",
    "k",
    "batch_size",
    "seed",
    "optimizer",
    "lr",
    "weight_decay",
    "scheduler",
    "plateau_factor",
    "plateau_patience",
    "min_lr",
    "augment",
    "augment_p",
    "max_train_batches",
    "max_val_batches",
    "consistency_weight",
)
_PATH_FIELDS = ("data_root", "classifier_checkpoint", "pretrained")
# The CLI's names for config fields whose option is not simply --field-name.
_OPTION_NAMES = {"data_root": "--data", "classifier_checkpoint": "--classifier"}


def _option(key: str) -> str:
    """The command-line option that sets a config field: ``"--lr"``, ``"--data"``."""
    return _OPTION_NAMES.get(key, "--" + key.replace("_", "-"))


def _same_setting(key: str, old: Any, new: Any) -> bool:
    if key in _PATH_FIELDS and old is not None and new is not None:
        # The same file, however it is spelled (relative, absolute, through a symlink).
        return os.path.realpath(str(old)) == os.path.realpath(str(new))
    return old == new


class TrainTask:
    """What differs between the two training tasks; subclasses override the hooks.

    Parameters
    ----------
    model
        The module whose weights are trained and checkpointed.

    Attributes
    ----------
    name
        ``"classifier"`` or ``"expansion"`` (stored in checkpoints).
    monitor, monitor_mode
        The validation metric that selects ``best.pt``, and whether higher (``"max"``) or
        lower (``"min"``) is better.
    """

    name: str = "task"
    monitor: str = "val_loss"
    monitor_mode: str = "min"

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    # -- model ------------------------------------------------------------------------------
    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters the optimizer updates."""
        return [p for p in self.model.parameters() if p.requires_grad]

    def set_train_mode(self) -> None:
        """Put the model in training mode (a frozen part may stay in eval mode)."""
        self.model.train()

    def forward_module(self) -> nn.Module:
        """The module called as ``module(inputs)`` during training and validation."""
        return self.model

    # -- data -------------------------------------------------------------------------------
    def preprocess(
        self, images: torch.Tensor, train: bool, generator: torch.Generator | None
    ) -> torch.Tensor:
        """uint8 ``(B, 3, H, W)`` on the device -> the float network input."""
        return images.float().div_(255.0)

    # -- objective --------------------------------------------------------------------------
    def loss(self, output: Any, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean training loss of a batch (computed in fp32)."""
        raise NotImplementedError

    def eval_sums(
        self, output: Any, inputs: torch.Tensor, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Per-batch *sums* of validation quantities (``"loss"`` included), as fp64 scalars."""
        raise NotImplementedError

    def summarize(self, sums: dict[str, float], count: int) -> dict[str, float]:
        """Turn summed validation quantities over ``count`` images into ``val_*`` metrics."""
        return {f"val_{k}": v / max(count, 1) for k, v in sums.items()}

    def epoch_metrics(self, epoch: int, last: bool) -> dict[str, float]:
        """Extra per-epoch columns for ``metrics.csv`` after validation (none by default).

        ``epoch`` counts from 1; ``last`` is true for the run's final epoch. Every epoch
        should return the same keys (``nan`` where nothing was measured).
        """
        return {}

    # -- checkpoints ------------------------------------------------------------------------
    def save(self, path: Path, extra: dict[str, Any]) -> None:
        """Write the model and ``extra`` (plain data) to ``path`` atomically."""
        raise NotImplementedError

    def load(self, path: Path) -> dict[str, Any]:
        """Load weights from ``path`` into :attr:`model`; return the checkpoint's ``extra``."""
        raise NotImplementedError


@dataclass
class TrainResult:
    """What a finished (or already complete) run returns.

    Attributes
    ----------
    task
        ``"classifier"`` or ``"expansion"``.
    history
        One dict per epoch: ``epoch``, ``train_loss``, ``lr``, the ``val_*`` metrics,
        ``epoch_time_s``, ``train_img_per_s``, ``global_step``.
    run_dir, best_checkpoint, last_checkpoint, metrics_csv, metrics_json
        Where the outputs are.
    monitor, best_value, best_epoch
        The metric that chose ``best.pt``, its best value and the (1-based) epoch.
    resumed_from
        ``(epoch, batch)`` the run resumed at, or ``None`` for a fresh run.
    wall_time_s
        Time spent in this call.
    device
        The device the run used, as text.
    """

    task: str
    history: list[dict[str, Any]]
    run_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    metrics_csv: Path
    metrics_json: Path
    monitor: str
    best_value: float | None
    best_epoch: int | None
    resumed_from: tuple[int, int] | None = None
    wall_time_s: float = 0.0
    device: str = "cpu"
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> dict[str, Any]:
        """The last epoch's metrics (empty if no epoch ran)."""
        return self.history[-1] if self.history else {}

    def summary(self) -> str:
        """A few lines for the end of a CLI run or a notebook cell."""
        lines = [f"{self.task} training on {self.device}: {len(self.history)} epoch(s)"]
        if self.resumed_from is not None and self.resumed_from == (len(self.history), 0):
            lines[0] += ", already complete (nothing to train)"
        elif self.resumed_from is not None:
            lines[0] += (
                f", resumed at epoch {self.resumed_from[0] + 1} batch {self.resumed_from[1]}"
            )
        lines[0] += f", {_format_seconds(self.wall_time_s)} in this call"
        if self.history:
            shown = {
                k: v
                for k, v in self.final.items()
                if k.startswith(("val_", "train_loss", "lr")) and isinstance(v, (int, float))
            }
            lines.append(
                "  final: " + ", ".join(f"{k}={_format_number(v)}" for k, v in shown.items())
            )
        if self.best_value is not None:
            lines.append(
                f"  best {self.monitor}={_format_number(self.best_value)} at epoch "
                f"{self.best_epoch}: {self.best_checkpoint}"
            )
        lines.append(f"  last checkpoint: {self.last_checkpoint}")
        lines.append(f"  metrics: {self.metrics_csv}, {self.metrics_json}")
        return "\n".join(lines)


def _format_number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def _format_seconds(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{seconds:.1f}s"


# ------------------------------------------------------------------------------------------
# Data loading
# ------------------------------------------------------------------------------------------


def collate_image_label(items: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``{"image", "label"}`` dicts (a store) or ``(image, label)`` pairs (a
    TensorDataset) into a uint8 image batch and an int64 label batch.

    Masks and boxes are not needed for training and are left out, so that items whose
    mask is ``None`` collate too.
    """
    if not items:
        raise ValueError("cannot collate an empty batch")
    first = items[0]
    if isinstance(first, dict):
        images = [torch.as_tensor(item["image"]) for item in items]
        labels = [int(item["label"]) for item in items]
    else:
        images = [torch.as_tensor(item[0]) for item in items]
        labels = [int(item[1]) for item in items]
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64)


class DevicePrefetcher:
    """Iterate a loader with the next batch already on its way to the device.

    On CUDA the host-to-device copy of batch *i+1* is issued on a side stream while batch *i*
    is computed, so that the copy overlaps compute; on CPU it is a plain pass-through.
    """

    def __init__(self, loader: Any, device: torch.device) -> None:
        self.loader = loader
        self.device = device
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None

    def __len__(self) -> int:
        return len(self.loader)

    def _fetch(self, iterator: Iterator[Any]) -> tuple[torch.Tensor, ...] | None:
        try:
            batch = next(iterator)
        except StopIteration:
            return None
        if self.stream is None:
            return tuple(t.to(self.device) for t in batch)
        with torch.cuda.stream(self.stream):
            return tuple(t.to(self.device, non_blocking=True) for t in batch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        iterator = iter(self.loader)
        upcoming = self._fetch(iterator)
        while upcoming is not None:
            current = upcoming
            if self.stream is not None:
                main = torch.cuda.current_stream(self.device)
                main.wait_stream(self.stream)
                for tensor in current:
                    tensor.record_stream(main)
            upcoming = self._fetch(iterator)
            yield current


class BatchReader:
    """Map a list of indices to one ``(images, labels)`` batch.

    A store's ``get_batch`` reads a whole batch with one fancy-indexing call per shard (no
    per-image Python objects), which is what lets the loader keep up with a GPU; any other
    dataset is read item by item and collated.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        get_batch = getattr(self.dataset, "get_batch", None)
        if get_batch is not None:
            batch = get_batch(list(indices))
            return batch["image"], batch["label"].to(torch.int64)
        return collate_image_label([self.dataset[i] for i in indices])


def _identity(batch: Any) -> Any:
    return batch


def make_loader(
    dataset: Dataset,
    sampler: Any,
    batch_size: int,
    settings: DeviceSettings,
    seed: int,
) -> DataLoader:
    """A DataLoader that reads whole batches (:class:`BatchReader`) in ``settings.num_workers``
    processes into pinned memory on CUDA.

    It has its own generator, so that creating an iterator (which draws a worker base seed)
    never consumes the global torch RNG that the model may use (dropout).
    """
    from torch.utils.data import BatchSampler

    generator = torch.Generator()
    generator.manual_seed(seed)
    workers = settings.num_workers
    return DataLoader(
        BatchReader(dataset),  # type: ignore[arg-type]
        batch_size=None,  # the sampler below yields whole batches of indices
        sampler=BatchSampler(sampler, batch_size, drop_last=False),
        num_workers=workers,
        pin_memory=settings.pin_memory,
        collate_fn=_identity,
        generator=generator,
        persistent_workers=False,
        prefetch_factor=4 if workers > 0 else None,
    )


# ------------------------------------------------------------------------------------------
# Optimiser and schedule
# ------------------------------------------------------------------------------------------


def build_optimizer(params: Sequence[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """adadelta (the paper's choice; lr 1.0 is Keras' and torch's default), or SGD/Adam."""
    if not params:
        raise ValueError("the model has no trainable parameters")
    if config.optimizer == "adadelta":
        return torch.optim.Adadelta(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig
) -> torch.optim.lr_scheduler.ReduceLROnPlateau | None:
    """ReduceLROnPlateau on the validation loss (the reference code's schedule), or none."""
    if config.scheduler == "none":
        return None
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode="min",
        factor=config.plateau_factor,
        patience=config.plateau_patience,
        min_lr=config.min_lr,
    )


# ------------------------------------------------------------------------------------------
# The loop
# ------------------------------------------------------------------------------------------


def train_step(
    task: TrainTask,
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: DeviceSettings,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One optimizer step on a uint8 batch already on the device; returns the (detached-able)
    loss without synchronising. Shared by :func:`fit` and the throughput benchmark."""
    with torch.no_grad():
        inputs = task.preprocess(images, train=True, generator=generator)
    inputs = to_memory_format(inputs, settings)
    return optimizer_step(task, module, optimizer, inputs, labels, settings)


def optimizer_step(
    task: TrainTask,
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    settings: DeviceSettings,
) -> torch.Tensor:
    """Forward, loss, backward and optimizer step on ``inputs`` that are already
    preprocessed and in the settings' memory format (the benchmark's compute ceiling times
    this alone); returns the loss without synchronising."""
    with autocast(settings):
        output = module(inputs)
    loss = task.loss(output, inputs, labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def _kill_step() -> int | None:
    raw = os.environ.get(KILL_ENV)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{KILL_ENV} must be an integer step, got {raw!r}") from exc


def _is_better(value: float, best: float | None, mode: str) -> bool:
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value > best if mode == "max" else value < best


def _check_resume_config(saved: dict[str, Any], config: TrainConfig, world_size: int) -> None:
    saved_config = saved.get("config", {})
    current = config.to_dict()
    changed = [
        key
        for key in _RESUME_MUST_MATCH
        if key in saved_config and not _same_setting(key, saved_config[key], current[key])
    ]
    if changed:
        what = "; ".join(
            f"{k}={saved_config[k]!r} then, {k}={current[k]!r} now ({_option(k)})" for k in changed
        )
        raise ValueError(
            f"cannot resume {config.run_dir}: this run changes what it was trained with: {what}. "
            "Use the same values to continue it, a new run folder (--run-dir), or --no-resume "
            "to start afresh"
        )
    done = int(saved.get("epoch", 0))
    if config.epochs < done or (config.epochs == done and int(saved.get("batch", 0)) > 0):
        raise ValueError(
            f"cannot resume {config.run_dir}: it has already trained {done} epoch(s) and "
            f"--epochs is {config.epochs}; give --epochs {done} or more to continue it (the "
            "finished checkpoints stay as they are), or use a new run folder"
        )
    if saved.get("world_size", 1) != world_size:
        raise ValueError(
            f"cannot resume: the checkpoint was written by {saved.get('world_size')} process(es) "
            f"and this run has {world_size}; the data order would differ. Use the same "
            "number of processes or a new run_dir"
        )


@dataclass
class _State:
    """Mutable bookkeeping of the loop (everything that goes into ``last.pt`` besides the
    model, optimizer, scheduler and RNGs)."""

    epoch: int = 0  # 0-based epoch in progress (or the next one, when batch == 0)
    batch: int = 0  # optimizer steps already taken in this epoch
    global_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_value: float | None = None
    best_epoch: int | None = None
    loss_sum: float = 0.0  # training loss summed over this epoch's images so far
    seen: int = 0  # training images of this epoch so far
    epoch_time: float = 0.0  # seconds spent on this epoch before an interruption


def fit(
    task: TrainTask,
    train_set: Dataset,
    val_set: Dataset,
    config: TrainConfig,
    *,
    settings: DeviceSettings | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train ``task`` on ``train_set``, validating on ``val_set`` after every epoch.

    Writes into ``config.run_dir``: ``metrics.csv`` and ``metrics.json`` (one row per epoch),
    ``best.pt`` (best ``task.monitor``) and ``last.pt`` (full training state, also written
    every ``config.checkpoint_every`` steps). If ``last.pt`` exists and ``config.resume`` is
    true, the run continues from it exactly where it stopped, mid-epoch included.

    Under torchrun (``WORLD_SIZE`` > 1) it joins the process group, wraps the model in
    DistributedDataParallel and shards the data; rank 0 writes the files.

    Parameters
    ----------
    task
        The model and its objective.
    train_set, val_set
        Map-style datasets of ``{"image": uint8 (3, H, W), "label": int}`` dicts or
        ``(image, label)`` pairs.
    config
        The run's settings.
    settings
        Resolved device settings (default: from ``config``).
    log
        Receives one line per epoch and the closing summary (default: ``tqdm.write`` on rank 0
        when ``config.progress`` is on, else nothing).

    Returns
    -------
    TrainResult
    """
    start_time = time.perf_counter()
    rank_env = int(os.environ.get("WORLD_SIZE", "1"))
    if settings is None:
        settings = resolve_settings(
            config.device,
            amp=config.amp,
            channels_last=config.channels_last,
            compile=config.compile,
            num_workers=config.num_workers,
            local_rank=int(os.environ.get("LOCAL_RANK", "0")) if rank_env > 1 else None,
        )
    info = init_distributed(settings.device.type)
    try:
        return _fit(task, train_set, val_set, config, settings, info, log, start_time)
    finally:
        shutdown(info)


def _fit(
    task: TrainTask,
    train_set: Dataset,
    val_set: Dataset,
    config: TrainConfig,
    settings: DeviceSettings,
    info: DistInfo,
    log: Callable[[str], None] | None,
    start_time: float,
) -> TrainResult:
    from tqdm import tqdm

    show = config.progress and info.is_main
    if log is None:
        log = tqdm.write if show else (lambda _line: None)
    if len(train_set) == 0:  # type: ignore[arg-type]
        raise ValueError("the training split is empty; generate or point to a non-empty store")
    if len(val_set) == 0:  # type: ignore[arg-type]
        raise ValueError("the validation split is empty; validation runs after every epoch")
    if settings.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    run_dir = Path(config.run_dir)
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not config.resume and last_path.exists():
            log(f"resume is off: starting afresh in {run_dir} (old checkpoints removed)")
        if not config.resume:
            for name in ("last.pt", "best.pt", "metrics.csv", "metrics.json"):
                (run_dir / name).unlink(missing_ok=True)
    barrier(info)

    # Fresh-run seeding; a resume overwrites every RNG state below.
    seed_everything(config.seed + info.rank)
    # A CPU generator on every device: augmentation parameters are drawn on the CPU (a few
    # numbers per image), so a run replays identically and resumes on CPU or GPU.
    aug_generator = torch.Generator()
    aug_generator.manual_seed(config.seed * 1_000_003 + 17 + info.rank)
    generators = {"augment": aug_generator}

    prepare_module(task.model, settings)
    optimizer = build_optimizer(task.trainable_parameters(), config)
    scheduler = build_scheduler(optimizer, config)
    state = _State()
    resumed_from: tuple[int, int] | None = None

    if config.resume and last_path.exists():
        extra = task.load(last_path)
        if extra.get("format") != STATE_FORMAT:
            raise ValueError(
                f"{last_path} is not a resumable training state (format "
                f"{extra.get('format')!r}, expected {STATE_FORMAT!r})"
            )
        _check_resume_config(extra, config, info.world_size)
        prepare_module(task.model, settings)
        optimizer.load_state_dict(extra["optimizer"])
        if scheduler is not None and extra.get("scheduler") is not None:
            scheduler.load_state_dict(extra["scheduler"])
        per_rank = extra["per_rank"][info.rank]
        restore_rng_state(per_rank["rng"], generators)
        state = _State(
            epoch=int(extra["epoch"]),
            batch=int(extra["batch"]),
            global_step=int(extra["global_step"]),
            history=list(extra["history"]),
            best_value=extra["best_value"],
            best_epoch=extra["best_epoch"],
            loss_sum=float(per_rank["loss_sum"]),
            seen=int(per_rank["seen"]),
            epoch_time=float(extra.get("epoch_time", 0.0)),
        )
        resumed_from = (state.epoch, state.batch)
        log(f"resuming {last_path} at epoch {state.epoch + 1}, batch {state.batch}")

    train_module = maybe_compile(wrap_ddp(task.forward_module(), info, settings.device), settings)

    sampler = ResumableSampler(
        len(train_set),  # type: ignore[arg-type]
        num_replicas=info.world_size,
        rank=info.rank,
        shuffle=True,
        seed=config.seed,
    )
    batches_per_epoch = math.ceil(sampler.shard_size / config.batch_size)
    if config.max_train_batches is not None:
        batches_per_epoch = min(batches_per_epoch, config.max_train_batches)
    val_loader = make_loader(
        val_set,
        list(range(info.rank, len(val_set), info.world_size)),  # type: ignore[arg-type]
        config.val_batch_size or config.batch_size,
        settings,
        seed=config.seed,
    )
    kill_step = _kill_step()

    def save_last() -> None:
        per_rank = all_gather_objects(
            {
                "rng": capture_rng_state(generators),
                "loss_sum": state.loss_sum,
                "seen": state.seen,
            },
            info,
        )
        if info.is_main:
            task.save(
                last_path,
                {
                    "format": STATE_FORMAT,
                    "task": task.name,
                    "config": config.to_dict(),
                    "world_size": info.world_size,
                    "epoch": state.epoch,
                    "batch": state.batch,
                    "global_step": state.global_step,
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "per_rank": per_rank,
                    "history": state.history,
                    "best_value": state.best_value,
                    "best_epoch": state.best_epoch,
                    "epoch_time": state.epoch_time,
                },
            )
        barrier(info)

    while state.epoch < config.epochs:
        epoch_start = time.perf_counter()
        sampler.set_epoch(state.epoch)
        sampler.set_position(state.batch * config.batch_size)
        remaining = batches_per_epoch - state.batch
        loader = make_loader(
            train_set, sampler, config.batch_size, settings, seed=config.seed + state.epoch
        )
        task.set_train_mode()
        lr = optimizer.param_groups[0]["lr"]
        bar = tqdm(
            total=batches_per_epoch,
            initial=state.batch,
            desc=f"{task.name} epoch {state.epoch + 1}/{config.epochs}",
            disable=not show,
            leave=False,
            dynamic_ncols=True,
            file=sys.stderr,
        )
        loss_sum = torch.tensor(state.loss_sum, dtype=torch.float64, device=settings.device)
        for step_in_call, (images, labels) in enumerate(DevicePrefetcher(loader, settings.device)):
            if step_in_call >= remaining:
                break
            loss = train_step(
                task, train_module, optimizer, images, labels, settings, aug_generator
            )

            loss_sum += loss.detach().double() * images.shape[0]
            state.seen += int(images.shape[0])
            state.batch += 1
            state.global_step += 1
            bar.update(1)
            if show and (state.batch % 20 == 0 or state.batch == batches_per_epoch):
                bar.set_postfix(loss=f"{loss_sum.item() / max(state.seen, 1):.4f}")
            if (
                config.checkpoint_every
                and state.global_step % config.checkpoint_every == 0
                and state.batch < batches_per_epoch
            ):
                state.loss_sum = float(loss_sum.item())
                state.epoch_time += time.perf_counter() - epoch_start
                epoch_start = time.perf_counter()
                save_last()
            if kill_step is not None and state.global_step == kill_step:
                os.kill(os.getpid(), signal.SIGKILL)
        bar.close()
        broadcast_buffers(task.model, info)

        # Epoch end: reduce the training loss over ranks, validate, schedule, checkpoint.
        totals = all_reduce_sum(
            torch.stack(
                [
                    loss_sum,
                    torch.tensor(float(state.seen), dtype=torch.float64, device=loss_sum.device),
                ]
            ),
            info,
        )
        train_loss = float(totals[0] / totals[1].clamp_min(1))
        seen_all = int(totals[1].item())
        train_time = state.epoch_time + (time.perf_counter() - epoch_start)
        # The unwrapped module: DDP's forward is a collective, and the validation shards
        # may differ in length by one batch.
        val_metrics = evaluate(
            task, task.forward_module(), val_loader, settings, info, config.max_val_batches
        )
        if scheduler is not None:
            scheduler.step(val_metrics["val_loss"])
        state.epoch_time += time.perf_counter() - epoch_start
        extra_metrics = task.epoch_metrics(state.epoch + 1, state.epoch + 1 == config.epochs)
        row: dict[str, Any] = {
            "epoch": state.epoch + 1,
            "train_loss": train_loss,
            **val_metrics,
            **extra_metrics,
            "lr": lr,
            "global_step": state.global_step,
            "train_img_per_s": seen_all / train_time if train_time > 0 else float("nan"),
            "epoch_time_s": state.epoch_time,
        }
        state.history.append(row)
        improved = _is_better(row[task.monitor], state.best_value, task.monitor_mode)
        if improved:
            state.best_value = float(row[task.monitor])
            state.best_epoch = state.epoch + 1
        state.epoch += 1
        state.batch = 0
        state.loss_sum = 0.0
        state.seen = 0
        state.epoch_time = 0.0
        if info.is_main:
            if improved:
                task.save(
                    best_path,
                    {
                        "format": "hrcam-best/1",
                        "task": task.name,
                        "config": config.to_dict(),
                        "epoch": row["epoch"],
                        "metrics": row,
                    },
                )
            write_history(run_dir, state.history)
        save_last()
        log(_epoch_line(row, config.epochs))

    barrier(info)
    result = TrainResult(
        task=task.name,
        history=state.history,
        run_dir=run_dir,
        best_checkpoint=best_path,
        last_checkpoint=last_path,
        metrics_csv=run_dir / "metrics.csv",
        metrics_json=run_dir / "metrics.json",
        monitor=task.monitor,
        best_value=state.best_value,
        best_epoch=state.best_epoch,
        resumed_from=resumed_from,
        wall_time_s=time.perf_counter() - start_time,
        device=str(settings.device) + (f" x{info.world_size}" if info.is_distributed else ""),
        settings={
            "amp": settings.amp,
            "channels_last": settings.channels_last,
            "compile": settings.compile,
            "num_workers": settings.num_workers,
            "world_size": info.world_size,
        },
    )
    if info.is_main and state.history:
        write_history(run_dir, state.history)  # also for a resumed, already complete run
    return result


def _epoch_line(row: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {row['epoch']}/{epochs}"]
    for key, value in row.items():
        if key in ("epoch", "global_step"):
            continue
        parts.append(f"{key}={_format_number(value)}")
    return "  ".join(parts)


@torch.no_grad()
def evaluate(
    task: TrainTask,
    module: nn.Module,
    loader: Any,
    settings: DeviceSettings,
    info: DistInfo,
    max_batches: int | None = None,
) -> dict[str, float]:
    """Validation metrics of ``task`` over ``loader`` (summed over ranks).

    The model is in eval mode for the pass and back in training mode afterwards.
    """
    task.model.eval()
    sums: dict[str, torch.Tensor] = {}
    count = torch.zeros((), dtype=torch.float64, device=settings.device)
    for index, (images, labels) in enumerate(DevicePrefetcher(loader, settings.device)):
        if max_batches is not None and index >= max_batches:
            break
        inputs = to_memory_format(task.preprocess(images, train=False, generator=None), settings)
        with autocast(settings):
            output = module(inputs)
        for key, value in task.eval_sums(output, inputs, labels).items():
            sums[key] = sums.get(key, 0) + value.detach().double()
        count += images.shape[0]
    keys = sorted(sums)
    packed = torch.stack([*(sums[k] for k in keys), count])
    packed = all_reduce_sum(packed, info)
    total = int(packed[-1].item())
    if total == 0:
        raise ValueError("validation saw no images; check the validation split and max_val_batches")
    task.set_train_mode()
    return task.summarize({k: float(packed[i]) for i, k in enumerate(keys)}, total)
