"""Data for the training loop: a sampler, DataLoaders and a host-to-device prefetcher.

A seeded, resumable sampler sharded over ranks, DataLoaders that read whole batches, and a
prefetcher that overlaps the host-to-device copy with compute.

Data flow of one training batch::

    store (uint8 memmap) -> BatchReader (one fancy-index per shard) -> DataLoader (pinned)
    -> DevicePrefetcher (side-stream copy) -> the loop
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from hrcam.train.config import TrainConfig
from hrcam.train.device import DeviceSettings
from hrcam.train.distributed import DistInfo


def collate_image_label(items: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack items into a uint8 image batch and an int64 label batch.

    The items are ``{"image", "label"}`` dicts (a store) or ``(image, label)`` pairs (a
    TensorDataset).

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
    """Make a DataLoader that reads whole batches (:class:`BatchReader`).

    It reads in ``settings.num_workers`` processes, into pinned memory on CUDA.

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


class ResumableSampler:
    """A seeded per-epoch permutation, sharded over ranks, that can start mid-epoch.

    It is torch's own :class:`~torch.utils.data.DistributedSampler` (permutation seeded with
    ``seed + epoch``, every rank a strided shard) with one addition: ``set_position`` skips the
    samples that the interrupted run had already consumed in this epoch. Without a process
    group it is used with ``num_replicas=1, rank=0``, so single-process and torchrun runs share
    one data order code path.

    Parameters
    ----------
    length
        Number of samples in the dataset.
    num_replicas, rank
        World size and this process's rank.
    shuffle
        Permute (training) or keep the dataset order (validation).
    seed
        Base seed of the permutations.
    """

    def __init__(
        self, length: int, num_replicas: int = 1, rank: int = 0, shuffle: bool = True, seed: int = 0
    ) -> None:
        from torch.utils.data import DistributedSampler

        if length < 1:
            raise ValueError(f"the dataset is empty (length {length}); nothing to sample")
        self._inner = DistributedSampler(
            range(length),  # only len() is used
            num_replicas=num_replicas,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=False,
        )
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch`` and rewind to its start."""
        self.epoch = epoch
        self.start = 0
        self._inner.set_epoch(epoch)

    def set_position(self, start: int) -> None:
        """Skip the first ``start`` samples of this rank's shard of the current epoch."""
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        self.start = start

    def __iter__(self) -> Iterator[int]:
        indices = list(iter(self._inner))
        return iter(indices[self.start :])

    def __len__(self) -> int:
        return max(0, len(self._inner) - self.start)

    @property
    def shard_size(self) -> int:
        """Samples this rank sees in a whole epoch."""
        return len(self._inner)


def train_sampler(train_set: Dataset, info: DistInfo, seed: int) -> ResumableSampler:
    """Order the training data: this rank's shard of a ``seed``-ed permutation per epoch."""
    return ResumableSampler(
        len(train_set),  # type: ignore[arg-type]
        num_replicas=info.world_size,
        rank=info.rank,
        shuffle=True,
        seed=seed,
    )


def steps_per_epoch(sampler: ResumableSampler, config: TrainConfig) -> int:
    """Optimizer steps in one epoch on this rank (``max_train_batches`` caps them)."""
    steps = math.ceil(sampler.shard_size / config.batch_size)
    if config.max_train_batches is not None:
        steps = min(steps, config.max_train_batches)
    return steps


def validation_loader(
    val_set: Dataset, info: DistInfo, config: TrainConfig, settings: DeviceSettings
) -> DataLoader:
    """Make a loader of this rank's strided shard of the validation split, in order.

    Its batches have the validation batch size.
    """
    return make_loader(
        val_set,
        list(range(info.rank, len(val_set), info.world_size)),  # type: ignore[arg-type]
        config.val_batch_size or config.batch_size,
        settings,
        seed=config.seed,
    )
