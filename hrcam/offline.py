"""Which resources a built HTML site would load from the network.

The book must read the same with no network (a locally built book opened from disk):
:func:`remote_resources` lists every script, style sheet, font, image or frame that a page or
a style sheet of ``html_dir`` loads from an ``http(s)://`` or protocol-relative ``//`` address
(SVG ``<image>``/``<use>`` references and a remote ``<base href>`` included; file suffixes in
any case).
Links a reader clicks (``<a href>``, ``<link rel="next">``) are not loaded, so they are not
listed. :func:`hrcam.book.build_book` refuses a build that has any.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

__all__ = ["remote_resources"]

_REMOTE = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
# <link rel=...> values that only name another page (navigation), not something loaded.
_NAVIGATION_RELS = {"index", "search", "next", "prev", "canonical", "alternate", "author",
                    "license", "help", "top", "up", "first", "last", "copyright"}  # fmt: skip
# Attributes whose address the browser fetches when the page loads, per element.
_LOADED = {
    "script": ("src",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "input": ("src",),
    # SVG (inline in a page): images, filters' images and <use> of another document.
    "image": ("href", "xlink:href", "src"),
    "feimage": ("href", "xlink:href"),
    "use": ("href", "xlink:href"),
    # A remote <base href> turns every relative address of the page into a remote one.
    "base": ("href",),
}
# url(...) and @import "..." in style sheets and <style> blocks.
# (``@import"x.css"`` needs no space: CSS allows it.)
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s*['"]([^'"]+)""", re.IGNORECASE)
# Which files are read (pages and style sheets), by their suffix in lower case.
_PAGES, _STYLE = (".html", ".htm"), ".css"


def _css_remote(text: str) -> list[str]:
    found = (a or b for a, b in _CSS_URL.findall(text))
    return [url for url in found if _REMOTE.match(url)]


def _addresses(attr: str, value: str) -> list[str]:
    if attr == "srcset":  # "a.png 1x, b.png 2x"
        return [part.split()[0] for part in value.split(",") if part.split()]
    return [value]


class _LoadedResources(HTMLParser):
    """Collects the remote addresses a page loads (tags, ``style`` attributes and blocks)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.remote: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        names = _LOADED.get(tag, ())
        if tag == "link":
            rels = set(values.get("rel", "").lower().split())
            names = () if rels and rels <= _NAVIGATION_RELS else ("href",)
        for name in names:
            if name in values:
                self.remote += [u for u in _addresses(name, values[name]) if _REMOTE.match(u)]
        if "style" in values:
            self.remote += _css_remote(values["style"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.remote += _css_remote(data)


def remote_resources(html_dir: str | Path) -> dict[str, list[str]]:
    """Remote addresses that the pages and style sheets of a built site load.

    Parameters
    ----------
    html_dir
        A built HTML folder, e.g. ``book/_build/html``.

    Returns
    -------
    dict
        ``{relative file path: [address, ...]}`` for every ``.html`` or ``.css`` file that
        loads something from the network; empty when the site works offline.
    """
    root = Path(html_dir)
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        suffix = path.suffix.lower()  # page.HTML and style.CSS load just the same
        if suffix not in (*_PAGES, _STYLE) or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if suffix == _STYLE:
            remote = _css_remote(text)
        else:
            parser = _LoadedResources()
            parser.feed(text)
            parser.close()
            remote = parser.remote
        if remote:
            found[str(path.relative_to(root))] = sorted(set(remote))
    return found
