"""Open every page of the built book in headless Chromium, as a reader at 1,280 px would, and list
what is wrong with it.

    python tests/browser_check.py                    # book/_build/html (make browser-check)
    python tests/browser_check.py DIR --screenshots shots/

It prints a table of every page's length in screens (of 1,280 x 900 px) with its problems, then
the problems, one a line.

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
* a **machine path** in the text (the absolute path of the repository);
* a **raw missing value**: a table cell that reads pandas' ``NaN``, ``<NA>`` or ``None`` instead of
  the book's "—" and its note (:func:`mkdlib.report.tables.display.dashed`);
* **clipped text or tables**: an element of the page whose text, table or dataframe overflows its
  box where the overflow is hidden (``overflow: hidden`` or ``clip``: cut off, no scrollbar), a
  table cell whose content runs out of the cell, or text running out of its box under the element
  beside it;
* a **plotly figure with no traces**, or whose traces all hold no data (nothing drawn on its axes);
* an **empty output cell**: a notebook cell's output area (MyST-NB's ``div.cell_output``) that shows
  nothing (no text but whitespace, no image, table or figure): a cell to tag ``remove-output``, or
  to make show something;
* a **long page that folds nothing**: longer than ``MAX_SCREENS`` (8) screens of ``WIDTH`` x
  ``HEIGHT`` (1,280 x 900) px with no ``<details>``, toggle, ``hide-input``/``hide-output``/
  ``hide-cell`` cell or dropdown (the table the check prints first gives each page's length);
* **hidden columns** (:func:`hidden_columns`): a table, on any page, in any fold (every
  ``<details>``, dropdown and toggle is opened while the check looks), wider than the article's
  text column, or scrolling itself, or in a box (a scroll container, or one that clips) narrower
  than it: columns behind a horizontal scrollbar are columns a reader misses, so a table must fit
  the column at 1,280 px (wrapped headers, a smaller font: ``book/_static/mkd.css``), or the column
  widen for it. Named by its caption or first header cells, the section it is under, and the widths;
* **a page too long** (:func:`too_long`): longer than ``MAX_PAGE_SCREENS`` (15) screens with its
  folds closed, folded or not;
* **a duplicate line** (:func:`duplicate_lines`, :func:`repeated_lines`): the same non-empty line or
  sentence (12 characters or more, with a word) printed twice in one notebook output area (tables,
  figures, maths and code listings left out: rows and code repeat by nature), e.g. a "What to
  notice" line shown twice;
* **what must be on the first screens and is not**: an element marked ``data-mkd-within-screens="n"``
  (the intro's caveats box, headline table and claims table: ``n`` = 2) that ends below the first
  ``n`` screens of the page.

Every page is opened in a viewport of exactly ``WIDTH`` x ``HEIGHT`` px (headless Chromium's window
size would leave a shorter one).

Needs Chromium and its driver (Debian: ``apt-get install chromium chromium-driver``) and selenium.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: the repository: the book checked by default, and the machine path no page may show
REPO = Path(__file__).resolve().parents[1]
DEFAULT_HTML = REPO / "book" / "_build" / "html"
#: the reader's screen: the window every page is opened in, and the unit of a page's length
WIDTH, HEIGHT = 1280, 900
#: a page longer than this many screens (of ``HEIGHT`` px) must fold something (issue 23)
MAX_SCREENS = 8
#: no page may be longer than this many screens, folded or not ("the book as a reader scrolls it")
MAX_PAGE_SCREENS = 15
#: px a table may pass its box by (a rounding, a border) before its columns count as hidden
TABLE_TOLERANCE = 2
SKIP_PAGES = {"genindex.html", "search.html", "py-modindex.html"}

# One probe per page, run in the page: returns {problems: the problems it sees (strings), screens: the
# page's length in screens of HEIGHT px}.
PROBE = r"""
const problems = [];
const [forbidden, screen_w, screen_h, max_screens] = arguments;
const MEDIA = 'img, svg, canvas, iframe, video, audio, object, embed, table, input, button, mjx-container, .plotly-graph-div';
const FOLDS = 'details, .toggle, .toggle-hidden, button.toggle-button, .tag_hide-input, .tag_hide-output, .tag_hide-cell, ' +
              '.dropdown, .sd-dropdown';
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
const raw = [...art.querySelectorAll('td')].filter((td) => ['NaN', '<NA>', 'None', 'nan', 'NaT'].includes(td.innerText.trim()));
if (raw.length) problems.push(raw.length + ' table cell(s) read "' + raw[0].innerText.trim() + '" instead of "—": ' + describe(raw[0]));

