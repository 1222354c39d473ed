"""ImageNet animals: the paper's 398 ILSVRC-2012 animal classes from a local copy.

Expected source tree (``--root``)::

    root/train/<wnid>/*.JPEG                  # one folder per class (1000 or just the 398)
    root/val/<wnid>/*.JPEG                    # either foldered like train ...
    root/val/ILSVRC2012_val_00000001.JPEG ... # ... or flat, with labels from one of:

* the official devkit (``--devkit DIR``, or ``root/ILSVRC2012_devkit_t12`` found
  automatically): ``data/ILSVRC2012_validation_ground_truth.txt`` holds one ILSVRC2012_ID
  (1..1000) per validation image, in file-number order, and ``data/meta.mat`` maps those IDs
  to wnids. The IDs are **not** the sorted-wnid order (ID 1 is n02119789, kit fox), so the
  meta file is required; no mapping is hard-coded here.
* a mapping file (``--val-labels FILE``): one ``<file name> <wnid>`` pair per line
  (whitespace or comma separated; the extension of the file name is optional). Kaggle's
  ``LOC_val_solution.csv`` (``ImageId,PredictionString`` whose first token is the wnid)
  is accepted as is.

Only the 398 animal classes (``hrcam/resources/imagenet_animal_classes.tsv``, labels 0..397
in sorted-wnid order, n01440764 tench ... n02655020 puffer) are kept. Images are resized to
224x224 as in the paper (aspect ratio not kept) and written as a store (see
:mod:`hrcam.data.store`), split names ``train`` and ``val``.

A missing or empty class folder is reported as a warning; unreadable files are skipped and
reported; the build runs in parallel and resumes after an interruption.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from hrcam.data.build import BuildReport, Item, build_store_from_items, list_image_files
from hrcam.data.imageio import DEFAULT_MAX_PIXELS
from hrcam.data.resources import resource_table

__all__ = ["build_imagenet_animals", "imagenet_animal_classes", "list_imagenet_items"]

_WNID = re.compile(r"^n\d{8}$")
_VAL_NUMBER = re.compile(r"(\d+)$")


def imagenet_animal_classes() -> list[tuple[str, str]]:
    """Return the 398 animal classes as ``(wnid, names)``, index = label (sorted-wnid order)."""
    rows = sorted(resource_table("imagenet_animal_classes.tsv"), key=lambda r: int(r[0]))
    return [(r[1], r[2]) for r in rows]


def _read_devkit(devkit: Path) -> tuple[list[str], dict[int, str]]:
    """Ground-truth IDs (one per val image) and the ILSVRC2012_ID -> wnid map of a devkit."""
    data = devkit / "data" if (devkit / "data").is_dir() else devkit
    gt_file = data / "ILSVRC2012_validation_ground_truth.txt"
    meta_file = data / "meta.mat"
    for f in (gt_file, meta_file):
        if not f.is_file():
            raise FileNotFoundError(
                f"devkit {str(devkit)!r} has no {f.name}; expected the ILSVRC2012_devkit_t12 "
                "folder with data/meta.mat and data/ILSVRC2012_validation_ground_truth.txt"
            )
    from scipy.io import loadmat

    try:
        synsets = loadmat(str(meta_file), squeeze_me=True)["synsets"]
        id_to_wnid = {
            int(s["ILSVRC2012_ID"]): str(s["WNID"])
            for s in synsets
            if int(s["ILSVRC2012_ID"]) <= 1000
        }
    except (KeyError, ValueError, TypeError, OSError) as exc:
        raise ValueError(f"{meta_file} is not an ILSVRC-2012 devkit meta.mat ({exc})") from exc
    gt = gt_file.read_text().split()
    return gt, id_to_wnid


def _read_val_labels(path: Path) -> dict[str, str]:
    """``file stem -> wnid`` from a mapping file (pairs, or Kaggle's LOC_val_solution.csv)."""
    if not path.is_file():
        raise FileNotFoundError(f"--val-labels file {str(path)!r} does not exist")
    mapping: dict[str, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        tokens = line.replace(",", " ").split()
        if not tokens or tokens[0] in ("ImageId", "file", "filename"):
            continue
        wnids = [t for t in tokens[1:] if _WNID.match(t)]
        if not wnids:
            raise ValueError(f"{path}:{n}: expected '<file name> <wnid>', got {line!r}")
        mapping[Path(tokens[0]).stem] = wnids[0]
    return mapping


def list_imagenet_items(
    root: str | os.PathLike[str],
    split: str,
    devkit: str | os.PathLike[str] | None = None,
    val_labels: str | os.PathLike[str] | None = None,
    limit_per_class: int | None = None,
) -> tuple[list[Item], list[str]]:
    """Animal-class samples of one split of an ILSVRC-2012 tree, and warnings.

    Raises
    ------
    FileNotFoundError
        If ``root/<split>`` does not exist.
    ValueError
        If a flat ``val/`` has no usable labels.
    """
    root = Path(root)
    split_dir = root / split
    if not split_dir.is_dir():
        raise FileNotFoundError(
            f"{str(split_dir)!r} does not exist: --root must be an ILSVRC-2012 folder with "
            "train/<wnid>/*.JPEG (and val/)"
        )
    classes = imagenet_animal_classes()
    subdirs = {p.name for p in split_dir.iterdir() if p.is_dir() and _WNID.match(p.name)}
    if subdirs:
        return _foldered_items(split_dir, split, classes, subdirs, limit_per_class)
    # flat folder (the official val layout): needs labels
    files, others = list_image_files(split_dir)
    if not files:
        return [], [f"{split}: {split_dir} has neither wnid folders nor image files"]
    lookup = _flat_lookup(root, split_dir, devkit, val_labels)
    items, warnings = _flat_items(files, lookup, split, classes, limit_per_class)
    if others:
        warnings.append(f"{split}: ignored {len(others)} files without an image extension")
    return items, warnings


def _foldered_items(
    split_dir: Path,
    split: str,
    classes: Sequence[tuple[str, str]],
    subdirs: set[str],
    limit_per_class: int | None,
) -> tuple[list[Item], list[str]]:
    """Items of a split laid out as ``<wnid>/*.JPEG`` (train, or a foldered val)."""
    label_of = {wnid: i for i, (wnid, _) in enumerate(classes)}
    warnings: list[str] = []
    items: list[Item] = []
    missing = [w for w, _ in classes if w not in subdirs]
    if missing:
        warnings.append(
            f"{split}: {len(missing)} of 398 animal class folders missing "
            f"(e.g. {', '.join(missing[:5])})"
        )
    n_other = 0
    for wnid, _ in classes:
        if wnid not in subdirs:
            continue
        files, others = list_image_files(split_dir / wnid)
        n_other += len(others)
        if not files:
            warnings.append(f"{split}: class folder {wnid} has no image files")
        for f in files[:limit_per_class]:
            items.append(Item(str(f), label_of[wnid]))
    if n_other:
        warnings.append(f"{split}: ignored {n_other} files without an image extension")
    return items, warnings


def _flat_items(
    files: list[Path],
    lookup: Callable[[Path], str | None],
    split: str,
    classes: Sequence[tuple[str, str]],
    limit_per_class: int | None,
) -> tuple[list[Item], list[str]]:
    """Pick the animal-class items among ``files``, each labelled by ``lookup``, sorted by label."""
    label_of = {wnid: i for i, (wnid, _) in enumerate(classes)}
    items: list[Item] = []
    unlabelled = 0
    per_class: dict[str, int] = {}
    for f in files:
        wnid = lookup(f)
        if wnid is None:
            unlabelled += 1
            continue
        if wnid not in label_of:
            continue  # not an animal class
        per_class[wnid] = per_class.get(wnid, 0) + 1
        if limit_per_class is None or per_class[wnid] <= limit_per_class:
            items.append(Item(str(f), label_of[wnid]))
    items.sort(key=lambda it: (it.label, it.path))
    warnings = [f"{split}: {unlabelled} files have no label and were skipped"] if unlabelled else []
    return items, warnings


def _flat_lookup(
    root: Path,
    split_dir: Path,
    devkit: str | os.PathLike[str] | None,
    val_labels: str | os.PathLike[str] | None,
) -> Callable[[Path], str | None]:
    """``file -> wnid`` (``None``: no label) for a flat folder: ``val_labels``, else the devkit."""
    if val_labels is not None:
        stem_to_wnid = _read_val_labels(Path(val_labels))
        return lambda f: stem_to_wnid.get(f.stem)
    if devkit is None:
        for cand in ("ILSVRC2012_devkit_t12", "devkit"):
            if (root / cand).is_dir():
                devkit = root / cand
    if devkit is None:
        raise ValueError(
            f"{str(split_dir)!r} is flat (no wnid folders): give --devkit DIR (the "
            "ILSVRC2012_devkit_t12 folder) or --val-labels FILE ('<file> <wnid>' lines)"
        )
    gt, id_to_wnid = _read_devkit(Path(devkit))

    def lookup(f: Path) -> str | None:
        m = _VAL_NUMBER.search(f.stem)
        if not m or not 1 <= int(m.group(1)) <= len(gt):
            return None
        return id_to_wnid.get(int(gt[int(m.group(1)) - 1]))

    return lookup


def build_imagenet_animals(
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    image_size: int = 224,
    splits: tuple[str, ...] = ("train", "val"),
    devkit: str | os.PathLike[str] | None = None,
    val_labels: str | os.PathLike[str] | None = None,
    limit_per_class: int | None = None,
    shard_size: int = 1024,
    num_workers: int | None = None,
    progress: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> BuildReport:
    """Convert the animal classes of a local ILSVRC-2012 tree into a store.

    Parameters
    ----------
    root : path
        ILSVRC-2012 folder with ``train/`` and/or ``val/`` (see the module docstring).
    out : path
        Store directory; an interrupted build with the same arguments resumes.
    image_size : int
        Output size (224 as in the paper).
    splits : tuple of str
        Which of ``train``/``val`` to convert; a split whose folder is absent is skipped
        with a warning when another split exists.
    devkit, val_labels : path, optional
        Labels for a flat ``val/`` folder.
    limit_per_class : int, optional
        Keep at most this many images per class (quick subsets).
    shard_size, num_workers, progress, max_pixels
        See :func:`hrcam.data.build.build_store_from_items`.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"--root {str(root)!r} is not a directory")
    unknown = set(splits) - {"train", "val"}
    if unknown:
        raise ValueError(f"splits must be 'train' and/or 'val', got {sorted(unknown)}")
    present = [s for s in splits if (root / s).is_dir()]
    if not present:
        raise FileNotFoundError(
            f"--root {str(root)!r} has no {' or '.join(splits)} folder: expected an ILSVRC-2012 "
            "tree with train/<wnid>/*.JPEG and val/"
        )
    items, warnings = {}, []
    for split in splits:
        if split not in present:
            warnings.append(f"split {split!r} skipped: {root / split} does not exist")
            continue
        items[split], w = list_imagenet_items(root, split, devkit, val_labels, limit_per_class)
        warnings += w
    if not any(items.values()):
        raise ValueError(f"no images of the 398 animal classes found under {str(root)!r}")
    classes = imagenet_animal_classes()
    return build_store_from_items(
        out,
        items,
        classes=[names.split(",")[0].strip() for _, names in classes],
        image_size=image_size,
        source={
            "dataset": "imagenet-animals",
            "root": str(root.resolve()),
            "wnids": [w for w, _ in classes],
            "limit_per_class": limit_per_class,
        },
        source_root=root,
        shard_size=shard_size,
        num_workers=num_workers,
        progress=progress,
        warnings=warnings,
        max_pixels=max_pixels,
    )
