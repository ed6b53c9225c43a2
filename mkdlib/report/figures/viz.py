"""Plot helpers for the book: curves, per-class IoU, palette overlays, galleries and Tables 1-5
plots. Notebooks only call these, so every figure can be rebuilt outside them.

Every function returns a matplotlib Figure and reads only what it is given or the results store;
none of them trains. The interactive explorer (plotly figures, and the JupyterLab widget whose
button launches a short run through :mod:`mkdlib.experiments`) is :mod:`mkdlib.explorer`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ...data.palette import IGNORE_INDEX, colorize, overlay, voc_palette  # noqa: F401 (overlay: part of viz)
from ..evidence.cells import count
from ..evidence.qualitative import per_image_miou, predictions_by_id  # noqa: F401 (part of viz's API)
from .figstyle import (  # noqa: F401 (part of viz's API)
    COLUMN_PX,
    FIGURE_DPI,
    MIN_TEXT_PX,
    _tight_width_in,
    legend_below,
    legends_over_data,
    min_font_pt,
    readable,
    rendered_text_px,
)
from .palette import LOSS_TERM_COLOURS, METHOD_COLOURS, OURS_COLOUR, series_colours, series_styles
from .table_figures import (  # noqa: F401 (the tables chapter's figures, part of viz's API)
    _no_data,
    plot_ablation,
    plot_effect_directions,
    plot_headline_pairs,
    plot_label_fractions,
    plot_sweep,
)

#: Label put on every figure of measured numbers (they are never PASCAL VOC / Cityscapes).
BUILT_IN = "built-in dataset (CPU), not PASCAL VOC / Cityscapes"


def show(fig: Figure | None = None) -> None:
    """Show a figure in a notebook after :func:`readable` (every book figure goes through here)."""
    fig = fig or plt.gcf()
    readable(fig)
    plt.show()


def display_path(path: str | Path) -> str:
    """A path as the book prints it: relative to the repository, or under ``$MKD_DATA_DIR`` /
    ``$MKD_RESULTS_DIR`` by that name, never the building machine's absolute path. (The book's
    build names the repository's folders in those variables: the repository's name comes first.)"""
    import os

    from ...io import REPO_ROOT as repo

    path = Path(path).resolve()
    if path.is_relative_to(repo):
        return str(path.relative_to(repo))
    for env in ("MKD_DATA_DIR", "MKD_RESULTS_DIR", "MKD_RUNS_DIR"):
        root = os.environ.get(env)
        if root and path.is_relative_to(Path(root).resolve()):
            return str(Path(f"${env}") / path.relative_to(Path(root).resolve()))
    return f"<outside the repository>/{path.name}"


class SourceListing:
    """mkdlib's own source of an object as the book shows it: folded (``<details>``) under a one-line
    summary that names it and its length, highlighted like the book's code blocks when opened (a
    listing is reference, not reading: the components page was mostly source listings, issue 23).
    Its text form is the source itself, so nbval compares the code the page shows."""

    def __init__(self, obj):
        import inspect

        self.source = inspect.getsource(obj).rstrip("\n")
        module = getattr(obj, "__module__", "") or ""
        self.name = f"{module}.{getattr(obj, '__qualname__', getattr(obj, '__name__', repr(obj)))}".lstrip(".")

    @property
    def summary(self) -> str:
        n = self.source.count("\n") + 1
        return f"Source: {self.name} ({count(n, 'line')})"

    def _repr_html_(self) -> str:
        import html

        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        code = highlight(self.source, PythonLexer(), HtmlFormatter(nowrap=True))
        return (
            f'<details class="mkd-source"><summary><code>{html.escape(self.summary)}</code></summary>'
            f'<div class="highlight-python notranslate"><div class="highlight"><pre>{code}</pre></div></div></details>'
        )

    def __repr__(self) -> str:
        return f"{self.summary}\n{self.source}"


def show_source(obj) -> None:
    """Display mkdlib's own source of ``obj`` in a notebook (never a re-typed copy that can drift),
    folded under a summary line (:class:`SourceListing`)."""
    from IPython.display import display

    display(SourceListing(obj))


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
    """Samples in pairs of rows: the image, then its mask in class colours over it in grey
    (:func:`class_overlay`)."""
    if len(images) != len(masks):
        raise ValueError(f"sample_gallery: {len(images)} images but {len(masks)} masks")
    rows = []
    for start in range(0, len(images), ncols):
        rows.append(list(images[start : start + ncols]))
        rows.append(
            [class_overlay(im, m) for im, m in zip(images[start : start + ncols], masks[start : start + ncols])]
        )
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
    label -> records): the total loss and the mIoU of each, side by side, each run in its method's
    colour (:func:`mkdlib.report.figures.palette.series_styles`); the legend sits under both panels.
    """
    fig, (ax_loss, ax_miou) = plt.subplots(1, 2, figsize=(8.5, 3.6), layout="constrained")
    many = isinstance(curves, Mapping)
    styles = series_styles(curves) if many else {}
    for label, recs in curves.items() if many else [(None, curves)]:
        train, ev = _curve_frames(recs)
        colour, ls = styles.get(label, (None, "-"))
        terms = ["loss"] if many else [t for t in ("loss", "sup", "st", "ss") if t in train]
        for t in terms:
            if len(train):
                kw = {"color": colour, "ls": ls} if many else {"color": LOSS_TERM_COLOURS.get(t, "#999999")}
                ax_loss.plot(
                    train["iter"], train[t], label=(label if many else t), lw=1.2 if t == "loss" else 0.9, **kw
                )
        if len(ev):
            kw = {"color": colour, "ls": ls} if many else {"color": "k"}
            ax_miou.plot(ev["iter"], 100 * ev["miou"], marker="o", ms=3, label=label or "student 1", **kw)
    ax_loss.set(xlabel="iteration", ylabel="loss", title="training loss" + (" (total)" if many else " terms"))
    ax_loss.set_yscale("log")
    ax_miou.set(xlabel="iteration", ylabel="val mIoU (%)", title=f"validation mIoU, {BUILT_IN.split(',')[0]}")
    for ax in (ax_loss, ax_miou):
        ax.grid(alpha=0.3)
    legend_below(fig, ncol=3 if many else 5)
    if title:
        fig.suptitle(title)
    return readable(fig)


