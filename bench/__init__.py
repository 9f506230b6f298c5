"""Benchmarks: `make bench` writes bench/RESULTS.md and bench/results.json. Not tests: no asserts."""
