"""Batch kNN throughput for :mod:`benchmarks.bench_nearby`: one core and every core.

Every method with a batch API (``Method.knn_many``, and ``knn_many_all_cores`` where it
has a workers knob) answers all the query points at once, ``repeats`` times, interleaved
method by method; the median time gives queries per second. A batch that returns
``(positions, distances_m)`` arrays of shape ``(n, k)`` (−1 / inf padded) is checked row
by row against the brute-force oracle on (up to ``BATCH_CHECK`` of) the benchmark's check
sample, like the single queries; any mismatch counts in the method's ``n_mismatches``.

Ratios: each method's throughput over scipy cKDTree's on the same number of cores
(``workers=1`` against one numba thread, ``workers=-1`` against every thread).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .methods import Method

__all__ = ["BATCH_CHECK", "PEER", "batch_ratios", "check_batch", "run_batch"]

PEER = "ckdtree"
#: Rows of the check sample whose batch answers are checked (one oracle scan per row).
BATCH_CHECK = 100
Batch = Callable[[Any, NDArray, NDArray, int], object]


def check_batch(
    results: dict[str, object],
    rows: NDArray,
    k: int,
    oracle: Callable[[int], NDArray],
    check: Callable[..., str | None],
) -> dict[str, list[str]]:
    """Problems of each lane's ``(positions, distances_m)`` batch on the sample ``rows``;
    ``oracle(row)`` gives the metres to every point (once per row, for every lane),
    ``check`` is the single-query kNN check."""
    arrays = {
        name: (np.asarray(res[0]), np.asarray(res[1]))  # type: ignore[index]
        for name, res in results.items()
    }
    problems: dict[str, list[str]] = {name: [] for name in results}
    for r in rows.tolist():
        d_all = oracle(r)
        for name, (pos, dist) in arrays.items():
            keep = pos[r] >= 0
            if (pos[r][~keep] != -1).any() or not np.isinf(dist[r][~keep]).all():
                problems[name].append(f"query {r}: padding is not -1 / inf")
                continue
            problem = check(pos[r][keep], dist[r][keep], d_all, k)
            if problem:
                problems[name].append(f"query {r}: {problem}")
    return problems


def _median_s(fn: Batch, obj: Any, q_lat: NDArray, q_lng: NDArray, k: int, reps: int) -> float:
    times = []
    for _ in range(reps):
        gc.collect()
        t0 = time.perf_counter()
        fn(obj, q_lat, q_lng, k)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def run_batch(
    active: list[Method],
    built: dict[str, Any],
    q_lat: NDArray,
    q_lng: NDArray,
    k: int,
    *,
    repeats: int,
    warmup: int,
    check_rows: NDArray,
    oracle: Callable[[int], NDArray],
    check: Callable[..., str | None],
) -> dict[str, dict[str, Any]]:
    """Per method: ``batch_knn_qps`` (one core), ``batch_knn_qps_all_cores`` where it has
    one, how each ran, and the problems its batch answers showed on the check sample."""
    out: dict[str, dict[str, Any]] = {}
    w = slice(0, warmup)
    lanes = [
        (m, key, fn, how)
        for m in active
        for key, fn, how in (
            ("batch_knn_qps", m.knn_many, m.knn_many_how),
            ("batch_knn_qps_all_cores", m.knn_many_all_cores, m.knn_many_all_cores_how),
        )
        if fn is not None
    ]
    for m, _, fn, _ in lanes:  # warm up (a compiled kernel's first call compiles)
        fn(built[m.name], q_lat[w], q_lng[w], k)
    answers = {
        f"{m.name}/{key}": fn(built[m.name], q_lat, q_lng, k)
        for m, key, fn, _ in lanes
        if m.knn_many_checked
    }
    problems = check_batch(answers, check_rows[:BATCH_CHECK], k, oracle, check)
    del answers
    for m, key, fn, how in lanes:
        info = out.setdefault(m.name, {"batch_problems": []})
        info["batch_problems"] += problems.get(f"{m.name}/{key}", [])
        seconds = _median_s(fn, built[m.name], q_lat, q_lng, k, repeats)
        info[key] = len(q_lat) / seconds if seconds > 0 else None
        info["batch_how" if key == "batch_knn_qps" else "batch_all_cores_how"] = how
        info["batch_queries"] = len(q_lat)
    return out


def batch_ratios(per_method: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Each method's batch throughput over cKDTree's, on one core and on every core."""
    peer = per_method.get(PEER, {})
    out: dict[str, dict[str, float | None]] = {}
    for name, info in per_method.items():
        if name == PEER:
            continue
        row: dict[str, float | None] = {}
        for key, label in (("batch_knn_qps", "one_core"), ("batch_knn_qps_all_cores", "all_cores")):
            mine, theirs = info.get(key), peer.get(key)
            row[label] = mine / theirs if mine and theirs else None
        if any(v is not None for v in row.values()):
            out[name] = row
    return out
