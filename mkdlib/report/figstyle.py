"""Readable figures: the size a figure's text has on the book's page, and raising it to a minimum
(used by every figure module: viz, table_figures, collapse)."""

from __future__ import annotations

from matplotlib.figure import Figure

#: Width (px) of a notebook cell's output area in the book at a 1,280-px browser window, the
#: resolution figures are saved at (matplotlib-inline: 100 dpi, ``bbox_inches="tight"``), and the
#: smallest text size (px on the page at 100 % zoom) a figure may have.
COLUMN_PX, FIGURE_DPI, MIN_TEXT_PX = 676, 100, 10.0  # 10 px: a margin over the 9 px asked for


# --------------------------------------------------------------------------- readable figures
def _tight_width_in(fig: Figure) -> float:
    return fig.get_tightbbox(fig.canvas.get_renderer()).width


def min_font_pt(
    width_in: float, dpi: float = FIGURE_DPI, column_px: float = COLUMN_PX, min_px: float = MIN_TEXT_PX
) -> float:
    """The smallest font size (points) that is ``min_px`` pixels on the page for a figure
    ``width_in`` inches wide, saved at ``dpi`` and scaled down to fit a ``column_px`` column."""
    scale = min(1.0, column_px / (width_in * dpi))
    return min_px * 72.0 / (dpi * scale)


def rendered_text_px(fig: Figure, dpi: float = FIGURE_DPI, column_px: float = COLUMN_PX) -> float:
    """Height in page pixels of the smallest text of ``fig`` as the book shows it."""
    from matplotlib.text import Text

    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    if not sizes:
        return float("inf")
    scale = min(1.0, column_px / (_tight_width_in(fig) * dpi))
    return min(sizes) * dpi / 72.0 * scale


def readable(fig: Figure, min_px: float = MIN_TEXT_PX) -> Figure:
    """Raise every text of ``fig`` (titles, labels, ticks, legends, annotations) to at least
    ``min_px`` pixels as shown in the book's column, then lay the figure out again."""
    from matplotlib.text import Text

    for _ in range(3):  # larger text can widen the figure (legends outside): settle in a few rounds
        need = min_font_pt(_tight_width_in(fig), min_px=min_px) + 0.05
        small = [t for t in fig.findobj(Text) if t.get_text().strip() and t.get_fontsize() < need]
        if not small:
            break
        for t in small:
            t.set_fontsize(need)
        if fig.get_layout_engine() is None:
            try:
                fig.tight_layout()
            except Exception:  # a layout that tight_layout cannot handle keeps its positions
                pass
    return fig
