"""Benchmarks that ship with the package (`extractor bench ...`)."""
