"""Reporting, on top of everything else: stored runs as tables (paper), figures (viz), and the book
build (book). Nothing here trains a model except through mkdlib.experiments' one grid runner."""
