"""`make test` and `make book` each work on a fresh machine, in either order (issue #33 item 9).

Both need the Debian photo packages (the book's real-photo chapters, and the tests that read
the real photos); so both targets install them through ``photos``. Checked with ``make -n``
(a dry run: nothing is installed or run) where make exists, else from the Makefile's text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _prerequisites(target: str) -> set[str]:
    text = (REPO / "Makefile").read_text()
    match = re.search(rf"^{target}:([^\n=]*)$", text, re.MULTILINE)
    assert match, f"no {target} target in the Makefile"
    return set(match.group(1).split())


@pytest.mark.parametrize("target", ["test", "book"])
def test_both_readme_commands_install_the_photo_packages(target):
    assert {"setup", "photos"} <= _prerequisites(target)


@pytest.mark.parametrize("target", ["test", "book"])
def test_the_dry_run_checks_the_photo_packages(target, tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / ".installed").touch()  # newer than pyproject.toml: setup has nothing to do
    dry = subprocess.run(
        ["make", "-n", "-C", str(REPO), target, f"VENV={venv}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "dpkg -s $p" in dry and "tuxpaint-stamps-default" in dry and "gcompris-qt-data" in dry
