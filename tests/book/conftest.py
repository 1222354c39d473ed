"""Headless Chromium for the book tests: a page's DOM after its scripts ran, offline."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI for the browser tests (make browser)")
        pytest.skip("chromium is not installed (apt-get install chromium); browser test skipped")
    return exe


@pytest.fixture
def dump_dom(tmp_path):
    """``dump_dom(page) -> str``: the DOM after its scripts ran, with no network at all."""

    def dump(page: Path) -> str:
        cmd = [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            # Every host fails to resolve: a CDN script cannot load, as with no network.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        assert "<html" in proc.stdout, f"chromium dumped no DOM of {page}: {proc.stderr[-2000:]}"
        return proc.stdout

    return dump


class _VisibleText(HTMLParser):
    """Text a reader sees: everything outside <script>, <style> and MathJax's hidden MathML."""

    _HIDDEN = frozenset({"script", "style", "mjx-assistive-mml", "template", "noscript"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        self._hidden += tag in self._HIDDEN

    def handle_endtag(self, tag):
        self._hidden -= tag in self._HIDDEN and self._hidden > 0

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def visible_text(dom: str) -> str:
    """The text of a DOM that a reader sees (see :class:`_VisibleText`)."""
    parser = _VisibleText()
    parser.feed(dom)
    return "".join(parser.parts)


@pytest.fixture
def assert_math_typeset():
    """``check(dom, inline=N, display=M)``: MathJax typeset the math, no raw TeX is left."""
    import re

    def check(dom: str, *, inline: int, display: int) -> None:
        containers = re.findall(r"<mjx-container\b[^>]*>", dom)
        shown = [c for c in containers if 'display="true"' in c]
        assert len(shown) >= display, f"{len(shown)} display equations typeset, want {display}"
        assert len(containers) - len(shown) >= inline, "inline math was not typeset"
        text = visible_text(dom)
        for raw in (r"\(", r"\)", r"\[", r"\]", "$$"):
            assert raw not in text, f"raw TeX {raw!r} left on the page"

    return check
