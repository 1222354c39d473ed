"""``hrcam book`` builds the checkout it is run in, not the one the package was installed from.

A copy of this checkout (its tracked and untracked-but-not-ignored files, as a second
``git clone`` would hold them plus the uncommitted work) is built with the *installed*
``hrcam`` console script, whose package lives in this checkout. The copy's book and run folder
must be written; this checkout's must be left alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.book, pytest.mark.slow]


def _checkout_files(repo: Path) -> list[str]:
    if shutil.which("git") is None or not (repo / ".git").exists():
        pytest.skip("needs a git checkout to know which files a clone holds")
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=repo,
        check=True,
        capture_output=True,
    ).stdout
    return [f for f in out.decode().split("\0") if f and (repo / f).exists()]


def _copy_checkout(repo: Path, dest: Path) -> None:
    for rel in _checkout_files(repo):
        src, dst = repo / rel, dest / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():  # _toc.yml and _config.yml are linked into book/
            dst.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, dst)


def _stamp(path: Path) -> float | None:
    return path.stat().st_mtime if path.exists() else None


def test_hrcam_book_builds_the_checkout_it_runs_in(tmp_path, shared_cutout_sources):
    script = Path(sys.executable).with_name("hrcam")
    if not script.exists():
        pytest.skip("the hrcam console script is not installed beside this python")
    clone = tmp_path / "second-clone"
    _copy_checkout(REPO, clone)
    ours = [REPO / "runs" / "smoke", REPO / "book" / "_build", REPO / "book" / "notebooks"]
    before = [_stamp(p) for p in ours]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # The photo chapters read the conftest's fixture stamps and the installed photos only, as
    # the smoke-book test does: this test must pass whether or not `make photos` ran first
    # (issue #33 item 9: `make test` before `make book` on a fresh machine).
    stamps, backgrounds = shared_cutout_sources
    sources = ["-p", "cutout_stamps", str(stamps), "-p", "cutout_backgrounds", str(backgrounds),
               "-p", "photo_installed_only", "true"]  # fmt: skip
    # From a sub-folder: the checkout is the one *holding* the current folder.
    proc = subprocess.run(
        [str(script), "book", "--profile", "smoke", "--no-progress", *sources],
        cwd=clone / "notebooks",
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # The package that ran is this checkout's (or an installed copy), never the clone's.
    where = subprocess.run(
        [sys.executable, "-c", "import hrcam; print(hrcam.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert not Path(where).resolve().is_relative_to(clone.resolve())
    html = clone / "book" / "_build" / "html"
    assert (html / "index.html").is_file()
    assert (html / "notebooks" / "01_dataset.html").is_file()
    assert any((clone / "runs" / "smoke").iterdir())
    assert [_stamp(p) for p in ours] == before, "the book build wrote into the package's checkout"
