"""Benchmarks: each module starts what it needs, prints its figures and a ratio against a same-run baseline."""
