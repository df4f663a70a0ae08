"""Benchmarks for ``automl`` on the offline OpenML datasets (never part of the installed package)."""
