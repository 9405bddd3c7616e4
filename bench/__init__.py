"""Benchmarks: run them by hand (python -m bench.<name>), never as timed tests."""
