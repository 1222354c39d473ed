"""Real animals on real photos, with exact masks: photographic cut-outs pasted on natural photos.

Debian's ``tuxpaint-stamps-default`` ships photographs of real animals cut out with an alpha
channel. :func:`build_cutouts` pastes them, at random scales and positions, on random crops of
natural photographs that hold no animals (wallpapers and sample images from other Debian
packages), and writes a store whose mask is the pasted alpha above 0.5 and whose label is the
animal's ImageNet-1k class (one of the paper's 398 animal classes, 0–397).

The reviewed lists live in ``hrcam/resources/``: ``tuxpaint_stamps.tsv`` (file, ImageNet index
or ``none``, photo or drawing) and ``cutout_backgrounds.tsv`` (file, package, license). Train
and validation use disjoint stamps *and* disjoint background photos, so no pixel of a
validation image was seen in training.

Nothing here is downloaded: the packages are installed by ``make book`` (as root); elsewhere
``--stamps DIR`` and ``--backgrounds DIR`` point at other copies.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from hrcam.errors import HrcamError

__all__ = [
    "BACKGROUND_MAX_PIXELS",
    "BACKGROUND_PACKAGES",
    "CUTOUT_PACKAGES",
    "STAMPS_PACKAGE",
    "STAMPS_ROOT",
    "STAMP_MAX_PIXELS",
    "Background",
    "Stamp",
    "background_list",
    "build_cutouts",
    "composite",
    "missing_cutout_packages",
    "split_disjoint",
    "stamp_list",
]

STAMPS_PACKAGE = "tuxpaint-stamps-default"
#: Where Debian installs the stamps; ``--stamps DIR`` replaces it.
STAMPS_ROOT = Path("/usr/share/tuxpaint/stamps")
BACKGROUND_PACKAGES = (
    "plasma-workspace-wallpapers",
    "mate-backgrounds",
    "palapeli-data",
    "opencv-doc",
)
#: Every Debian package the default cut-out store reads.
CUTOUT_PACKAGES = (STAMPS_PACKAGE, *BACKGROUND_PACKAGES)
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: Stamps larger than this are skipped (``tuxpaint`` stamps are below 1 Mpx; a 100 Mpx one
#: would take gigabytes to decode and resize).
STAMP_MAX_PIXELS = 4096 * 4096
#: Backgrounds are decoded once and kept at most this many pixels on their long side.
_BACKGROUND_MAX_SIDE = 1024
#: Background photos larger than this are skipped (real wallpapers are below 40 Mpx).
BACKGROUND_MAX_PIXELS = 64_000_000


@dataclass(frozen=True)
class Stamp:
    """One reviewed stamp: its file under the stamps folder and what it shows."""

    file: str
    imagenet: int | None
    kind: str
    name: str


@dataclass(frozen=True)
class Background:
    """One natural photograph without animals, with its package and license."""

    file: str
    package: str
    license: str
    description: str


def _read_tsv(name: str) -> list[dict[str, str]]:
    text = resources.files("hrcam.resources").joinpath(name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


def stamp_list(include_drawings: bool = False) -> list[Stamp]:
    """Return the reviewed stamps of ``tuxpaint-stamps-default`` (photographs only by default)."""
    stamps = [
        Stamp(
            file=row["file"],
            imagenet=None if row["imagenet"] == "none" else int(row["imagenet"]),
            kind=row["kind"],
            name=row["name"],
        )
        for row in _read_tsv("tuxpaint_stamps.tsv")
    ]
    return [s for s in stamps if include_drawings or s.kind == "photo"]


def background_list() -> list[Background]:
    """Return the reviewed background photographs (absolute paths where Debian installs them)."""
    return [Background(**row) for row in _read_tsv("cutout_backgrounds.tsv")]


def missing_cutout_packages() -> list[str]:
    """List the packages of :data:`CUTOUT_PACKAGES` whose files are not on this machine."""
    missing = [] if STAMPS_ROOT.is_dir() else [STAMPS_PACKAGE]
    present = {b.package for b in background_list() if Path(b.file).is_file()}
    return missing + [p for p in BACKGROUND_PACKAGES if p not in present]


def _install_hint(packages: Sequence[str]) -> str:
    return (
        f"install the Debian package(s) {' '.join(packages)} "
        f"(sudo apt-get install {' '.join(packages)}; `make book` does it when run as root)"
    )


def split_disjoint(names: Sequence[str], val_fraction: float, seed: int) -> tuple[list, list]:
    """Split ``names`` into disjoint (train, val) lists, the same for the same seed.

    At least one name goes to each side when there are two or more.
    """
    if not 0 < val_fraction < 1:
        raise HrcamError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
    ordered = sorted(names)
    order = np.random.default_rng(seed).permutation(len(ordered))
    n_val = min(max(1, round(len(ordered) * val_fraction)), len(ordered) - 1)
    val = sorted(ordered[i] for i in order[:n_val])
    train = sorted(ordered[i] for i in order[n_val:])
    return train, val


def _load_rgba(path: Path) -> np.ndarray:
    """Decode a stamp to RGBA; refuse one whose alpha cannot give a mask.

    A stamp without transparency (no alpha channel, or a fully opaque one) would paste as its
    bounding box, and its mask would be a rectangle; a fully transparent one pastes nothing.
    """
    from hrcam.data.imageio import ImageDecodeError, decode_rgba

    rgba = decode_rgba(path, max_pixels=STAMP_MAX_PIXELS)
    alpha = rgba[..., 3]
    if alpha.min() > 127:
        raise ImageDecodeError(
            "no transparency (no alpha channel, or a fully opaque one): its mask would be a "
            "rectangle; a stamp needs an alpha channel that cuts the animal out"
        )
    if alpha.max() <= 127:
        raise ImageDecodeError("fully transparent (alpha <= 0.5 everywhere): nothing to paste")
    return rgba


def _load_background(path: Path) -> np.ndarray:
    from PIL import Image

    from hrcam.data.imageio import decode_image

    image = decode_image(path, size=None, max_pixels=BACKGROUND_MAX_PIXELS)
    scale = _BACKGROUND_MAX_SIDE / max(image.shape[:2])
    if scale < 1:
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
    return image


def _load_all(paths: dict[str, Path], loader: Any) -> tuple[dict[str, np.ndarray], list]:
    """Decode every file; unreadable ones are reported as (path, reason), never raised."""
    from hrcam.data.imageio import ImageDecodeError

    loaded, errors = {}, []
    for key, path in paths.items():
        try:
            loaded[key] = loader(path)
        except (ImageDecodeError, OSError, ValueError) as exc:
            errors.append((str(path), str(exc) or type(exc).__name__))
    return loaded, errors


def _stamp_sources(stamps: str | os.PathLike | None) -> tuple[Path, list[Stamp]]:
    root = STAMPS_ROOT if stamps is None else Path(stamps)
    if not root.is_dir():
        if stamps is None:
            raise HrcamError(
                f"the animal stamps are missing ({root}): "
                f"{_install_hint([STAMPS_PACKAGE])}, or pass --stamps DIR"
            )
        raise HrcamError(f"--stamps {root}: no such folder")
    found = [s for s in stamp_list() if (root / s.file).is_file()]
    if not any(s.imagenet is not None for s in found):
        raise HrcamError(
            f"{root} holds none of the reviewed stamps with an ImageNet class "
            f"(hrcam/resources/tuxpaint_stamps.tsv lists their paths under the stamps folder)"
        )
    return root, found


def _background_sources(backgrounds: str | os.PathLike | None) -> dict[str, Path]:
    if backgrounds is None:
        files = {b.file: Path(b.file) for b in background_list() if Path(b.file).is_file()}
        if not files:
            raise HrcamError(
                f"no background photo found: {_install_hint(BACKGROUND_PACKAGES)}, "
                "or pass --backgrounds DIR"
            )
        return files
    root = Path(backgrounds)
    if not root.is_dir():
        raise HrcamError(f"--backgrounds {root}: no such folder")
    files = {
        str(p.relative_to(root)): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix.lower() in _IMAGE_SUFFIXES
    }
    if len(files) < 2:
        raise HrcamError(f"--backgrounds {root}: needs at least two image files (one per split)")
    return files


def composite(
    background: np.ndarray,
    stamp: np.ndarray,
    top: int,
    left: int,
    feather: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Paste an RGBA ``stamp`` on an RGB ``background`` at (``top``, ``left``).

    Returns the composite (uint8) and the exact mask: the stamp's alpha above 0.5 where it was
    pasted. ``feather`` (Gaussian sigma in px) softens only the blend, never the mask, so that
    an edge-aware method cannot read the object off a hard paste boundary.
    """
    from scipy.ndimage import gaussian_filter

    height, width = stamp.shape[:2]
    alpha = stamp[..., 3].astype(np.float32) / 255.0
    mask = np.zeros(background.shape[:2], dtype=bool)
    mask[top : top + height, left : left + width] = alpha > 0.5
    blend = np.zeros(background.shape[:2], dtype=np.float32)
    blend[top : top + height, left : left + width] = alpha
    if feather > 0:
        blend = np.minimum(blend, gaussian_filter(blend, float(feather)))
    fg = np.zeros(background.shape, dtype=np.float32)
    fg[top : top + height, left : left + width] = stamp[..., :3]
    out = fg * blend[..., None] + background.astype(np.float32) * (1.0 - blend[..., None])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), mask


