"""Built-in synthetic dataset: "beetles" of one body plan that differ only in fine detail.

The set is generated offline and deterministically from a seed, in the spirit of the paper's
homogeneous animal classes (several cat breeds): every object is a beetle-like figure (an
elliptical body, a round head and three pairs of legs), and the classes differ only in

* the body **pattern**: transverse stripes or a lattice of spots,
* the pattern **period**: coarse, fine (and, beyond 8 classes, medium),
* the body **build**: stocky (length/width 1.3-1.55) or slender (1.85-2.2).

Colours, size (body half-length 13-26 % of the image), orientation and position (centre
anywhere in the middle 64 % of the image, so often off-centre) are drawn independently of
the class. Objects sit on a cluttered background: a smooth random colour field, a faint
grating, pixel noise and 3-7 distractors (bars and rings) textured with solid colour,
stripes or a checkerboard whose periods span the *whole* range used by all classes. Every
background draw is independent of the label, so only the object carries it; the tests
check this with a classifier on background-only crops.

Each image comes with its exact object mask (the pixels where the object was painted, on
top of everything else) and the mask's tight box.

Variants (``variant=``) change one thing the paper's pipeline depends on and keep the rest,
classes included (see :data:`VARIANTS`); ``"default"`` is the set described above, byte for
byte the same as before variants existed.

Randomness: shard ``k`` of split ``s`` uses ``np.random.SeedSequence([seed, s, k])``, so the
result does not depend on the number of worker processes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hrcam.core.maps import check_class_indices
from hrcam.data.budget import check_synthetic_budget
from hrcam.data.build import run_shard_tasks
from hrcam.data.store import StoreInfo, StoreWriter, boxes_from_masks
from hrcam.parallel import available_cores

__all__ = [
    "SYNTHETIC_VERSION",
    "VARIANTS",
    "generate_synthetic",
    "render_synthetic",
    "synthetic_class_specs",
    "synthetic_classes",
]

SYNTHETIC_VERSION = 1
_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}

# Pattern periods in pixels at 128 px (scaled with the image size).
_PERIODS = {"coarse": (10.0, 13.0), "fine": (5.0, 6.5), "medium": (7.3, 8.6)}
_ASPECTS = {"stocky": (1.3, 1.55), "slender": (1.85, 2.2)}
# Order chosen so that the first n classes still vary every attribute.
_CLASS_ORDER = [
    ("stripes", "coarse", "stocky"),
    ("spots", "fine", "slender"),
    ("stripes", "fine", "stocky"),
    ("spots", "coarse", "slender"),
    ("stripes", "coarse", "slender"),
    ("spots", "fine", "stocky"),
    ("stripes", "fine", "slender"),
    ("spots", "coarse", "stocky"),
    ("stripes", "medium", "stocky"),
    ("spots", "medium", "slender"),
    ("stripes", "medium", "slender"),
    ("spots", "medium", "stocky"),
]
MAX_CLASSES = len(_CLASS_ORDER)
_MAX_DISTRACTORS = 7

VARIANTS: dict[str, str] = {
    "default": "the built-in set: short legs, cluttered background, body 13-26 % of the image",
    "thin_parts": "long thin legs (about 1 px at 96 px), two antennae and a tail: object "
    "parts that a bilinearly resized CAM blob cannot cover",
    "plain_background": "no distractors and no grating: a smooth colour field with pixel "
    "noise behind the object",
    "small_objects": "bodies half the default size (6.5-13 % of the image): each object "
    "spans fewer cells of the CAM grid",
}
"""Named variants of the synthetic set (``hrcam data synthetic --variant NAME``)."""


def synthetic_class_specs(num_classes: int = 8) -> list[dict[str, Any]]:
    """Attributes of each class: pattern, period range (px at 128 px), aspect range, name."""
    if not 2 <= int(num_classes) <= MAX_CLASSES:
        raise ValueError(f"num_classes must be between 2 and {MAX_CLASSES}, got {num_classes}")
    specs = []
    for pattern, period, build in _CLASS_ORDER[: int(num_classes)]:
        specs.append(
            {
                "name": f"{period}-{'striped' if pattern == 'stripes' else 'spotted'}-{build}",
                "pattern": pattern,
                "period": _PERIODS[period],
                "aspect": _ASPECTS[build],
            }
        )
    return specs


def synthetic_classes(num_classes: int = 8) -> list[str]:
    """Class names, e.g. ``"coarse-striped-stocky"``."""
    return [s["name"] for s in synthetic_class_specs(num_classes)]


def _upsample_matrix(size: int, cells: int) -> np.ndarray:
    """Bilinear interpolation weights (size, cells) from a coarse grid to ``size`` pixels."""
    pos = (np.arange(size) + 0.5) / size * cells - 0.5
    pos = np.clip(pos, 0, cells - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, cells - 1)
    frac = (pos - lo).astype(np.float32)
    m = np.zeros((size, cells), np.float32)
    m[np.arange(size), lo] += 1 - frac
    m[np.arange(size), hi] += frac
    return m


def _parity(t: np.ndarray) -> np.ndarray:
    """``floor(t) mod 2`` as bool: a square wave of period 2 (cheaper than ``sin > 0``)."""
    return (np.floor(t).astype(np.int32) & 1).astype(bool)


def render_synthetic(
    labels: Sequence[int] | np.ndarray,
    rng: np.random.Generator,
    image_size: int = 128,
    num_classes: int = 8,
    return_background: bool = False,
    variant: str = "default",
) -> dict[str, np.ndarray]:
    """Render one batch of synthetic images for the given labels.

    Parameters
    ----------
    labels : sequence of int
        Class of each image, in ``[0, num_classes)``.
    rng : numpy.random.Generator
        Source of every random draw (fully determines the output).
    image_size : int
        Height and width in pixels (>= 32).
    num_classes : int
        Number of classes of the set (defines the class attributes).
    return_background : bool
        Also return ``backgrounds``: the same scenes rendered without the object.
    variant : str
        A key of :data:`VARIANTS`.

    Returns
    -------
    dict
        ``images`` (B,S,S,3) uint8, ``masks`` (B,S,S) uint8, ``boxes`` (B,4) int64 and, if
        asked, ``backgrounds`` (B,S,S,3) uint8.
    """
    _check_variant(variant)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    specs = synthetic_class_specs(num_classes)
    check_class_indices(labels, num_classes, "labels")
    s = int(image_size)
    if s < 32:
        raise ValueError(f"image_size must be at least 32, got {image_size}")
    b = labels.size
    k = s / 128.0  # pixel scale relative to the 128 px design
    f32 = np.float32
    y, x = np.mgrid[0:s, 0:s].astype(f32) + f32(0.5)
    grid = _Grid(rng, b, s, k, x[None], y[None])

    # Every draw below happens for every image, in a fixed order, whatever the label:
    # that keeps the background statistically independent of the class.
    field = _background_field(grid)
    top, top_tex, dcolors = _distractors(grid)
    mask, light, re2, base, dark = _beetle(grid, labels, specs, variant)
    # uniform noise of +-0.025 from raw bytes: an order of magnitude cheaper than normal()
    noise = np.frombuffer(rng.bytes(3 * b * s * s), np.uint8).reshape(3, b, s, s)

    # --- composite, channel by channel (boolean writes on 3-D arrays are cheap) -----------
    up, coarse, contrast, grating = field
    bg = np.ascontiguousarray(np.matmul(np.matmul(up, coarse.transpose(3, 0, 1, 2)), up.T))
    if variant == "plain_background":
        contrast = np.zeros_like(contrast)
        top = np.full_like(top, -1)  # drawn as usual, then not painted
    bg *= 1 + contrast * grating
    painted = top >= 0
    code = (np.maximum(top, 0).astype(np.intp) * 2 + top_tex).reshape(b, -1)
    table = dcolors.reshape(b, 2 * _MAX_DISTRACTORS, 3)
    for c in range(3):
        vals = np.take_along_axis(table[:, :, c], code, axis=1).reshape(b, s, s)
        np.copyto(bg[c], vals, where=painted)
    noise_f = noise.astype(f32)
    noise_f *= f32(0.05 / 255)
    noise_f -= f32(0.025)
    background = _to_uint8(bg + noise_f) if return_background else None
    img = bg
    shade = 1.05 - 0.3 * re2
    for c in range(3):
        np.copyto(img[c], dark[:, c, None, None] * f32(0.9), where=mask)
        np.copyto(img[c], base[:, c, None, None] * shade, where=light)
    img += noise_f
    out = {
        "images": _to_uint8(img),
        "masks": mask.astype(np.uint8),
        "boxes": boxes_from_masks(mask),
    }
    if background is not None:
        out["backgrounds"] = background
    return out


class _Grid(NamedTuple):
    """What every part of one rendered batch shares: the draws, sizes and pixel centres."""

    rng: np.random.Generator
    b: int  # images
    s: int  # side in pixels
    k: float  # pixel scale relative to the 128 px design
    x: np.ndarray  # (1, S, S) pixel-centre columns
    y: np.ndarray  # (1, S, S) pixel-centre rows

    def col(self, lo: float, hi: float) -> np.ndarray:
        """Draw a (B, 1, 1) column of uniform values in [lo, hi)."""
        return self.rng.uniform(lo, hi, size=(self.b, 1, 1)).astype(np.float32)


def _background_field(g: _Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Smooth colour field modulated by a faint grating: ``(up, coarse, contrast, grating)``."""
    cells = 4
    up = _upsample_matrix(g.s, cells)
    coarse = g.rng.uniform(0.15, 0.85, size=(g.b, cells, cells, 3)).astype(np.float32)
    coarse = 0.55 * coarse.mean(axis=-1, keepdims=True) + 0.45 * coarse  # desaturate
    theta, period = g.col(0, np.pi), g.col(4.5, 14.0) * g.k
    contrast, phase = g.col(0.0, 0.18), g.col(0, 2 * np.pi)
    grating = np.sin((g.x * np.cos(theta) + g.y * np.sin(theta)) * (2 * np.pi / period) + phase)
    return up, coarse, contrast, grating


