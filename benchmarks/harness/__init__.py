"""Harnesses for tests and benchmarks, kept out of the shipped library: the
in-process pipeline, the join's synthetic traffic, poison input."""
