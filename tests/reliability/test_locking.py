"""Run and output folders are locked (issue #23 item 4): a second process on the same folder
stops at once with one line naming the folder and the holder's PID, and a dead holder's lock
is taken over. Every test uses two real processes: a holder child and this one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hrcam.locking import LOCK_NAME, FolderLockedError, folder_lock

REPO = Path(__file__).resolve().parents[2]

_HOLD = """
import sys
from hrcam.locking import folder_lock
with folder_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes stdin or kills this process
"""


@pytest.fixture
def holder():
    """``holder(folder) -> Popen``: a second process that holds ``folder``'s lock."""
    procs = []

    def start(folder: Path) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(
            [sys.executable, "-c", _HOLD, str(folder)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        procs.append(proc)
        line = proc.stdout.readline()
        assert line == b"held\n", proc.stderr.read().decode()
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _assert_refused(status, err, folder, proc):
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert str(folder) in lines[0] and f"PID {proc.pid}" in lines[0]


def test_second_process_is_refused_naming_folder_and_pid(tmp_path, holder):
    proc = holder(tmp_path / "run")
    with pytest.raises(FolderLockedError, match=rf"in use .*PID {proc.pid}") as info:
        with folder_lock(tmp_path / "run", "--run-dir"):
            pass
    assert str(tmp_path / "run") in str(info.value)
    proc.stdin.close()  # the holder leaves its block: the lock file goes and the lock is free
    proc.wait(timeout=30)
    assert not (tmp_path / "run" / LOCK_NAME).exists()
    with folder_lock(tmp_path / "run"):
        pass


def test_lock_of_a_killed_holder_is_taken_over(tmp_path, holder):
    proc = holder(tmp_path / "run")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert (tmp_path / "run" / LOCK_NAME).exists()  # left behind, but no longer locked
    with folder_lock(tmp_path / "run") as lock:
        assert lock.read_text().strip() == str(os.getpid())
    assert list((tmp_path / "run").iterdir()) == []  # the stale file is gone with the lock


def test_explain_into_a_locked_folder_is_refused(ck, tmp_path, holder, run_cli):
    from PIL import Image

    Image.new("RGB", (40, 40)).save(tmp_path / "a.png")
    proc = holder(tmp_path / "o")
    status, _, err = run_cli("explain", tmp_path / "a.png", "--checkpoint", ck, "-o",
                             tmp_path / "o", "--no-progress")  # fmt: skip
    _assert_refused(status, err, tmp_path / "o", proc)
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [LOCK_NAME]


def test_evaluate_into_a_locked_folder_is_refused(tiny_run, tmp_path, holder, run_cli):
    ckpt, store = tiny_run
    proc = holder(tmp_path / "e")
    status, _, err = run_cli("evaluate", "--checkpoint", ckpt, "--data", store, "-o",
                             tmp_path / "e", "--no-progress")  # fmt: skip
    _assert_refused(status, err, tmp_path / "e", proc)
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == [LOCK_NAME]


def test_train_in_a_locked_run_dir_is_refused(tiny_run, tmp_path, holder, run_cli):
    _, store = tiny_run
    proc = holder(tmp_path / "r")
    (tmp_path / "r" / "last.pt").write_bytes(b"the first run's")  # --no-resume must keep it
    status, _, err = run_cli(
        "train", "classifier", "--data", store, "--run-dir", tmp_path / "r", "--epochs", "1",
        "--device", "cpu", "--no-resume", "--no-progress",
    )  # fmt: skip
    _assert_refused(status, err, tmp_path / "r", proc)
    assert (tmp_path / "r" / "last.pt").read_bytes() == b"the first run's"


def test_data_build_into_a_locked_store_is_refused(tmp_path, holder, run_cli):
    proc = holder(tmp_path / "s")
    status, _, err = run_cli("data", "synthetic", "--out", tmp_path / "s", "--num-train", "2",
                             "--num-val", "2", "--image-size", "32", "--no-progress")  # fmt: skip
    _assert_refused(status, err, tmp_path / "s", proc)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [LOCK_NAME]


def test_book_on_a_locked_run_dir_is_refused(tmp_path, holder, run_cli):
    pytest.importorskip("papermill")
    proc = holder(tmp_path / "run")
    status, _, err = run_cli("book", "--profile", "smoke", "--run-dir", tmp_path / "run",
                             "--root", REPO, "--no-build", "--no-progress")  # fmt: skip
    _assert_refused(status, err, tmp_path / "run", proc)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [LOCK_NAME]
