"""The evidence: the results store read once (store), the one paired-effect rule (stats), the
claims and their runs paired by seed (claims), mkd's departures and their screens (departures), the
tables' long frame (cells), the paper's transcribed numbers (transcribed) and Figure 2's runs
(qualitative). Imports nothing of the other rooms (tests/test_architecture.py)."""
