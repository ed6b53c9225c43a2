"""The paper beside our stored runs: one import for the notebooks (``from mkdlib.report import paper``).

The work is done in the modules this one re-exports, one per seam:

- :mod:`.store`: the results store read once per process (cached while it is unchanged) and the
  queries every table makes on it: stored runs, grid runs matched by seed-free key, seed summaries,
  the curves of a runs table;
- :mod:`.transcribed`: the paper's published numbers (``paper_results.yaml``);
- :mod:`.cells` and :mod:`.tables`: each table as cells on one long frame (``source, table, row,
  metric, value``), laid out wide; the Tables 1-5 analogues, the diagnosis, the error breakdown;
- :mod:`.effects` and :mod:`.notices`: the generated prose, whether each effect reproduces, the
  verdict, and the "what to notice" under each table;
- :mod:`.display`: numbers as the book shows them.
"""

from __future__ import annotations

from ..registry import SWITCH_LABELS  # re-exported for the notebooks
from .evidence.cells import LONG_COLUMNS, OURS, PAPER, SOURCES, Cells, wide
from .evidence.store import (
    _stored_rows,
    grid_runs,
    grid_status,
    seed_curves,
    seed_free_key,
    seed_summary,
    stored_key,
    stored_result,
    stored_runs,
    switch_label,
)
from .evidence.transcribed import FRACTIONS, PAPER_RESULTS_PATH, load_paper, paper_mkd_gains, paper_table, split_sizes
from .tables.display import SHORT, cell_kind, compact, dashed, flat_index, for_display, short_label, table_view, tidy
from .tables.effects import (
    NO_CHANGE_IN_PAPER,
    NO_RUNS,
    _judge,
    _mean_sd,
    effect_directions,
    effects_view,
    headline_summary,
    verdict,
)
from .tables.notices import (
    format_gain,
    notice_breakdown,
    notice_diagnosis,
    notice_effects,
    notice_gains_vs_reference,
    notice_label_fractions,
    notice_methods,
    notice_qualitative,
    notice_ranking,
    notice_run,
    what_to_notice,
)
from .tables.tables import (
    DIFFERENCE_ROW,
    FAIR_REFERENCE,
    METHOD_ROWS,
    TABLE1_METHODS,
    ablation_runs,
    breakdown_runs,
    diagnosis_runs,
    error_breakdown,
    label_fraction_runs,
    method_label,
    reference_setting,
    results_frame,
    table_ablation,
    table_diagnosis,
    table_label_fractions,
    table_methods,
    table_sweep,
)

__all__ = [
    "DIFFERENCE_ROW",
    "FAIR_REFERENCE",
    "FRACTIONS",
    "LONG_COLUMNS",
    "METHOD_ROWS",
    "NO_CHANGE_IN_PAPER",
    "NO_RUNS",
    "OURS",
    "PAPER",
    "PAPER_RESULTS_PATH",
    "SHORT",
    "SOURCES",
    "SWITCH_LABELS",
    "TABLE1_METHODS",
    "Cells",
    "_judge",
    "_mean_sd",
    "_stored_rows",
    "ablation_runs",
    "cell_kind",
    "compact",
    "dashed",
    "diagnosis_runs",
    "effect_directions",
    "effects_view",
    "breakdown_runs",
    "error_breakdown",
    "flat_index",
    "for_display",
    "format_gain",
    "grid_runs",
    "grid_status",
    "headline_summary",
    "label_fraction_runs",
    "load_paper",
    "method_label",
    "notice_breakdown",
    "notice_diagnosis",
    "notice_effects",
    "notice_gains_vs_reference",
    "notice_label_fractions",
    "notice_methods",
    "notice_qualitative",
    "notice_ranking",
    "notice_run",
    "paper_mkd_gains",
    "paper_table",
    "reference_setting",
    "results_frame",
    "seed_curves",
    "seed_free_key",
    "seed_summary",
    "short_label",
    "split_sizes",
    "stored_key",
    "stored_result",
    "stored_runs",
    "switch_label",
    "table_ablation",
    "table_diagnosis",
    "table_label_fractions",
    "table_methods",
    "table_sweep",
    "table_view",
    "tidy",
    "verdict",
    "what_to_notice",
    "wide",
]
