"""The book's math is typeset with no network: MathJax comes from the set-up, not a CDN.

A small book (the repository's configuration, table of contents and prose pages; one-line
stand-ins for the executed notebooks) is built with ``hrcam.book.build_book`` (``-W``), and
headless Chromium, with every host name unresolvable, renders the method page.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hrcam import profiles
from hrcam.book import build_book
from hrcam.offline import remote_resources

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.book]


@pytest.fixture(scope="module")
def prose_book(tmp_path_factory) -> Path:
    book = tmp_path_factory.mktemp("prose_book") / "book"
    shutil.copytree(REPO / "book", book, ignore=shutil.ignore_patterns("_build", "notebooks"))
    (book / "notebooks").mkdir()
    for name in profiles.NOTEBOOKS:  # the method page links to them; -W needs them to exist
        (book / "notebooks" / f"{name}.md").write_text(f"# {name}\n\nNot executed here.\n")
    build_book(book)
    return book / "_build" / "html"


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI for the browser tests (make browser)")
        pytest.skip("chromium is not installed (apt-get install chromium); browser test skipped")
    return exe


def _dump_dom(page: Path, profile: Path) -> str:
    """The page's DOM after its scripts ran, in Chromium with no name resolution (offline)."""
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
        f"--user-data-dir={profile}",
        # Every host fails to resolve: a CDN script cannot load, as on a machine with no network.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=10000",
        "--dump-dom",
        page.as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert "<html" in proc.stdout, f"chromium dumped no DOM of {page}: {proc.stderr[-2000:]}"
    return proc.stdout


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


def _visible_text(dom: str) -> str:
    parser = _VisibleText()
    parser.feed(dom)
    return "".join(parser.parts)


def test_method_page_math_is_typeset_offline(prose_book, tmp_path):
    source = (REPO / "book" / "method.md").read_text()
    assert re.search(r"(?<!\$)\$[^$\n]+\$(?!\$)", source) and "$$" in source  # inline + display
    html = (prose_book / "method.html").read_text()
    assert r"\(" in html and r"\[" in html  # Sphinx writes the TeX for MathJax to typeset

    dom = _dump_dom(prose_book / "method.html", tmp_path / "profile")
    containers = re.findall(r"<mjx-container\b[^>]*>", dom)
    display = [c for c in containers if 'display="true"' in c]
    assert len(display) >= 1, "no display equation was typeset"
    assert len(containers) - len(display) >= 5, "inline math was not typeset"
    text = _visible_text(dom)
    for raw in (r"\(", r"\)", r"\[", r"\]", "$$"):
        assert raw not in text, f"raw TeX {raw!r} left on the page"


def test_mathjax_is_served_from_the_book_itself(prose_book):
    html = (prose_book / "method.html").read_text()
    scripts = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', html, flags=re.I)
    assert scripts == ["_static/mathjax/tex-chtml.js"]
    assert (prose_book / "_static" / "mathjax" / "tex-chtml.js").stat().st_size > 100_000
    # The CommonHTML output's web fonts come with it (MathJax would fetch them on first use).
    assert list((prose_book / "_static" / "mathjax").rglob("MathJax_Main-Regular.woff"))


def test_prose_pages_load_nothing_from_the_network(prose_book):
    assert remote_resources(prose_book) == {}
