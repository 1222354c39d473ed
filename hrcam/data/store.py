"""On-disk sharded image store: the one format every hrcam dataset is written in.

Training never decodes JPEGs: every source (the built-in synthetic set, ImageNet animals,
Oxford-IIIT Pet, Imagenette/Imagewoof) is converted once into plain ``.npy`` shards that
``np.load(..., mmap_mode="r")`` maps straight into memory.

Layout (format ``hrcam-store``, version 1)::

    root/
      meta.json                      # see below
      <split>/                       # "train", "val" (any name is allowed)
        images-00000.npy             # (N, H, W, 3) uint8, RGB, H == W == image_size
        labels-00000.npy             # (N,) int64 class indices into meta["classes"]
        masks-00000.npy              # (N, H, W) uint8 in {0, 1}   (only if has_masks)
        boxes-00000.npy              # (N, 4) int64 x0, y0, x1, y1 (only if has_masks);
                                     #   inclusive-exclusive pixel bounds of the mask
        shard-00000.json             # completion marker, written last: count, sources,
                                     #   errors; a shard without it is incomplete
        images-00001.npy ...

``meta.json`` holds ``format`` ("hrcam-store"), ``version`` (1), ``image_size``,
``classes`` (list of names, index = label), ``has_masks``, ``source`` (a free-form dict:
dataset name, generator settings and seed, source root, ...), and ``splits``: for each split
``{"count": N, "shards": [{"name": "00000", "count": n}, ...]}``. Shards of one split may
hold different numbers of images (a builder skips unreadable files); the order of
``shards`` defines the global index of an image within its split.

Shards are written atomically (temporary file, then rename) and each is closed by its
marker, so an interrupted build can resume by skipping the shards whose marker exists.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hrcam.atomic import atomic_write, atomic_write_text

FORMAT_NAME = "hrcam-store"
FORMAT_VERSION = 1
ARRAY_KINDS = ("images", "labels", "masks", "boxes")

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "StoreDataset",
    "StoreInfo",
    "StoreWriter",
    "boxes_from_masks",
    "check_store",
    "open_shard_array",
    "open_store",
    "shard_extras",
]


@dataclass(frozen=True)
class StoreInfo:
    """What ``meta.json`` says about a store.

    Attributes
    ----------
    root : Path
        Store directory.
    image_size : int
        Height and width of every image.
    classes : list of str
        Class names; a label is an index into this list.
    has_masks : bool
        Whether every image has an object mask and box.
    splits : dict
        ``split -> {"count": int, "shards": [{"name": str, "count": int}, ...]}``.
    source : dict
        Provenance: dataset name, generator settings, seed, source root.
    """

    root: Path
    image_size: int
    classes: list[str]
    has_masks: bool
    splits: dict[str, dict[str, Any]]
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def count(self, split: str) -> int:
        """Return the number of images in ``split`` (0 if the split does not exist)."""
        return int(self.splits.get(split, {}).get("count", 0))

    def to_meta(self) -> dict[str, Any]:
        """Return the JSON-serialisable content of ``meta.json``."""
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "image_size": self.image_size,
            "classes": list(self.classes),
            "has_masks": self.has_masks,
            "source": self.source,
            "splits": self.splits,
        }


def open_store(root: str | os.PathLike[str]) -> StoreInfo:
    """Read and check ``root/meta.json``.

    Raises
    ------
    FileNotFoundError
        If ``root`` or its ``meta.json`` does not exist.
    ValueError
        If ``meta.json`` is not an hrcam store of a supported version.
    """
    root = Path(root)
    meta_path = root / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"store root {str(root)!r} has no meta.json: build a store first "
            "(e.g. `hrcam data synthetic --out DIR`)"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{meta_path} is not valid JSON ({exc})") from exc
    if meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{meta_path}: format is {meta.get('format')!r}, expected {FORMAT_NAME!r}")
    if int(meta.get("version", -1)) > FORMAT_VERSION:
        raise ValueError(
            f"{meta_path}: store version {meta.get('version')} is newer than this hrcam "
            f"supports ({FORMAT_VERSION}); upgrade hrcam"
        )
    return StoreInfo(
        root=root,
        image_size=int(meta["image_size"]),
        classes=[str(c) for c in meta["classes"]],
        has_masks=bool(meta["has_masks"]),
        splits=dict(meta["splits"]),
        source=dict(meta.get("source", {})),
    )


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """Tight boxes ``(x0, y0, x1, y1)`` (end-exclusive) of binary masks ``(N, H, W)``.

    An empty mask gets the box ``(0, 0, 0, 0)``.
    """
    masks = np.asarray(masks).astype(bool)
    _, h, w = masks.shape
    rows = masks.any(axis=2)
    cols = masks.any(axis=1)
    nonempty = rows.any(axis=1)
    y0 = np.where(nonempty, rows.argmax(axis=1), 0)
    y1 = np.where(nonempty, h - rows[:, ::-1].argmax(axis=1), 0)
    x0 = np.where(nonempty, cols.argmax(axis=1), 0)
    x1 = np.where(nonempty, w - cols[:, ::-1].argmax(axis=1), 0)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.int64)


def _atomic_save(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda fh: np.save(fh, np.ascontiguousarray(array)))


def open_shard_array(path: Path, count: int | None = None) -> np.ndarray:
    """Memory-map one shard file, or raise a ``ValueError`` that names it.

    A truncated or damaged file (a copy cut short, a full disk) otherwise surfaces as numpy's
    bare "mmap length is greater than file size".
    """
    try:
        array = np.load(path, mmap_mode="r")
    except FileNotFoundError:
        raise ValueError(
            f"store shard {path} is missing; rebuild the store (delete its folder and rerun "
            "`hrcam data ...`)"
        ) from None
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(
            f"store shard {path} is damaged or truncated ({exc}); rebuild the store (delete "
            "its folder and rerun `hrcam data ...`)"
        ) from None
    if count is not None and (array.ndim == 0 or array.shape[0] != count):
        raise ValueError(
            f"store shard {path} holds {array.shape[:1]} items where meta.json says {count}; "
            "rebuild the store"
        )
    return array


def check_store(info: StoreInfo) -> None:
    """Open every shard file of ``info``'s store and check its length against ``meta.json``.

    Raises
    ------
    ValueError
        Naming the first missing, truncated or inconsistent shard file.
    """
    kinds = ARRAY_KINDS if info.has_masks else ("images", "labels")
    for split, meta in info.splits.items():
        for shard in meta["shards"]:
            for kind in kinds:
                open_shard_array(info.root / split / f"{kind}-{shard['name']}.npy", shard["count"])


def shard_extras(root: str | os.PathLike[str], split: str, key: str) -> list[Any]:
    """One entry per image of ``split``: the ``key`` list each shard's marker recorded.

    Builders may record per-image provenance in a shard's marker (the cut-out builder writes
    ``sources``: each image's target stamp, background photo and distractors), in the order
    of the images, so the statistics can resample the sources images share.

    Raises
    ------
    KeyError
        When a shard's marker lacks ``key`` (the store was not built with that record).
    """
    info = open_store(root)
    out: list[Any] = []
    for shard in info.splits[split]["shards"]:
        marker = json.loads((Path(root) / split / f"shard-{shard['name']}.json").read_text())
        if key not in marker or len(marker[key]) != int(shard["count"]):
            raise KeyError(
                f"store {root}: shard {shard['name']} of {split!r} records no {key!r} for "
                "its images (rebuild it with a builder that does)"
            )
        out.extend(marker[key])
    return out


def shard_name(index: int) -> str:
    """Five-digit shard name used in file names (``7 -> "00007"``)."""
    return f"{index:05d}"


class StoreWriter:
    """Write a store shard by shard; safe to use from several processes at once.

    Each :meth:`write_shard` call writes one complete shard and its marker, so workers can
    write different shards of the same split in parallel. :meth:`finalize` then collects the
    markers into ``meta.json``.

    Parameters
    ----------
    root : path
        Store directory (created).
    image_size : int
        Height and width of every image.
    classes : sequence of str
        Class names.
    has_masks : bool
        Whether shards carry masks and boxes.
    source : dict, optional
        Provenance stored in ``meta.json``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        image_size: int,
        classes: Sequence[str],
        has_masks: bool,
        source: dict[str, Any] | None = None,
    ) -> None:
        if int(image_size) < 1:
            raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
        if len(classes) < 1:
            raise ValueError("classes must name at least one class")
        self.root = Path(root)
        self.image_size = int(image_size)
        self.classes = [str(c) for c in classes]
        self.has_masks = bool(has_masks)
        self.source = dict(source or {})
        self.root.mkdir(parents=True, exist_ok=True)

    def marker_path(self, split: str, index: int) -> Path:
        """Path of the completion marker of shard ``index`` of ``split``."""
        return self.root / split / f"shard-{shard_name(index)}.json"

    def shard_done(self, split: str, index: int) -> bool:
        """Whether shard ``index`` of ``split`` was completely written."""
        return self.marker_path(split, index).is_file()

    def remove_stale_shards(self, counts: dict[str, Sequence[int]]) -> list[str]:
        """Delete finished shards that do not fit ``split -> [count of shard 0, 1, ...]``.

        A shard is stale when its marker records another image count than asked for, when its
        index lies beyond the split's new length, or when its split is not asked for at all.
        Returns the removed shards as ``"split/NNNNN"``.
        """
        removed = []
        for marker in sorted(self.root.glob("*/shard-*.json")):
            split = marker.parent.name
            try:
                info = json.loads(marker.read_text())
                index, count = int(info["name"]), int(info["count"])
            except (OSError, ValueError, KeyError, TypeError):
                index, count = -1, -1  # unreadable marker: treat the shard as stale
            wanted = counts.get(split, ())
            if 0 <= index < len(wanted) and wanted[index] == count:
                continue
            name = marker.stem.removeprefix("shard-")
            marker.unlink()  # first, so that a crash below leaves an unfinished shard
            for kind in ARRAY_KINDS:
                (marker.parent / f"{kind}-{name}.npy").unlink(missing_ok=True)
            removed.append(f"{split}/{name}")
            if not any(marker.parent.iterdir()):
                marker.parent.rmdir()
        if removed and (self.root / "meta.json").is_file():
            (self.root / "meta.json").unlink()  # describes shards that are gone
        return removed

    def write_shard(
        self,
        split: str,
        index: int,
        images: np.ndarray,
        labels: np.ndarray,
        masks: np.ndarray | None = None,
        boxes: np.ndarray | None = None,
        extra: dict[str, Any] | None = None,
    ) -> int:
        """Write one shard and its completion marker; returns the number of images.

        ``boxes`` default to the tight boxes of ``masks``. ``extra`` (e.g. source file
        names, decoding errors) is kept in the marker.
        """
        images = np.asarray(images)
        labels = np.asarray(labels, dtype=np.int64)
        s = self.image_size
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (s, s, 3):
            raise ValueError(
                f"images must be uint8 of shape (N, {s}, {s}, 3), got {images.dtype} {images.shape}"
            )
        n = images.shape[0]
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
        if n and (labels.min() < 0 or labels.max() >= len(self.classes)):
            raise ValueError(f"labels must lie in [0, {len(self.classes)}), got {labels.min()}..")
        if self.has_masks:
            if masks is None:
                raise ValueError("this store has masks: pass masks for every shard")
            masks = (np.asarray(masks) > 0).astype(np.uint8)
            if masks.shape != (n, s, s):
                raise ValueError(f"masks must have shape ({n}, {s}, {s}), got {masks.shape}")
            boxes = boxes_from_masks(masks) if boxes is None else np.asarray(boxes, np.int64)
            if boxes.shape != (n, 4):
                raise ValueError(f"boxes must have shape ({n}, 4), got {boxes.shape}")
        split_dir = self.root / split
        split_dir.mkdir(parents=True, exist_ok=True)
        name = shard_name(index)
        _atomic_save(split_dir / f"images-{name}.npy", images)
        _atomic_save(split_dir / f"labels-{name}.npy", labels)
        if self.has_masks:
            _atomic_save(split_dir / f"masks-{name}.npy", masks)
            _atomic_save(split_dir / f"boxes-{name}.npy", boxes)
        marker = {"name": name, "count": int(n), **(extra or {})}
        atomic_write_text(self.marker_path(split, index), json.dumps(marker))
        return int(n)

    def finalize(self, num_shards: dict[str, int] | None = None) -> StoreInfo:
        """Collect the shard markers into ``meta.json`` and return the store's info.

        Parameters
        ----------
        num_shards : dict, optional
            ``split -> expected number of shards``. A missing marker then raises
            ``RuntimeError`` instead of silently producing a short split.
        """
        splits: dict[str, dict[str, Any]] = {}
        split_names = sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and any(p.glob("shard-*.json"))
        )
        for split in set(split_names) | set(num_shards or {}):
            markers = sorted((self.root / split).glob("shard-*.json"))
            if num_shards is not None and split in num_shards:
                expected = num_shards[split]
                missing = [i for i in range(expected) if not self.shard_done(split, i)]
                if missing:
                    raise RuntimeError(f"split {split!r}: shards {missing[:5]} are not written")
                markers = [self.marker_path(split, i) for i in range(expected)]
            shards = []
            for path in markers:
                info = json.loads(path.read_text())
                if int(info["count"]) > 0:  # a shard whose files were all unreadable
                    shards.append({"name": info["name"], "count": int(info["count"])})
            splits[split] = {"count": sum(s["count"] for s in shards), "shards": shards}
        info = StoreInfo(
            root=self.root,
            image_size=self.image_size,
            classes=self.classes,
            has_masks=self.has_masks,
            splits=dict(sorted(splits.items())),
            source=self.source,
        )
        atomic_write_text(self.root / "meta.json", json.dumps(info.to_meta(), indent=1))
        return info


