"""The tables and their notes: Tables 1-5 and the diagnosis as queries on the evidence (tables),
numbers as the book shows them (display), what to notice under each (notices), whether each effect
reproduces and the verdict (effects), the calibration gates (calibration), the regime's caveats
(caveats) and the index of every experiment with its cost (experiment_index). Imports the evidence,
never the figures."""
