"""Plot helpers for the book: curves, per-class IoU, palette overlays, galleries, Tables 1-5 plots
and the ablation explorer. Notebooks only call these, so every figure can be rebuilt outside them.

Every function returns a matplotlib Figure and reads only what it is given or the results store;
none of them trains. The interactive explorer (plotly figures, and the JupyterLab widget whose
button launches a short run through :mod:`mkdlib.experiments`) is :mod:`mkdlib.report.explorer`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..data.palette import IGNORE_INDEX, colorize, overlay, voc_palette  # noqa: F401 (overlay: part of viz)

#: Label put on every figure of measured numbers (they are never PASCAL VOC / Cityscapes).
BUILT_IN = "built-in dataset (CPU), not PASCAL VOC / Cityscapes"
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


def show(fig: Figure | None = None) -> None:
    """Show a figure in a notebook after :func:`readable` (every book figure goes through here)."""
    fig = fig or plt.gcf()
    readable(fig)
    plt.show()


def display_path(path: str | Path) -> str:
    """A path as the book prints it: relative to the repository, or under ``$MKD_DATA_DIR`` /
    ``$MKD_RESULTS_DIR`` by that name, never the building machine's absolute path."""
    import os

    path = Path(path).resolve()
    for env in ("MKD_DATA_DIR", "MKD_RESULTS_DIR", "MKD_RUNS_DIR"):
        root = os.environ.get(env)
        if root and path.is_relative_to(Path(root).resolve()):
            return str(Path(f"${env}") / path.relative_to(Path(root).resolve()))
    from ..io import REPO_ROOT as repo

    if path.is_relative_to(repo):
        return str(path.relative_to(repo))
    return f"<outside the repository>/{path.name}"


def show_source(obj) -> None:
    """Display mkdlib's own source of ``obj`` in a notebook (never a re-typed copy that can drift)."""
    import inspect

    from IPython.display import Markdown, display

    display(Markdown(f"```python\n{inspect.getsource(obj)}\n```"))


# --------------------------------------------------------------------------- masks and images
def palette_handles(class_names: Sequence[str], ignore: bool = True) -> list[Patch]:
    """Legend patches in the VOC palette, one per class (plus 'ignore' for 255)."""
    pal = voc_palette() / 255.0
    handles = [Patch(facecolor=pal[i], edgecolor="k", label=f"{i}: {n}") for i, n in enumerate(class_names)]
    if ignore:
        handles.append(Patch(facecolor=pal[IGNORE_INDEX], edgecolor="k", label="255: ignore"))
    return handles


def add_palette_legend(fig: Figure, class_names: Sequence[str], ignore: bool = True) -> None:
    """One palette legend under the whole figure."""
    handles = palette_handles(class_names, ignore)
    ncol = max(1, min(len(handles), int(fig.get_figwidth() / 1.9)))
    fig.legend(handles=handles, loc="lower center", ncol=ncol, frameon=False, bbox_to_anchor=(0.5, -0.02), fontsize=10)


def _as_rgb(panel: np.ndarray) -> np.ndarray:
    """An RGB image stays; a (H, W) integer class map is coloured with the palette."""
    panel = np.asarray(panel)
    if panel.ndim == 2:
        return colorize(panel)
    return panel


