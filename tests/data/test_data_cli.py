"""`hrcam data ...` end to end through hrcam.cli.main."""

from __future__ import annotations

import pytest

from hrcam.cli import main
from hrcam.data.store import StoreDataset


@pytest.mark.parametrize("sub", ["synthetic", "imagenet", "pets", "imagenette", "info"])
def test_every_subcommand_has_help(sub, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["data", sub, "--help"])
    assert exit_.value.code == 0
    assert "usage: hrcam data " + sub in capsys.readouterr().out


def test_synthetic_then_info(tmp_path, capsys):
    out = tmp_path / "syn"
    rc = main(
        [
            "data",
            "synthetic",
            "--out",
            str(out),
            "--num-train",
            "40",
            "--num-val",
            "16",
            "--image-size",
            "48",
            "--num-classes",
            "4",
            "--workers",
            "0",
            "--no-progress",
        ]
    )
    assert rc == 0
    assert "wrote 56 images (4 classes)" in capsys.readouterr().out
    ds = StoreDataset(out, "val")
    assert len(ds) == 16 and ds.image_size == 48 and len(ds.classes) == 4
    assert main(["data", "info", str(out)]) == 0
    assert "train: 40 images" in capsys.readouterr().out


def test_imagenet_with_bad_files_reports_and_succeeds(tmp_path, data_helpers, capsys):
    root = tmp_path / "ilsvrc"
    data_helpers.write_jpeg(root / "train" / "n01440764" / "a.JPEG")
    data_helpers.write_bad_files(root / "train" / "n01443537")
    rc = main(
        [
            "data",
            "imagenet",
            "--root",
            str(root),
            "--out",
            str(tmp_path / "o"),
            "--image-size",
            "16",
            "--workers",
            "0",
            "--no-progress",
        ]
    )
    out = capsys.readouterr()
    assert rc == 0
    assert f"unreadable files skipped: {len(data_helpers.UNREADABLE)}" in out.out
    assert "split 'val' skipped" in out.out


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "imagenet", "--root", "{tmp}/missing", "--out", "{tmp}/o"],
        ["data", "pets", "--root", "{tmp}", "--out", "{tmp}/o"],
        ["data", "imagenette", "--root", "{tmp}", "--out", "{tmp}/o"],
        ["data", "info", "{tmp}"],
        ["data", "synthetic", "--out", "{tmp}/o", "--num-classes", "40"],
    ],
)
def test_user_errors_exit_2_with_message(tmp_path, capsys, argv):
    rc = main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("hrcam: error:") and "Traceback" not in err


def test_argument_validation(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["data", "synthetic", "--out", "x", "--num-train", "-3"])
    assert exit_.value.code == 2
    assert "expected an integer >= 0" in capsys.readouterr().err


def test_synthetic_variants_are_choices(tmp_path, capsys):
    from hrcam.data.synthetic import VARIANTS

    with pytest.raises(SystemExit):
        main(["data", "synthetic", "--help"])
    help_text = capsys.readouterr().out
    assert len(VARIANTS) >= 4
    for name in VARIANTS:
        assert name in help_text
    argv = ["data", "synthetic", "--out", str(tmp_path / "t"), "--num-train", "8", "--num-val",
            "4", "--image-size", "48", "--workers", "0", "--no-progress"]  # fmt: skip
    assert main([*argv, "--variant", "thin_parts"]) == 0
    assert "variant thin_parts" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--variant", "stripy"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
