"""Readable figures: the size a figure's text has on the book's page, and raising it to a minimum
(used by every figure module: viz, table_figures, collapse)."""

from __future__ import annotations

from matplotlib.figure import Figure

#: Width (px) of a notebook cell's output area in the book at a 1,280-px browser window, the
#: resolution figures are saved at (matplotlib-inline: 100 dpi, ``bbox_inches="tight"``), and the
#: smallest text size (px on the page at 100 % zoom) a figure may have.
COLUMN_PX, FIGURE_DPI, MIN_TEXT_PX = 790, 100, 10.0  # 806 px measured (book/_static/mkd.css); 10 px: a margin over 9


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


# --------------------------------------------------------------------------- legends
def legend_below(fig: Figure, ncol: int = 2, **kwargs):
    """One legend for the whole figure, under its axes and outside every plot area, so that it
    never covers data (``fig`` must use the constrained layout, which makes room for it). Collects
    each axes' entries once (the same run in two panels is one entry) and drops their own legends
    (seaborn adds one to every axes it draws on)."""
    handles, labels = [], []
    for ax in fig.axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels and not label.startswith("_"):
                handles.append(h)
                labels.append(label)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if not handles:
        return None
    kwargs = {"fontsize": "small", "frameon": False, **kwargs}
    return fig.legend(handles, labels, loc="outside lower center", ncol=min(ncol, len(handles)), **kwargs)


def legend_under_axes(ax, ncol: int = 2, gap_in: float = 0.65, **kwargs):
    """The legend of ``ax`` a fixed ``gap_in`` inches under its bottom edge (below the tick labels
    and the x label), for a figure laid out by ``tight_layout`` (which counts it), never over data."""
    from matplotlib.transforms import ScaledTranslation

    fig = ax.figure
    anchor = ax.transAxes + ScaledTranslation(0, -gap_in, fig.dpi_scale_trans)
    kwargs = {"fontsize": "small", "frameon": False, **kwargs}
    return ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=anchor, ncol=ncol, **kwargs)


def legends_over_data(fig: Figure) -> list[str]:
    """The legends of ``fig`` that overlap a plot area (a legend there can hide data): the texts
    of their first entries; empty when every legend lies outside every axes."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
    areas = [ax.get_window_extent(renderer) for ax in fig.axes if ax.get_visible() and ax.has_data()]
    found = []
    for leg in legends:
        box = leg.get_window_extent(renderer).shrunk(0.98, 0.98)
        if any(box.overlaps(a) for a in areas):
            found.append(leg.get_texts()[0].get_text() if leg.get_texts() else "?")
    return found
