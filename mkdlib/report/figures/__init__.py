"""The figures: curves, masks and galleries (viz), the tables chapter's plots (table_figures), text
sizes and legends (figstyle), one colour per method (palette) and the
collapse traces read and drawn (collapse). Imports the tables and the evidence."""
