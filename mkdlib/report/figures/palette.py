"""The book's one visual language: a colour per method (and per run variant of a figure) used by
matplotlib, plotly and tables alike, so a method looks the same on every page."""

from __future__ import annotations

import re
from collections.abc import Iterable

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
#: our numbers where a figure compares ours with the paper's over no single method (the effects)
OURS_COLOUR = "#333333"
#: series that name no method (a Table 3 row, a diagnosis setting): colours no method has, in turn
OTHER_COLOURS = ("#332288", "#882255", "#999933", "#DDCC77", "#661100", "#6A3D9A", "#AA4466", "#E69F00")
#: one run's loss terms (the training chapter's curves): the total in the book's "ours" grey, each
#: term in a colour no method has (matplotlib's default blue, orange and green read as methods)
LOSS_TERM_COLOURS = {"loss": "#333333", "sup": "#332288", "st": "#882255", "ss": "#999933"}
#: line styles of a method's variants (its runs at other settings), all in the method's colour
VARIANT_STYLES = ("-", "--", ":", "-.")
#: what the collapse figure scores: a network on a subset of images (no method's colour: every
#: curve there is one MKD run's network, and supervised training's yardstick is in its own grey)
SUBSET_COLOURS = {
    "teacher validation": "#332288",
    "student labeled": "#E69F00",
    "student unlabeled": "#882255",
    "student validation": "#999933",
}
#: short names the book's figures also give methods (besides their registry names and labels)
ALIASES = {
    "supervised": "supervised",
    "cps": "cps",
    "mt": "mean_teacher",
    "cps+cutmix": "cps_cutmix",
    "cps w/ cutmix": "cps_cutmix",
}


def method_colour(method: str) -> str:
    """A method's colour; a run named by its switches (``co+mmt``) is drawn like MKD's family."""
    return METHOD_COLOURS.get(method, "#999933")


def method_of(name: str) -> str | None:
    """The method a figure's series names: a registry name (``cps_cutmix``), its label ("CPS +
    CutMix"), a short form ("CPS", "MT"), the paper's row of one ("paper MKD-R50"), or any of these
    before ", " or " (" ("mean teacher, 1/16 (...)", "MKD (2 seeds)").
    None for a series that is no method (a Table 3 row, a diagnosis setting)."""
    from ...registry import METHOD_INFO

    known = {m: m for m in METHOD_INFO} | {i.label.lower(): m for m, i in METHOD_INFO.items()} | ALIASES
    text = re.sub(r"-r(?:50|101)$", "", str(name).strip().lower().removeprefix("paper "))  # "paper MKD-R50"
    return known.get(text) or known.get(text.split(", ")[0].strip()) or known.get(text.split(" (")[0].strip())


def series_styles(names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """(colour, line style) of each series of a figure: a method's series in the method's colour,
    its second, third ... variant in the next line style; a series that is no method in one of
    :data:`OTHER_COLOURS` (never a method's colour), solid."""
    out: dict[str, tuple[str, str]] = {}
    per_method: dict[str, int] = {}
    others = 0
    for name in dict.fromkeys(names):
        method = method_of(name)
        if method is None:
            out[name] = (OTHER_COLOURS[others % len(OTHER_COLOURS)], VARIANT_STYLES[others // len(OTHER_COLOURS) % 4])
            others += 1
        else:
            k = per_method.get(method, 0)
            per_method[method] = k + 1
            out[name] = (METHOD_COLOURS[method], VARIANT_STYLES[k % len(VARIANT_STYLES)])
    return out


def series_colours(names: Iterable[str]) -> dict[str, str]:
    """The colour of each series of a figure (:func:`series_styles` without the line styles)."""
    return {name: colour for name, (colour, _) in series_styles(names).items()}
