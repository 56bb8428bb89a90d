"""Benchmarks for the hot path, side by side with the baselines a team would pick instead.

Each ``bench_*.py`` module is a plain script (``python -m benchmarks.bench_nearby``) whose
functions are importable. Every script accepts ``--smoke`` (tiny data, a few seconds, output
to a temporary folder) so CI runs each one once and none can rot
(``tests/test_benchmarks_smoke.py``). Shared pieces live in :mod:`benchmarks.harness`
(data, query points, timing, machine info, result files) and :mod:`benchmarks.methods`
(the registry of spatial-index adapters).
"""
