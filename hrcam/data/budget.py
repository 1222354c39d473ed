"""Whether the disk and the memory can hold a synthetic store, checked before it is rendered."""

from __future__ import annotations

import os
from pathlib import Path

_RENDER_BYTES_PER_PIXEL = 110  # float working memory of render_synthetic, measured: ~100


def synthetic_size_estimate(
    num_images: int, image_size: int, shard_size: int, workers: int
) -> tuple[int, int]:
    """(disk bytes, peak memory bytes) that :func:`generate_synthetic` will need.

    Disk: per image, 3 bytes a pixel of RGB and 1 of mask, plus its label and box. Memory:
    each worker renders 128 images at a time in float (~100 bytes a pixel, measured) and holds
    one shard of uint8 images and masks.
    """
    px = int(image_size) ** 2
    disk = int(num_images) * (4 * px + 40)
    chunk = min(128, int(shard_size), max(int(num_images), 1))
    per_worker = chunk * px * _RENDER_BYTES_PER_PIXEL + min(int(shard_size), num_images) * px * 8
    return disk, per_worker * max(1, int(workers))


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
    num_images: int,
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

    disk, memory = synthetic_size_estimate(num_images, image_size, shard_size, workers)
    existing = Path(out_dir).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
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
