"""The tables and their notes: Tables 1-5 and the diagnosis as queries on the evidence (tables),
numbers as the book shows them (display), what to notice under each (notices), whether each effect
reproduces and the verdict (effects). Imports the evidence,
never the figures."""
