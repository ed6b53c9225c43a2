"""The book in a real browser: headless Chromium opens every page at 1,280 px, offline, and fails
on what a reader would meet (mkdlib.report.browser_check). The book checked is the one the
notebook tests build (the built_book fixture: every notebook executed on the tiny dataset); the
full book in book/_build/html is checked too when it has been built (make book)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mkdlib.report import browser_check as bc

REPO = Path(__file__).resolve().parents[1]


def _need_browser() -> None:
    try:
        bc.find_browser()
    except bc.BrowserUnavailable as e:
        pytest.skip(str(e))


PAGE = """<!DOCTYPE html><html><head><style>{style}</style></head><body>
<article class="bd-article" style="width: 600px"><section><h1>A page</h1>
{table}
<img src="missing.png" alt="x">
<div class="math notranslate nohighlight">\\[x^2\\]</div>
<p>written on {path}</p>
<script>this_function_does_not_exist();</script>
<script src="https://cdn.example.org/lib.js"></script>
</section></article></body></html>"""
WIDE = '<table style="width: 1200px"><tr><td>wide</td></tr></table>'


def test_the_check_sees_what_a_reader_would_see(tmp_path):
    _need_browser()
    (tmp_path / "bad.html").write_text(PAGE.format(style="", table=WIDE, path=bc.REPO))
    problems = [p.what for p in bc.check(tmp_path, forbidden=[str(bc.REPO)])]
    expected = {
        "wide table": "is 1200 px wide in a 600 px column: no scroll container",
        "broken image": "image does not load: missing.png",
        "maths": "maths elements not rendered",
        "path": f"machine path in the page: {bc.REPO}",
        "script error": "this_function_does_not_exist",
        "CDN": "cdn.example.org/lib.js - Failed to load resource",
    }
    for what, text in expected.items():
        assert any(text in p for p in problems), f"the check missed the {what}: {problems}"
    # inside a scroll container with a visible scrollbar and the book's stylesheet, a wide table is fine
    scroll = '<div class="mkd-scroll" style="overflow-x: auto">' + WIDE + "</div>"
    style = ":root { --mkd-book: 1; } .mkd-scroll::-webkit-scrollbar { height: 10px; background: #eee; }"
    (tmp_path / "bad.html").write_text(PAGE.format(style=style, table=scroll, path="here"))
    problems = [p.what for p in bc.check(tmp_path, forbidden=[str(bc.REPO)])]
    assert not any("px wide" in p for p in problems), problems
    (tmp_path / "bad.html").write_text(PAGE.format(style="", table=scroll, path="here"))  # no stylesheet
    assert any("mkd.css) is not applied" in p.what for p in bc.check(tmp_path, forbidden=[]))


@pytest.mark.slow
def test_every_page_of_the_book_passes_in_the_browser(built_book):
    _need_browser()
    t0 = time.perf_counter()
    problems = bc.check(built_book["html"], forbidden=[str(REPO), built_book["data_root"], str(built_book["tmp"])])
    assert not problems, "\n".join(map(str, problems))
    assert len(bc.book_pages(built_book["html"])) >= 13
    print(f"browser check: {len(bc.book_pages(built_book['html']))} pages in {time.perf_counter() - t0:.0f} s")


@pytest.mark.slow
def test_the_full_book_passes_in_the_browser_when_it_is_built():
    html = REPO / "book" / "_build" / "html"
    if not (html / "index.html").is_file():
        pytest.skip("book/_build/html is not built (make book); the tiny book above is checked instead")
    _need_browser()
    problems = bc.check(html)
    assert not problems, "\n".join(map(str, problems))