def plot_miou_curves(curves: Mapping[str, Sequence[dict]], title: str | None = None) -> Figure:
    """Validation mIoU over training for several runs (label -> ``metrics.jsonl`` records): shows
    which runs peak mid-training and then degrade, which a final-mIoU table hides. A run of a
    method is drawn in the method's colour (its variants in other line styles)."""
    fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
    styles = series_styles(curves)
    for label, recs in curves.items():
        _, ev = _curve_frames(recs)
        if len(ev):
            colour, ls = styles[label]
            ax.plot(ev["iter"], 100 * ev["miou"], ls=ls, color=colour, marker="o", ms=3, label=label)
    if not ax.get_legend_handles_labels()[0]:
        _no_data(ax)
    ax.set(xlabel="iteration", ylabel="val mIoU (%)", title=title or f"validation mIoU, {BUILT_IN.split(',')[0]}")
    ax.grid(alpha=0.3)
    legend_below(fig, ncol=2)  # below the axes: long labels then cost no plot width
    return readable(fig)


def plot_gain_by_iteration(gains: pd.DataFrame, min_gain: float, labels: Mapping[str, str] | None = None) -> Figure:
    """Each method's gain over supervised training at every evaluation (a frame of
    :func:`booktools.calibration.gain_by_iteration`), its noise band (2 sd of the difference),
    and the gate's minimum gain: when in training semi-supervision starts to pay."""
    fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
    labels = labels or {}
    for method, g in gains.groupby("method", sort=False):
        g = g.sort_values("iter")
        n = int(g["seeds"].max())
        label = f"{labels.get(method, method)} ({count(n, 'seed')})"
        colour = series_colours([method])[method]
        (line,) = ax.plot(g["iter"], g["gain"], marker="o", ms=3, color=colour, label=label)
        band = g["noise"].notna()
        if band.any():
            lo, hi = g["gain"] - g["noise"], g["gain"] + g["noise"]
            ax.fill_between(g["iter"][band], lo[band], hi[band], color=line.get_color(), alpha=0.15, lw=0)
    if not ax.get_legend_handles_labels()[0]:
        _no_data(ax)
    else:
        ax.axhline(0, color="0.3", lw=0.8)
        ax.axhline(min_gain, color="0.3", lw=0.8, ls="--", label=f"gate: +{min_gain:g}")
        legend_below(fig, ncol=3)
    ax.set(
        xlabel="iteration",
        ylabel="gain over supervised (mIoU points)",
        title="gain over supervised training at 1/16 (band: 2 sd of the difference)",
    )
    ax.grid(alpha=0.3)
    return readable(fig)


