"""The book's drawing of Figure 1 of the paper: the MKD framework as a diagram, by code (matplotlib -> SVG; the
intro and the components chapter show :func:`svg_text`).

Two students (different initialisations) see the labeled batch and the strongly augmented,
CutMixed unlabeled batch; their logits are feature-augmented (Eq. 3). Two EMA teachers (Eq. 1)
see the weak view; the same CutMix mask mixes their logits, whose argmax supervises the student
of the *other* branch (L_st, Eq. 2). The students supervise each other (L_ss, CPS) and learn the
ground truth (L_sup, Eq. 5). Every name in the figure is the function that computes it.

Text is at least :data:`MIN_FONT_PT` points on a figure :data:`WIDTH_IN` inches wide, i.e. at
least 9 px when the SVG is shown at the book's 676-px content width.
"""

from __future__ import annotations

import io
import sys

import matplotlib

matplotlib.use("Agg") if "matplotlib.pyplot" not in sys.modules else None
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

WIDTH_IN, HEIGHT_IN = 9.4, 6.2
#: 9.4 in at 72 pt/in is 677 px of SVG, shown at <= 676 px: 12 pt is >= 11.9 px on the page
MIN_FONT_PT = 12.0
COLOURS = {
    "student": "#d6e6f5",
    "teacher": "#fbe3c8",
    "aug": "#e4f2dc",
    "data": "#eeeeee",
    "out": "#ffffff",
    "sup": "#333333",
    "st": "#d35400",
    "ss": "#1f77b4",
    "ema": "#7f7f7f",
}


def _box(ax, x, y, w, h, text, face, size=MIN_FONT_PT, weight="normal", edge="#555555"):
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=1.2", fc=face, ec=edge, lw=1.0
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=size, weight=weight, linespacing=1.25)
    return (x, y, w, h)


def _arrow(
    ax,
    start,
    end,
    colour="#444444",
    style="-|>",
    lw=1.3,
    ls="-",
    rad=0.0,
    label=None,
    label_at=None,
    label_colour=None,
    shrink=2,
):
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle=style,
            mutation_scale=13,
            color=colour,
            lw=lw,
            linestyle=ls,
            connectionstyle=f"arc3,rad={rad}",
            shrinkA=shrink,
            shrinkB=shrink,
        )
    )
    if label:
        x, y = label_at or ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=MIN_FONT_PT,
            color=label_colour or colour,
            bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"),
        )