// --- clipped text and tables: visible content past the edge of a box that hides its overflow (no
// scrollbar), a table cell whose content runs out of it, or text running out of its box under the
// element beside it. scrollWidth/scrollHeight only pick the candidates: what counts is where the
// visible text and media end (not a visually hidden copy such as MathJax's assistive MathML).
const skip = 'svg, mjx-container, .plotly-graph-div, script, style, template, .headerlink, .visually-hidden, .sr-only';
const visibleText = (el) => {
  const w = document.createTreeWalker(el, NodeFilter.SHOW_TEXT, {acceptNode: (n) =>
    (n.parentElement && n.parentElement.closest('script, style, template')) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  let n; while ((n = w.nextNode())) { if (n.textContent.trim()) return true; }
  return false;
};
const hasContent = (el) => visibleText(el) || !!el.querySelector(MEDIA);
const unseen = (e) => {
  if (e.matches('script, style, template, .visually-hidden, .sr-only, mjx-assistive-mml')) return true;
  const s = getComputedStyle(e);
  return s.display === 'none' || s.visibility === 'hidden' || (s.clipPath && s.clipPath !== 'none') ||
         (s.clip && s.clip !== 'auto' && ['absolute', 'fixed'].includes(s.position));
};
// how far el's visible content (text, media) reaches past its padding box, right and down
const reach = (el) => {
  const r = el.getBoundingClientRect();
  const edgeX = r.left + el.clientLeft + el.clientWidth, edgeY = r.top + el.clientTop + el.clientHeight;
  let right = -Infinity, bottom = -Infinity;
  const add = (q) => { if (q.width > 0 || q.height > 0) { right = Math.max(right, q.right); bottom = Math.max(bottom, q.bottom); } };
  const visit = (node) => {
    for (const c of node.childNodes) {
      if (c.nodeType === Node.TEXT_NODE) {
        if (!c.textContent.trim()) continue;
        const range = document.createRange(); range.selectNodeContents(c);
        for (const q of range.getClientRects()) add(q);
      } else if (c.nodeType === Node.ELEMENT_NODE && !unseen(c)) {
        const cs = getComputedStyle(c);
        if (c.matches(MEDIA)) add(c.getBoundingClientRect());
        // a nested box that clips or scrolls: its own edge counts, what it holds is checked on its own
        else if (cs.overflowX !== 'visible' || cs.overflowY !== 'visible') { if (hasContent(c)) add(c.getBoundingClientRect()); }
        else visit(c);
      }
    }
  };
  visit(el);
  return [right - edgeX, bottom - edgeY];
};
const tol = 2;  // px: a descender or a rounding is not a clipped text
const TEXT_TAGS = ['P', 'LI', 'DT', 'DD', 'FIGCAPTION', 'CAPTION', 'LABEL', 'H1', 'H2', 'H3', 'H4'];
const hides = (o) => o === 'hidden' || o === 'clip';
for (const el of art.querySelectorAll('*')) {
  if (el.closest(skip)) continue;
  const r = el.getBoundingClientRect();
  if (r.width < 2 || r.height < 2) continue;  // not rendered (closed fold, display: none) or a 1 px screen-reader box
  if (el.scrollWidth - el.clientWidth <= tol && el.scrollHeight - el.clientHeight <= tol) continue;
  const s = getComputedStyle(el);
  if (s.visibility === 'hidden' || s.display === 'contents') continue;
  const [overX, overY] = reach(el);
  const cell = ['TD', 'TH'].includes(el.tagName);
  let why = null;
  if (overX > tol && hides(s.overflowX)) why = 'is clipped on the right by ' + Math.round(overX) + ' px (overflow ' + s.overflowX + ', no scrollbar)';
  else if (overY > tol && hides(s.overflowY)) why = 'is clipped at the bottom by ' + Math.round(overY) + ' px (overflow ' + s.overflowY + ', no scrollbar)';
  else if (cell && overX > tol && s.overflowX === 'visible') why = 'runs ' + Math.round(overX) + ' px out of its table cell, over its neighbour';
  else if (overX > tol && s.overflowX === 'visible' && (el.children.length === 0 || TEXT_TAGS.includes(el.tagName))) {
    // text sticking out of its box: a fault where it lands on the next element beside it
    const out = {left: r.right, right: r.right + overX, top: r.top, bottom: r.bottom};
    let nb = el.nextElementSibling;
    while (nb && nb.getBoundingClientRect().width === 0) nb = nb.nextElementSibling;
    if (nb) {
      const q = nb.getBoundingClientRect();
      if (q.left < out.right - 1 && q.right > out.left + 1 && q.top < out.bottom - 1 && q.bottom > out.top + 1)
        why = 'runs ' + Math.round(overX) + ' px out of its box, under its neighbour ' + nb.tagName.toLowerCase();
    }
  }
  if (why) problems.push('clipped: ' + describe(el) + ' ' + why);
}

// --- plotly figures with no traces, or whose traces hold no data: no finite number in any data
// array (an empty list, or bars of NaN over category labels, draw nothing); a purely textual trace
// (a table of strings) counts as data
const DATA_KEYS = ['x', 'y', 'z', 'values', 'labels', 'r', 'theta', 'lat', 'lon', 'a', 'b', 'c', 'u', 'v', 'w',
                   'open', 'high', 'low', 'close', 'locations', 'source', 'value', 'dimensions', 'cells', 'header', 'node', 'link'];
const TYPED = {f8: Float64Array, f4: Float32Array, i1: Int8Array, u1: Uint8Array, u1c: Uint8ClampedArray,
               i2: Int16Array, u2: Uint16Array, i4: Int32Array, u4: Uint32Array};
const decode = (spec) => {  // plotly's base64 typed-array spec ({dtype, bdata}); plotly.js keeps its decoding in _inputArray
  if (spec._inputArray) return spec._inputArray;
  const T = TYPED[spec.dtype];
  if (!T) return spec.bdata.length ? [0] : [];
  const bytes = Uint8Array.from(atob(spec.bdata), (ch) => ch.charCodeAt(0));
  return new T(bytes.buffer, 0, Math.floor(bytes.length / T.BYTES_PER_ELEMENT));
};
const leaves = (v, depth, out) => {  // the values in a trace's data attributes
  if (v === null || v === undefined || depth > 4) { if (depth > 0) out.push(null); return out; }
  if (typeof v === 'number' || typeof v === 'string') out.push(v);
  else if (Array.isArray(v) || ArrayBuffer.isView(v)) for (const x of v) leaves(x, depth + 1, out);
  else if (typeof v === 'object' && typeof v.bdata === 'string') for (const x of decode(v)) out.push(x);
  else if (typeof v === 'object') for (const k of Object.keys(v)) if (DATA_KEYS.includes(k)) leaves(v[k], depth + 1, out);
  return out;
};
const holdsData = (t) => {
  const vals = DATA_KEYS.flatMap((k) => t[k] === undefined ? [] : leaves(t[k], 0, []));
  return vals.some((x) => typeof x === 'number' && Number.isFinite(x)) ||
         (vals.length > 0 && vals.every((x) => typeof x === 'string' && x.trim() !== ''));
};
for (const p of document.querySelectorAll('.plotly-graph-div')) {
  if (!p.querySelector('.main-svg')) continue;  // reported above as not drawn
  const traces = Array.isArray(p.data) ? p.data : [];
  if (!traces.length) problems.push('plotly figure with no traces: ' + describe(p));
  else if (!traces.some(holdsData)) problems.push('plotly figure whose ' + traces.length + ' trace(s) hold no data: ' + describe(p));
}

// --- notebook output areas that show nothing
for (const o of art.querySelectorAll('div.cell_output')) {
  if (!hasContent(o)) problems.push('empty output cell: ' + describe(o.closest('div.cell') || o));
}

// --- what must be on the first screens: an element marked data-mkd-within-screens="n" ends above n screens
for (const el of document.querySelectorAll('[data-mkd-within-screens]')) {
  const n = parseFloat(el.getAttribute('data-mkd-within-screens'));
  const bottom = el.getBoundingClientRect().bottom + window.scrollY;
  if (bottom > n * screen_h + 1)
    problems.push(describe(el) + ' must be on the first ' + n + ' screen(s) (' + n * screen_h + ' px) but ends at ' +
                  Math.round(bottom) + ' px');
}

// --- long pages with nothing folded
const screens = document.documentElement.scrollHeight / screen_h;
if (screens > max_screens && !art.querySelector(FOLDS))
  problems.push('page is ' + screens.toFixed(1) + ' screens long (limit ' + max_screens + ' at ' + screen_w + ' x ' + screen_h +
                ' px) and folds nothing (no <details>, toggle, hide-input cell or dropdown)');
return {problems: problems, screens: screens};
"""

# Tables whose columns a reader cannot see without scrolling sideways (run with every fold of the page
# opened: a table in a closed <details> or dropdown is checked as the reader who opens it sees it).
# Returns one {table, widths} per such table: the table wider than the article's text column, the
# table itself scrolling, or a box around it (a scroll container, or one that clips) narrower than it.
HIDDEN_COLUMNS = r"""
const [tol] = arguments;
const art = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const as = getComputedStyle(art);
const colW = art.clientWidth - parseFloat(as.paddingLeft) - parseFloat(as.paddingRight);
const clean = (t) => (t || '').replace(/[#¶\u00ad]/g, '').replace(/\s+/g, ' ').trim();
const name = (t) => {
  const cap = t.querySelector(':scope > caption');
  const near = t.closest('section') && t.closest('section').querySelector('h1, h2, h3');
  const under = near ? ' under "' + clean(near.textContent).slice(0, 60) + '"' : '';
  if (cap && clean(cap.textContent)) return '"' + clean(cap.textContent).slice(0, 80) + '"' + under;
  let cells = [...t.querySelectorAll(':scope > thead th, :scope > thead td')];
  if (!cells.length) { const row = t.querySelector('tr'); cells = row ? [...row.children] : []; }
  const heads = cells.map((c) => clean(c.textContent)).filter((x) => x).slice(0, 5);
  return '[' + heads.join(' | ').slice(0, 100) + ']' + under;
};
const out = [];
for (const t of art.querySelectorAll('table')) {
  if (t.parentElement.closest('table, svg, mjx-container, .plotly-graph-div')) continue;
  const r = t.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) continue;  // not rendered
  const w = Math.max(r.width, t.scrollWidth);
  const why = [];
  if (w > colW + tol) why.push('the text column is ' + Math.round(colW) + ' px');
  if (t.clientWidth > 0 && t.scrollWidth > t.clientWidth + tol)
    why.push('the table scrolls itself: ' + t.clientWidth + ' of ' + t.scrollWidth + ' px shown');
  for (let a = t.parentElement; a && a !== art.parentElement; a = a.parentElement) {
    const s = getComputedStyle(a);
    if (s.overflowX === 'visible' || a.scrollWidth <= a.clientWidth + tol) continue;
    const edge = a.getBoundingClientRect().left + a.clientLeft + a.clientWidth;
    if (r.right <= edge + tol) continue;  // something else in the box overflows, not this table
    const kind = ['auto', 'scroll'].includes(s.overflowX) ? 'its scroll container' : 'its box (overflow ' + s.overflowX + ')';
    const cls = (typeof a.className === 'string' && a.className.trim()) ? '.' + a.className.trim().split(/\s+/).slice(0, 2).join('.') : '';
    why.push(kind + ' ' + a.tagName.toLowerCase() + cls + ' shows ' + a.clientWidth + ' of ' + a.scrollWidth + ' px');
    break;
  }
  if (why.length) out.push({table: name(t), width: Math.round(w), column: Math.round(colW), why: why.join('; ')});
}
return out;
"""

# Opens (open=true) or closes again every fold of the page: <details> (MyST-NB's hidden cells,
# sphinx-design's dropdowns, the book's folded tables) and togglebutton's toggles.
UNFOLD = r"""
const [open] = arguments;
if (open) {
  for (const d of document.querySelectorAll('details:not([open])')) { d.setAttribute('data-mkd-probe-opened', ''); d.open = true; }
  for (const t of document.querySelectorAll('.toggle-hidden')) { t.classList.remove('toggle-hidden'); t.setAttribute('data-mkd-probe-toggled', ''); }
} else {
  for (const d of document.querySelectorAll('[data-mkd-probe-opened]')) { d.open = false; d.removeAttribute('data-mkd-probe-opened'); }
  for (const t of document.querySelectorAll('[data-mkd-probe-toggled]')) { t.classList.add('toggle-hidden'); t.removeAttribute('data-mkd-probe-toggled'); }
}
return document.querySelectorAll('details').length;
"""

# The text of every notebook output area (MyST-NB's div.cell_output) as the reader reads it
# (innerText), without its tables, figures, maths and code listings (a table's rows or a listing's
# lines repeat by nature): one entry {where, text} per output area that shows any.
OUTPUT_TEXT = r"""
const hide = 'table, svg, canvas, img, mjx-container, .plotly-graph-div, script, style, template';
// a code listing (a highlighted language), not printed text (a stream or text/plain output: myst-ansi)
const listing = (pre) => {
  const w = pre.closest('[class*="highlight-"]');
  return !!w && !/(^|\s)highlight-(myst-ansi|none|text|default)(\s|$)/.test(w.className);
};
const style = document.createElement('style');
style.textContent = '.mkd-probe-hide { display: none !important; }';
document.head.appendChild(style);
const art = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const out = [];
for (const o of art.querySelectorAll('div.cell_output')) {
  const hidden = [...o.querySelectorAll(hide), ...[...o.querySelectorAll('pre')].filter(listing)];
  hidden.forEach((e) => e.classList.add('mkd-probe-hide'));
  const text = o.innerText;
  hidden.forEach((e) => e.classList.remove('mkd-probe-hide'));
  const cell = o.closest('div.cell') || o;
  const near = cell.closest('section') && cell.closest('section').querySelector('h1, h2, h3');
  const where = near ? 'under "' + near.textContent.replace(/[#¶]/g, '').trim().slice(0, 60) + '"' : 'top of the page';
  if (text.trim()) out.push({where: where, text: text});
}
style.remove();
return out;
"""


@dataclass
class Problem:
    page: str
    what: str

    def __str__(self) -> str:
        return f"{self.page}: {self.what}"


class BrowserUnavailable(RuntimeError):
    """Chromium, its driver or selenium is missing; the message says what to install."""


def hidden_columns(drv) -> list[str]:
    """The tables of the page open in ``drv`` whose columns are hidden behind a horizontal scroll
    (:data:`HIDDEN_COLUMNS`; every fold opened while it looks), each named by its caption or first
    header cells and the section it is under, with its width and the width it is shown in."""
    drv.execute_script(UNFOLD, True)
    try:
        found = drv.execute_script(HIDDEN_COLUMNS, TABLE_TOLERANCE)
    finally:
        drv.execute_script(UNFOLD, False)
    return [
        f"hidden columns: table {t['table']} is {t['width']} px wide: {t['why']} (at {WIDTH} px a table must fit "
        "the text column, or the column widen for it)"
        for t in found
    ]


def too_long(screens: float, max_screens: float = MAX_PAGE_SCREENS, height: int = HEIGHT) -> str | None:
    """The problem of a page ``screens`` screens long (its document's scrollHeight over ``height``)
    when that is more than ``max_screens``, folded or not; None when it is not."""
    if screens <= max_screens:
        return None
    return (
        f"page too long: {screens:.1f} screens of {height} px (limit {max_screens:g}, folds closed): "
        "split it or fold more of it"
    )


#: a repeated line must be at least this long (characters) to count: "—" or "1.00" repeat by nature
MIN_REPEATED = 12
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[^a-z0-9\s])")


def repeated_lines(text: str, min_chars: int = MIN_REPEATED) -> list[str]:
    """The lines of ``text`` (one output area's text) printed more than once: each non-empty line,
    and each sentence of a line, of at least ``min_chars`` characters and holding a word (letters),
    whitespace collapsed; in the order first seen."""
    seen: dict[str, int] = {}
    for line in text.splitlines():
        line = " ".join(line.split())
        if not line:
            continue
        sentences = [" ".join(x.split()) for x in _SENTENCE_END.split(line)]
        parts = [line, *sentences] if len(sentences) > 1 else [line]  # a one-sentence line counts once
        for part in parts:
            if len(part) >= min_chars and re.search(r"[^\W\d_]{2}", part):
                seen[part] = seen.get(part, 0) + 1
    return [k for k, n in seen.items() if n > 1]


def duplicate_lines(drv) -> list[str]:
    """A line or sentence printed twice in one notebook output area of the page open in ``drv``
    (:data:`OUTPUT_TEXT`, :func:`repeated_lines`; every fold opened while it looks)."""
    drv.execute_script(UNFOLD, True)
    try:
        outputs = drv.execute_script(OUTPUT_TEXT)
    finally:
        drv.execute_script(UNFOLD, False)
    problems = []
    for o in outputs:
        for line in repeated_lines(o["text"]):
            shown = line if len(line) <= 160 else line[:157] + "..."
            problems.append(f'duplicate line in one cell output ({o["where"]}): "{shown}"')
    return problems


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


def _driver(width: int, height: int, allow_host: str | None = None):
    """Headless Chromium with every host name unresolvable (offline) but ``allow_host`` (a local
    server's, e.g. ``127.0.0.1``), its viewport exactly ``width`` x ``height``."""
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
        "--host-resolver-rules=MAP * ~NOTFOUND" + (f", EXCLUDE {allow_host}" if allow_host else ""),  # offline: no CDN
        "--allow-file-access-from-files",
        "--hide-crash-restore-bubble",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(options=opts, service=Service(driver))
    _viewport(drv, width, height)
    return drv


def _viewport(drv, width: int, height: int) -> None:
    """The page's viewport exactly ``width`` x ``height`` CSS px (the window size alone leaves the
    browser's own bars out of it: 1,280 x 757 for a 1,280 x 900 window in headless Chromium)."""
    drv.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


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
    lengths: dict[str, float] | None = None,
    max_screens: float = MAX_SCREENS,
    max_page_screens: float = MAX_PAGE_SCREENS,
) -> list[Problem]:
    """Open every page of ``html_dir``; return every problem found (empty: the book passes).

    ``lengths``, when given, is filled with each page's length in screens (of ``height`` px)."""
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
            seen = drv.execute_script(PROBE, forbidden, width, height, max_screens)
            problems += [Problem(name, p) for p in seen["problems"]]
            if lengths is not None:
                lengths[name] = round(float(seen["screens"]), 1)
            long = too_long(float(seen["screens"]), max_page_screens, height)
            problems += [Problem(name, long)] if long else []
            problems += [Problem(name, p) for p in hidden_columns(drv)]
            problems += [Problem(name, p) for p in duplicate_lines(drv)]
            problems += [
                Problem(name, "console error: " + e["message"][:300])
                for e in drv.get_log("browser")
                if e.get("level") == "SEVERE"
            ]
            if screenshots:
                out = Path(screenshots) / (name.replace("/", "__").removesuffix(".html") + ".png")
                out.parent.mkdir(parents=True, exist_ok=True)
                full = drv.execute_script("return document.documentElement.scrollHeight")
                _viewport(drv, width, min(int(full), 16000))
                time.sleep(0.3)
                drv.save_screenshot(str(out))
                _viewport(drv, width, height)
    finally:
        drv.quit()
    return problems


def length_table(lengths: dict[str, float], problems: list[Problem], height: int = HEIGHT) -> str:
    """Each page's length in screens of ``height`` px, with its problems and hidden tables counted:
    a plain-text table (the issue's "before" and "after")."""
    rows = [("page", f"screens ({height} px)", "problems", "hidden tables")]
    for name, screens in lengths.items():
        mine = [pr.what for pr in problems if pr.page == name]
        hidden = sum(w.startswith("hidden columns: ") for w in mine)
        long = " > limit" if screens > MAX_PAGE_SCREENS else ""
        rows.append((name, f"{screens:.1f}{long}", str(len(mine)), str(hidden)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(rows[0]), "  ".join("-" * w for w in widths), *map(line, rows[1:])])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python tests/browser_check.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("html", nargs="?", default=str(DEFAULT_HTML))
    p.add_argument("--width", type=int, default=WIDTH)
    p.add_argument("--screenshots", default=None, metavar="DIR", help="save a full-page screenshot of each page in DIR")
    p.add_argument("--lengths", action="store_true", help="(kept for old scripts: the lengths table is always printed)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    lengths: dict[str, float] = {}
    try:
        problems = check(args.html, args.width, screenshots=args.screenshots, lengths=lengths)
    except (BrowserUnavailable, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(length_table(lengths, problems))
    print()
    for pr in problems:
        print(pr)
    n = len(book_pages(args.html))
    print(f"{n} pages checked in {time.perf_counter() - t0:.0f} s: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
