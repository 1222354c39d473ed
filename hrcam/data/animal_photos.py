"""Untouched photographs of animals, offline, from Debian packages and scikit-image.

The reviewed list ``hrcam/resources/animal_photos.tsv`` names each photo's file, package,
license, credit, source and (where obvious) ImageNet class, and whether the book may show it:
``show`` is ``yes`` only where the license allows showing the photo with its credit; photos
whose credit is unknown are measured, never shown. Most photos sit inside the Qt resource files
of ``gcompris-qt-data`` (read with :mod:`hrcam.data.rcc`; the credits come from the README
files inside them); the others are plain files of ``palapeli-data`` and ``opencv-doc`` and
scikit-image's ``chelsea``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from hrcam.errors import HrcamError

__all__ = [
    "PHOTO_PACKAGE",
    "AnimalPhoto",
    "load_animal_photos",
    "missing_photo_packages",
    "photo_list",
]

#: The Debian package most photos come from (``make book`` installs it as root).
PHOTO_PACKAGE = "gcompris-qt-data"
_COLUMNS = ("key", "file", "member", "package", "license", "credit", "source", "imagenet", "show")


@dataclass(frozen=True)
class AnimalPhoto:
    """One reviewed photo: where it is, who made it, under which license."""

    key: str
    file: str  # absolute path, or "skimage:NAME"
    member: str  # path inside a .rcc file; "" for a plain file
    package: str
    license: str
    credit: str  # "" when unknown
    source: str
    imagenet: str | None  # ImageNet class name where obvious
    show: bool

    @property
    def credit_line(self) -> str:
        """``"photo: CREDIT, LICENSE (package)"``, as the book prints it under a shown photo."""
        who = self.credit or "unknown author"
        return f"{self.key}: {who}, {self.license} ({self.package})"


@lru_cache(maxsize=1)
def photo_list() -> tuple[AnimalPhoto, ...]:
    """Return the reviewed photos, in the list's order."""
    text = resources.files("hrcam.resources").joinpath("animal_photos.tsv").read_text("utf-8")
    rows = [r for r in text.splitlines() if r and not r.startswith("#")]
    out = []
    for row in csv.DictReader(rows, fieldnames=_COLUMNS, delimiter="\t"):
        if row["key"] == "key":
            continue
        out.append(
            AnimalPhoto(
                key=row["key"],
                file=row["file"],
                member=row["member"],
                package=row["package"],
                license=row["license"],
                credit=row["credit"],
                source=row["source"],
                imagenet=row["imagenet"] or None,
                show=row["show"] == "yes",
            )
        )
    return tuple(out)


def missing_photo_packages() -> list[str]:
    """Debian packages of the list whose files are not installed here, sorted."""
    missing = set()
    for photo in photo_list():
        if not photo.file.startswith("skimage:") and not Path(photo.file).is_file():
            missing.add(photo.package)
    return sorted(missing)


def _read_bytes(photo: AnimalPhoto) -> bytes:
    if photo.member:
        return _archive(photo.file).read(photo.member)
    return Path(photo.file).read_bytes()


@lru_cache(maxsize=8)
def _archive(path: str):
    from hrcam.data.rcc import read_rcc

    return read_rcc(path)


def _decode(photo: AnimalPhoto) -> np.ndarray:
    from PIL import Image

    if photo.file.startswith("skimage:"):
        import skimage.data

        return np.asarray(getattr(skimage.data, photo.file.split(":", 1)[1])())[..., :3]
    if not Path(photo.file).is_file():
        raise HrcamError(
            f"photo {photo.key!r} needs the Debian package {photo.package} ({photo.file} is "
            f"missing): sudo apt-get install {photo.package}"
        )
    with Image.open(io.BytesIO(_read_bytes(photo))) as im:
        return np.asarray(im.convert("RGB"))


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Resize ``image`` (H, W, 3) so its shorter side is ``size``, then crop the centre square."""
    from PIL import Image

    h, w = image.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    resized = np.asarray(Image.fromarray(image).resize((nw, nh), Image.Resampling.BICUBIC))
    top, left = (nh - size) // 2, (nw - size) // 2
    return resized[top : top + size, left : left + size].copy()


def load_animal_photos(
    size: int = 224,
    limit: int | None = None,
    shown_first: bool = True,
    installed_only: bool = False,
) -> tuple[list[AnimalPhoto], np.ndarray]:
    """Read the reviewed photos as ``size``-px centre crops.

    Parameters
    ----------
    size : int
        Side of the square crop (the shorter side is resized to it first).
    limit : int or None
        Keep the first ``limit`` photos (None: all).
    shown_first : bool
        Order the photos the book may show before the others, so that a small ``limit`` still
        has photos to show (the order is otherwise the list's).
    installed_only : bool
        Leave out the photos whose Debian package is not installed instead of refusing them
        (scikit-image's photo is always there); for tests on machines without the packages.

    Returns
    -------
    photos : list of AnimalPhoto
    images : numpy.ndarray, uint8, shape (N, size, size, 3)

    Raises
    ------
    HrcamError
        If a photo's package is not installed (the message says what to install).
    """
    if size < 8:
        raise ValueError(f"size must be at least 8 px, got {size}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive integer or None, got {limit}")
    photos = list(photo_list())
    if installed_only:
        photos = [p for p in photos if p.file.startswith("skimage:") or Path(p.file).is_file()]
    if shown_first:
        photos.sort(key=lambda p: not p.show)  # stable: the list's order within each group
    photos = photos[:limit]
    images = np.stack([centre_crop(_decode(p), size) for p in photos])
    return photos, images
