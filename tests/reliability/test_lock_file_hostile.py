"""The lock file is never written through a symlink, and taking it never spins (issue #33
item 1): a planted symlink, dangling symlink or FIFO as ``.hrcam.lock`` is refused with one
line, and the file it points at is untouched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hrcam.errors import HrcamError
from hrcam.locking import LOCK_NAME, folder_lock

REPO = Path(__file__).resolve().parents[2]


def test_a_symlink_as_lock_file_is_refused_and_its_target_kept(tmp_path):
    important = tmp_path / "important.txt"
    important.write_text("years of notes\n")
    (tmp_path / "G").mkdir()
    (tmp_path / "G" / LOCK_NAME).symlink_to(important)
    with pytest.raises(HrcamError, match="symbolic link") as info:
        with folder_lock(tmp_path / "G", "-o"):
            pass
    assert str(tmp_path / "G") in str(info.value) and "\n" not in str(info.value)
    assert important.read_text() == "years of notes\n"
    assert (tmp_path / "G" / LOCK_NAME).is_symlink()  # left for the user to look at


def test_explain_with_a_symlinked_lock_file_keeps_the_target(ck, tmp_path, run_cli):
    from PIL import Image

    Image.new("RGB", (40, 40)).save(tmp_path / "a.png")
    important = tmp_path / "important.txt"
    important.write_text("keep me\n")
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / LOCK_NAME).symlink_to(important)
    status, _, err = run_cli("explain", tmp_path / "a.png", "--checkpoint", ck, "-o",
                             tmp_path / "o", "--no-progress")  # fmt: skip
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert "symbolic link" in err and "Traceback" not in err
    assert important.read_text() == "keep me\n"


def test_a_dangling_symlink_as_lock_file_is_refused_at_once(tmp_path):
    # Before: O_CREAT followed the link into a missing folder, FileNotFoundError was retried
    # without limit, and the process spun forever. A child process, so a hang fails the test.
    (tmp_path / "D").mkdir()
    (tmp_path / "D" / LOCK_NAME).symlink_to(tmp_path / "nowhere" / "x")
    code = "import sys\nfrom hrcam.locking import folder_lock\nwith folder_lock(sys.argv[1]): pass"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "D")], env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("taking a lock whose file is a dangling symlink did not return")
    assert done.returncode != 0 and "symbolic link" in done.stderr
    assert not (tmp_path / "nowhere").exists()


def test_a_fifo_as_lock_file_is_refused(tmp_path):
    (tmp_path / "F").mkdir()
    os.mkfifo(tmp_path / "F" / LOCK_NAME)
    with pytest.raises(HrcamError, match="not a regular file"):
        with folder_lock(tmp_path / "F"):
            pass
