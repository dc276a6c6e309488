"""Benchmarks, each printing a ratio against a baseline run beside it."""
