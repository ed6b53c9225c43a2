"""Where the ``mkd`` preset departs from its sources, generated from mkdlib.registry (never typed):
each departure with the validation screen that keeps or removes it (the book's: its README and
paper-vs-code blocks, the intro's caveat, the questions chapter's figure).

The rule: ``mkd`` follows Algorithm 1 / the paper where it speaks and the authors' release where it
is silent (``registry.SOURCES[...].literal``). A departure stays only where a paired screen on the
validation set (3 or more seeds, paired with ``mkd``'s own runs; the test set is never used for
this) shows the literal setting failing: its 95 % interval below 0, or a collapsed run.

The screens change one setting of the preset as it was screened; once they have decided, the preset
is set once (the removed departures take the source's value) and its screened version stays in
``mkdlib.experiments.LEGACY_PRESETS``, so the screens keep their keys and the table keeps listing a
removed departure with the measurement that removed it.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from mkdlib.config import base_config, resolve
from mkdlib.registry import SOURCES, Source
from mkdlib.report.evidence import stats
from mkdlib.report.figures.figstyle import legend_under_axes, readable

#: what a screen decides
KEPT, FOLLOWS, PENDING = "kept: the literal setting fails", "removed: the preset follows the source", "screen pending"
#: a setting every method here trains with (``Source.scope == "benchmark"``): whatever its screen on
#: ``mkd`` says, changing it for ``mkd`` alone would confound every comparison, and for all methods
#: would re-run every grid; its screen says how much ``mkd`` depends on it
BENCHMARK = "kept: every method's setting (the literal does not fail for mkd)"


def screened_preset(method: str = "mkd"):
    """``method``'s preset as its departures were screened: the legacy one where the screens have
    since changed it (:data:`mkdlib.experiments.LEGACY_PRESETS`), else the current one."""
    from mkdlib.experiments import legacy

    return resolve(legacy(method))


def departing_sources(method: str = "mkd") -> list[Source]:
    """The sources whose literal value changes what ``method`` trained when it was screened (a
    setting that cannot act with the method's switches resolves to its legacy value and is no
    departure); one the screens removed stays listed, its preset value now the source's."""
    preset = screened_preset(method)
    out = []
    for src in SOURCES:
        literal = resolve(dataclasses.replace(preset, **{src.field: src.literal}))
        if literal.key() != preset.key():
            out.append(src)
    return out


def screens_of(field: str) -> list[tuple[dict, tuple[int, ...]]]:
    """The configs' changes that screen ``field`` at which seeds (the departures grid; the student
    forwards are the diagnosis grid's, on its 3 seeds)."""
    from mkdlib.experiments import DEPARTURE_SCREENS, HEADLINE_SEEDS, OTHER_FORWARD, SCREEN_SEEDS

    if field == "student_forward":
        return [(OTHER_FORWARD, HEADLINE_SEEDS)]
    return [(d, SCREEN_SEEDS) for d in DEPARTURE_SCREENS if field in d]


def screen_pairs(change: dict, seeds: tuple[int, ...], root: str | Path | None = None) -> list[dict]:
    """Each seed where ``mkd`` with ``change`` and ``mkd`` are both stored: ``seed``, the two
    validation scores, their ``difference`` and the keys of the runs that collapsed (the claims'
    pairing, :func:`mkdlib.report.evidence.claims.pairs`, and collapse rule)."""
    from mkdlib.experiments import as_stored
    from mkdlib.report.evidence.claims import _store, pairs, supervised_reference

    store = _store(root)
    sup = supervised_reference(store)
    screen, screened = as_stored({"method": "mkd", **change}), as_stored({"method": "mkd"})  # as they ran
    return [_pair(a["seed"], a, b, sup) for a, b in pairs(store, screen, screened, seeds=seeds)]


def _pair(seed: int, a: dict, b: dict, sup: float | None) -> dict:
    """One seed of a screen from its two stored runs (:class:`mkdlib.report.evidence.claims.Store`):
    their validation scores, the difference and the keys of those that collapsed."""
    from mkdlib.report.evidence.claims import run_collapsed

    return {
        "seed": seed,
        "screen": a["miou"],
        "mkd": b["miou"],
        "difference": a["miou"] - b["miou"],
        "collapsed": [r["key"] for r in (a, b) if run_collapsed(r, sup)],
    }


