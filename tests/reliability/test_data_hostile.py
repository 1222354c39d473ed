"""``hrcam data`` on careless input (issue #15 items 5, 8, 9, 13, 14): reruns with other
sizes, impossible sizes, files in the way, truncated shards, workers that outlive a kill."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hrcam.data.store import StoreDataset, open_store

SYN = (
    "data",
    "synthetic",
    "--image-size",
    "32",
    "--num-classes",
    "3",
    "--workers",
    "0",
    "--no-progress",
)


def _shards(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.glob("*/*.npy"))


def test_rerun_with_other_counts_rebuilds_exactly_what_was_asked(tmp_path, run_cli):
    out = tmp_path / "syn"
    assert (
        run_cli(*SYN, "--out", out, "--num-train", "32", "--num-val", "8", "--shard-size", "16")[0]
        == 0
    )
    status, stdout, err = run_cli(
        *SYN, "--out", out, "--num-train", "20", "--num-val", "0", "--shard-size", "16"
    )
    assert status == 0, err
    assert "wrote 20 images" in stdout and "replacing" in err
    info = open_store(out)
    assert list(info.splits) == ["train"] and info.count("train") == 20
    assert len(StoreDataset(out, "train")) == 20
    # no stale shard left on disk, and the store equals a fresh build of the same settings
    fresh = tmp_path / "fresh"
    run_cli(*SYN, "--out", fresh, "--num-train", "20", "--num-val", "0", "--shard-size", "16")
    assert _shards(out) == _shards(fresh)
    for name in _shards(fresh):
        np.testing.assert_array_equal(np.load(out / name), np.load(fresh / name))


def test_rerun_with_other_settings_names_what_differs(tmp_path, run_cli):
    out = tmp_path / "syn"
    run_cli(*SYN, "--out", out, "--num-train", "8", "--num-val", "0")
    status, _, err = run_cli(
        *SYN, "--out", out, "--num-train", "8", "--num-val", "0", "--seed", "3"
    )
    assert status == 2 and "seed" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--image-size", "100000", "--num-train", "10"), "TiB of disk"),
        (("--num-train", "100000000000"), "TiB of disk"),
        (("--image-size", "20000", "--num-train", "1", "--num-val", "0"), "GiB of memory"),
    ],
)
def test_impossible_sizes_are_refused_up_front(tmp_path, run_cli, extra, message):
    out = tmp_path / "syn"
    start = time.perf_counter()
    status, _, err = run_cli(*SYN, "--out", out, *extra)
    assert status == 2 and message in err and "Traceback" not in err
    assert time.perf_counter() - start < 5  # refused from an estimate, not after the work
    assert not out.exists()  # and no empty folder left behind


def test_out_through_a_file_is_a_clear_error(tmp_path, run_cli):
    (tmp_path / "f").write_text("x")
    for out in (tmp_path / "f", tmp_path / "f" / "sub"):
        status, _, err = run_cli(*SYN, "--out", out, "--num-train", "4")
        assert status == 2 and "is a file, not a folder" in err
    assert (tmp_path / "f").read_text() == "x"


def test_truncated_shard_is_named_and_info_fails(tmp_path, run_cli):
    out = tmp_path / "syn"
    run_cli(*SYN, "--out", out, "--num-train", "8", "--num-val", "0")
    shard = out / "train" / "images-00000.npy"
    with open(shard, "r+b") as fh:
        fh.truncate(shard.stat().st_size // 2)
    status, _, err = run_cli("data", "info", out)
    assert status == 2 and str(shard) in err and "truncated" in err
    with pytest.raises(ValueError, match=r"images-00000\.npy"):
        StoreDataset(out, "train")[0]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(c) for c in path.read_text().split()]
    except (OSError, ValueError):
        return []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_sigkill_of_the_parent_leaves_no_worker_behind(tmp_path):
    from PIL import Image

    root = tmp_path / "ilsvrc"
    rng = np.random.default_rng(0)
    for wnid in ("n01440764", "n01443537"):
        (root / "train" / wnid).mkdir(parents=True)
        for i in range(150):
            pixels = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "train" / wnid / f"{i}.JPEG")
    options = ["--image-size", "64", "--shard-size", "4", "--workers", "2", "--no-progress"]
    cmd = [sys.executable, "-m", "hrcam", "data", "imagenet", "--root", str(root), "--out",
           str(tmp_path / "o"), *options]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, workers = time.monotonic() + 60, []
        while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
            workers = _children(proc.pid)
            time.sleep(0.02)
        if len(workers) < 2:
            pytest.skip("the build finished before its workers could be seen")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers), "workers outlived their killed parent"
    finally:
        if proc.poll() is None:
            proc.kill()
        for w in workers if "workers" in locals() else []:
            with contextlib.suppress(OSError):
                os.kill(w, signal.SIGKILL)  # never leave strays behind a failing test


def test_shard_markers_are_written_atomically_with_fsync(tmp_path, monkeypatch):
    from hrcam.data.store import StoreWriter

    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    w = StoreWriter(tmp_path / "s", image_size=4, classes=["a"], has_masks=False)
    w.write_shard("train", 0, np.zeros((2, 4, 4, 3), np.uint8), np.zeros(2, np.int64))
    assert len(synced) == 3  # images, labels, marker
    assert json.loads(w.marker_path("train", 0).read_text())["count"] == 2
    assert not list((tmp_path / "s").rglob("*.tmp"))


def test_new_files_get_the_umask_mode_not_owner_only(tmp_path, run_cli):
    import stat

    out = tmp_path / "syn"
    old = os.umask(0o022)
    try:
        run_cli(*SYN, "--out", out, "--num-train", "4", "--num-val", "0")
    finally:
        os.umask(old)
    for path in (out / "meta.json", out / "train" / "images-00000.npy"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
