"""Benchmark harness: generated services against bare baseline apps (see README.md)."""
