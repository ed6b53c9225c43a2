"""The book's one visual language: a colour per method (and per run variant of a figure) used by
matplotlib, plotly and tables alike, so a method looks the same on every page."""

from __future__ import annotations

#: one colour per method name of mkdlib.registry (Okabe-Ito, readable by colour-blind readers)
METHOD_COLOURS = {
    "supervised": "#7f7f7f",
    "mean_teacher": "#0072B2",
    "cps": "#CC79A7",
    "cps_cutmix": "#D55E00",
    "mkd": "#009E73",
    "mkd_release": "#56B4E9",
}
#: the paper's numbers beside ours: one neutral colour
PAPER_COLOUR = "#BBBBBB"
#: what the collapse figure scores: a network on a subset of images
SUBSET_COLOURS = {
    "teacher validation": "#0072B2",
    "student labeled": "#E69F00",
    "student unlabeled": "#D55E00",
    "student validation": "#009E73",
}


def method_colour(method: str) -> str:
    """A method's colour; a run named by its switches (``co+mmt``) is drawn like MKD's family."""
    return METHOD_COLOURS.get(method, "#999933")
