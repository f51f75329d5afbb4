"""Benchmarks: figures for the notes, never assertions in tests."""