def screen_effect(change: dict, seeds: tuple[int, ...], root: str | Path | None = None):
    """(paired effect of ``mkd`` with ``change`` over ``mkd`` at ``seeds``, keys of collapsed runs)
    on the validation set (:func:`screen_pairs`)."""
    return _effect_of(screen_pairs(change, seeds, root))


def _effect_of(got: list[dict]):
    bad = [k for p in got for k in p["collapsed"]]
    return stats.paired_effect([p["screen"] for p in got], [p["mkd"] for p in got]), bad


def screens_frame(root: str | Path | None = None) -> pd.DataFrame:
    """One row per screen run pair (a screen not yet run: one row, no seed): the screen ("gamma=0.6"),
    the fields it decides, the seed, the difference screen - ``mkd`` (points), whether a run of the
    pair collapsed, and the screen's paired effect (mean, 95 % interval) and decision: what the
    departures figure draws."""
    departing = departing_sources()
    rows = []
    for change, seeds in _screens(departing):
        sources = [src for src in departing if src.field in change]
        scope = "benchmark" if any(src.scope == "benchmark" for src in sources) else "mkd"
        got = screen_pairs(change, seeds, root)
        effect, bad = _effect_of(got)
        screen = ", ".join(f"{k}={v}" for k, v in change.items())
        rows += _frame_rows(screen, [src.field for src in sources], decision(effect, bad, scope), effect, got)
    rows = _by_field(rows, lambda r: r["fields"].split(", "))
    check = preset_check_pairs(root)
    if check is not None:  # the preset has changed since its screens: the removals together
        rows += _frame_rows(PRESET_CHECK, [], CHECK, _effect_of(check)[0], check)
    return pd.DataFrame(rows).astype({"seed": "Int64"}) if rows else pd.DataFrame(rows)


def _frame_rows(screen: str, fields: list[str], word: str, effect, got: list[dict]) -> list[dict]:
    """:func:`screens_frame`'s rows of one screen: one per pair of ``got`` (none yet: one, no seed)."""
    nan = float("nan")
    head = {"screen": screen, "fields": ", ".join(fields)}
    head |= {k: getattr(effect, k) if effect else nan for k in ("mean", "low", "high")}
    head["decision"] = word
    blank = {"seed": None, "difference": nan, "collapsed": []}
    return [
        {**head, "seed": p["seed"], "difference": p["difference"], "collapsed": bool(p["collapsed"])}
        for p in got or [blank]
    ]


#: a screen that shows no failure of a field that another of its screens keeps (gamma: one screen per
#: reading of Eq. 1); a field stays where any of its screens shows the literal setting failing
OUTVOTED = "no failure here; the field's other screen keeps it"


def _by_field(rows: list[dict], fields) -> list[dict]:
    """Each row's decision read with its field's other screens: FOLLOWS becomes OUTVOTED where
    another screen of one of its ``fields(row)`` keeps it."""
    kept = {f for r in rows if r["decision"] == KEPT for f in fields(r)}
    return [{**r, "decision": OUTVOTED} if r["decision"] == FOLLOWS and kept & set(fields(r)) else r for r in rows]


#: the screens' figure's row for :func:`preset_check_pairs`
PRESET_CHECK, CHECK = "today's preset (every removal together)", "a check: no decision"


def preset_check_pairs(root: str | Path | None = None) -> list[dict] | None:
    """``mkd``'s preset of today against it as screened, at the screens' seeds on the validation set
    (grid ``preset_check``), as :func:`screen_pairs` gives them: what the removals do together. None
    while the preset is as screened (the two are the same runs)."""
    from mkdlib.experiments import SCREEN_SEEDS, as_stored, grid
    from mkdlib.report.evidence.claims import _store, config_at, supervised_reference

    today = [c for c in grid("preset_check") if c.seed in SCREEN_SEEDS]  # seed 0's reference ran on 2 threads
    screened = as_stored({"method": "mkd"})  # mkd as its screens ran it, whichever presets the book reads
    if all(c.key() == config_at(screened, c.seed).key() for c in today):
        return None
    store = _store(root)
    sup, out = supervised_reference(store), []
    for cfg in today:
        a, b = store.run(cfg), store.run(config_at(screened, cfg.seed))
        if a is not None and b is not None:
            out.append(_pair(cfg.seed, a, b, sup))
    return out


