"""The report: what the results store says, as the book's tables, notes and figures. Three rooms,
imports running one way (figures -> tables -> evidence; tests/test_architecture.py):

evidence/   what the numbers are
    store         the results store read once per process; the one matching rule (seed-free key + seed)
    stats         the one paired-effect rule: intervals, detectable effects, verdicts, the collapse rule
    claims        the paper's claims, each two configs paired by seed, judged by stats; power
    cells         every table as cells of one long frame (source, table, row, metric, value)
    transcribed   the paper's published numbers (paper_results.yaml)
    qualitative   Figure 2's runs: the representative seed (median paired difference), images better / worse
    provenance    where, when and from what commit the runs ran (one line for a set of runs); how long a run took
    rerun         the command that makes stored runs (a claim's) again
tables/     the tables and their notes
    tables        Tables 1-5 and the diagnosis, ours beside the paper's
    display       numbers as the book shows them ("not yet run", "—", mean ± sd, compact tables)
    effects       whether each effect reproduces; the intro's headline and verdict
    notices       "what to notice" under each table
figures/    the figures
    viz           curves, per-class IoU, masks and overlays, source listings (the tables' plots re-exported)
    table_figures Tables 1, 3-5 and the effects as plots
    figstyle      text sizes and legends that read on the book's page
    palette       one colour per method, on every page
    collapse      the collapse traces (computed by mkdlib.traces) read and drawn

paper.py is the notebooks' one import (``from mkdlib.report import paper``). The report trains
nothing; the ablation explorer, whose button launches short runs, is above it (:mod:`mkdlib.explorer`).
``mkd``'s departures from its sources and their screens are the book's (:mod:`booktools.departures`).
"""