def image_grid(
    rows: Sequence[Sequence[np.ndarray]],
    col_titles: Sequence[str] | None = None,
    row_titles: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    size: float = 1.8,
    suptitle: str | None = None,
) -> Figure:
    """A grid of panels: RGB images as they are, (H, W) class maps in palette colours.

    ``class_names`` adds the palette legend under the grid. Panels shrink so that the grid fits
    the book's column at full size (its text then needs no scaling down).
    """
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    size = min(size, (COLUMN_PX / FIGURE_DPI - (0.5 if row_titles is not None else 0.2)) / n_cols)
    n_legend_rows = 0
    if class_names is not None:
        n_legend = len(class_names) + 1
        n_legend_rows = -(-n_legend // max(1, min(n_legend, int(size * n_cols / 1.9))))
    extra = 0.3 * n_legend_rows + 0.2 if class_names is not None else 0.0
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, size * n_rows + extra), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(row):
                ax.imshow(_as_rgb(row[j]), interpolation="nearest")
            else:
                ax.axis("off")
            if i == 0 and col_titles is not None and j < len(col_titles):
                ax.set_title(col_titles[j], fontsize=9)
            if j == 0 and row_titles is not None and i < len(row_titles):
                ax.set_ylabel(row_titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    if class_names is not None:
        fig.subplots_adjust(bottom=extra / (size * n_rows + extra) + 0.02)
        add_palette_legend(fig, class_names)
    return readable(fig)


def sample_gallery(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    class_names: Sequence[str],
    titles: Sequence[str] | None = None,
    ncols: int = 6,
    size: float = 1.8,
) -> Figure:
    """Samples in pairs of rows: the image, then its mask overlaid on it."""
    if len(images) != len(masks):
        raise ValueError(f"sample_gallery: {len(images)} images but {len(masks)} masks")
    rows = []
    for start in range(0, len(images), ncols):
        rows.append(list(images[start : start + ncols]))
        rows.append([overlay(im, m) for im, m in zip(images[start : start + ncols], masks[start : start + ncols])])
    fig = image_grid(rows, col_titles=titles, class_names=class_names, size=size)
    for i, ax_row in enumerate(np.asarray(fig.axes[: len(rows) * ncols]).reshape(len(rows), ncols)):
        ax_row[0].set_ylabel("image" if i % 2 == 0 else "labels", fontsize=9)
    return readable(fig)


# --------------------------------------------------------------------------- curves and IoU
def _curve_frames(curves: Sequence[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = pd.DataFrame(list(curves))
    train = df[df["loss"].notna()] if "loss" in df else df.iloc[0:0]
    ev = df[df["miou"].notna()] if "miou" in df else df.iloc[0:0]
    return train, ev


def plot_curves(curves: Sequence[dict] | Mapping[str, Sequence[dict]], title: str | None = None) -> Figure:
    """Loss and validation-mIoU curves from ``metrics.jsonl`` records.

    One run (a list of records): the total loss and each term (sup, st, ss). Several runs (a dict
    label -> records): the total loss and the mIoU of each, side by side.
    """
    fig, (ax_loss, ax_miou) = plt.subplots(1, 2, figsize=(8.5, 3.4))
    many = isinstance(curves, Mapping)
    for label, recs in curves.items() if many else [(None, curves)]:
        train, ev = _curve_frames(recs)
        terms = ["loss"] if many else [t for t in ("loss", "sup", "st", "ss") if t in train]
        for t in terms:
            if len(train):
                ax_loss.plot(train["iter"], train[t], label=(label if many else t), lw=1.2 if t == "loss" else 0.9)
        if len(ev):
            ax_miou.plot(ev["iter"], 100 * ev["miou"], marker="o", ms=3, label=label or "student 1")
    ax_loss.set(xlabel="iteration", ylabel="loss", title="training loss" + (" (total)" if many else " terms"))
    ax_loss.set_yscale("log")
    ax_miou.set(xlabel="iteration", ylabel="val mIoU (%)", title=f"validation mIoU, {BUILT_IN.split(',')[0]}")
    for ax in (ax_loss, ax_miou):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return readable(fig)


def plot_miou_curves(curves: Mapping[str, Sequence[dict]], title: str | None = None) -> Figure:
    """Validation mIoU over training for several runs (label -> ``metrics.jsonl`` records): shows
    which runs peak mid-training and then degrade, which a final-mIoU table hides."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for label, recs in curves.items():
        _, ev = _curve_frames(recs)
        if len(ev):
            ax.plot(ev["iter"], 100 * ev["miou"], marker="o", ms=3, label=label)
    if not ax.get_legend_handles_labels()[0]:
        _no_data(ax)
    else:  # below the axes: long labels then cost no plot width
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    ax.set(xlabel="iteration", ylabel="val mIoU (%)", title=title or f"validation mIoU, {BUILT_IN.split(',')[0]}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return readable(fig)


def plot_gain_by_iteration(gains: pd.DataFrame, min_gain: float, labels: Mapping[str, str] | None = None) -> Figure:
    """Each method's gain over supervised training at every evaluation (a frame of
    :func:`mkdlib.report.calibration.gain_by_iteration`), its noise band (2 sd of the difference),
    and the gate's minimum gain: when in training semi-supervision starts to pay."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    labels = labels or {}
    for method, g in gains.groupby("method", sort=False):
        g = g.sort_values("iter")
        n = int(g["seeds"].max())
        label = f"{labels.get(method, method)} ({n} seed{'s' if n != 1 else ''})"
        (line,) = ax.plot(g["iter"], g["gain"], marker="o", ms=3, label=label)
        band = g["noise"].notna()
        if band.any():
            lo, hi = g["gain"] - g["noise"], g["gain"] + g["noise"]
            ax.fill_between(g["iter"][band], lo[band], hi[band], color=line.get_color(), alpha=0.15, lw=0)
    if not ax.get_legend_handles_labels()[0]:
        _no_data(ax)
    else:
        ax.axhline(0, color="0.3", lw=0.8)
        ax.axhline(min_gain, color="0.3", lw=0.8, ls="--", label=f"gate: +{min_gain:g}")
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    ax.set(
        xlabel="iteration",
        ylabel="gain over supervised (mIoU points)",
        title="gain over supervised training at 1/16 (band: 2 sd of the difference)",
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return readable(fig)


def plot_per_class_iou(
    per_class: Sequence[float] | Mapping[str, Sequence[float]], class_names: Sequence[str], title: str | None = None
) -> Figure:
    """Per-class IoU bars (%); a dict label -> IoUs gives grouped bars, one colour per run."""
    import seaborn as sns

    data = per_class if isinstance(per_class, Mapping) else {"run": per_class}
    rows = [
        {"class": c, "IoU (%)": 100 * float(v) if v is not None else np.nan, "run": label}
        for label, ious in data.items()
        for c, v in zip(class_names, ious)
    ]
    df = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(min(8.5, max(5.0, 1.1 * len(class_names) * max(1, len(data)) ** 0.5)), 3.2))
    sns.barplot(df, x="class", y="IoU (%)", hue="run" if len(data) > 1 else None, ax=ax)
    ax.set_ylim(0, 100)
    ax.set_title(title or f"per-class IoU ({BUILT_IN.split(',')[0]})", fontsize="medium")
    ax.tick_params(axis="x", labelrotation=20)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return readable(fig)


# --------------------------------------------------------------------------- qualitative (Figure 2)
def predictions_by_id(stored: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``predictions.npz`` contents (``ids`` + stacked ``pred``, or ``pred_<id>`` per image) as
    id -> (H, W) class map."""
    ids = [str(i) for i in stored["ids"]]
    if "pred" in stored:
        return dict(zip(ids, stored["pred"]))
    return {i: stored[f"pred_{i}"] for i in ids}


def per_image_miou(pred: np.ndarray, target: np.ndarray, num_classes: int) -> float:
    """mIoU of one image over the classes present in its truth or prediction (255 ignored)."""
    import torch

    from ..evaluate import confusion_matrix, mean_iou

    conf = confusion_matrix(torch.as_tensor(pred).long(), torch.as_tensor(target).long(), num_classes)
    return mean_iou(conf)


def most_improved(
    baseline: Sequence[np.ndarray],
    improved: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    num_classes: int,
    k: int = 4,
) -> list[tuple[int, float, float]]:
    """The ``k`` images whose per-image mIoU rose most from ``baseline`` to ``improved``:
    ``(index, baseline mIoU, improved mIoU)``, largest gain first."""
    scores = [
        (i, per_image_miou(b, t, num_classes), per_image_miou(m, t, num_classes))
        for i, (b, m, t) in enumerate(zip(baseline, improved, targets))
    ]
    return sorted(scores, key=lambda s: s[2] - s[1], reverse=True)[:k]


def qualitative_figure(
    images: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    predictions: Mapping[str, Sequence[np.ndarray]],
    class_names: Sequence[str],
    row_titles: Sequence[str] | None = None,
    size: float = 1.9,
) -> Figure:
    """Figure 2 of the paper: image, ground truth, then one column per method's prediction."""
    rows = [[img, gt, *(p[i] for p in predictions.values())] for i, (img, gt) in enumerate(zip(images, truths))]
    return image_grid(
        rows,
        col_titles=["image", "ground truth", *predictions],
        row_titles=row_titles,
        class_names=class_names,
        size=size,
    )


# --------------------------------------------------------------------------- Tables 1-5 plots
def _no_data(ax, what: str = "not yet run") -> None:
    ax.text(0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes, color="grey")


def plot_label_fractions(runs: pd.DataFrame, paper: pd.DataFrame) -> Figure:
    """mIoU vs label fraction: ours (built-in dataset, sd over seeds) beside the paper's Table 1.

    ``runs``: :func:`mkdlib.paper.grid_runs` rows; ``paper``: the ``table1_voc_classic`` table.
    """
    import seaborn as sns

    from .palette import METHOD_COLOURS
    from .paper import FRACTIONS, method_label

    fig, (ax, axp) = plt.subplots(1, 2, figsize=(8.5, 3.4), sharey=True)
    done = runs.dropna(subset=["miou"])
    if len(done):
        colours = {method_label(m): c for m, c in METHOD_COLOURS.items()}
        done = done.assign(
            split=pd.Categorical(done["split"], FRACTIONS, ordered=True), method=done["method"].map(method_label)
        )
        sns.lineplot(
            done,
            x="split",
            y="miou",
            hue="method",
            palette={m: colours.get(m, "0.5") for m in done["method"].unique()},
            errorbar="sd",
            err_style="bars",
            marker="o",
            ax=ax,
            sort=True,
        )
    else:
        _no_data(ax)
    ax.set(xlabel="labeled fraction", ylabel="val mIoU (%)", title="ours: built-in dataset")
    styles = {
        "CPS-R101": (METHOD_COLOURS["cps"], "-"),
        "MKD-R50": (METHOD_COLOURS["mkd"], "--"),
        "MKD-R101": (METHOD_COLOURS["mkd"], "-"),
    }
    for name, (colour, style) in styles.items():
        axp.plot(list(FRACTIONS), paper.loc[name].values, style, color=colour, marker="o", label=name)
    ax.set_ylim(0, 100)
    axp.set(xlabel="labeled fraction", ylabel="val mIoU (%)", title="paper: PASCAL VOC 2012 (Table 1)")
    axp.legend(fontsize="small")
    for a in (ax, axp):
        a.grid(alpha=0.3)
    fig.tight_layout()
    return readable(fig)


def plot_ablation(runs: pd.DataFrame, table: pd.DataFrame) -> Figure:
    """Table 3 as bars: ours (mean, sd over seeds, one dot per seed) beside the paper's."""
    import seaborn as sns

    from .paper import PAPER, short_label

    labels = [short_label(label) for label in table.index]  # the paper's abbreviations: + MT, + SDA, ...
    from .palette import METHOD_COLOURS, PAPER_COLOUR

    # zero-based, shared axes: ours and the paper's bars read on one scale
    fig, (ax, axp) = plt.subplots(1, 2, figsize=(8, 0.45 * len(labels) + 1.8), sharey=True, sharex=True)
    done = runs.dropna(subset=["miou"]).assign(label=lambda d: d["label"].map(short_label))
    ours = METHOD_COLOURS["mkd"]
    if len(done):
        sns.barplot(done, y="label", x="miou", order=labels, errorbar="sd", color=ours, alpha=0.6, ax=ax)
        sns.stripplot(done, y="label", x="miou", order=labels, color=ours, edgecolor="k", linewidth=0.5, size=4, ax=ax)
    else:
        ax.set_yticks(range(len(labels)), labels)
        _no_data(ax)
    ax.set(xlabel="val mIoU (%)", ylabel="", title="ours: built-in dataset")
    col = [c for c in table.columns if c.startswith(PAPER) and "gain" not in c][0]
    axp.barh(range(len(labels)), table[col].values, color=PAPER_COLOUR)
    axp.set_xlim(0, 100)
    axp.set(xlabel="val mIoU (%)", title="paper: VOCAug 1/16, R50")
    for a in (ax, axp):
        a.grid(axis="x", alpha=0.3)
    fig.text(
        0.01,
        0.005,
        "co-training (CPS) + MT: mean teacher, mutual MT, SDA: strong aug, FDA: feature aug",
        fontsize="small",
        color="0.3",
        va="bottom",
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return readable(fig)


def plot_sweep(runs: pd.DataFrame, table: pd.DataFrame, param: str) -> Figure:
    """Table 4/5 as lines: ours vs ``param`` (built-in dataset) beside the paper's R50 and R101."""
    import seaborn as sns

    from .paper import PAPER

    fig, (ax, axp) = plt.subplots(1, 2, figsize=(8.5, 3.2))
    done = runs.dropna(subset=["miou"])
    if len(done):
        from .palette import method_colour
        from .paper import method_label

        done = done.assign(series=[method_label(m) for m in done["method"]])
        colours = {method_label(m): method_colour(m) for m in done["method"].unique()}
        sns.lineplot(
            done, x=param, y="miou", hue="series", palette=colours, errorbar="sd", err_style="bars", marker="o", ax=ax
        )
        ax.legend(fontsize="small", title=None)
    else:
        _no_data(ax)
    ax.set(xlabel=param, ylabel="val mIoU (%)", title="ours: built-in dataset")
    for col in (f"{PAPER} R50", f"{PAPER} R101"):
        s = table[col].dropna()
        axp.plot(s.index, s.values, marker="o", label=col.replace(f"{PAPER} ", ""))
    axp.set(xlabel=param, ylabel="val mIoU (%)", title="paper: VOCAug 1/16")
    axp.legend(fontsize="small")
    for a in (ax, axp):
        a.grid(alpha=0.3)
    fig.tight_layout()
    return readable(fig)


def plot_effect_directions(effects: pd.DataFrame) -> Figure:
    """Each paper effect as two bars: our gain (built-in dataset, with its seed-noise band) and the
    paper's gain. ``effects``: :func:`mkdlib.paper.effect_directions`."""
    from .paper import OURS, PAPER

    labels = [f"{t}: {e}" for t, e in effects.index]
    y = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(labels) + 1.4))
    ours, theirs, noise = effects[f"{OURS} gain"], effects[f"{PAPER} gain"], effects["noise (±)"]
    ax.barh(
        y - 0.2,
        ours.fillna(0.0),
        height=0.4,
        color="C0",
        label="ours (built-in dataset)",
        xerr=noise.fillna(0.0),
        error_kw={"ecolor": "0.4", "capsize": 2, "lw": 0.8},
    )
    ax.barh(y + 0.2, theirs, height=0.4, color="C1", label="paper")
    for yi, v in zip(y, ours):
        if np.isnan(v):
            ax.text(0, yi - 0.2, " not yet run", va="center", fontsize="x-small", color="grey")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, labels, fontsize="small")
    ax.invert_yaxis()
    ax.set(
        xlabel="mIoU gain over the table's reference row (points)",
        title="Does each effect reproduce? (error bars: 2 sd of seed noise)",
    )
    ax.legend(fontsize="small", loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return readable(fig)
