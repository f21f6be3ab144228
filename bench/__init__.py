"""Benchmarks, run as ``python -m bench.<name>``; figures and commands in docs/benchmarks.md."""
