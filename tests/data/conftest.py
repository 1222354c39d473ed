"""Fixture trees for the data tests: tiny images in each dataset's exact on-disk layout."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image


def _rgb(h: int = 40, w: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], -1)
    return np.clip(base + rng.integers(0, 20, size=base.shape), 0, 255).astype(np.uint8)


def write_jpeg(path: Path, seed: int = 0, size: tuple[int, int] = (40, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_rgb(*size, seed=seed)).save(path, format="JPEG", quality=90)
    return path


def write_bad_files(folder: Path) -> dict[str, Path]:
    """Every kind of awkward file the builders must convert or skip, by case name."""
    folder.mkdir(parents=True, exist_ok=True)
    f: dict[str, Path] = {}
    f["zero_byte"] = folder / "zero.JPEG"
    f["zero_byte"].write_bytes(b"")
    f["not_image"] = folder / "notes.JPEG"
    f["not_image"].write_text("this is a text file, not a JPEG\n" * 10)
    buf = io.BytesIO()
    Image.fromarray(_rgb(64, 64, seed=3)).save(buf, format="JPEG")
    data = buf.getvalue()
    f["truncated"] = folder / "truncated.JPEG"
    f["truncated"].write_bytes(data[: len(data) // 2])
    f["corrupt"] = folder / "corrupt.JPEG"
    f["corrupt"].write_bytes(
        data[:20] + bytes(np.random.default_rng(0).integers(0, 256, 400, np.uint8))
    )
    # convertible cases
    f["gray"] = folder / "gray.JPEG"
    Image.fromarray(_rgb(30, 30)[..., 0]).save(f["gray"], format="JPEG")
    f["rgba"] = folder / "rgba.png"
    rgba = np.dstack([_rgb(30, 30), np.full((30, 30), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(f["rgba"])
    f["cmyk"] = folder / "cmyk.JPEG"
    Image.fromarray(_rgb(30, 30)).convert("CMYK").save(f["cmyk"], format="JPEG")
    f["palette"] = folder / "palette.png"
    pal = Image.fromarray(_rgb(30, 30)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    pal.save(f["palette"], transparency=0)
    f["png16"] = folder / "gray16.png"
    g16 = (np.linspace(0, 65535, 30 * 30).reshape(30, 30)).astype(np.uint16)
    Image.fromarray(g16).save(f["png16"])
    f["one_pixel"] = folder / "one.JPEG"
    Image.fromarray(np.full((1, 1, 3), 200, np.uint8)).save(f["one_pixel"], format="JPEG")
    f["large"] = folder / "large.JPEG"
    Image.fromarray(np.tile(_rgb(100, 100), (25, 30, 1))).save(f["large"], format="JPEG")
    return f


CONVERTIBLE = ("gray", "rgba", "cmyk", "palette", "png16", "one_pixel", "large")
UNREADABLE = ("zero_byte", "not_image", "truncated", "corrupt")


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    # session-scoped: writing the large JPEG is the slow part; tests only read these files
    return write_bad_files(tmp_path_factory.mktemp("bad"))


@pytest.fixture(scope="session")
def data_helpers() -> SimpleNamespace:
    """The fixture-tree writers (test modules cannot import conftest under importlib mode)."""
    return SimpleNamespace(
        write_jpeg=write_jpeg,
        write_bad_files=write_bad_files,
        CONVERTIBLE=CONVERTIBLE,
        UNREADABLE=UNREADABLE,
    )
