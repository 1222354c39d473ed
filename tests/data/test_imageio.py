"""Robust decoding: every awkward file is converted to RGB or rejected with a reason."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hrcam.data.imageio import ImageDecodeError, decode_image, decode_label_map

CONVERTIBLE = ("gray", "rgba", "cmyk", "palette", "png16", "one_pixel", "large")
REASONS = {
    "zero_byte": "empty file",
    "not_image": "not an image",
    "truncated": "truncated",
    "corrupt": "",
}


@pytest.mark.parametrize("case", CONVERTIBLE)
def test_convertible_files_become_rgb(bad_files, case):
    arr = decode_image(bad_files[case], size=32)
    assert arr.shape == (32, 32, 3) and arr.dtype == np.uint8


@pytest.mark.parametrize("case", sorted(REASONS))
def test_unreadable_files_raise_with_reason(bad_files, case):
    with pytest.raises(ImageDecodeError) as err:
        decode_image(bad_files[case], size=32)
    assert REASONS[case] in str(err.value).lower()


def test_grayscale_is_replicated_to_three_equal_channels(bad_files):
    arr = decode_image(bad_files["gray"], size=None)
    assert np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2])


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255  # red ...
    rgba[:, :4, 3] = 255  # ... opaque on the left, transparent on the right
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    arr = decode_image(tmp_path / "a.png", size=None)
    assert arr[0, 0].tolist() == [255, 0, 0]
    assert arr[0, 7].tolist() == [255, 255, 255]


def test_16bit_png_is_rescaled_not_clipped(bad_files):
    arr = decode_image(bad_files["png16"], size=None).astype(int)
    # a 0..65535 ramp must become a 0..255 ramp, not saturate at 255 after the first 1/256
    assert arr.min() == 0 and arr.max() == 255
    assert 100 < np.median(arr) < 155


def test_cmyk_colours_survive(tmp_path):
    Image.new("RGB", (16, 16), (200, 30, 30)).convert("CMYK").save(tmp_path / "c.jpg")
    r, g, b = decode_image(tmp_path / "c.jpg", size=None)[8, 8].astype(int)
    assert r > 150 and g < 80 and b < 80


def test_too_many_pixels_is_rejected_before_decoding(bad_files):
    with pytest.raises(ImageDecodeError, match="too large"):
        decode_image(bad_files["large"], size=32, max_pixels=1_000_000)


def test_label_map_uses_nearest_neighbour(tmp_path):
    lm = np.array([[1, 2], [3, 2]], np.uint8)
    Image.fromarray(lm).save(tmp_path / "t.png")
    out = decode_label_map(tmp_path / "t.png", size=8)
    assert set(np.unique(out).tolist()) == {1, 2, 3}
    assert out[0, 0] == 1 and out[7, 0] == 3


def test_missing_file_is_a_decode_error(tmp_path):
    with pytest.raises(ImageDecodeError, match="cannot read"):
        decode_image(tmp_path / "nope.jpg")


# --------------------------------------------------------------- colour (issue #33 item 5)


def _icc_matrix_profile(columns, gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 RGB display profile: D50 colorant columns and a gamma curve per channel.

    Written by hand because Pillow can only create sRGB, Lab and XYZ profiles.
    """
    import struct

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(v) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(s15(c) for c in v)

    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    text = b"test display\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 12 + b"\0" * 67
    desc += b"\0" * (-len(desc) % 4)
    white = (0.9642, 1.0, 0.8249)
    tags = [(b"desc", desc), (b"wtpt", xyz(white)), (b"rXYZ", xyz(columns[0])),
            (b"gXYZ", xyz(columns[1])), (b"bXYZ", xyz(columns[2])), (b"rTRC", curve),
            (b"gTRC", curve), (b"bTRC", curve)]  # fmt: skip
    offset = 128 + 4 + 12 * len(tags)
    table, data = struct.pack(">I", len(tags)), b""
    for sig, body in tags:
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = struct.pack(">I", size) + b"\0" * 4 + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
    header += b"\0" * 12 + b"acsp" + b"\0" * 24 + s15(white[0]) + s15(white[1]) + s15(white[2])
    header += b"\0" * (128 - len(header))
    return header + table + data


# Display P3's colorants adapted to D50 (as in Apple's Display P3 profile).
_P3 = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_an_embedded_icc_profile_is_converted_to_srgb(tmp_path, suffix):
    # P3 (200, 60, 60) is (219, 37, 49) in sRGB; before, it was read as (200, 60, 60).
    profile = _icc_matrix_profile(_P3)
    path = tmp_path / f"p3{suffix}"
    Image.new("RGB", (16, 16), (200, 60, 60)).save(path, icc_profile=profile, quality=100)
    r, g, b = decode_image(path, size=None)[8, 8].astype(int)
    assert r >= 212 and g <= 45 and b <= 55, (r, g, b)
    # Without a profile the values are sRGB already and stay as they are.
    Image.new("RGB", (16, 16), (200, 60, 60)).save(tmp_path / f"plain{suffix}", quality=100)
    r, g, b = decode_image(tmp_path / f"plain{suffix}", size=None)[8, 8].astype(int)
    assert abs(r - 200) <= 2 and abs(g - 60) <= 2 and abs(b - 60) <= 2


def test_an_icc_profile_keeps_a_stamps_alpha(tmp_path):
    from hrcam.data.imageio import decode_rgba

    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = (200, 60, 60)
    rgba[:, :4, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "s.png", icc_profile=_icc_matrix_profile(_P3))
    out = decode_rgba(tmp_path / "s.png").astype(int)
    assert out[0, 0, 0] >= 212 and out[0, 0, 1] <= 45
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])


def _png16_rgb(path, rgb16: np.ndarray) -> None:
    """Write a 16-bit RGB PNG (Pillow cannot write one)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    h, w, _ = rgb16.shape
    raw = b"".join(b"\0" + rgb16[y].astype(">u2").tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))  # fmt: skip


def test_16bit_gray_and_colour_are_scaled_the_same_way(tmp_path):
    # 0..1000 of 65535: a dark image. Before, gray decoded to max 249 (stretched from its own
    # 10-bit range) and the same values in colour to max 3.
    values = np.linspace(0, 1000, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "g.png")
    _png16_rgb(tmp_path / "c.png", np.repeat(values[..., None], 3, axis=2))
    gray = decode_image(tmp_path / "g.png", size=None)
    colour = decode_image(tmp_path / "c.png", size=None)
    assert gray.max() == 3
    np.testing.assert_array_equal(gray, colour)