class StoreDataset:
    """A ``torch.utils.data.Dataset`` over one split of a store, read through memory maps.

    Parameters
    ----------
    root : path
        Store directory (with ``meta.json``).
    split : str
        Split name, usually ``"train"`` or ``"val"``.
    transform : callable, optional
        Applied to each sample dict before it is returned.

    Notes
    -----
    ``ds[i]`` returns ``{"image": uint8 (3, H, W), "label": int, "index": i}`` plus
    ``"mask"`` (uint8 (H, W), 0/1) and ``"box"`` (int64 (4,), x0, y0, x1, y1) when the store
    has masks. Images are stored HWC and returned as contiguous CHW tensors: the transpose
    is done once per batch, because stacking permuted views in ``default_collate`` is ~5x
    slower than stacking contiguous tensors.

    ``ds.__getitems__(indices)`` reads a whole batch with one fancy-indexing call per shard
    and returns a list of such dicts, so a ``DataLoader`` with ``batch_size`` and the default
    collate function uses it automatically and stacks the list into batched tensors.
    ``ds.get_batch(indices)`` returns the already-stacked dict directly.

    Memory maps are opened lazily in each process, so the dataset pickles cheaply into
    ``DataLoader`` workers.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.info = open_store(root)
        if split not in self.info.splits:
            raise ValueError(
                f"split {split!r} is not in store {str(root)!r}; it has {sorted(self.info.splits)}"
            )
        self.root = Path(root)
        self.split = split
        self.transform = transform
        shards = self.info.splits[split]["shards"]
        self._names = [s["name"] for s in shards]
        counts = np.array([s["count"] for s in shards], dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(counts)])
        self._arrays: dict[str, list[np.ndarray]] | None = None

    # -- metadata -------------------------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        """Class names (label -> name)."""
        return self.info.classes

    @property
    def image_size(self) -> int:
        """Height and width of every image."""
        return self.info.image_size

    @property
    def has_masks(self) -> bool:
        """Whether samples carry ``mask`` and ``box``."""
        return self.info.has_masks

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_arrays"] = None  # re-open memory maps in the receiving process
        return state

    # -- reading --------------------------------------------------------------------------
    def _load(self) -> dict[str, list[np.ndarray]]:
        if self._arrays is None:
            kinds = ARRAY_KINDS if self.has_masks else ("images", "labels")
            d = self.root / self.split
            counts = np.diff(self._offsets)
            self._arrays = {
                k: [
                    open_shard_array(d / f"{k}-{n}.npy", int(c))
                    for n, c in zip(self._names, counts, strict=True)
                ]
                for k in kinds
            }
        return self._arrays

    @property
    def labels(self) -> np.ndarray:
        """All labels of the split, as one int64 array (small; read fully)."""
        arrays = self._load()["labels"]
        return np.concatenate([np.asarray(a) for a in arrays]) if arrays else np.zeros(0, np.int64)

    def _check_indices(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"index out of range for split {self.split!r} of length {n}")
        return np.where(idx < 0, idx + n, idx)

    def read_arrays(self, indices: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
        """Numpy arrays (``images`` NHWC, ``labels``, ``masks``, ``boxes``) for ``indices``."""
        idx = self._check_indices(indices)
        arrays = self._load()
        shard = np.searchsorted(self._offsets, idx, side="right") - 1
        local = idx - self._offsets[shard]
        out: dict[str, np.ndarray] = {}
        for kind, per_shard in arrays.items():
            first = per_shard[0]
            buf = np.empty((idx.size, *first.shape[1:]), dtype=first.dtype)
            for s in np.unique(shard):
                sel = np.nonzero(shard == s)[0]
                # memmap fancy indexing wants sorted indices for sequential reads
                order = np.argsort(local[sel], kind="stable")
                buf[sel[order]] = per_shard[s][local[sel][order]]
            out[kind] = buf
        out["index"] = idx
        return out

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> dict[str, Any]:
        """Stacked tensors for ``indices``: image (B,3,H,W) uint8, label (B,), mask, box, index.

        The transform is not applied here; this is the fast path for custom loops.
        """
        import torch

        a = self.read_arrays(indices)
        batch: dict[str, Any] = {
            "image": torch.from_numpy(a["images"]).permute(0, 3, 1, 2).contiguous(),
            "label": torch.from_numpy(a["labels"]),
            "index": torch.from_numpy(a["index"]),
        }
        if self.has_masks:
            batch["mask"] = torch.from_numpy(a["masks"])
            batch["box"] = torch.from_numpy(a["boxes"])
        return batch

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Any]]:
        batch = self.get_batch(indices)
        samples = []
        for j in range(len(batch["index"])):
            sample: dict[str, Any] = {
                "image": batch["image"][j],
                "label": int(batch["label"][j]),
                "index": int(batch["index"][j]),
            }
            if self.has_masks:
                sample["mask"] = batch["mask"][j]
                sample["box"] = batch["box"][j]
            if self.transform is not None:
                sample = self.transform(sample)
            samples.append(sample)
        return samples

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not isinstance(index, int | np.integer):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        return self.__getitems__([int(index)])[0]
