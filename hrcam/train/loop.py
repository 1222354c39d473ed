"""The training loop: :func:`fit` runs a :class:`~hrcam.train.tasks.TrainTask`.

It runs the configured epochs, validating, scheduling and checkpointing after each, and
resumes a killed run bit-exactly, mid-epoch included.

It is broken up as Lightning's fit loop is: :class:`FitLoop` sets up, restores the last state
(:meth:`~FitLoop.restore`), then alternates :meth:`~FitLoop.run_epoch` (the optimizer steps)
and :meth:`~FitLoop.end_epoch` (validation, metrics row, checkpoints). Callbacks
(:mod:`hrcam.train.callbacks`) are told about every step and epoch end.

Data flow of one training step::

    store (uint8 memmap) -> DataLoader (pinned) -> device -> augment (on device, seeded
    generator) -> normalise -> channels_last -> autocast forward -> fp32 loss -> adadelta step
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from hrcam.locking import folder_lock
from hrcam.train.callbacks import Callback
from hrcam.train.checkpointing import (
    LoopState,
    clear_run_files,
    load_state,
    restore_loop_state,
    save_best,
    save_state,
)
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
    all_reduce_sum,
    barrier,
    broadcast_buffers,
    init_distributed,
    shutdown,
    wrap_ddp,
)
from hrcam.train.history import write_history
from hrcam.train.loaders import (
    DevicePrefetcher,
    make_loader,
    steps_per_epoch,
    train_sampler,
    validation_loader,
)
from hrcam.train.result import TrainResult, epoch_line
from hrcam.train.rng import seed_everything
from hrcam.train.tasks import TrainTask

__all__ = [
    "FitLoop",
    "build_optimizer",
    "build_scheduler",
    "evaluate",
    "fit",
    "optimizer_step",
    "train_step",
]


def fit(
    task: TrainTask,
    train_set: Dataset,
    val_set: Dataset,
    config: TrainConfig,
    *,
    settings: DeviceSettings | None = None,
    log: Callable[[str], None] | None = None,
    callbacks: Sequence[Callback] = (),
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
    callbacks
        :class:`~hrcam.train.callbacks.Callback` s told about every step and epoch end.

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
        # Rank 0 writes the run folder, so it alone holds the folder's lock: a second run on
        # the same folder stops at once instead of overwriting this one's checkpoints.
        lock = folder_lock(config.run_dir, "run folder") if info.is_main else nullcontext()
        with lock:
            loop = FitLoop(task, train_set, val_set, config, settings, info, log, callbacks)
            return loop.run(start_time)
    finally:
        shutdown(info)


@dataclass
class _Epoch:
    """The epoch in progress: its learning rate, running loss sum and timing start.

    The loss sum stays on the device; the timing start is when the epoch's current stretch of
    timing began (reset at every mid-epoch checkpoint).
    """

    lr: float
    loss_sum: torch.Tensor
    start: float


class FitLoop:
    """One call of :func:`fit`: set-up, restore, then epochs until ``config.epochs``.

    Parameters
    ----------
    task, train_set, val_set, config, settings, log, callbacks
        As for :func:`fit`.
    info
        The process group this rank belongs to.

    Attributes
    ----------
    state
        The loop's bookkeeping (epoch, step in the epoch, global step, history, best value),
        what ``last.pt`` saves besides the weights, optimizer and RNGs. Callbacks read it.
    resumed_from
        ``(epoch, batch)`` the run resumed at, or ``None`` for a fresh run.
    """

    def __init__(
        self,
        task: TrainTask,
        train_set: Dataset,
        val_set: Dataset,
        config: TrainConfig,
        settings: DeviceSettings,
        info: DistInfo,
        log: Callable[[str], None] | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        if len(train_set) == 0:  # type: ignore[arg-type]
            raise ValueError("the training split is empty; generate or point to a non-empty store")
        if len(val_set) == 0:  # type: ignore[arg-type]
            raise ValueError("the validation split is empty; validation runs after every epoch")
        self.task, self.train_set, self.val_set = task, train_set, val_set
        self.config, self.settings, self.info = config, settings, info
        self.show = config.progress and info.is_main
        self.log = log or (tqdm.write if self.show else _discard)
        self.callbacks = list(callbacks)
        self.run_dir = Path(config.run_dir)
        self.last_path, self.best_path = self.run_dir / "last.pt", self.run_dir / "best.pt"
        self.state = LoopState()
        self.resumed_from: tuple[int, int] | None = None

    # -- set-up -----------------------------------------------------------------------------
    def run(self, start_time: float) -> TrainResult:
        """Set up, restore, train the remaining epochs; return the result."""
        self.setup()
        self.restore()
        self.setup_data()
        while self.state.epoch < self.config.epochs:
            epoch = self.run_epoch()
            self.end_epoch(epoch)
        barrier(self.info)
        return self.finish(start_time)

    def setup(self) -> None:
        """Prepare the run folder, seed every RNG and build the optimizer and schedule."""
        config, info, task = self.config, self.info, self.task
        if self.settings.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        if info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if not config.resume and self.last_path.exists():
                self.log(
                    f"resume is off: starting afresh in {self.run_dir} (old checkpoints removed)"
                )
            if not config.resume:
                clear_run_files(self.run_dir)
        barrier(info)
        # Fresh-run seeding; a resume overwrites every RNG state in restore().
        seed_everything(config.seed + info.rank)
        # A CPU generator on every device: augmentation parameters are drawn on the CPU (a few
        # numbers per image), so a run replays identically and resumes on CPU or GPU.
        self.aug_generator = torch.Generator()
        self.aug_generator.manual_seed(config.seed * 1_000_003 + 17 + info.rank)
        self.generators = {"augment": self.aug_generator}
        prepare_module(task.model, self.settings)
        self.optimizer = build_optimizer(task.trainable_parameters(), config)
        self.scheduler = build_scheduler(self.optimizer, config)

    def restore(self) -> None:
        """Continue from ``last.pt`` when it exists and ``config.resume`` is on.

        Weights, optimizer, schedule, every RNG and the loop's position come back exactly as
        saved.
        """
        if not (self.config.resume and self.last_path.exists()):
            return
        extra = load_state(self.task, self.last_path, self.config, self.info.world_size)
        prepare_module(self.task.model, self.settings)
        self.state = restore_loop_state(
            extra, self.info.rank, self.optimizer, self.scheduler, self.generators
        )
        self.resumed_from = (self.state.epoch, self.state.batch)
        self.log(
            f"resuming {self.last_path} at epoch {self.state.epoch + 1}, batch {self.state.batch}"
        )

    def setup_data(self) -> None:
        """Wrap the model for training (DDP, compile) and build the data order and loaders."""
        task, info = self.task, self.info
        self.train_module = maybe_compile(
            wrap_ddp(task.forward_module(), info, self.settings.device), self.settings
        )
        self.sampler = train_sampler(self.train_set, info, self.config.seed)
        self.steps_per_epoch = steps_per_epoch(self.sampler, self.config)
        self.val_loader = validation_loader(self.val_set, info, self.config, self.settings)

    # -- one epoch --------------------------------------------------------------------------
    def run_epoch(self) -> _Epoch:
        """Run the optimizer steps of the current epoch, from where it stands.

        A resumed run starts in the middle. Returns the epoch's running totals for
        :meth:`end_epoch`.
        """
        state, config, settings = self.state, self.config, self.settings
        start = time.perf_counter()
        self.sampler.set_epoch(state.epoch)
        self.sampler.set_position(state.batch * config.batch_size)
        remaining = self.steps_per_epoch - state.batch
        loader = make_loader(
            self.train_set,
            self.sampler,
            config.batch_size,
            settings,
            seed=config.seed + state.epoch,
        )
        self.task.set_train_mode()
        epoch = _Epoch(
            lr=self.optimizer.param_groups[0]["lr"],
            loss_sum=torch.tensor(state.loss_sum, dtype=torch.float64, device=settings.device),
            start=start,
        )
        bar = tqdm(
            total=self.steps_per_epoch,
            initial=state.batch,
            desc=f"{self.task.name} epoch {state.epoch + 1}/{config.epochs}",
            disable=not self.show,
            leave=False,
            dynamic_ncols=True,
            file=sys.stderr,
        )
        for step_in_call, (images, labels) in enumerate(DevicePrefetcher(loader, settings.device)):
            if step_in_call >= remaining:
                break
            loss = train_step(
                self.task,
                self.train_module,
                self.optimizer,
                images,
                labels,
                settings,
                self.aug_generator,
            )
            epoch.loss_sum += loss.detach().double() * images.shape[0]
            self._end_step(epoch, int(images.shape[0]), bar)
        bar.close()
        broadcast_buffers(self.task.model, self.info)
        return epoch

    def _end_step(self, epoch: _Epoch, images: int, bar: Any) -> None:
        """Count a step, show progress and checkpoint every ``checkpoint_every`` steps.

        Then tell the callbacks.
        """
        state = self.state
        state.seen += images
        state.batch += 1
        state.global_step += 1
        bar.update(1)
        if self.show and (state.batch % 20 == 0 or state.batch == self.steps_per_epoch):
            bar.set_postfix(loss=f"{epoch.loss_sum.item() / max(state.seen, 1):.4f}")
        every = self.config.checkpoint_every
        if every and state.global_step % every == 0 and state.batch < self.steps_per_epoch:
            state.loss_sum = float(epoch.loss_sum.item())
            state.epoch_time += time.perf_counter() - epoch.start
            epoch.start = time.perf_counter()
            self.save_last()
        for callback in self.callbacks:
            callback.on_step_end(self)

    def end_epoch(self, epoch: _Epoch) -> None:
        """Validate, step the schedule, append the metrics row and keep the best weights.

        Then write the metrics files and ``last.pt``, and tell the callbacks.
        """
        state, task = self.state, self.task
        row = self._epoch_row(epoch)
        state.history.append(row)
        improved = _is_better(row[task.monitor], state.best_value, task.monitor_mode)
        if improved:
            state.best_value = float(row[task.monitor])
            state.best_epoch = state.epoch + 1
        state.next_epoch()
        if self.info.is_main:
            if improved:
                save_best(task, self.best_path, self.config, row)
            write_history(self.run_dir, state.history)
        self.save_last()
        self.log(epoch_line(row, self.config.epochs))
        for callback in self.callbacks:
            callback.on_epoch_end(self, row)

    def _epoch_row(self, epoch: _Epoch) -> dict[str, Any]:
        """Return the finished epoch's metrics, stepping the schedule on the way.

        They are the training loss reduced over ranks, validation, the task's extra columns,
        and timings.
        """
        state, config, task = self.state, self.config, self.task
        seen = torch.tensor(float(state.seen), dtype=torch.float64, device=epoch.loss_sum.device)
        totals = all_reduce_sum(torch.stack([epoch.loss_sum, seen]), self.info)
        train_loss = float(totals[0] / totals[1].clamp_min(1))
        seen_all = int(totals[1].item())
        train_time = state.epoch_time + (time.perf_counter() - epoch.start)
        # The unwrapped module: DDP's forward is a collective, and the validation shards
        # may differ in length by one batch.
        val_metrics = evaluate(
            task,
            task.forward_module(),
            self.val_loader,
            self.settings,
            self.info,
            config.max_val_batches,
        )
        if self.scheduler is not None:
            self.scheduler.step(val_metrics["val_loss"])
        state.epoch_time += time.perf_counter() - epoch.start
        extra_metrics = task.epoch_metrics(state.epoch + 1, state.epoch + 1 == config.epochs)
        return {
            "epoch": state.epoch + 1,
            "train_loss": train_loss,
            **val_metrics,
            **extra_metrics,
            "lr": epoch.lr,
            "global_step": state.global_step,
            "train_img_per_s": seen_all / train_time if train_time > 0 else float("nan"),
            "epoch_time_s": state.epoch_time,
        }

    # -- checkpoints and result -------------------------------------------------------------
    def save_last(self) -> None:
        """Write ``last.pt`` with the full training state (collective over ranks)."""
        save_state(
            self.task,
            self.last_path,
            config=self.config,
            info=self.info,
            state=self.state,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            generators=self.generators,
        )

    def finish(self, start_time: float) -> TrainResult:
        """Return the run's :class:`TrainResult`; rank 0 writes the metrics files once more.

        Also for a resumed run that was already complete.
        """
        settings, info, state = self.settings, self.info, self.state
        result = TrainResult(
            task=self.task.name,
            history=state.history,
            run_dir=self.run_dir,
            best_checkpoint=self.best_path,
            last_checkpoint=self.last_path,
            metrics_csv=self.run_dir / "metrics.csv",
            metrics_json=self.run_dir / "metrics.json",
            monitor=self.task.monitor,
            best_value=state.best_value,
            best_epoch=state.best_epoch,
            resumed_from=self.resumed_from,
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
            write_history(self.run_dir, state.history)
        return result


# -- steps, validation, optimizer ----------------------------------------------------------


def train_step(
    task: TrainTask,
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: DeviceSettings,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Take one optimizer step on a uint8 batch already on the device.

    Returns the (detached-able) loss without synchronising. Shared by :func:`fit` and the
    throughput benchmark.
    """
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
    """Run forward, loss, backward and optimizer step on preprocessed ``inputs``.

    The inputs are already in the settings' memory format (the benchmark's compute ceiling
    times this alone). Returns the loss without synchronising.
    """
    with autocast(settings):
        output = module(inputs)
    loss = task.loss(output, inputs, labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


@torch.no_grad()
def evaluate(
    task: TrainTask,
    module: nn.Module,
    loader: Any,
    settings: DeviceSettings,
    info: DistInfo,
    max_batches: int | None = None,
) -> dict[str, float]:
    """Compute the validation metrics of ``task`` over ``loader`` (summed over ranks).

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


def build_optimizer(params: Sequence[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """Adadelta (the paper's choice; lr 1.0 is Keras' and torch's default), or SGD/Adam/NAdam."""
    if not params:
        raise ValueError("the model has no trainable parameters")
    if config.optimizer == "adadelta":
        return torch.optim.Adadelta(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    if config.optimizer == "nadam":  # FeatUp's optimiser for its JBU
        return torch.optim.NAdam(params, lr=config.lr, weight_decay=config.weight_decay)
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


def _discard(_line: str) -> None:
    """Discard a log line (the log when nothing is shown)."""


def _is_better(value: float, best: float | None, mode: str) -> bool:
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value > best if mode == "max" else value < best
