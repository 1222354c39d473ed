"""Every dataset builder by name, and :func:`build_dataset`, which the CLI and the book share.

``hrcam data NAME`` and notebook 01 (``-p dataset NAME``) both call
``build_dataset(NAME, out, ...)``, so they support the same datasets with the same rules.
A new builder is one function in its own module plus one :class:`DatasetBuilder` entry in
:data:`DATASETS` here (and its sub-command in :mod:`hrcam.commands.data`).

>>> from hrcam.data import build_dataset
>>> report = build_dataset("synthetic", "runs/x/data", num_train=64, num_val=32)  # doctest: +SKIP
>>> report.info.num_classes  # doctest: +SKIP
8
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hrcam.errors import HrcamError

__all__ = ["DATASETS", "DatasetBuilder", "build_dataset"]


@dataclass(frozen=True)
class DatasetBuilder:
    """One dataset that can be built into a store.

    Attributes
    ----------
    function
        ``"module:function"`` of the builder (imported on use, so that listing the datasets
        imports no torch). It takes ``out`` first, after ``root`` for a real dataset.
    help
        One line for ``hrcam data --help``.
    root
        What the local folder must hold; ``None`` for a generated dataset (no folder).
    num_classes
        The fixed class count of a real dataset; ``None`` where it is an option.
    """

    function: str
    help: str
    root: str | None = None
    num_classes: int | None = None

    def load(self) -> Callable[..., Any]:
        """Import and return the builder function."""
        module, name = self.function.split(":")
        return getattr(importlib.import_module(module), name)


DATASETS: dict[str, DatasetBuilder] = {
    "synthetic": DatasetBuilder(
        "hrcam.data.synthetic:generate_synthetic",
        "generate the built-in synthetic set (offline, with masks)",
    ),
    "cutouts": DatasetBuilder(
        "hrcam.data.cutouts:build_cutouts",
        "real animal photo cut-outs on natural photos, exact masks (Debian packages)",
    ),
    "imagenet": DatasetBuilder(
        "hrcam.data.imagenet:build_imagenet_animals",
        "the paper's 398 animal classes from a local ILSVRC-2012 tree",
        root="the local ILSVRC-2012 folder (train/<wnid>/*.JPEG, val/)",
        num_classes=398,
    ),
    "pets": DatasetBuilder(
        "hrcam.data.torchvision_sets:build_pets",
        "Oxford-IIIT Pet (trimaps become masks)",
        root="the folder containing oxford-iiit-pet/",
        num_classes=37,
    ),
    "imagenette": DatasetBuilder(
        "hrcam.data.torchvision_sets:build_imagenette",
        "Imagenette or Imagewoof",
        root="the folder containing imagenette2*/ or imagewoof2*/",
        num_classes=10,
    ),
}
"""The datasets :func:`build_dataset` knows, by name."""

# Options that only shape a generated dataset; a real one converts every image it finds.
_GENERATED_ONLY = ("num_train", "num_val")


def build_dataset(
    name: str,
    out: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    num_classes: int | None = None,
    seed: int | None = None,
    num_train: int | None = None,
    num_val: int | None = None,
    **options: Any,
) -> Any:
    """Build dataset ``name`` into the store ``out``.

    Parameters
    ----------
    name
        A key of :data:`DATASETS`.
    out
        Store directory (created; an interrupted build resumes).
    root
        The local copy of a real dataset (required for those; refused for a generated one).
    num_classes
        Classes of a generated set; for a real one ``None`` or its fixed count (398 for the
        ImageNet animals), so that a profile that says otherwise fails early.
    seed
        Seed of a generated set (``None``: its default). Converting real images draws
        nothing at random, so a real dataset ignores it.
    num_train, num_val
        Images per split of a generated set (``None``: its default); a real dataset takes
        every image, so these must be ``None`` there.
    **options
        Any other keyword argument of the builder (e.g. ``image_size``, ``shard_size``,
        ``num_workers``, ``progress``, ``variant``, ``devkit``); ``None`` means its default.

    Returns
    -------
    hrcam.data.build.BuildReport
        The store (``.info``), images per split and skipped files (none for a generated set).

    Raises
    ------
    HrcamError
        An unknown dataset, a missing or unwanted ``root``, or an option the builder does not
        take; nothing is written then.
    """
    entry = DATASETS.get(name)
    if entry is None:
        raise HrcamError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    if entry.root is None:
        if root is not None:
            raise HrcamError(f"dataset {name!r} is generated: it reads no root folder")
        generated = {"num_classes": num_classes, "seed": seed}
        generated |= {"num_train": num_train, "num_val": num_val}
        options = {**generated, **options}
    else:
        _check_real(name, entry, root, num_classes, num_train, num_val)
    fn = entry.load()
    kwargs = {k: v for k, v in options.items() if v is not None}
    accepted = inspect.signature(fn).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        takes = ", ".join(p for p in accepted if p not in ("root", "out", "out_dir"))
        raise HrcamError(
            f"dataset {name!r} takes no option {', '.join(unknown)}; it takes: {takes}"
        )
    if entry.root is None:
        return _generated_report(fn(out, **kwargs))
    return fn(root, out, **kwargs)


def _check_real(
    name: str,
    entry: DatasetBuilder,
    root: str | os.PathLike[str] | None,
    num_classes: int | None,
    num_train: int | None,
    num_val: int | None,
) -> None:
    """Check the options of a real dataset: its folder given, and nothing only a generator takes."""
    if root is None:
        raise HrcamError(
            f"dataset {name!r} needs {entry.root}: pass root (--root in the CLI, "
            "-p data_root PATH for the book)"
        )
    if num_classes is not None and num_classes != entry.num_classes:
        raise HrcamError(
            f"dataset {name!r} has {entry.num_classes} classes, not num_classes={num_classes}"
        )
    given = [k for k, v in zip(_GENERATED_ONLY, (num_train, num_val), strict=True) if v is not None]
    if given:
        raise HrcamError(
            f"dataset {name!r} converts every image of its folder: {', '.join(given)} only "
            "apply to a generated dataset"
        )


def _generated_report(info: Any) -> Any:
    """Describe a generated store as a :class:`~hrcam.data.build.BuildReport` (nothing skipped)."""
    from hrcam.data.build import BuildReport

    return BuildReport(info=info, counts={split: info.count(split) for split in info.splits})
