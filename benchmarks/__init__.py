"""Benchmarks: `make bench` runs every `benchmarks/bench_*.py` module's `main()`.

Benchmarks print figures (latency percentiles, throughput, memory), as ratios against a baseline
measured in the same run where possible. They are not tests and never fail on a wall-clock figure.
"""
