"""Loopback servers that tests and benchmarks drive the real clients against."""
