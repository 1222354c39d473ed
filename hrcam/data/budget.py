"""Disk and memory that a synthetic store needs, checked before anything is written.

The disk estimate counts whole file-system blocks per file, as the disk is filled; the memory
estimate is the rendering workers' measured working set.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["check_synthetic_budget", "synthetic_size_estimate"]

_RENDER_BYTES_PER_PIXEL = 110  # float working memory of render_synthetic, measured: ~100


def synthetic_size_estimate(
    num_images: int | Sequence[int],
    image_size: int,
    shard_size: int,
    workers: int,
    block_size: int = 1,
) -> tuple[int, int]:
    """(disk bytes, peak memory bytes) that :func:`generate_synthetic` will need.

    Disk: per shard, four ``.npy`` files (RGB images, 3 bytes a pixel; masks, 1 byte a pixel;
    labels; boxes) and a JSON marker, each rounded up to whole file-system blocks of
    ``block_size`` bytes, plus ``meta.json`` and the split folders. Memory: each worker
    renders 128 images at a time in float (~100 bytes a pixel, measured) and holds one shard
    of uint8 images and masks.

    ``num_images`` is an ``int`` (all in one split) or the image count of each split.
    """
    px = int(image_size) ** 2
    totals = [int(num_images)] if isinstance(num_images, int) else [int(n) for n in num_images]
    shard = int(shard_size)
    num_shards = sum(-(-total // shard) for total in totals)
    disk = _blocks(_META_BYTES + _META_BYTES_PER_SHARD * num_shards, block_size)
    disk += len(totals) * _blocks(1, block_size)  # the split folders
    for total in totals:
        full, rest = divmod(total, shard)
        disk += full * _shard_bytes(shard, px, block_size)
        disk += _shard_bytes(rest, px, block_size) if rest else 0
    count = sum(totals)
    chunk = min(128, shard, max(count, 1))
    per_worker = chunk * px * _RENDER_BYTES_PER_PIXEL + min(shard, count) * px * 8
    return disk, per_worker * max(1, int(workers))


_NPY_HEADER = 128  # bytes before the data of a version-1 .npy file
_MARKER_BYTES = 200  # a shard's JSON marker, at most
_META_BYTES = 16_384  # meta.json without its shard list: names and specs of all classes
_META_BYTES_PER_SHARD = 64


def _shard_bytes(n: int, px: int, block_size: int) -> int:
    """Disk bytes of one shard of ``n`` images of ``px`` pixels: four arrays and a marker."""
    files = (3 * px * n, px * n, 8 * n, 32 * n)  # images, masks, labels, boxes
    arrays = sum(_blocks(_NPY_HEADER + size, block_size) for size in files)
    return arrays + _blocks(_MARKER_BYTES, block_size)


def _blocks(size: int, block_size: int) -> int:
    """``size`` bytes rounded up to whole blocks of ``block_size`` bytes."""
    block = max(1, int(block_size))
    return -(-int(size) // block) * block


def _available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _size(n: float) -> str:
    """Bytes in the largest unit that keeps a number >= 1 (``"3.2 MiB"``, ``"4.0 GiB"``)."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{int(n)} bytes"


def check_synthetic_budget(
    out_dir: str | os.PathLike[str],
    num_images: int | Sequence[int],
    image_size: int,
    shard_size: int,
    workers: int,
) -> None:
    """Refuse, before anything is written, a store that the disk or memory cannot hold.

    Raises
    ------
    ValueError
        With the estimated need and what is available, and the options to lower.
    """
    import shutil

    existing = Path(out_dir).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    # Every file takes whole blocks: 40 small files can need a block each, not 40 bytes.
    block = os.statvfs(existing).f_frsize
    disk, memory = synthetic_size_estimate(num_images, image_size, shard_size, workers, block)
    free = shutil.disk_usage(existing).free
    num_images = sum([num_images] if isinstance(num_images, int) else num_images)
    if disk > free:
        raise ValueError(
            f"{num_images} images of {image_size}x{image_size} px need about {_size(disk)} of "
            f"disk, but {existing} has {_size(free)} free; lower --num-train/--num-val or "
            "--image-size, or choose another --out"
        )
    available = _available_memory()
    if available is not None and memory > available:
        raise ValueError(
            f"rendering {image_size}x{image_size} px images needs about {_size(memory)} of "
            f"memory ({workers} worker(s)), but {_size(available)} is available; lower "
            "--image-size, --shard-size or --workers"
        )
