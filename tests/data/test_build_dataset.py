"""hrcam.data.build_dataset: the one entry point of the CLI and notebook 01."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hrcam.cli import main
from hrcam.data import DATASETS, build_dataset, generate_synthetic
from hrcam.errors import HrcamError


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_synthetic_is_the_generator_store(tmp_path):
    # The same call as the notebook's, byte for byte the store generate_synthetic writes.
    kwargs = {"image_size": 32, "seed": 5, "num_classes": 3, "num_train": 9, "num_val": 3}
    report = build_dataset("synthetic", tmp_path / "a", root=None, progress=False, **kwargs)
    generate_synthetic(tmp_path / "b", num_workers=0, **kwargs)
    assert report.counts == {"train": 9, "val": 3} and not report.errors
    assert report.info.num_classes == 3
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_none_means_the_builders_default(tmp_path):
    report = build_dataset(
        "synthetic", tmp_path, num_train=4, num_val=0, image_size=32, seed=None, num_classes=None
    )
    assert report.info.num_classes == 8  # generate_synthetic's default


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("mnist", {}, "unknown dataset 'mnist'; choose from synthetic, cutouts, imagenet"),
        ("imagenet", {}, "needs the local ILSVRC-2012 folder"),
        ("pets", {"root": "x", "num_train": 10}, "num_train only apply to a generated"),
        ("imagenet", {"root": "x", "num_classes": 8}, "has 398 classes, not num_classes=8"),
        ("synthetic", {"root": "x"}, "is generated: it reads no root"),
        ("synthetic", {"devkit": "x"}, "takes no option devkit; it takes: num_train"),
    ],
)
def test_bad_requests_fail_before_writing(tmp_path, name, kwargs, message):
    with pytest.raises(HrcamError, match=message):
        build_dataset(name, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_every_dataset_has_a_cli_subcommand(capsys):
    for name in DATASETS:
        with pytest.raises(SystemExit):
            main(["data", name, "--help"])
        assert f"usage: hrcam data {name}" in capsys.readouterr().out


def test_listing_the_datasets_imports_no_torch():
    code = (
        "import sys; from hrcam.data import DATASETS; list(DATASETS); "
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
