"""The README says what the Makefile does: every photo package it installs, how to skip them."""

from __future__ import annotations

import re
from pathlib import Path

from hrcam.book import chapters

ROOT = Path(__file__).resolve().parents[1]


def test_readme_names_every_photo_package_the_makefile_installs():
    makefile = (ROOT / "Makefile").read_text()
    packages = re.search(r"^PHOTO_PACKAGES\s*:?=\s*(.+)$", makefile, re.MULTILINE).group(1).split()
    assert "gcompris-qt-data" in packages
    readme = (ROOT / "README.md").read_text()
    missing = [p for p in packages if f"`{p}`" not in readme]
    assert not missing, f"README does not name {missing}"


def test_readme_says_how_to_skip_each_optional_chapter():
    readme = " ".join((ROOT / "README.md").read_text().split())
    for flag in chapters.OPTIONAL_CHAPTERS.values():
        assert f"-p {flag} false" in readme, flag
