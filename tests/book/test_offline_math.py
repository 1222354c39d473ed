"""The book's math is typeset with no network: MathJax comes from the set-up, not a CDN.

A small book (the repository's configuration, table of contents and prose pages; one-line
stand-ins for the executed notebooks) is built with ``hrcam.book.build_book`` (``-W``), and
headless Chromium, with every host name unresolvable, renders the method page.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from hrcam.book import build_book, chapters
from hrcam.offline import remote_resources

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.book]


@pytest.fixture(scope="module")
def prose_book(tmp_path_factory) -> Path:
    book = tmp_path_factory.mktemp("prose_book") / "book"
    shutil.copytree(REPO / "book", book, ignore=shutil.ignore_patterns("_build", "notebooks"))
    (book / "notebooks").mkdir()
    for name in chapters.NOTEBOOKS:  # the method page links to them; -W needs them to exist
        (book / "notebooks" / f"{name}.md").write_text(f"# {name}\n\nNot executed here.\n")
    build_book(book)
    return book / "_build" / "html"


def test_method_page_math_is_typeset_offline(prose_book, dump_dom, assert_math_typeset):
    source = (REPO / "book" / "method.md").read_text()
    assert re.search(r"(?<!\$)\$[^$\n]+\$(?!\$)", source) and "$$" in source  # inline + display
    html = (prose_book / "method.html").read_text()
    assert r"\(" in html and r"\[" in html  # Sphinx writes the TeX for MathJax to typeset
    assert_math_typeset(dump_dom(prose_book / "method.html"), inline=5, display=1)


def test_mathjax_is_served_from_the_book_itself(prose_book):
    html = (prose_book / "method.html").read_text()
    scripts = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', html, flags=re.I)
    assert scripts == ["_static/mathjax/tex-chtml.js"]
    assert (prose_book / "_static" / "mathjax" / "tex-chtml.js").stat().st_size > 100_000
    # The CommonHTML output's web fonts come with it (MathJax would fetch them on first use).
    assert list((prose_book / "_static" / "mathjax").rglob("MathJax_Main-Regular.woff"))


def test_prose_pages_load_nothing_from_the_network(prose_book):
    assert remote_resources(prose_book) == {}