def _distractors(g: _Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class-agnostic bars and rings, painted as an index map: ``(top, top_tex, colours)``.

    ``top`` is the distractor on top of each pixel (-1: none), ``top_tex`` whether its texture
    is dark there. Each distractor is rasterised in a window around its centre (it fits in
    0.43 s) on a padded canvas, which is ~5x cheaper than full-frame arithmetic.
    """
    f32, rng, b, s, k, col = np.float32, g.rng, g.b, g.s, g.k, g.col
    win = int(np.ceil(0.43 * s)) + 2
    pad = win
    top = np.full((b, s + 2 * pad, s + 2 * pad), -1, np.int8)  # distractor on top, -1 none
    top_tex = np.zeros(top.shape, bool)
    n_dis = rng.integers(3, _MAX_DISTRACTORS + 1, size=b)
    dcolors = rng.uniform(0.05, 0.95, size=(b, _MAX_DISTRACTORS, 2, 3)).astype(f32)
    bidx = np.arange(b)[:, None, None]
    local = np.arange(win, dtype=f32)
    for d in range(_MAX_DISTRACTORS):
        active = (d < n_dis)[:, None, None]
        ring_shape = rng.integers(0, 2, size=(b, 1, 1)).astype(bool)
        cx, cy, ang = col(0, s), col(0, s), col(0, np.pi)
        half_len, half_wid = col(0.05, 0.2) * s, col(0.015, 0.07) * s
        radius, thick = col(0.04, 0.13) * s, col(0.012, 0.035) * s
        kind = rng.integers(0, 3, size=(b, 1, 1))  # solid, stripes, checkerboard
        half_period = col(4.5, 14.0) * (k / 2)
        ox = np.floor(cx[:, 0, 0]).astype(np.intp) - win // 2  # window origin (image coords)
        oy = np.floor(cy[:, 0, 0]).astype(np.intp) - win // 2
        dx = (ox[:, None, None] + local[None, None, :] + f32(0.5)) - cx
        dy = (oy[:, None, None] + local[None, :, None] + f32(0.5)) - cy
        u = dx * np.cos(ang) + dy * np.sin(ang)
        v = dy * np.cos(ang) - dx * np.sin(ang)
        bar = (np.abs(u) < half_len) & (np.abs(v) < half_wid)
        ring = np.abs(np.sqrt(dx * dx + dy * dy) - radius) < thick
        inside = active & np.where(ring_shape, ring, bar)
        su = _parity(u / half_period)
        tex = np.where(kind == 1, su, (kind == 2) & (su ^ _parity(v / half_period)))
        rows = (oy + pad)[:, None, None] + np.arange(win)[None, :, None]
        cols = (ox + pad)[:, None, None] + np.arange(win)[None, None, :]
        idx = (bidx, rows, cols)
        top[idx] = np.where(inside, np.int8(d), top[idx])
        top_tex[idx] = np.where(inside, tex, top_tex[idx])
    top = np.ascontiguousarray(top[:, pad:-pad, pad:-pad])
    top_tex = np.ascontiguousarray(top_tex[:, pad:-pad, pad:-pad])
    return top, top_tex, dcolors


def _beetle(
    g: _Grid, labels: np.ndarray, specs: list[dict[str, Any]], variant: str
) -> tuple[np.ndarray, ...]:
    """Draw the object: body ellipse + head + legs, class pattern on the body.

    Returns ``(mask, light, re2, base, dark)``: the object's pixels, the light pattern
    pixels of the body, the squared elliptic radius (for shading) and the two colours.
    """
    f32, rng, b, k, col = np.float32, g.rng, g.b, g.k, g.col
    aspect_rng = np.array([sp["aspect"] for sp in specs], f32)[labels]
    period_rng = np.array([sp["period"] for sp in specs], f32)[labels]
    spots = np.array([sp["pattern"] == "spots" for sp in specs])[labels][:, None, None]
    t = rng.uniform(size=(2, b)).astype(f32)
    aspect = (aspect_rng[:, 0] + t[0] * (aspect_rng[:, 1] - aspect_rng[:, 0]))[:, None, None]
    pper = ((period_rng[:, 0] + t[1] * (period_rng[:, 1] - period_rng[:, 0])) * k)[:, None, None]
    a = col(0.13, 0.26) * g.s
    if variant == "small_objects":
        a = a * f32(0.5)
    bb = a / aspect
    cx, cy, phi = col(0.18, 0.82) * g.s, col(0.18, 0.82) * g.s, col(0, 2 * np.pi)
    dx, dy = g.x - cx, g.y - cy
    u = dx * np.cos(phi) + dy * np.sin(phi)
    v = dy * np.cos(phi) - dx * np.sin(phi)
    re2 = (u / a) ** 2 + (v / bb) ** 2
    body = re2 <= 1
    rh = 0.5 * bb
    head = (u - (a + 0.45 * rh)) ** 2 + v * v <= rh * rh
    legs = _legs(g, u, v, a, bb, rh, variant)
    mask = body | head | legs
    base = rng.uniform(0.35, 0.95, size=(b, 3)).astype(f32)
    dark = base * rng.uniform(0.15, 0.4, size=(b, 1)).astype(f32)
    ph_u, ph_v = col(0, 1), col(0, 1)
    fu, fv = u / pper + ph_u, v / pper + ph_v
    stripe = _parity(2 * fu)
    fu -= np.floor(fu) + 0.5
    fv -= np.floor(fv) + 0.5
    spot = fu * fu + fv * fv < 0.09
    rim_in = (1 - 1.3 * k / bb) ** 2
    light = body & (re2 <= rim_in) & ~np.where(spots, spot, stripe)
    return mask, light, re2, base, dark


def _legs(
    g: _Grid,
    u: np.ndarray,
    v: np.ndarray,
    a: np.ndarray,
    bb: np.ndarray,
    rh: np.ndarray,
    variant: str,
) -> np.ndarray:
    """Three pairs of legs (and, for ``thin_parts``, antennae and a tail) in body coordinates."""
    k, col = g.k, g.col
    leg_w = np.maximum(0.9 * k, 0.05 * bb)
    legs = np.abs(v) < bb + 0.32 * a
    if variant == "thin_parts":
        # Long legs about 1.5 px wide at 128 px, two antennae and a tail. Their draws happen
        # for every image whatever the label, like every other draw.
        leg_w = np.full_like(bb, 0.75 * k)
        spread, reach = col(0.35, 0.75), col(0.5, 0.8) * a
        tail_len = col(0.35, 0.6) * a
        legs = np.abs(v) < bb + 0.75 * a
    bands = (np.abs(u + 0.45 * a) < leg_w) | (np.abs(u) < leg_w) | (np.abs(u - 0.45 * a) < leg_w)
    legs &= bands
    if variant == "thin_parts":
        hu = u - (a + 0.9 * rh)  # coordinates from the front of the head
        for sign in (-1.0, 1.0):
            along = hu * np.cos(spread) + sign * v * np.sin(spread)
            across = sign * v * np.cos(spread) - hu * np.sin(spread)
            legs |= (along >= 0) & (along < reach) & (np.abs(across) < leg_w)
        legs |= (u < -a + 0.5 * k) & (u > -a - tail_len) & (np.abs(v) < leg_w)
    return legs


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown synthetic variant {variant!r}; choose from {list(VARIANTS)}")


def _to_uint8(img: np.ndarray) -> np.ndarray:
    """(3,B,S,S) float in [0,1] -> (B,S,S,3) uint8."""
    img = np.clip(img, 0, 1, out=img) if img.flags.writeable else np.clip(img, 0, 1)
    img *= 255
    img += 0.5
    return np.ascontiguousarray(img.astype(np.uint8).transpose(1, 2, 3, 0))


def _render_shard(task: dict[str, Any]) -> int:
    """Worker: render and write one shard (top-level so it pickles)."""
    writer = StoreWriter(**task["writer"])
    split, index, count = task["split"], task["index"], task["count"]
    ss = np.random.SeedSequence([task["seed"], _SPLIT_CODES.get(split, 9), index])
    rng = np.random.default_rng(ss)
    num_classes = task["num_classes"]
    # balanced labels, shuffled within the shard
    labels = rng.permutation(np.arange(count) % num_classes)
    chunks = [
        render_synthetic(
            labels[i : i + 128],
            rng,
            task["image_size"],
            num_classes,
            variant=task.get("variant", "default"),
        )
        for i in range(0, count, 128)
    ]
    return writer.write_shard(
        split,
        index,
        np.concatenate([c["images"] for c in chunks]),
        labels,
        masks=np.concatenate([c["masks"] for c in chunks]),
        boxes=np.concatenate([c["boxes"] for c in chunks]),
    )


def generate_synthetic(
    out_dir: str | os.PathLike[str],
    num_train: int = 10_000,
    num_val: int = 2_000,
    image_size: int = 128,
    seed: int = 0,
    num_classes: int = 8,
    shard_size: int = 1024,
    num_workers: int | None = None,
    progress: bool = False,
    variant: str = "default",
) -> StoreInfo:
    """Generate the built-in synthetic set as a store (see :mod:`hrcam.data.store`).

    Parameters
    ----------
    out_dir : path
        Store directory (created). Shards already complete from an earlier run with the
        same settings are kept (resume).
    num_train, num_val : int
        Images per split (``num_val`` may be 0).
    image_size : int
        Height and width (128 for CPU runs, 224 as in the paper).
    seed : int
        Seed; the output is a pure function of all arguments except ``num_workers``.
    num_classes : int
        2 to 12 classes (default 8).
    shard_size : int
        Images per shard file.
    num_workers : int, optional
        Processes (default: all CPUs). 0 or 1 renders in this process.
    progress : bool
        Show a tqdm progress bar.
    variant : str
        A key of :data:`VARIANTS`; ``"default"`` writes exactly the store it always did.

    Returns
    -------
    StoreInfo
    """
    _check_variant(variant)
    for name, value in (("num_train", num_train), ("num_val", num_val)):
        if int(value) < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if int(num_train) + int(num_val) == 0:
        raise ValueError("num_train + num_val must be positive")
    if int(shard_size) < 1:
        raise ValueError(f"shard_size must be positive, got {shard_size}")
    if int(image_size) < 32:
        raise ValueError(f"image_size must be at least 32, got {image_size}")
    source = _synthetic_source(seed, num_classes, shard_size, variant)
    writer_kw = {
        "root": str(out_dir),
        "image_size": int(image_size),
        "classes": synthetic_classes(num_classes),
        "has_masks": True,
        "source": source,
    }
    workers = available_cores() if num_workers is None else int(num_workers)
    totals = {"train": int(num_train), "val": int(num_val)}
    check_synthetic_budget(
        out_dir, list(totals.values()), int(image_size), int(shard_size), max(1, workers)
    )
    _check_resume(Path(out_dir), source, int(image_size))
    writer = StoreWriter(**writer_kw)
    counts = {
        split: [min(shard_size, total - i * shard_size) for i in range(-(-total // shard_size))]
        for split, total in totals.items()
    }
    _drop_stale_shards(writer, counts, out_dir)
    # One task per shard still to write: a shard is a pure function of its task.
    common = {
        "writer": writer_kw,
        "seed": int(seed),
        "num_classes": int(num_classes),
        "image_size": int(image_size),
        "variant": variant,
    }
    tasks = [
        {**common, "split": split, "index": index, "count": count}
        for split, sizes in counts.items()
        for index, count in enumerate(sizes)
        if not writer.shard_done(split, index)
    ]
    from tqdm import tqdm

    bar = tqdm(total=sum(t["count"] for t in tasks), disable=not progress, unit="img")
    run_shard_tasks(_render_shard, tasks, workers, bar.update)
    bar.close()
    return writer.finalize({split: len(sizes) for split, sizes in counts.items() if sizes})


def _synthetic_source(seed: int, num_classes: int, shard_size: int, variant: str) -> dict[str, Any]:
    """Return the store's provenance (``meta.json`` ``source``), which also keys resuming."""
    source = {
        "dataset": "synthetic-beetles",
        "generator_version": SYNTHETIC_VERSION,
        "seed": int(seed),
        "num_classes": int(num_classes),
        "shard_size": int(shard_size),
        "class_specs": synthetic_class_specs(num_classes),
    }
    if variant != "default":  # the default store's metadata stays as it always was
        source["variant"] = variant
    return source


def _drop_stale_shards(
    writer: StoreWriter, counts: dict[str, list[int]], out_dir: str | os.PathLike[str]
) -> None:
    """Remove the shards of an earlier run with other image counts, saying so on stderr.

    A rerun with other ``num_train``/``num_val``: shards of another size or beyond the new
    count are stale (a shard is a pure function of seed, split, index and count).
    """
    stale = writer.remove_stale_shards(counts)
    if stale:
        print(
            f"hrcam: {out_dir}: replacing {len(stale)} shard(s) of an earlier run with other "
            f"image counts ({', '.join(stale[:4])}{' ...' if len(stale) > 4 else ''})",
            file=sys.stderr,
        )


def _check_resume(root: Path, source: dict[str, Any], image_size: int) -> None:
    """Refuse to mix shards of different settings in one directory."""
    import json

    meta = root / "meta.json"
    if not meta.is_file():
        return
    old = json.loads(meta.read_text())
    if old.get("image_size") != image_size:
        raise ValueError(
            f"{root} already holds a store of {old.get('image_size')} px images, not "
            f"{image_size}; choose a new --out or delete it"
        )
    new = json.loads(json.dumps(source))
    changed = sorted(k for k in set(new) | set(old.get("source", {}))
                     if old.get("source", {}).get(k) != new.get(k))  # fmt: skip
    if changed:
        raise ValueError(
            f"{root} already holds a store with other settings ({', '.join(changed)}); "
            "choose a new --out or delete it"
        )
