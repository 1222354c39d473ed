"""The cut-out builder on bad stamps and options (issue #33 items 2 and 4): a stamp without a
usable alpha channel, an oversized, empty or truncated one is skipped, printed as ``skipped
FILE: reason`` and recorded in the store; ``hrcam data info`` shows them; a non-finite option
is refused before anything is written."""

from __future__ import annotations

import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from hrcam.data import cutouts
from hrcam.errors import HrcamError

CLASSED = (
    "animals/birds/hen.png",
    "animals/birds/tucan.png",
    "animals/insects/mantis.png",
    "animals/mammals/apes/gorilla.png",
)


def _png_header_only(path, width, height):
    """A PNG whose header claims ``width x height`` (its data is a few bytes: never decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))  # fmt: skip


def _args(stamps, backs, out):
    sizes = ("--num-train", "4", "--num-val", "4", "--image-size", "32", "--no-progress")
    return ("data", "cutouts", "--out", out, "--stamps", stamps, "--backgrounds", backs, *sizes)


def _skipped(info):
    return {path.split("/stamps/")[-1]: reason for path, reason in info.source["skipped"]}


def test_stamps_without_usable_alpha_are_skipped_not_rectangles(cutout_sources, tmp_path):
    stamps, backs = cutout_sources
    # An RGB copy (no alpha: before, every mask of it filled its bounding box) ...
    Image.open(stamps / CLASSED[0]).convert("RGB").save(stamps / CLASSED[0])
    # ... and an RGBA one that is opaque everywhere.
    rgba = np.asarray(Image.open(stamps / CLASSED[1]).convert("RGBA")).copy()
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(stamps / CLASSED[1])
    info = cutouts.build_cutouts(tmp_path / "s", stamps=stamps, backgrounds=backs, num_train=6,
                                 num_val=6, image_size=32, progress=False)  # fmt: skip
    skipped = _skipped(info)
    assert set(skipped) == {CLASSED[0], CLASSED[1]}
    assert all("no transparency" in reason for reason in skipped.values())
    used = {s for split in info.source["stamps"].values() for s in split}
    assert used == {CLASSED[2], CLASSED[3]}
    for split in ("train", "val"):
        masks = np.load(info.root / split / "masks-00000.npy")
        for mask in masks.astype(bool):
            rows, cols = np.nonzero(mask)
            box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
            assert mask.sum() < 0.95 * box  # an ellipse, never its bounding box


def test_oversized_stamps_are_skipped_without_decoding_or_warning(cutout_sources, tmp_path):
    stamps, backs = cutout_sources
    _png_header_only(stamps / CLASSED[0], 20000, 20000)  # over Pillow's bomb limit
    _png_header_only(stamps / CLASSED[1], 10000, 10000)  # over its warning limit
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning must not leak
        info = cutouts.build_cutouts(
            tmp_path / "s", stamps=stamps, backgrounds=backs, num_train=4, num_val=4,
            image_size=32, progress=False,
        )  # fmt: skip
    skipped = _skipped(info)
    assert set(skipped) == {CLASSED[0], CLASSED[1]}
    assert all("too large" in reason for reason in skipped.values())


def test_skipped_stamps_are_printed_and_shown_by_data_info(cutout_sources, tmp_path, run_cli):
    stamps, backs = cutout_sources
    (stamps / CLASSED[0]).write_bytes(b"")
    data = (stamps / CLASSED[1]).read_bytes()
    (stamps / CLASSED[1]).write_bytes(data[: len(data) // 2])
    status, out, err = run_cli(*_args(stamps, backs, tmp_path / "s10"))
    assert status == 0, err
    lines = [line for line in err.splitlines() if line.startswith("hrcam: skipped ")]
    assert len(lines) == 2
    assert any(CLASSED[0] in line and "empty file" in line for line in lines)
    assert any(CLASSED[1] in line and "truncated" in line for line in lines)
    status, out, err = run_cli("data", "info", tmp_path / "s10")
    assert status == 0, err
    assert f"store {tmp_path / 's10'}: cutouts, 32 px" in out and ": ?" not in out
    assert "skipped files: 2" in out
    assert CLASSED[0] in out and CLASSED[1] in out


@pytest.mark.parametrize(
    "option", [("--feather", "nan"), ("--color-match", "nan"), ("--feather", "inf"),
               ("--object-scale", "0.3", "nan"), ("--val-fraction", "nan")],
)  # fmt: skip
def test_non_finite_options_are_refused_before_writing(cutout_sources, tmp_path, run_cli, option):
    stamps, backs = cutout_sources
    status, _, err = run_cli(*_args(stamps, backs, tmp_path / "s"), *option)
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert "finite" in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()


def test_the_builder_refuses_nan_through_the_api(cutout_sources, tmp_path):
    stamps, backs = cutout_sources
    with pytest.raises(HrcamError, match="feather must be a finite number"):
        cutouts.build_cutouts(tmp_path / "s", stamps=stamps, backgrounds=backs,
                              feather=float("nan"), progress=False)  # fmt: skip
    assert not (tmp_path / "s").exists()
