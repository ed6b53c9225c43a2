"""Benchmarks (speed targets live here, not in timed tests).

    python -m bench.step_cost                     # CPU default config: step cost of every method,
                                                  # MKD's parts, data pipeline, evaluation
    python -m bench.step_cost --preset cuda-r50   # DeepLabV3+ R50, 512 px, 8+8, bf16, channels_last,
                                                  # with and without torch.compile

Each run prints a table and writes a JSON record to ``bench/results/``; :mod:`bench.plots` draws
the cost breakdown from such a record. See docs/performance.md for measured numbers.
"""