def _match_colors(stamp: np.ndarray, background: np.ndarray, strength: float) -> np.ndarray:
    """Move the stamp's per-channel mean toward the background's by ``strength`` (0–1)."""
    if strength <= 0:
        return stamp
    inside = stamp[..., 3] > 127
    if not inside.any():
        return stamp
    shift = background.reshape(-1, 3).mean(0) - stamp[..., :3][inside].mean(0)
    rgb = np.clip(stamp[..., :3].astype(np.float32) + strength * shift, 0, 255)
    return np.concatenate([rgb.astype(np.uint8), stamp[..., 3:]], axis=2)


def _resized_stamp(stamp: np.ndarray, side: int, flip: bool) -> np.ndarray:
    from PIL import Image

    height, width = stamp.shape[:2]
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Pillow resamples RGBA with premultiplied alpha: no dark fringe at the edge.
    out = np.asarray(Image.fromarray(stamp).resize(size, Image.Resampling.LANCZOS))
    return out[:, ::-1] if flip else out


def _background_crop(photo: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    from hrcam.data.photos import random_crops

    return random_crops(photo, 1, size, rng, min_scale=0.3)[0]


def _render(
    rng: np.random.Generator,
    target: np.ndarray,
    distractors: Sequence[np.ndarray],
    photo: np.ndarray,
    options: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """One image: a background crop, the distractors, then the target on top (its mask exact)."""
    size = options["image_size"]
    lo, hi = options["object_scale"]
    image = _background_crop(photo, size, rng)
    mask = np.zeros((size, size), dtype=bool)
    for i, stamp in enumerate([*distractors, target]):
        side = max(8, round(size * rng.uniform(lo, hi)))
        resized = _resized_stamp(stamp, side, flip=bool(rng.random() < 0.5))
        resized = _match_colors(resized, image, options["color_match"])
        height, width = resized.shape[:2]
        top = int(rng.integers(0, size - height + 1))
        left = int(rng.integers(0, size - width + 1))
        image, pasted = composite(image, resized, top, left, options["feather"])
        if i == len(distractors):
            mask = pasted
    return image, mask


def _check_options(
    image_size: int,
    object_scale: Sequence[float],
    objects_per_image: int,
    feather: float,
    color_match: float,
    counts: dict[str, int],
    shard_size: int,
    val_fraction: float = 0.5,
) -> tuple[float, float]:
    numbers = {"object_scale": [float(v) for v in object_scale], "feather": [float(feather)]}
    numbers["color_match"] = [float(color_match)]
    numbers["val_fraction"] = [float(val_fraction)]
    for name, values in numbers.items():
        # NaN passes every comparison below and would be written as NaN into meta.json,
        # which strict JSON readers refuse; inf is no scale or sigma either.
        if not all(math.isfinite(v) for v in values):
            raise HrcamError(f"{name} must be a finite number, got {', '.join(map(str, values))}")
    lo, hi = numbers["object_scale"]
    if not 0 < lo <= hi <= 1:
        raise HrcamError(f"object_scale must be 0 < low <= high <= 1, got {lo}, {hi}")
    if int(image_size) < 16:
        raise HrcamError(f"image_size must be at least 16, got {image_size}")
    if int(objects_per_image) < 1:
        raise HrcamError(f"objects_per_image must be at least 1, got {objects_per_image}")
    if feather < 0 or not 0 <= color_match <= 1:
        raise HrcamError("feather must be >= 0 and color_match within [0, 1]")
    bad = {k: v for k, v in {**counts, "shard_size": shard_size}.items() if int(v) < 1}
    if bad:
        raise HrcamError(f"image counts must be positive, got {bad}")
    return lo, hi


def build_cutouts(
    out: str | os.PathLike,
    *,
    stamps: str | os.PathLike | None = None,
    backgrounds: str | os.PathLike | None = None,
    num_train: int = 512,
    num_val: int = 256,
    image_size: int = 224,
    object_scale: Sequence[float] = (0.35, 0.75),
    objects_per_image: int = 1,
    feather: float = 0.0,
    color_match: float = 0.0,
    val_fraction: float = 0.5,
    seed: int = 0,
    shard_size: int = 256,
    progress: bool = True,
) -> Any:
    """Build a store of animal cut-outs pasted on natural photos, with exact masks.

    Parameters
    ----------
    out
        Store folder. An interrupted build of the same settings resumes; another build there
        is refused.
    stamps
        Stamps folder (default: Debian's ``/usr/share/tuxpaint/stamps``). The reviewed list's
        paths are looked up under it; stamps missing there are left out.
    backgrounds
        A folder whose image files are the backgrounds (default: the reviewed list of Debian
        photographs in ``hrcam/resources/cutout_backgrounds.tsv``).
    num_train, num_val, image_size
        Images per split; side of every image.
    object_scale
        (low, high): the pasted object's longer side, as a fraction of the image side, drawn
        uniformly.
    objects_per_image
        Objects pasted per image; all but the last are distractors (any reviewed photo stamp
        of the same split, with or without an ImageNet class). The label and the mask are the
        last one's, which is pasted on top.
    feather
        Gaussian sigma (px) of a softened paste edge; the mask stays the exact alpha > 0.5.
    color_match, val_fraction
        How far (0–1) the object's mean colour moves toward the background's; the share of the
        stamps and of the background photos held out for validation.
    seed, shard_size, progress
        Seed of the split and of every draw; images per shard (the unit of resume); a tqdm
        progress bar.

    Returns
    -------
    hrcam.data.store.StoreInfo
        The store; its classes are the 398 ImageNet animal classes (label = ImageNet index).

    Raises
    ------
    HrcamError
        A missing package or folder (naming what to install), bad options, or an ``out``
        that holds another build.
    """
    counts = {"train": int(num_train), "val": int(num_val)}
    scale = _check_options(
        image_size, object_scale, objects_per_image, feather, color_match, counts, shard_size,
        val_fraction,
    )  # fmt: skip
    stamp_root, by_file, stamp_images, photos, skipped = _load_sources(stamps, backgrounds)
    classed = [f for f, s in by_file.items() if s.imagenet is not None]
    targets, other_split, backs = _splits(by_file, classed, list(photos), val_fraction, seed)
    options = {
        "image_size": int(image_size),
        "object_scale": scale,
        "objects_per_image": int(objects_per_image),
        "feather": float(feather),
        "color_match": float(color_match),
    }
    settings = {
        **options,
        "counts": counts,
        "val_fraction": float(val_fraction),
        "seed": int(seed),
        "stamps": {k: sorted(v) for k, v in targets.items()},
        "distractors": {k: sorted(v) for k, v in other_split.items()},
        "backgrounds": {k: sorted(v) for k, v in backs.items()},
    }
    writer = _claim_store(Path(out), settings, {"stamps_root": str(stamp_root), "skipped": skipped})
    options["shard_size"] = int(shard_size)
    num_shards = {split: -(-n // int(shard_size)) for split, n in counts.items()}
    _write_shards(writer, num_shards, counts, by_file, stamp_images, photos, targets,
                  other_split, backs, options, seed, progress)  # fmt: skip
    return writer.finalize(num_shards)


def _load_sources(
    stamps: str | os.PathLike | None, backgrounds: str | os.PathLike | None
) -> tuple[Path, dict[str, Stamp], dict[str, np.ndarray], dict[str, np.ndarray], list]:
    """Decode the stamps and the backgrounds (at least two of each kind are needed).

    Returns the stamps root, the readable stamps, their RGBA arrays, the background photos and
    the skipped files.
    """
    stamp_root, found = _stamp_sources(stamps)
    background_files = _background_sources(backgrounds)
    stamp_images, stamp_errors = _load_all({s.file: stamp_root / s.file for s in found}, _load_rgba)
    photos, photo_errors = _load_all(background_files, _load_background)
    by_file = {s.file: s for s in found if s.file in stamp_images}
    classed = [f for f, s in by_file.items() if s.imagenet is not None]
    if len(classed) < 2 or len(photos) < 2:
        raise HrcamError(
            f"need at least two readable stamps with an ImageNet class and two background "
            f"photos (one per split); found {len(classed)} and {len(photos)}"
        )
    return stamp_root, by_file, stamp_images, photos, stamp_errors + photo_errors


def _claim_store(out: Path, settings: dict[str, Any], provenance: dict[str, Any]) -> Any:
    """Claim ``out`` for this build (a different build there is refused) and open its writer."""
    from hrcam.data.build import _claim_output
    from hrcam.data.imagenet import imagenet_animal_classes
    from hrcam.data.store import StoreWriter

    fingerprint = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    _claim_output(out, fingerprint, settings)
    return StoreWriter(
        out,
        image_size=int(settings["image_size"]),
        classes=[names.split(",")[0].strip() for _, names in imagenet_animal_classes()],
        has_masks=True,
        source={"kind": "cutouts", "fingerprint": fingerprint, **provenance, **settings},
    )


def _splits(
    by_file: dict[str, Stamp],
    classed: list[str],
    photos: list[str],
    val_fraction: float,
    seed: int,
) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, list[str]]]:
    """Disjoint train/val lists of target stamps, distractor stamps and background photos."""

    def split(names: list[str], offset: int = 0) -> dict[str, list[str]]:
        halves = split_disjoint(names, val_fraction, seed + offset)
        return dict(zip(("train", "val"), halves, strict=True))

    others = [f for f in by_file if f not in classed]
    distractors = split(others, 1) if len(others) >= 2 else {"train": [], "val": []}
    return split(classed), distractors, split(photos)


def _write_shards(
    writer: Any,
    num_shards: dict[str, int],
    counts: dict[str, int],
    by_file: dict[str, Stamp],
    stamp_images: dict[str, np.ndarray],
    photos: dict[str, np.ndarray],
    targets: dict[str, list[str]],
    distractors: dict[str, list[str]],
    backs: dict[str, list[str]],
    options: dict[str, Any],
    seed: int,
    progress: bool,
) -> None:
    """Render and write every unfinished shard; each shard draws from its own seeded stream."""
    from tqdm import tqdm

    bar = tqdm(total=sum(counts.values()), disable=not progress, unit="img", desc="cutouts")
    for split_index, split in enumerate(("train", "val")):
        pool = targets[split] + distractors[split]
        for index in range(num_shards[split]):
            per = options["shard_size"]
            n = min(per, counts[split] - index * per)
            if writer.shard_done(split, index):
                bar.update(n)
                continue
            rng = np.random.default_rng([seed, split_index, index])
            size = options["image_size"]
            images = np.empty((n, size, size, 3), np.uint8)
            masks = np.empty((n, size, size), np.uint8)
            labels, sources = np.empty(n, np.int64), []
            for i in range(n):
                target = targets[split][int(rng.integers(len(targets[split])))]
                extra = [
                    pool[int(j)]
                    for j in rng.integers(len(pool), size=options["objects_per_image"] - 1)
                ]
                back = backs[split][int(rng.integers(len(backs[split])))]
                image, mask = _render(
                    rng,
                    stamp_images[target],
                    [stamp_images[f] for f in extra],
                    photos[back],
                    options,
                )
                images[i], masks[i] = image, mask
                labels[i] = by_file[target].imagenet
                sources.append([target, back, *extra])
                bar.update(1)
            writer.write_shard(split, index, images, labels, masks, extra={"sources": sources})
    bar.close()
