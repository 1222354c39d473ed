"""Parallel, resumable conversion of image files into a store (shared by all real datasets).

A builder lists its samples as :class:`Item` (image path, label, optional label-map path)
per split; :func:`build_store_from_items` cuts each list into shards of ``shard_size``
items, decodes shards in worker processes and writes each with its completion marker.
Re-running the same build skips finished shards (resume); a different build in the same
directory is refused. Files that cannot be decoded are skipped and reported with path and
reason (in the markers, in ``errors.tsv`` and in the returned :class:`BuildReport`);
they never stop the run.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hrcam.atomic import atomic_write_text
from hrcam.data.imageio import DEFAULT_MAX_PIXELS, ImageDecodeError, decode_image, decode_label_map
from hrcam.data.store import StoreInfo, StoreWriter
from hrcam.parallel import available_cores, worker_pool

__all__ = ["BuildReport", "Item", "build_store_from_items"]

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


class Item(NamedTuple):
    """One sample to convert: image file, class index, optional label map (e.g. trimap)."""

    path: str
    label: int
    mask_path: str | None = None


@dataclass
class BuildReport:
    """Outcome of a build.

    Attributes
    ----------
    info : StoreInfo
        The finished store.
    counts : dict
        Images written per split.
    errors : list of (path, reason)
        Files skipped because they could not be decoded.
    warnings : list of str
        Problems with the source tree that did not stop the build (missing or empty class
        folders, ignored files).
    resumed_shards : int
        Shards found complete from an earlier, interrupted run and kept.
    """

    info: StoreInfo
    counts: dict[str, int]
    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    resumed_shards: int = 0

    def summary(self) -> str:
        """Describe the build in a few human-readable lines for the CLI."""
        parts = ", ".join(f"{k}: {v}" for k, v in self.counts.items())
        lines = [
            f"store {self.info.root}: {self.info.num_classes} classes, "
            f"{self.info.image_size}x{self.info.image_size}, images per split ({parts})",
            f"unreadable files skipped: {len(self.errors)}"
            + (f" (listed in {self.info.root / 'errors.tsv'})" if self.errors else ""),
        ]
        if self.resumed_shards:
            lines.append(f"shards kept from an earlier run: {self.resumed_shards}")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def list_image_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """Sorted files in ``folder`` with an image extension, and the other (ignored) files."""
    images, others = [], []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file():
            continue
        (images if p.suffix.lower() in IMAGE_EXTENSIONS else others).append(p)
    return images, others


def _mask_from_label_map(label_map: np.ndarray, mask_rule: str) -> np.ndarray:
    if mask_rule == "trimap":
        # Oxford-IIIT Pet trimaps: 1 pet, 2 background, 3 border; the border belongs to the pet
        return (label_map != 2).astype(np.uint8)
    if mask_rule == "nonzero":
        return (label_map != 0).astype(np.uint8)
    raise ValueError(f"unknown mask rule {mask_rule!r}")


def _build_shard(task: dict[str, Any]) -> dict[str, Any]:
    """Worker: decode one shard's files and write it. Never raises for a bad file."""
    writer = StoreWriter(**task["writer"])
    size = task["writer"]["image_size"]
    images, labels, masks, sources, errors = [], [], [], [], []
    for path, label, mask_path in task["items"]:
        try:
            img = decode_image(path, size, task["max_pixels"])
            if task["writer"]["has_masks"]:
                if mask_path is None:
                    raise ImageDecodeError("no mask file for this image")
                try:
                    lm = decode_label_map(mask_path, size, task["max_pixels"])
                except ImageDecodeError as exc:
                    raise ImageDecodeError(f"mask {mask_path}: {exc}") from exc
                masks.append(_mask_from_label_map(lm, task["mask_rule"]))
        except ImageDecodeError as exc:
            errors.append([path, str(exc)])
            continue
        except Exception as exc:  # a bad file must never stop a long build
            errors.append([path, f"unexpected {type(exc).__name__}: {exc}"])
            continue
        images.append(img)
        labels.append(label)
        sources.append(os.path.relpath(path, task["source_root"]))
    s = size
    n = writer.write_shard(
        task["split"],
        task["index"],
        np.stack(images) if images else np.zeros((0, s, s, 3), np.uint8),
        np.asarray(labels, np.int64),
        masks=(np.stack(masks) if masks else np.zeros((0, s, s), np.uint8))
        if task["writer"]["has_masks"]
        else None,
        extra={"sources": sources, "errors": errors},
    )
    return {"count": n, "attempted": len(task["items"]), "errors": errors}


def _fingerprint(items: dict[str, Sequence[Item]], settings: dict[str, Any]) -> str:
    h = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode())
    for split in sorted(items):
        h.update(split.encode())
        for it in items[split]:
            h.update(f"{it.path}\t{it.label}\t{it.mask_path}\n".encode())
    return h.hexdigest()


