"""Open every page of the built book in headless Chromium, as a reader at 1,280 px would, and list
what is wrong with it.

    python -m mkdlib.report.browser_check                    # book/_build/html
    python -m mkdlib.report.browser_check DIR --screenshots shots/

A page fails on:

* a **console error** (a script error, or a resource that does not load: the browser runs with
  every host name unresolvable, so anything fetched from a CDN fails: the book must work offline);
* an **image that does not load** (``<img>`` not complete or of zero natural width);
* a **table or figure wider than the content column** (table, image, SVG, plotly figure, code
  block, displayed maths) that is not inside a scroll container fitting the column with a visible
  scrollbar and the book's stylesheet applied (``book/_static/mkd.css``, which keeps scrollbars
  visible even where a system hides them until one scrolls);
* **maths not rendered** (MathJax did not typeset the page's ``math`` elements) or a **plotly
  figure not drawn**;
* a **machine path** in the text (the absolute path of the repository).

Needs Chromium and its driver (Debian: ``apt-get install chromium chromium-driver``) and selenium.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..io import REPO_ROOT as REPO

DEFAULT_HTML = REPO / "book" / "_build" / "html"
WIDTH, HEIGHT = 1280, 900
SKIP_PAGES = {"genindex.html", "search.html", "py-modindex.html"}

# One probe per page, run in the page: returns the problems it sees (strings).
PROBE = r"""
const problems = [];
const forbidden = arguments[0];
const art = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const col = art.getBoundingClientRect();
const styled = getComputedStyle(document.documentElement).getPropertyValue('--mkd-book').trim() !== '';
const describe = (el) => {
  const id = el.id ? '#' + el.id : '';
  const cls = (typeof el.className === 'string' && el.className) ? '.' + el.className.trim().split(/\s+/).slice(0, 2).join('.') : '';
  const near = (el.closest('section') && el.closest('section').querySelector('h1, h2, h3'));
  return el.tagName.toLowerCase() + id + cls + (near ? ' (under "' + near.textContent.replace(/[#¶]/g, '').trim().slice(0, 60) + '")' : '');
};
for (const img of document.images) {
  if (!img.complete || img.naturalWidth === 0) problems.push('image does not load: ' + (img.getAttribute('src') || '').slice(0, 120));
}
const wide = art.querySelectorAll('table, img, svg, .plotly-graph-div, div.highlight pre, mjx-container[display="true"]');
for (const el of wide) {
  if (el.tagName.toLowerCase() === 'svg' && el.parentElement && el.parentElement.closest('svg, .plotly-graph-div, mjx-container')) continue;
  if (el.tagName.toLowerCase() === 'table' && el.parentElement.closest('table')) continue;
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;
  const over = r.right - col.right, width = Math.max(el.scrollWidth || 0, r.width);
  if (over <= 1 && width <= col.width + 1) continue;
  const own = getComputedStyle(el).overflowX;
  let sc = ['auto', 'scroll'].includes(own) ? el : el.parentElement, ok = false, why = 'no scroll container';
  while (sc && sc !== art.parentElement) {
    const s = getComputedStyle(sc);
    if (['auto', 'scroll'].includes(s.overflowX) && sc.scrollWidth > sc.clientWidth + 1) {
      const sr = sc.getBoundingClientRect();
      const bar = sc.offsetHeight - sc.clientHeight - parseFloat(s.borderTopWidth) - parseFloat(s.borderBottomWidth);
      if (sr.right > col.right + 1) why = 'its scroll container is itself wider than the column';
      else if (bar < 4) why = 'its scroll container shows no scrollbar';
      else if (!styled) why = 'the book stylesheet (mkd.css) is not applied, so the scrollbar may hide';
      else ok = true;
      break;
    }
    sc = sc.parentElement;
  }
  if (!ok) problems.push(describe(el) + ' is ' + Math.round(width) + ' px wide in a ' + Math.round(col.width) +
                         ' px column: ' + why);
}
const maths = document.querySelectorAll('div.math, span.math');
if (maths.length && !document.querySelector('mjx-container')) problems.push(maths.length + ' maths elements not rendered (MathJax did not run)');
for (const p of document.querySelectorAll('.plotly-graph-div')) {
  if (!p.querySelector('.main-svg')) problems.push('plotly figure not drawn: ' + describe(p));
}
const text = document.body.innerText;
for (const f of forbidden) { if (f && text.includes(f)) problems.push('machine path in the page: ' + f); }
return problems;
"""


@dataclass
class Problem:
    page: str
    what: str

    def __str__(self) -> str:
        return f"{self.page}: {self.what}"


class BrowserUnavailable(RuntimeError):
    """Chromium, its driver or selenium is missing; the message says what to install."""


def find_browser() -> tuple[str, str]:
    """Paths of a Chromium binary and of chromedriver, or :class:`BrowserUnavailable`."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise BrowserUnavailable("selenium is not installed (pip install selenium; it is in the test extras)") from None
    binary = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        raise BrowserUnavailable(
            "headless Chromium is not installed: apt-get install chromium chromium-driver (.ci/run installs it)"
        )
    return binary, driver


def book_pages(html_dir: str | Path) -> list[Path]:
    """Every page of the book (not the search and index pages, not theme assets)."""
    html_dir = Path(html_dir)
    return sorted(
        p
        for p in html_dir.rglob("*.html")
        if p.name not in SKIP_PAGES and not any(part.startswith("_") for part in p.relative_to(html_dir).parts)
    )


def _driver(width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary, driver = find_browser()
    opts = Options()
    opts.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        f"--window-size={width},{height}",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: no CDN
        "--allow-file-access-from-files",
        "--hide-crash-restore-bubble",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=opts, service=Service(driver))


def _settle(drv, timeout: float = 20.0) -> None:
    """Wait for the load, MathJax's typesetting and plotly's drawing (each only if present)."""
    end = time.time() + timeout
    while time.time() < end and drv.execute_script("return document.readyState") != "complete":
        time.sleep(0.05)
    drv.set_script_timeout(max(1.0, end - time.time()))
    try:
        drv.execute_async_script("""
          const done = arguments[arguments.length - 1];
          const mj = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
          (mj || Promise.resolve()).then(() => done(true), () => done(false));""")
    except Exception:  # MathJax never finished: the probe reports the maths as not rendered
        pass
    while time.time() < end and drv.execute_script(
        "return [...document.querySelectorAll('.plotly-graph-div')].some(p => !p.querySelector('.main-svg'))"
    ):
        time.sleep(0.1)
    time.sleep(0.2)  # late layout (fonts, images)


def check(
    html_dir: str | Path = DEFAULT_HTML,
    width: int = WIDTH,
    height: int = HEIGHT,
    forbidden: list[str] | None = None,
    screenshots: str | Path | None = None,
) -> list[Problem]:
    """Open every page of ``html_dir``; return every problem found (empty: the book passes)."""
    html_dir = Path(html_dir).resolve()
    pages = book_pages(html_dir)
    if not pages:
        raise FileNotFoundError(f"no HTML pages under {html_dir}: build the book first (make book)")
    forbidden = [str(REPO)] if forbidden is None else forbidden
    problems: list[Problem] = []
    drv = _driver(width, height)
    try:
        for page in pages:
            name = page.relative_to(html_dir).as_posix()
            drv.get(page.as_uri())
            _settle(drv)
            problems += [Problem(name, p) for p in drv.execute_script(PROBE, forbidden)]
            problems += [
                Problem(name, "console error: " + e["message"][:300])
                for e in drv.get_log("browser")
                if e.get("level") == "SEVERE"
            ]
            if screenshots:
                out = Path(screenshots) / (name.replace("/", "__").removesuffix(".html") + ".png")
                out.parent.mkdir(parents=True, exist_ok=True)
                full = drv.execute_script("return document.documentElement.scrollHeight")
                drv.set_window_size(width, min(int(full) + 100, 16000))
                time.sleep(0.3)
                drv.save_screenshot(str(out))
                drv.set_window_size(width, height)
    finally:
        drv.quit()
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m mkdlib.report.browser_check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("html", nargs="?", default=str(DEFAULT_HTML))
    p.add_argument("--width", type=int, default=WIDTH)
    p.add_argument("--screenshots", default=None, help="save a full-page screenshot of each page here")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    try:
        problems = check(args.html, args.width, screenshots=args.screenshots)
    except (BrowserUnavailable, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for pr in problems:
        print(pr)
    n = len(book_pages(args.html))
    print(f"{n} pages checked in {time.perf_counter() - t0:.0f} s: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
