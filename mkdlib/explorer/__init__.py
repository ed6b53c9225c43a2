"""The ablation explorer, on top of the report (:mod:`mkdlib.report`): every stored run in plotly
figures that work in the published HTML without a kernel, and the JupyterLab widget that compares
stored runs and launches short live runs (the one part of mkdlib above the report that trains).

runs      the stored runs of each view, labelled by what sets them apart; side by side; what to notice
figures   the plotly figures (final mIoU, curves, a comparison) and their display, plotly.js once
widget    the figures as widgets a short run redraws, and the explorer widget itself
"""

from .figures import compare_figure, curve_styles, curves_figure, final_miou_figure, plotly_output
from .runs import VIEWS, StoredRun, explorer_runs, matching_runs, notice, run_summary, user_store
from .widget import ablation_explorer, show_figure