def screens_note(screens: pd.DataFrame) -> str:
    """What the screens' figure leaves to say: how many screens judge at 95 % each, unadjusted, and
    so how often a set of them keeps a departure by chance when no literal setting truly fails."""
    n = screens["screen"].nunique()
    chance = 1 - (1 - stats.ALPHA / 2) ** n  # a screen keeps when its two-sided interval lies below 0
    return (
        f"{n} screens, each by its {100 * (1 - stats.ALPHA):.0f} % interval without a multiple-comparison "
        f"adjustment: if no literal setting truly failed, {100 * chance:.0f} % of such sets would still keep "
        "at least one departure by chance. The rule errs toward the preset that was measured; a kept "
        "departure with an interval close to 0 is the one to screen again with more seeds."
    )


def _screens(departing: list[Source]) -> list[tuple[dict, tuple[int, ...]]]:
    """Every screen of a departing field, once each (a screen of two fields decides both)."""
    out = []
    for src in departing:
        for change, seeds in screens_of(src.field):
            if (change, seeds) not in out:
                out.append((change, seeds))
    return out


def decision(effect: stats.PairedEffect | None, collapsed: list[str], scope: str = "mkd") -> str:
    """KEPT when the literal setting fails (interval below 0, or a run of it collapsed), FOLLOWS when
    3 or more pairs show no failure (BENCHMARK for a setting of every method), PENDING otherwise."""
    if collapsed:
        return KEPT
    if effect is None or effect.pairs < stats.MIN_PAIRS or not math.isfinite(effect.high):
        return PENDING
    if effect.high < 0:
        return KEPT
    return BENCHMARK if scope == "benchmark" else FOLLOWS


def departures_table(root: str | Path | None = None) -> pd.DataFrame:
    """One row per screen of each departure of ``mkd``: the sources' words, ``mkd``'s value as
    screened and now, the literal value, the paired screen on the validation set and the decision it
    gives."""
    preset, now = screened_preset("mkd"), resolve(base_config(method="mkd"))
    rows = []
    for src in departing_sources():
        for change, seeds in screens_of(src.field) or [({src.field: src.literal}, ())]:
            effect, bad = screen_effect(change, seeds, root) if seeds else (None, [])
            rows.append(
                {
                    "what": src.what + (" (every method here)" if src.scope == "benchmark" else ""),
                    "paper": src.paper,
                    "release": src.release,
                    "field": src.field,
                    "mkd": getattr(preset, src.field),
                    "mkd now": getattr(now, src.field),
                    "screened": ", ".join(f"{k}={v}" for k, v in change.items()),
                    "screen vs mkd": _effect_text(effect, bad),
                    "decision": decision(effect, bad, src.scope) if seeds else "not screened",
                }
            )
    return pd.DataFrame(_by_field(rows, lambda r: [r["field"]]))


def _effect_text(effect: stats.PairedEffect | None, collapsed: list[str]) -> str:
    if effect is None:
        return "not run yet"
    text = f"{effect.mean:+.1f}"
    if math.isfinite(effect.low):
        text += f" [{effect.low:+.1f}, {effect.high:+.1f}]"
    text += f", {effect.pairs} pair{'s' if effect.pairs != 1 else ''}"
    return text + (f", {len(collapsed)} collapsed" if collapsed else "")


