"""The notebooks' one import (``from mkdlib.report import paper``): the tables, their notes and the
store's queries they call, re-exported from the rooms that hold them (the map: :mod:`mkdlib.report`)."""

from __future__ import annotations

from .evidence.cells import OURS, PAPER, wide
from .evidence.provenance import provenance_summary, run_provenance, run_time
from .evidence.rerun import claim_commands
from .evidence.store import grid_runs, grid_status, seed_curves, stored_key, stored_runs, switch_label
from .evidence.transcribed import FRACTIONS, load_paper, paper_mkd_gains, paper_table, split_sizes
from .tables.display import (
    claim_commands_view,
    claims_brief,
    claims_sources,
    claims_view,
    compact_table,
    dashed,
    flat_index,
    folded,
    for_display,
    short_label,
    table_view,
)
from .tables.effects import (
    effect_directions,
    effects_view,
    headline_pairs,
    headline_status,
    headline_summary,
    verdict,
)
from .tables.notices import (
    notice_breakdown,
    notice_diagnosis,
    notice_effects,
    notice_gains_vs_reference,
    notice_label_fractions,
    notice_methods,
    notice_qualitative,
    notice_ranking,
    notice_run,
)
from .tables.tables import (
    DIFFERENCE_ROW,
    FAIR_REFERENCE,
    METHOD_ROWS,
    ablation_runs,
    breakdown_runs,
    co_training_decline,
    diagnosis_runs,
    error_breakdown,
    label_fraction_runs,
    method_label,
    methods_runs,
    results_frame,
    table_ablation,
    table_diagnosis,
    table_label_fractions,
    table_methods,
    table_sweep,
)
