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
