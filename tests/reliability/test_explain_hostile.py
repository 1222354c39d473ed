"""``hrcam explain`` on hostile inputs (issue #15 items 1-4, 7, 8, 14): bounded memory,
no overwrites, every image through ``data.imageio``, clear messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hrcam.explain import panel_figsize, plan_outputs, unique_stems


def _save(path, array, **kw):
    Image.fromarray(array, **kw).save(path)
    return path


def _noise(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)


@pytest.mark.parametrize("shape", [(2000, 1), (1, 2000), (20, 4000), (4000, 20), (50, 50)])
def test_panel_size_is_bounded_both_ways(shape):
    w_in, h_in = panel_figsize(*shape)
    assert w_in == 8.0 and 1.6 <= h_in <= 16.6


@pytest.mark.slow
def test_extreme_aspect_ratio_draws_a_bounded_panel(ck, tmp_path, run_cli):
    strip = _save(tmp_path / "strip.png", np.zeros((2000, 1, 3), np.uint8))
    wide = _save(tmp_path / "wide.png", np.zeros((20, 4000, 3), np.uint8))
    status, _, err = run_cli(
        "explain", strip, wide, "--checkpoint", ck, "-o", tmp_path / "o", "--no-progress"
    )
    assert status == 0, err
    for stem in ("strip", "wide"):
        w, h = Image.open(tmp_path / "o" / f"{stem}_panel.png").size
        assert w <= 900 and h <= 1700  # was 800 x 800,060 for the strip
    assert np.load(tmp_path / "o" / "strip_refined.npy").shape == (2000, 1)


@pytest.mark.slow
def test_oversized_image_is_skipped_and_the_rest_written(ck, tmp_path, run_cli):
    good = _save(tmp_path / "good.png", _noise((40, 50, 3)))
    # A header that claims 15000 x 15000 px (over Pillow's limit): a real, small PNG.
    Image.new("1", (15000, 15000)).save(tmp_path / "huge.png")
    big = _save(tmp_path / "big.png", np.zeros((120, 100, 3), np.uint8))
    status, _, err = run_cli(
        "explain",
        good,
        tmp_path / "huge.png",
        big,
        "--checkpoint",
        ck,
        "-o",
        tmp_path / "o",
        "--max-pixels",
        "10000",
        "--no-progress",
    )
    assert status == 1 and "Traceback" not in err
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert [w["path"] for w in report["written"]] == [str(good)]
    reasons = {s["path"]: s["reason"] for s in report["skipped"]}
    assert "image too large" in reasons[str(tmp_path / "huge.png")]
    assert "120x100 > 10,000 pixels" in reasons[str(big)].replace("100x120", "120x100")


def test_unique_stems_never_collide():
    from pathlib import Path

    paths = [Path(p) for p in ("good.jpg", "good.png", "good-2.jpg", "x/good.tif", "good-3.png")]
    stems = unique_stems(paths)
    assert len(set(stems)) == len(stems)
    assert stems[0] == "good" and stems[2] == "good-2" and stems[4] == "good-3"


def test_outputs_that_would_replace_an_input_are_refused(tmp_path):
    a = _save(tmp_path / "a.png", _noise((8, 8, 3)))
    mine = _save(tmp_path / "a_refined.png", _noise((8, 8, 3), 1))
    before = mine.read_bytes()
    with pytest.raises(ValueError, match="overwrite input"):
        plan_outputs([a, mine], tmp_path, overwrite=True)
    assert mine.read_bytes() == before


@pytest.mark.slow
def test_explain_refuses_to_clobber_and_keeps_user_files(ck, tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _save(tmp_path / "a.png", _noise((30, 30, 3)))
    _save(tmp_path / "a_refined.png", _noise((30, 30, 3), 1))
    before = (tmp_path / "a_refined.png").read_bytes()
    status, _, err = run_cli("explain", "a.png", "a_refined.png", "-o", ".", "--checkpoint", ck)
    assert status == 2 and "overwrite input" in err and "Traceback" not in err
    assert (tmp_path / "a_refined.png").read_bytes() == before
    # A second run into a folder with results needs --overwrite.
    assert run_cli("explain", "a.png", "-o", "o", "--checkpoint", ck, "--no-progress")[0] == 0
    status, _, err = run_cli("explain", "a.png", "-o", "o", "--checkpoint", ck)
    assert status == 2 and "already exist" in err and "--overwrite" in err
    args = ("explain", "a.png", "-o", "o", "--checkpoint", ck, "--overwrite", "--no-progress")
    assert run_cli(*args)[0] == 0


@pytest.mark.slow
def test_colliding_stems_give_distinct_outputs(ck, tmp_path, run_cli):
    files = [
        _save(tmp_path / n, _noise((30, 30, 3), i))
        for i, n in enumerate(("good.jpg", "good.png", "good-2.jpg"))
    ]
    status, _, err = run_cli(
        "explain", *files, "--checkpoint", ck, "-o", tmp_path / "o", "--no-progress"
    )
    assert status == 0, err
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    pngs = [w["refined_png"] for w in report["written"]]
    assert len(set(pngs)) == 3


def test_high_bit_depth_images_are_rescaled_not_clipped(tmp_path):
    from hrcam.data.imageio import decode_image
    from hrcam.explain import load_rgb

    ramp16 = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65520
    twelve = (np.arange(64 * 64).reshape(64, 64)).astype(np.uint16)  # 12-bit in 16: 0..4095
    floats = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    cases = [
        _save(tmp_path / "r16.png", ramp16),
        _save(tmp_path / "r12.png", twelve),
        _save(tmp_path / "f.tif", floats, mode="F"),
    ]
    for path in cases:
        got = np.asarray(load_rgb(path))
        np.testing.assert_array_equal(got, decode_image(path, size=None))
    assert 100 < np.asarray(load_rgb(cases[0])).mean() < 155  # was 254.6 (clipped)
    # 12-bit data in a 16-bit file is scaled by the file's depth, as Pillow scales 16-bit
    # colour (issue #33 item 5): dark, not stretched to full range.
    assert np.asarray(load_rgb(cases[1])).max() == 4095 >> 8
    assert np.asarray(load_rgb(cases[2])).mean() > 100


def test_exif_orientation_is_the_same_in_explain_and_the_builders(tmp_path):
    from hrcam.data.imageio import decode_image
    from hrcam.explain import load_rgb

    img = Image.fromarray(_noise((20, 40, 3)))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    shown = np.asarray(load_rgb(tmp_path / "rot.jpg"))
    assert shown.shape == (40, 20, 3)
    np.testing.assert_array_equal(decode_image(tmp_path / "rot.jpg", size=None), shown)


def test_pixel_cap_is_checked_from_the_header(tmp_path):
    from hrcam.explain import load_rgb

    Image.new("1", (10000, 10000)).save(tmp_path / "big.png")
    with pytest.raises(ValueError, match="too large"):
        load_rgb(tmp_path / "big.png")  # default cap 50 Mpx; nothing decoded


def test_folders_are_expanded_and_reported_clearly(tmp_path):
    from hrcam.explain import expand_inputs, load_rgb

    (tmp_path / "d").mkdir()
    _save(tmp_path / "d" / "b.png", _noise((8, 8, 3)))
    _save(tmp_path / "d" / "a.jpg", _noise((8, 8, 3)))
    (tmp_path / "d" / "notes.txt").write_text("x")
    assert [p.name for p in expand_inputs([tmp_path / "d"])] == ["a.jpg", "b.png"]
    with pytest.raises(ValueError, match="is a folder"):
        load_rgb(tmp_path / "d")


@pytest.mark.parametrize("target", ["file", "file/sub"])
def test_output_path_through_a_file_is_a_clear_error(ck, tmp_path, run_cli, target):
    (tmp_path / "file").write_text("x")
    img = _save(tmp_path / "a.png", _noise((8, 8, 3)))
    status, _, err = run_cli("explain", img, "--checkpoint", ck, "-o", tmp_path / target)
    assert status == 2 and "is a file, not a folder" in err and "Traceback" not in err


def test_unwritable_output_folder_is_a_clear_error(ck, tmp_path, run_cli, monkeypatch):
    import os

    img = _save(tmp_path / "a.png", _noise((8, 8, 3)))
    (tmp_path / "ro").mkdir()
    real = os.access
    # Tests may run as root, which ignores permission bits: deny writing by hand.
    monkeypatch.setattr(os, "access", lambda p, m: False if "ro" in str(p) else real(p, m))
    status, _, err = run_cli("explain", img, "--checkpoint", ck, "-o", tmp_path / "ro")
    assert status == 2 and "not writable" in err


@pytest.mark.parametrize(
    ("device", "message"),
    [("cuda", "CUDA is not available"), ("tpu", "device")],
)
def test_missing_device_is_not_blamed_on_the_file(ck, tmp_path, run_cli, device, message):
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    img = _save(tmp_path / "a.png", _noise((8, 8, 3)))
    status, _, err = run_cli(
        "explain", img, "--checkpoint", ck, "-o", tmp_path / "o", "--device", device
    )
    assert status == 2 and message in err
    assert "damaged" not in err and "truncated" not in err


def test_refused_pickle_never_suggests_weights_only_false(tmp_path):
    import os

    import torch

    from hrcam.models import load_checkpoint

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="refused") as info:
        load_checkpoint(tmp_path / "evil.pt")
    assert "weights_only" not in str(info.value)
    for seed in range(8):  # random bytes: reported as damaged, still without that advice
        junk = tmp_path / f"junk{seed}.pt"
        junk.write_bytes(np.random.default_rng(seed).bytes(1000))
        with pytest.raises(ValueError, match="1000 bytes") as info:
            load_checkpoint(junk)
        assert "weights_only" not in str(info.value)


def test_expansion_checkpoint_records_its_own_input_size(tmp_path):
    import torch

    from hrcam.models import HRCAM, build_classifier, build_expansion, save_checkpoint

    torch.manual_seed(0)
    clf = build_classifier("densenet_compact", num_classes=3)
    model = HRCAM(clf, build_expansion(clf, image_size=32))
    with pytest.raises(ValueError, match="contradicts the expansion"):
        save_checkpoint(tmp_path / "x.pt", model, metadata={"image_size": 96})


def test_very_long_names_get_short_unique_stems(tmp_path):
    long = "x" * 245
    paths = [tmp_path / f"{long}.png", tmp_path / f"{long}.jpg", tmp_path / "a.png"]
    stems = unique_stems(paths)
    assert len(set(stems)) == 3 and stems[2] == "a"
    for stem in stems:
        assert len((stem + "-99_refined.npy").encode()) <= 255
    planned = plan_outputs(paths, tmp_path)  # no "File name too long" from exists()
    assert len(planned) == 3


def test_same_file_twice_is_explained_once(tmp_path, monkeypatch):
    from hrcam.explain import expand_inputs

    monkeypatch.chdir(tmp_path)
    _save(tmp_path / "a.png", _noise((8, 8, 3)))
    assert expand_inputs(["a.png", "./a.png", tmp_path / "a.png", tmp_path]) == [Path("a.png")]


def test_fifo_is_not_mistaken_for_an_empty_image(tmp_path):
    import os

    from hrcam.explain import load_rgb

    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(ValueError, match="not a regular file"):
        load_rgb(tmp_path / "pipe.png")


def test_skip_reasons_name_the_path_once(tmp_path):
    from hrcam.explain import load_rgb

    (tmp_path / "bad.png").write_bytes(b"junk")
    with pytest.raises(ValueError) as info:
        load_rgb(tmp_path / "bad.png")
    assert str(tmp_path) not in str(info.value)  # the CLI prints the path before the reason