def draw() -> Figure:
    """The MKD framework (the paper's Figure 1) as a matplotlib Figure."""
    fig = plt.figure(figsize=(WIDTH_IN, HEIGHT_IN))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 66)
    ax.axis("off")
    c = COLOURS
    yt1, ys1, ys2, yt2 = 58, 43, 23, 8  # rows: teacher 1, student 1, student 2, teacher 2

    # inputs and augmentation: one weak view for both teachers; labeled + strong view in ONE student forward
    _box(ax, 7.5, 33, 13, 8, "unlabeled\n$x^u$", c["data"])
    _box(ax, 27, yt1, 18, 7, "weak aug", c["aug"])
    _box(ax, 27, yt2, 18, 7, "same weak view", c["aug"])
    _box(ax, 27, 47, 18, 8, "labeled $x^l, y^l$\n(weak aug)", c["data"])
    _box(ax, 27, 31, 18, 12, "strong aug:\nweak + photo op\n+ CutMix, mask $m$", c["aug"])
    _arrow(ax, (14, 37), (18, yt1 - 1))
    _arrow(ax, (14, 29), (18, yt2 + 1))
    _arrow(ax, (14, 33), (18, 32))
    hub = (39.5, 35.5)
    ax.plot(*hub, "o", color="#444444", ms=5)
    _arrow(ax, (36, 45), hub, shrink=4)
    _arrow(ax, (36, 33), hub, shrink=4)
    ax.text(27, 39.6, "$[x^l;\\ \\mathrm{mix}(x^u)]$", fontsize=MIN_FONT_PT, ha="center", va="center", color="#444444")
    # students and teachers
    s1 = _box(ax, 50, ys1, 16, 9, "student 1\n$M_{s1}$, init $\\theta_{s1}$", c["student"], weight="bold")
    s2 = _box(ax, 50, ys2, 16, 9, "student 2\n$M_{s2}$, init $\\theta_{s2}$", c["student"], weight="bold")
    t1 = _box(ax, 50, yt1, 16, 7, "teacher 1, $M_{t1}$", c["teacher"], weight="bold")
    t2 = _box(ax, 50, yt2, 16, 7, "teacher 2, $M_{t2}$", c["teacher"], weight="bold")
    _arrow(ax, hub, (42, ys1 - 2), shrink=4)
    _arrow(ax, hub, (42, ys2 + 2), shrink=4)
    _arrow(ax, (36, yt1), (42, yt1))
    _arrow(ax, (36, yt2), (42, yt2))
    # EMA (Eq. 1)
    _arrow(ax, (45.5, ys1 + 4.6), (45.5, yt1 - 3.6), colour=c["ema"], ls="--")
    _arrow(ax, (45.5, ys2 - 4.6), (45.5, yt2 + 3.6), colour=c["ema"], ls="--")
    for y in ((ys1 + yt1) / 2, (ys2 + yt2) / 2):
        ax.text(47, y, "EMA, Eq. 1", fontsize=MIN_FONT_PT, color=c["ema"], ha="left", va="center")
    # outputs
    fa1 = _box(ax, 71, ys1, 15, 8, "feature aug\nEq. 3 $\\to p_{s1}$", c["aug"])
    fa2 = _box(ax, 71, ys2, 15, 8, "feature aug\nEq. 3 $\\to p_{s2}$", c["aug"])
    m1 = _box(ax, 71, yt1, 15, 7.5, "mix logits by $m$\n$\\to y_{t1}$", c["out"])
    m2 = _box(ax, 71, yt2, 15, 7.5, "mix logits by $m$\n$\\to y_{t2}$", c["out"])
    for a, b in ((s1, fa1), (s2, fa2), (t1, m1), (t2, m2)):
        _arrow(ax, (a[0] + a[2] / 2, a[1]), (b[0] - b[2] / 2, b[1]))
    for y in ((ys1 + yt1) / 2 + 0.2, (ys2 + yt2) / 2 - 0.2):
        ax.text(
            71,
            y,
            "$\\mathcal{L}_{sup}$ vs $y^l$ (Eq. 5)",
            fontsize=MIN_FONT_PT,
            color=c["sup"],
            ha="center",
            va="center",
        )
    # losses: L_st crosses the branches (teacher i -> student j), L_ss between the students (CPS)
    _arrow(ax, (m1[0] + 7.5, m1[1]), (fa2[0] + 7.5, fa2[1]), colour=c["st"], rad=-0.3, lw=1.8)
    _arrow(ax, (m2[0] + 7.5, m2[1]), (fa1[0] + 7.5, fa1[1]), colour=c["st"], rad=0.3, lw=1.8)
    ax.text(
        87.2,
        33,
        "$\\mathcal{L}_{st}$, Eq. 2:\n$y_{t1} \\to M_{s2}$\n$y_{t2} \\to M_{s1}$",
        fontsize=MIN_FONT_PT,
        color=c["st"],
        ha="left",
        va="center",
        multialignment="left",
        linespacing=1.35,
    )
    _arrow(ax, (66, fa1[1] - 4.2), (66, fa2[1] + 4.2), colour=c["ss"], style="<|-|>", lw=1.8)
    ax.text(67.3, 33, "$\\mathcal{L}_{ss}$ (CPS)", fontsize=MIN_FONT_PT, color=c["ss"], ha="left", va="center")
    ax.text(
        50,
        0.8,
        "$\\mathcal{L} = \\mathcal{L}_{sup} + \\alpha\\,\\mathcal{L}_{st} + \\beta\\,\\mathcal{L}_{ss}$"
        " (Eq. 4).  Teachers: forward only, no gradient.  Dashed: EMA.",
        ha="center",
        va="bottom",
        fontsize=MIN_FONT_PT,
    )
    return fig


def svg_text() -> str:
    """Figure 1 as SVG markup (text drawn as paths: renders the same without any font installed)."""
    fig = draw()
    buf = io.StringIO()
    with plt.rc_context({"svg.fonttype": "path", "svg.hashsalt": "mkd-figure1"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()


def min_font_size(fig: Figure) -> float:
    """The smallest font size (points) of any text in ``fig`` (for tests of readability)."""
    from matplotlib.text import Text

    return min(t.get_fontsize() for t in fig.findobj(Text) if t.get_text().strip())