def plot_per_class_iou(
    per_class: Sequence[float] | Mapping[str, Sequence[float]],
    class_names: Sequence[str],
    title: str | None = None,
    method: str | None = None,
) -> Figure:
    """Per-class IoU bars (%); a dict label -> IoUs gives grouped bars, one per run in its method's
    colour, with the legend under the axes (never over a bar). One run's bars are in the colour of
    its ``method`` (the book's neutral colour for ours without one)."""
    import seaborn as sns

    data = per_class if isinstance(per_class, Mapping) else {"run": per_class}
    rows = [
        {"class": c, "IoU (%)": 100 * float(v) if v is not None else np.nan, "run": label}
        for label, ious in data.items()
        for c, v in zip(class_names, ious)
    ]
    df = pd.DataFrame(rows)
    width = min(8.5, max(5.0, 1.1 * len(class_names) * max(1, len(data)) ** 0.5))
    fig, ax = plt.subplots(figsize=(width, 3.4 if len(data) > 1 else 3.2), layout="constrained")
    if len(data) > 1:
        sns.barplot(df, x="class", y="IoU (%)", hue="run", palette=series_colours(data), saturation=1, ax=ax)
        legend_below(fig, ncol=3)
    else:
        sns.barplot(
            df, x="class", y="IoU (%)", color=METHOD_COLOURS.get(method or "", OURS_COLOUR), saturation=1, ax=ax
        )
    ax.set_ylim(0, 100)
    ax.set_title(title or f"per-class IoU ({BUILT_IN.split(',')[0]})", fontsize="medium")
    ax.tick_params(axis="x", labelrotation=20)
    ax.grid(axis="y", alpha=0.3)
    return readable(fig)


# --------------------------------------------------------------------------- qualitative (Figure 2)
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


def grey(image: np.ndarray, lo: float = 70.0, hi: float = 215.0) -> np.ndarray:
    """An RGB image as grey (its luminance, squeezed into ``lo``..``hi``), RGB again: the base that
    class colours are laid over, so that no colour of the scene (a red stripe, a green checker) can
    be read as a class colour."""
    lum = image[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.repeat((lo + (hi - lo) * lum / 255.0)[..., None], 3, axis=-1).astype(np.uint8)


def class_overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.7) -> np.ndarray:
    """A class map (H, W) in palette colours over the image in grey (:func:`grey`): every coloured
    pixel is a class, every grey one background (0) or ignored (255). Figure 2's overlays and the
    training chapter's predictions use it; :func:`overlay` (over the colour image) is what
    ``mkdlib predict`` writes."""
    return overlay(grey(image), np.where(mask == IGNORE_INDEX, 0, mask), alpha)  # ignored: grey, as background


def error_map(image: np.ndarray, pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The image in dim grey with the pixels ``pred`` gets wrong in red (ignored pixels, 255, left out)."""
    out = (grey(image) * 0.6).astype(np.uint8)
    wrong = (pred != truth) & (truth != IGNORE_INDEX)
    out[wrong] = (230, 30, 30)
    return out


def overlay_figure(
    images: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    predictions: Mapping[str, Sequence[np.ndarray]],
    class_names: Sequence[str],
    row_titles: Sequence[str] | None = None,
    errors_of: str | None = None,
) -> Figure:
    """Figure 2 as overlays: the image, then the ground truth and each method's prediction in class
    colours over the image in grey (:func:`class_overlay`: background and ignored pixels left grey),
    and where ``errors_of`` (a method) is wrong, in red."""
    rows = []
    for i, (img, gt) in enumerate(zip(images, truths)):
        row = [img, class_overlay(img, gt)]
        row += [class_overlay(img, p[i]) for p in predictions.values()]
        if errors_of in predictions:
            row.append(error_map(img, predictions[errors_of][i], gt))
        rows.append(row)
    short = {
        "supervised only": "supervised",
        "mean teacher": "MT",
        "CPS + CutMix": "CPS+CutMix",
        "CPS (co-training)": "CPS",
    }
    titles = ["image", "truth", *(short.get(n, n) for n in predictions)]
    titles += [f"{short.get(errors_of, errors_of)} errors"] if errors_of in predictions else []
    return image_grid(rows, col_titles=titles, row_titles=row_titles, class_names=class_names, size=2.0)