def build_store_from_items(
    out: str | os.PathLike[str],
    items: dict[str, Sequence[Item]],
    classes: Sequence[str],
    image_size: int,
    source: dict[str, Any],
    source_root: str | os.PathLike[str],
    has_masks: bool = False,
    mask_rule: str = "trimap",
    shard_size: int = 1024,
    num_workers: int | None = None,
    progress: bool = True,
    warnings: Sequence[str] = (),
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> BuildReport:
    """Decode ``items`` into a store at ``out`` in parallel, resumably.

    Parameters
    ----------
    out : path
        Store directory.
    items : dict
        ``split -> list of Item``; the order is kept.
    classes : sequence of str
        Class names.
    image_size : int
        Output height and width.
    source : dict
        Provenance for ``meta.json``.
    source_root : path
        Root that source paths are stored relative to.
    has_masks, mask_rule : bool, str
        Whether items carry label maps and how they become masks (``"trimap"``,
        ``"nonzero"``).
    shard_size : int
        Items per shard.
    num_workers : int, optional
        Processes (default: all CPUs; 0 or 1: in this process).
    progress : bool
        tqdm progress bar.
    warnings : sequence of str
        Source-tree warnings to carry into the report.
    max_pixels : int
        Larger images are skipped as "too large".
    """
    if int(image_size) < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    if int(shard_size) < 1:
        raise ValueError(f"shard_size must be positive, got {shard_size}")
    out = Path(out)
    settings = {
        "image_size": int(image_size),
        "shard_size": int(shard_size),
        "classes": list(classes),
        "has_masks": has_masks,
        "mask_rule": mask_rule,
        "max_pixels": int(max_pixels),
    }
    fingerprint = _fingerprint(items, settings)
    _claim_output(out, fingerprint, settings)
    writer_kw = {
        "root": str(out),
        "image_size": int(image_size),
        "classes": list(classes),
        "has_masks": has_masks,
        "source": {**source, "fingerprint": fingerprint},
    }
    writer = StoreWriter(**writer_kw)
    tasks, num_shards, resumed = [], {}, 0
    for split, split_items in items.items():
        num_shards[split] = -(-len(split_items) // shard_size)
        for index in range(num_shards[split]):
            if writer.shard_done(split, index):
                resumed += 1
                continue
            chunk = split_items[index * shard_size : (index + 1) * shard_size]
            tasks.append(
                {
                    "writer": writer_kw,
                    "split": split,
                    "index": index,
                    "items": [tuple(it) for it in chunk],
                    "mask_rule": mask_rule,
                    "source_root": str(source_root),
                    "max_pixels": int(max_pixels),
                }
            )
    _decode_shards(tasks, num_workers, progress)
    info = writer.finalize({k: v for k, v in num_shards.items() if v > 0})
    return BuildReport(
        info=info,
        counts={split: info.count(split) for split in items},
        errors=_write_errors(writer, out, num_shards),
        warnings=list(warnings),
        resumed_shards=resumed,
    )


def _claim_output(out: Path, fingerprint: str, settings: dict[str, Any]) -> None:
    """Create ``out`` for this build, or accept it if it holds the same (interrupted) build."""
    out.mkdir(parents=True, exist_ok=True)
    build_file = out / "build.json"
    if build_file.is_file():
        old = json.loads(build_file.read_text()).get("fingerprint")
        if old != fingerprint:
            raise ValueError(
                f"output directory {str(out)!r} holds a different build (other files or "
                "settings); choose a new --out or delete it"
            )
    else:
        if (out / "meta.json").exists():
            raise ValueError(
                f"output directory {str(out)!r} already holds a store; choose a new --out"
            )
        atomic_write_text(
            build_file, json.dumps({"fingerprint": fingerprint, "settings": settings})
        )


def run_shard_tasks(
    fn: Callable[[dict[str, Any]], Any],
    tasks: Sequence[dict[str, Any]],
    num_workers: int | None,
    on_done: Callable[[Any], None],
) -> None:
    """Run ``fn(task)`` for every task and pass each result to ``on_done`` as it finishes.

    In this process when ``num_workers`` is 0 or 1 or there is at most one task, else in a
    :func:`hrcam.parallel.worker_pool` of up to ``num_workers`` processes (default: one per
    core this process may use, :func:`hrcam.parallel.available_cores`). Each task writes its
    own shard, so the order they finish in changes no file.
    """
    workers = available_cores() if num_workers is None else int(num_workers)
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            on_done(fn(task))
        return
    with worker_pool(min(workers, len(tasks))) as pool:
        futures = [pool.submit(fn, t) for t in tasks]
        for fut in as_completed(futures):
            on_done(fut.result())


def _decode_shards(tasks: list[dict[str, Any]], num_workers: int | None, progress: bool) -> None:
    """Decode and write every shard task, counting unreadable files on the progress bar."""
    from tqdm import tqdm

    bar = tqdm(
        total=sum(len(t["items"]) for t in tasks), disable=not progress, unit="img", desc="decode"
    )
    n_bad = 0

    def done(res: dict[str, Any]) -> None:
        nonlocal n_bad
        n_bad += len(res["errors"])
        bar.update(res["attempted"])
        bar.set_postfix(unreadable=n_bad)

    run_shard_tasks(_build_shard, tasks, num_workers, done)
    bar.close()


def _write_errors(
    writer: StoreWriter, out: Path, num_shards: dict[str, int]
) -> list[tuple[str, str]]:
    """Collect the skipped files of every shard (from their markers); also write ``errors.tsv``."""
    errors: list[tuple[str, str]] = []
    for split, n in num_shards.items():
        for index in range(n):
            marker = json.loads(writer.marker_path(split, index).read_text())
            errors += [(p, r) for p, r in marker.get("errors", [])]
    atomic_write_text(
        out / "errors.tsv", "path\treason\n" + "".join(f"{p}\t{r}\n" for p, r in errors)
    )
    return errors
