"""Headless Chromium for the book tests: a page's DOM after its scripts ran, offline."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

# The flags of every headless Chromium run of the tests: no GPU, QUIC, first-run or background
# traffic; each caller adds its profile folder and what it wants (a DOM, a screenshot).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def _chromium(kind: str) -> str:
    """The Chromium executable; without one the ``kind`` of test is skipped (failed in CI)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail(f"chromium is required in CI for the {kind}s (make browser)")
        pytest.skip(f"chromium is not installed (apt-get install chromium); {kind} skipped")
    return exe


@pytest.fixture
def chromium():
    """``chromium(profile, *flags, kind=...) -> argv``: headless Chromium with its flags."""

    def command(profile: Path, *flags: str, kind: str = "browser test") -> list[str]:
        return [_chromium(kind), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *flags]

    return command


@pytest.fixture
def dump_dom(tmp_path, chromium):
    """``dump_dom(page) -> str``: the DOM after its scripts ran, with no network at all."""

    def dump(page: Path) -> str:
        cmd = chromium(
            tmp_path / "chromium-profile",
            # Every host fails to resolve: a CDN script cannot load, as with no network.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        )
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        assert "<html" in proc.stdout, f"chromium dumped no DOM of {page}: {proc.stderr[-2000:]}"
        return proc.stdout

    return dump


class _VisibleText(HTMLParser):
    """Text a reader sees: everything outside <script>, <style> and MathJax's hidden MathML."""

    _HIDDEN = frozenset({"script", "style", "mjx-assistive-mml", "template", "noscript"})

    def __init__(self, skip_class: str | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0
        # Depth of <div>s inside a skipped <div class="skip_class"> (0: not inside one).
        self._skip_class, self._skipped_divs = skip_class, 0

    def handle_starttag(self, tag, attrs):
        self._hidden += tag in self._HIDDEN
        if tag == "div" and self._skip_class is not None:
            classes = (dict(attrs).get("class") or "").split()
            if self._skipped_divs or self._skip_class in classes:
                self._skipped_divs += 1

    def handle_endtag(self, tag):
        self._hidden -= tag in self._HIDDEN and self._hidden > 0
        if tag == "div" and self._skipped_divs:
            self._skipped_divs -= 1

    def handle_data(self, data):
        if not self._hidden and not self._skipped_divs:
            self.parts.append(data)


def visible_text(dom: str, skip_class: str | None = None) -> str:
    """The text of a DOM that a reader sees (see :class:`_VisibleText`).

    ``skip_class`` leaves out every ``<div>`` of that class, e.g. ``"cell_input"``: the code
    of a notebook's cells, where Markdown or a path in a string is code, not a defect.
    """
    parser = _VisibleText(skip_class)
    parser.feed(dom)
    return "".join(parser.parts)


@pytest.fixture
def assert_math_typeset():
    """``check(dom, inline=N, display=M)``: MathJax typeset the math, no raw TeX is left."""

    def check(dom: str, *, inline: int, display: int) -> None:
        containers = re.findall(r"<mjx-container\b[^>]*>", dom)
        shown = [c for c in containers if 'display="true"' in c]
        assert len(shown) >= display, f"{len(shown)} display equations typeset, want {display}"
        assert len(containers) - len(shown) >= inline, "inline math was not typeset"
        text = visible_text(dom)
        for raw in (r"\(", r"\)", r"\[", r"\]", "$$"):
            assert raw not in text, f"raw TeX {raw!r} left on the page"

    return check


# What a reader must never meet on a page (issue "The book reads right"), as visible text.
_TABLE_SYNTAX = re.compile(r"^\s*\|(?:[^|\n]*\|){2,}\s*$|\|\s*[-–—:]{1,3}\s*\|", re.MULTILINE)
# An option whose "--" typography turned into an en- or em-dash: "–classifier", "—data".
_MANGLED_OPTION = re.compile(r"(?:^|(?<=[\s(]))[–—]{1,2}[A-Za-z][\w-]*", re.MULTILINE)
_REPRS = ("PosixPath(", "WindowsPath(", "{'", " object at 0x")
# "0.290 [0.290, 0.290]": a bootstrap interval of one image has zero width. At 0, 1 or 100 %
# (a bounded score, e.g. every image hit) many images can agree exactly: not flagged.
_ZERO_WIDTH = re.compile(r"(?<![\d.])([+-]?\d+\.\d+)\s*\[\s*\1\s*,\s*\1\s*\]")
_BOUNDS = (0.0, 1.0, -1.0, 100.0, -100.0)


def reading_defects(text: str, machine_paths=()) -> list[str]:
    """The defects of a page's visible text, each as ``"kind: excerpt"`` (empty: reads right).

    Raw Markdown table syntax, a dash-mangled command-line option, a Python repr, one of
    ``machine_paths`` (folders of the machine that built the book), an interval of zero width
    (what a bootstrap over a single image prints).
    """
    found = [f"table syntax: {m.group(0).strip()[:80]}" for m in _TABLE_SYNTAX.finditer(text)]
    found += [f"mangled option: {m.group(0)}" for m in _MANGLED_OPTION.finditer(text)]
    for needle in _REPRS:
        at = text.find(needle)
        if at >= 0:
            found.append(f"python repr: {text[max(0, at - 30) : at + 50]!r}")
    for path in machine_paths:
        at = text.find(str(path))
        if at >= 0:
            found.append(f"machine path {path}: {text[max(0, at - 30) : at + 80]!r}")
    found += [
        f"interval from one image: {m.group(0)}"
        for m in _ZERO_WIDTH.finditer(text)
        if float(m.group(1)) not in _BOUNDS
    ]
    return found


@pytest.fixture
def page_defects():
    """``page_defects(text, machine_paths)``: see :func:`reading_defects`."""
    return reading_defects


@pytest.fixture
def page_text():
    """``page_text(dom, skip_class=None)``: see :func:`visible_text`."""
    return visible_text
