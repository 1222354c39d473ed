"""hrcam.offline.remote_resources finds what a built site would fetch from the network."""

from __future__ import annotations

from hrcam.offline import remote_resources


def test_loaded_remote_resources_are_listed_and_links_are_not(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "page.html").write_text(
        """<html><head>
        <script src="https://cdn.example.org/mathjax/tex-chtml.js"></script>
        <script src="_static/local.js"></script>
        <link rel="stylesheet" href="//fonts.example.org/css?family=Lato">
        <link rel="preload" as="font" href="_static/font.woff2">
        <link rel="next" title="Next" href="https://example.org/next.html">
        <style>@import "https://example.org/theme.css"; p { color: red }</style>
        </head><body>
        <a href="https://github.com/owner/repo">repository</a>
        <img src="_images/fig.png" srcset="_images/a.png 1x, http://example.org/b.png 2x">
        <div style="background: url('https://example.org/bg.png')"></div>
        <iframe src="https://www.youtube.com/embed/x"></iframe>
        </body></html>"""
    )
    (tmp_path / "theme.css").write_text(
        "@font-face { src: url(https://example.org/font.woff2) format('woff2'); }\n"
        ".a { background: url(data:image/png;base64,AAAA) }\n"
        ".b { background: url(_static/x.png) }\n"
    )
    (tmp_path / "clean.html").write_text('<script src="_static/mathjax/tex-chtml.js"></script>')

    assert remote_resources(tmp_path) == {
        "sub/page.html": sorted(
            [
                "https://cdn.example.org/mathjax/tex-chtml.js",
                "//fonts.example.org/css?family=Lato",
                "https://example.org/theme.css",
                "http://example.org/b.png",
                "https://example.org/bg.png",
                "https://www.youtube.com/embed/x",
            ]
        ),
        "theme.css": ["https://example.org/font.woff2"],
    }


def test_an_offline_site_has_none(tmp_path):
    (tmp_path / "index.html").write_text('<a href="https://example.org">x</a>')
    assert remote_resources(tmp_path) == {}


def test_svg_references_base_href_tight_imports_and_upper_case_suffixes(tmp_path):
    # Issue #33 item 8: each of these loads from the network and was missed.
    (tmp_path / "a.html").write_text(
        """<html><head><base href="https://example.org/docs/"></head><body>
        <svg><image href="https://example.org/svg-image.png"/>
        <use xlink:href="https://example.org/sprites.svg#icon"/></svg>
        <style>@import"https://example.org/tight.css";</style>
        </body></html>"""
    )
    (tmp_path / "PAGE.HTML").write_text('<script src="https://example.org/upper.js"></script>')
    (tmp_path / "THEME.CSS").write_text('@import "https://example.org/upper.css";')
    assert remote_resources(tmp_path) == {
        "a.html": sorted(
            [
                "https://example.org/docs/",
                "https://example.org/svg-image.png",
                "https://example.org/sprites.svg#icon",
                "https://example.org/tight.css",
            ]
        ),
        "PAGE.HTML": ["https://example.org/upper.js"],
        "THEME.CSS": ["https://example.org/upper.css"],
    }
