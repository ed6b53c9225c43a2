"""A small Sphinx extension for the book (``book/_config.yml``: ``sphinx.extra_extensions``;
``make book`` puts the repository on jupyter-book's path).

It fixes what a reader's browser reports on every page of a Jupyter Book 1.x build with
Sphinx 7 and sphinx-book-theme 1.x, so that the book's browser check
(``tests/browser_check.py``) can fail on *any* console error:

* jupyter-book registers sphinx-thebe and sphinx-togglebutton twice, so their inline scripts
  appear twice and the second ``const THEBE_JS_URL`` is a ``SyntaxError``: identical scripts are
  kept once;
* pydata-sphinx-theme's layout logs "Got invalid theme mode" as an error when its template
  variable ``default_mode`` is unset (sphinx-book-theme never sets it): it is set to ``light``
  (the figures are drawn for a white page).
"""

from __future__ import annotations


def _page_context(app, pagename, templatename, context, doctree) -> None:
    context.setdefault("default_mode", "light")
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        ident = (str(getattr(js, "filename", js) or ""), tuple(sorted(getattr(js, "attributes", {}).items())))
        if ident in seen:
            continue
        seen.add(ident)
        kept.append(js)
    scripts[:] = kept  # in place: handlers after this one (MathJax's) add to the same list


def setup(app):
    # early: html-page-context stops at the first handler that returns a template name
    app.connect("html-page-context", _page_context, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
