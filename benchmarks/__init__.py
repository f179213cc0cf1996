"""Benchmarks: `make bench` (python -m benchmarks.run) writes benchmarks/latest.json and docs/PERFORMANCE.md."""
