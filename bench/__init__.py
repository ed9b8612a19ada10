"""Benchmarks: each prints its rates and the ratio to a baseline measured in the same run."""