def departures_markdown(root: str | Path | None = None) -> str:
    """:func:`departures_table` as the markdown block of book/paper-vs-code.md and the README."""
    t = departures_table(root)
    cols = ["what", "paper", "release", "field", "mkd", "screened", "screen vs mkd", "decision"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in t.iterrows():
        cells = [_cell(r[c]) for c in cols]
        cells[3], cells[4] = f"`{cells[3]}`", f"`{cells[4]}`"
        if r["mkd now"] != r["mkd"]:  # set since the screen (the removed departures)
            cells[4] += f", now `{_cell(r['mkd now'])}`"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(v) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def departures_sentence(root: str | Path | None = None) -> str:
    """How many departures ``mkd`` has and where they stand, in one sentence (the intro's caveats)."""
    t = departures_table(root)
    fields = t.groupby("field", sort=False)["decision"].agg(list)
    kept = [f for f, d in fields.items() if KEPT in d]
    pending = [f for f, d in fields.items() if f not in kept and (PENDING in d or "not screened" in d)]
    shared = [f for f, d in fields.items() if f not in kept and f not in pending and BENCHMARK in d]
    followed = [f for f in fields.index if f not in kept and f not in pending and f not in shared]
    applied = set(t.loc[t["mkd now"] != t["mkd"], "field"])
    removed, to_follow = [f for f in followed if f in applied], [f for f in followed if f not in applied]
    n = len(fields)
    parts = [
        f"{len(kept)} kept by measurement ({', '.join(kept)})" if kept else "",
        f"{len(shared)} kept as every method's setting here ({', '.join(shared)})" if shared else "",
        f"{len(removed)} removed, the preset now follows the source ({', '.join(removed)})" if removed else "",
        f"{len(to_follow)} to follow the source ({', '.join(to_follow)})" if to_follow else "",
        f"{len(pending)} screen{'s' if len(pending) != 1 else ''} pending" if pending else "",
    ]
    return (
        f"`mkd` departs from Algorithm 1 (the release where it is silent) in {n} setting{'s' if n != 1 else ''}: "
        + "; ".join(p for p in parts if p)
        + "."
    )


def sources_markdown(root: str | Path | None = None) -> str:
    """Every setting the sources speak to (:data:`mkdlib.registry.SOURCES`): the paper's and the
    release's words, and what the two presets and the runs stored before the field existed use."""
    from mkdlib.registry import ADDED_SETTINGS, PRESET_SETTINGS

    presets = {m: resolve(base_config(method=m)) for m in ("mkd", "mkd_release")}

    def cell(v) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    cols = ["what", "Algorithm 1 / paper", "release", "field", "`mkd`", "`mkd_release`", "before"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for src in SOURCES:
        before = cell(PRESET_SETTINGS[src.field]) if src.field in ADDED_SETTINGS else "(same)"
        values = [cell(getattr(presets[m], src.field)) for m in presets]
        lines.append(f"| {src.what} | {src.paper} | {src.release} | `{src.field}` | {' | '.join(values)} | {before} |")
    return "\n".join(lines)


def plot_screens(screens: pd.DataFrame) -> Figure:
    """Each screen of ``mkd``'s departures: the literal setting minus ``mkd`` at each seed (dots; a
    cross where a run of the pair collapsed), their mean and paired 95 % interval, coloured by the
    decision (kept: the interval below 0 or a collapse; removed; pending). ``screens``:
    :func:`screens_frame`."""
    colours = {KEPT: "#882255", FOLLOWS: "#332288", OUTVOTED: "#88CCEE", BENCHMARK: "#999933", CHECK: "#333333"}
    order = list(dict.fromkeys(screens["screen"]))
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(order) + 2.2))  # a book figure (viz.show)
    for y, name in enumerate(order):
        rows = screens[screens["screen"] == name]
        head = rows.iloc[0]
        colour = colours.get(head["decision"], "0.6")
        done = rows.dropna(subset=["difference"])
        if done.empty:
            ax.text(0, y, " not run yet", va="center", fontsize="x-small", color="grey")
            continue
        for _, r in done.iterrows():
            ax.plot(r["difference"], y, "x" if r["collapsed"] else "o", color=colour, ms=5, alpha=0.7, mfc="none")
        if np.isfinite(head["low"]):
            ax.plot([head["low"], head["high"]], [y, y], color=colour, lw=2, solid_capstyle="butt")
        ax.plot(head["mean"], y, "D", color=colour, ms=6)
    ax.axvline(0, color="k", lw=0.8)
    labels = [textwrap.fill(n.replace("=", " = ").replace(", ", "; "), 26) for n in order]
    ax.set_yticks(range(len(order)), labels, fontsize="small")
    ax.set_ylim(len(order) - 0.4, -0.6)  # first screen on top
    ax.set(
        xlabel="validation mIoU, literal setting minus mkd (points, paired by seed)",
        title="Does the literal setting fail?\n(dots: seeds; x: a run collapsed; bar: paired 95 % interval)",
    )
    ax.grid(axis="x", alpha=0.3)
    words = {
        KEPT: "kept: fails",
        FOLLOWS: "removed",
        OUTVOTED: "no failure (kept by another)",
        BENCHMARK: "kept: every method's",
        CHECK: "together",
    }
    shown = set(screens["decision"])  # a legend entry for each kind of row the figure has
    handles = [Line2D([], [], color=c, marker="D", lw=2, label=words[w]) for w, c in colours.items() if w in shown]
    if shown - set(colours):
        handles.append(Line2D([], [], color="0.6", marker="D", lw=2, label="pending"))
    legend_under_axes(ax, ncol=len(handles), handles=handles)
    fig.tight_layout()
    return readable(fig)
