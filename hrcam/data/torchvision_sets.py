"""Real datasets through ``torchvision.datasets`` (never downloaded: ``download=False``).

* **Oxford-IIIT Pet** (:func:`build_pets`): ``root/oxford-iiit-pet/images/*.jpg`` and
  ``root/oxford-iiit-pet/annotations/{trainval,test}.txt`` + ``annotations/trimaps/*.png``,
  as torchvision expects. 37 breeds; splits ``trainval`` -> store ``train``, ``test`` ->
  ``val``. Trimap pixels are 1 = pet, 2 = background, 3 = border; the mask is
  ``trimap != 2`` (the pet with its border).
* **Imagenette** (:func:`build_imagenette`, ``variant="imagenette"``):
  ``root/imagenette2[-320|-160]/{train,val}/<wnid>/*.JPEG`` through
  ``torchvision.datasets.Imagenette`` (torchvision >= 0.17).
* **Imagewoof** (``variant="imagewoof"``): the same layout under ``root/imagewoof2[...]``;
  torchvision has no Imagewoof class, so it is read with ``torchvision.datasets.ImageFolder``
  and named with the ImageNet class names.

torchvision parses the layouts and split files; decoding goes through
:mod:`hrcam.data.imageio` in parallel workers, so unreadable files are skipped and
reported rather than crashing the build.
"""

from __future__ import annotations

import os
from pathlib import Path

from hrcam.data.build import BuildReport, Item, build_store_from_items
from hrcam.data.imagenet import imagenet_animal_classes

__all__ = ["build_imagenette", "build_pets"]

_SIZE_SUFFIX = {"full": "", "320px": "-320", "160px": "-160"}


def _identity(path: str) -> str:
    return path


def build_pets(
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    image_size: int = 224,
    shard_size: int = 1024,
    num_workers: int | None = None,
    progress: bool = True,
) -> BuildReport:
    """Convert a local Oxford-IIIT Pet copy (with trimaps -> masks) into a store."""
    from torchvision.datasets import OxfordIIITPet

    root = Path(root)
    items: dict[str, list[Item]] = {}
    classes: list[str] | None = None
    for tv_split, split in (("trainval", "train"), ("test", "val")):
        try:
            ds = OxfordIIITPet(root, split=tv_split, target_types="category", download=False)
        except (RuntimeError, FileNotFoundError) as exc:
            raise FileNotFoundError(
                f"no Oxford-IIIT Pet under --root {str(root)!r} ({exc}); expected "
                "oxford-iiit-pet/images/*.jpg and oxford-iiit-pet/annotations/"
                f"{{trainval,test}}.txt with annotations/trimaps/*.png"
            ) from exc
        # torchvision keeps the parsed file lists in private attributes; they are the only
        # way to get paths without decoding every image, so check they are still there.
        if not all(hasattr(ds, a) for a in ("_images", "_segs", "_labels")):
            raise RuntimeError("this torchvision's OxfordIIITPet lacks _images/_segs/_labels")
        items[split] = [
            Item(str(img), int(lab), str(seg))
            for img, seg, lab in zip(ds._images, ds._segs, ds._labels, strict=True)
        ]
        # test.txt may not hold every breed; the class list comes from the larger split
        if classes is None or len(ds.classes) > len(classes):
            classes = list(ds.classes)
    assert classes is not None
    return build_store_from_items(
        out,
        items,
        classes=classes,
        image_size=image_size,
        source={"dataset": "oxford-iiit-pet", "root": str(root.resolve()), "mask": "trimap != 2"},
        source_root=root,
        has_masks=True,
        mask_rule="trimap",
        shard_size=shard_size,
        num_workers=num_workers,
        progress=progress,
    )


def build_imagenette(
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    variant: str = "imagenette",
    size: str = "320px",
    image_size: int = 224,
    shard_size: int = 1024,
    num_workers: int | None = None,
    progress: bool = True,
) -> BuildReport:
    """Convert a local Imagenette or Imagewoof copy into a store (splits train, val).

    Parameters
    ----------
    variant : {"imagenette", "imagewoof"}
    size : {"full", "320px", "160px"}
        Which release (folder ``imagenette2``, ``imagenette2-320``, ``imagenette2-160``).
    """
    if variant not in ("imagenette", "imagewoof"):
        raise ValueError(f"variant must be 'imagenette' or 'imagewoof', got {variant!r}")
    if size not in _SIZE_SUFFIX:
        raise ValueError(f"size must be one of {sorted(_SIZE_SUFFIX)}, got {size!r}")
    root = Path(root)
    folder = root / f"{variant}2{_SIZE_SUFFIX[size]}"
    expected = f"{folder}/{{train,val}}/<wnid>/*.JPEG"
    items: dict[str, list[Item]] = {}
    wnids: list[str] | None = None
    names: list[str] = []
    for split in ("train", "val"):
        try:
            if variant == "imagenette":
                from torchvision.datasets import Imagenette

                ds = Imagenette(root, split=split, size=size, download=False, loader=_identity)
                split_names = [c[0] for c in ds.classes]
            else:
                from torchvision.datasets import ImageFolder

                ds = ImageFolder(str(folder / split), loader=_identity)
                lookup = dict(imagenet_animal_classes())
                split_names = [lookup.get(w, w).split(",")[0] for w in ds.classes]
            split_wnids = list(ds.wnids) if hasattr(ds, "wnids") else list(ds.classes)
        except (RuntimeError, FileNotFoundError) as exc:
            raise FileNotFoundError(
                f"no {variant} ({size}) under --root {str(root)!r} ({exc}); expected {expected}"
            ) from exc
        if wnids is None:
            wnids, names = split_wnids, split_names
        elif split_wnids != wnids:
            raise ValueError(f"{variant}: train and val have different class folders")
        # with the identity loader, ds[i] is (path, label) without decoding anything
        items[split] = [Item(*ds[i]) for i in range(len(ds))]
    return build_store_from_items(
        out,
        items,
        classes=names,
        image_size=image_size,
        source={"dataset": variant, "size": size, "root": str(root.resolve()), "wnids": wnids},
        source_root=root,
        shard_size=shard_size,
        num_workers=num_workers,
        progress=progress,
    )
