"""Nearby search benchmark: geo_discovery side by side with the usual baselines, in one run.

On the same points and the same query points, for kNN (k=20) and radius search (300 m,
1 km, 5 km), every registered method (:mod:`benchmarks.methods`) is

* checked against a brute-force haversine oracle on a sample of the queries (any
  mismatch → exit status 1);
* timed one query at a time (``time.perf_counter_ns`` around each call, Python floats in,
  as a request handler calls it): p50 (median) and p99 in µs, and ratios to geo_discovery;
* measured for build time, index bytes per point and batch kNN throughput (and, for
  geo_discovery, the time to re-open its saved index memory-mapped and answer a query).

Datasets: ``nyc`` (real, ~67k), ``all`` (every real point, ~230k), and ``100k`` / ``1m`` /
``10m`` resampled from all the real points with 20 m jitter. A method whose ``max_points`` is
below the dataset's size (brute force, PostGIS, Redis at 10M) is skipped with the reason
unless ``--all-peers``; a method whose timing of one search passes ``--budget-s`` stops there
and its percentiles are over the queries it did (shown). After a real run, the growth of p50
from the smallest to the largest dataset with results is summarised in its own section.

Results: a markdown table on stdout, ``RESULTS.md`` and ``results/nearby_<dataset>.json``
under ``--out-dir`` (default ``benchmarks/``). ``--smoke`` runs on 5,000 points and 50
queries in a few seconds and writes to a temporary folder unless ``--out-dir`` is given.

Examples
--------
    python -m benchmarks.bench_nearby                      # real NYC points (~67k)
    python -m benchmarks.bench_nearby --dataset all        # every real file (~230k)
    python -m benchmarks.bench_nearby --dataset 1m         # resampled, 20 m jitter
    python -m benchmarks.bench_nearby --smoke              # CI: tiny, a few seconds
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import math
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geo_discovery.distance import EARTH_RADIUS_M

from . import harness, nearby_batch
from .harness import PointSet, Queries
from .methods import BASELINE, METHODS, Method, resolve

__all__ = [
    "METRICS",
    "Config",
    "check_knn",
    "check_radius",
    "growth_summary",
    "main",
    "oracle_m",
    "render_markdown",
    "run_benchmark",
]

MODULE = "benchmarks.bench_nearby"
TOL_M = 1e-6
# (key, kind, parameter, heading)
METRICS: tuple[tuple[str, str, float, str], ...] = (
    ("knn20", "knn", 20, "kNN k=20"),
    ("r300", "radius", 300.0, "radius 300 m"),
    ("r1000", "radius", 1000.0, "radius 1 km"),
    ("r5000", "radius", 5000.0, "radius 5 km"),
)
DATASET_ORDER = {"nyc": 10, "100k": 15, "all": 20, "1m": 30, "10m": 40}
GROWTH_ORDER = 50
# Resampled datasets: size, drawn from every real point with RESAMPLE_JITTER_M of jitter.
RESAMPLED = {"100k": 100_000, "1m": 1_000_000, "10m": 10_000_000}
RESAMPLE_JITTER_M = 20.0
# Above this many points the default oracle sample shrinks (each check is O(n)).
LARGE_POINTS = 2_000_000
N_CHECK_LARGE = 50


@dataclass
class Config:
    dataset: str = "nyc"
    n_queries: int = 2000
    n_check: int | None = None  # None: 300, or N_CHECK_LARGE above LARGE_POINTS points
    uniform_share: float = 0.2
    jitter_m: float = 5.0
    seed: int = 20_240_601
    chunk: int = 100
    repeats: int = 3
    warmup: int = 20
    methods: list[str] = field(default_factory=list)
    profile_calls: int = 0
    smoke: bool = False
    smoke_points: int = 5000
    batch: bool = True
    budget_s: float = 60.0
    all_peers: bool = False


# --------------------------------------------------------------------------- oracle + checks
def oracle_m(lat: NDArray, lng: NDArray, q_lat: float, q_lng: float) -> NDArray:
    """Textbook haversine, in metres, from one query to every point (the oracle)."""
    p1, p2 = np.radians(q_lat), np.radians(lat)
    dp = p2 - p1
    dl = np.radians(lng - q_lng)
    a = np.sin(dp / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _common(pos: NDArray, dist: NDArray, d_all: NDArray) -> str | None:
    pos = np.asarray(pos)
    dist = np.asarray(dist, dtype=np.float64)
    if pos.shape != dist.shape:
        return f"positions {pos.shape} and distances {dist.shape} differ in shape"
    if len(pos) and (pos.min() < 0 or pos.max() >= len(d_all)):
        return "a position is out of range"
    if len(np.unique(pos)) != len(pos):
        return "duplicate positions"
    if len(pos):
        err = np.abs(dist - d_all[pos])
        if err.max() > TOL_M:
            i = int(err.argmax())
            return (
                f"distance of position {int(pos[i])} is {dist[i]!r} m, oracle "
                f"{d_all[pos[i]]!r} m (|diff| {err[i]:.3g} m > {TOL_M:g})"
            )
        if np.any(np.diff(dist) < -TOL_M):
            return "not ordered nearest first"
    return None


def check_knn(pos: NDArray, dist: NDArray, d_all: NDArray, k: int) -> str | None:
    """``None`` if (pos, dist) is a correct k-nearest answer, else what is wrong.

    Ties: at the k-th place any point whose oracle distance is within ``TOL_M`` of the
    k-th distance may stand in for another.
    """
    want = min(k, len(d_all))
    if len(pos) != want:
        return f"returned {len(pos)} results, expected {want}"
    problem = _common(pos, dist, d_all)
    if problem or want == 0:
        return problem
    kth = float(np.partition(d_all, want - 1)[want - 1])
    od = d_all[np.asarray(pos)]
    if od.max() > kth + TOL_M:
        return f"returned a point at {od.max():.6f} m beyond the k-th nearest ({kth:.6f} m)"
    missing = np.setdiff1d(np.flatnonzero(d_all < kth - TOL_M), pos)
    if len(missing):
        return f"missed {len(missing)} point(s) nearer than the k-th, e.g. position {missing[0]}"
    return None


def check_radius(pos: NDArray, dist: NDArray, d_all: NDArray, radius_m: float) -> str | None:
    """``None`` if (pos, dist) is exactly the set within ``radius_m`` (± ``TOL_M`` at the
    boundary), nearest first, else what is wrong."""
    problem = _common(pos, dist, d_all)
    if problem:
        return problem
    od = d_all[np.asarray(pos, dtype=np.int64)]
    if len(od) and od.max() > radius_m + TOL_M:
        return f"returned a point at {od.max():.6f} m, beyond radius {radius_m:g} m"
    missing = np.setdiff1d(np.flatnonzero(d_all <= radius_m - TOL_M), pos)
    if len(missing):
        return f"missed {len(missing)} point(s) within the radius, e.g. position {missing[0]}"
    return None


def _bound(method: Method, obj: Any, kind: str, param: float) -> Callable[[float, float], Any]:
    """``fn(lat, lng)`` running one search of ``kind`` on a built index."""
    if kind == "knn":
        knn, k = method.knn, int(param)
        return lambda a, b: knn(obj, a, b, k)
    radius, r = method.radius, float(param)
    return lambda a, b: radius(obj, a, b, r)


def _call(method: Method, obj: Any, kind: str, param: float, lat: float, lng: float) -> Any:
    if kind == "knn":
        return method.knn(obj, lat, lng, int(param))
    return method.radius(obj, lat, lng, float(param))


# --------------------------------------------------------------------------- the run
def run_benchmark(
    points: PointSet,
    queries: Queries,
    methods: Sequence[Method],
    cfg: Config,
    *,
    log: Any = harness.eprint,
) -> dict[str, Any]:
    """Build, check and time every method on the same points and queries; return a dict.

    Whatever a method's build holds outside the process (a server table) is released at
    the end, even when something fails.
    """
    built: dict[str, Any] = {}
    closers: list[tuple[Method, Any]] = []
    try:
        return _run(points, queries, methods, cfg, built, closers, log)
    finally:
        for m, obj in closers:
            try:
                m.close(obj)  # type: ignore[misc]
            except Exception as exc:
                log(f"closing {m.name} failed: {type(exc).__name__}: {exc}")


def _skip_reason(m: Method, n_points: int, cfg: Config) -> str | None:
    if m.max_points is not None and n_points > m.max_points and not cfg.all_peers:
        return (
            f"skipped at this size ({n_points:,} points > {m.max_points:,}) because "
            f"{m.max_points_why or 'it is too slow here'}"
        )
    return m.unavailable()


def _run(
    points: PointSet,
    queries: Queries,
    methods: Sequence[Method],
    cfg: Config,
    built: dict[str, Any],
    closers: list[tuple[Method, Any]],
    log: Any,
) -> dict[str, Any]:
    per_method: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for m in methods:
        reason = _skip_reason(m, len(points), cfg)
        if reason:
            skipped[m.name] = reason
            log(f"skip {m.name}: {reason}")
            continue
        gc.collect()
        t0 = time.perf_counter()
        obj = m.build(points.lat, points.lng, points.ids)
        build_s = time.perf_counter() - t0
        if m.close is not None:
            closers.append((m, obj))
        nbytes = m.nbytes(obj)
        built[m.name] = obj
        per_method[m.name] = {
            "label": m.label,
            "note": m.note,
            "build_s": build_s,
            "index_bytes": nbytes,
            "bytes_per_point": (nbytes / len(points)) if nbytes is not None else None,
            "nbytes_how": m.nbytes_how,
            "metrics": {},
            "mismatches": [],
            "n_mismatches": 0,
        }
        log(f"built {m.name} in {build_s:.3f} s")
    active = [m for m in methods if m.name in built]

    # ---- correctness: every method against the oracle, on a sample of the queries
    rng = np.random.default_rng(cfg.seed + 1)
    n_check = min(_n_check(cfg, len(points)), len(queries))
    check_idx = np.sort(rng.choice(len(queries), size=n_check, replace=False))
    result_sizes: dict[str, list[int]] = {key: [] for key, *_ in METRICS}
    for qi in check_idx.tolist():
        qlat, qlng = float(queries.lat[qi]), float(queries.lng[qi])
        d_all = oracle_m(points.lat, points.lng, qlat, qlng)
        for key, kind, param, _ in METRICS:
            if kind == "radius":
                result_sizes[key].append(int(np.count_nonzero(d_all <= param)))
            for m in active:
                try:
                    pos, dist = _call(m, built[m.name], kind, param, qlat, qlng)
                    problem = (
                        check_knn(pos, dist, d_all, int(param))
                        if kind == "knn"
                        else check_radius(pos, dist, d_all, float(param))
                    )
                except Exception as exc:
                    problem = f"raised {type(exc).__name__}: {exc}"
                if problem:
                    info = per_method[m.name]
                    info["n_mismatches"] += 1
                    if len(info["mismatches"]) < 10:
                        info["mismatches"].append(
                            {
                                "metric": key,
                                "query": qi,
                                "lat": qlat,
                                "lng": qlng,
                                "problem": problem,
                            }
                        )
    for m in active:
        n_bad = per_method[m.name]["n_mismatches"]
        log(f"checked {m.name}: {n_check} queries x {len(METRICS)} metrics, {n_bad} mismatches")

    # ---- single-query latency, methods interleaved chunk by chunk so drift hits all alike
    q_lat, q_lng = queries.lat, queries.lng
    is_uniform = queries.kind == "uniform"
    cpu0, wall0 = time.process_time(), time.perf_counter()
    budget_ns = cfg.budget_s * 1e9
    for key, kind, param, heading in METRICS:
        best: dict[str, list[NDArray]] = {m.name: [] for m in active}
        raw: dict[str, list[NDArray]] = {m.name: [] for m in active}
        spent: dict[str, float] = {m.name: 0.0 for m in active}
        for m in active:
            obj = built[m.name]
            w = slice(0, min(cfg.warmup, len(queries)))
            for a, b in zip(q_lat[w].tolist(), q_lng[w].tolist(), strict=True):
                _call(m, obj, kind, param, a, b)
        gc.collect()
        gc_was = gc.isenabled()
        gc.disable()
        try:
            for ci, sl in enumerate(harness.chunks(len(queries), cfg.chunk)):
                # a method past its time budget for this search stops (after one chunk)
                going = [m for m in active if spent[m.name] < budget_ns]
                if not going:
                    break
                reps: dict[str, list[NDArray]] = {m.name: [] for m in going}
                for rep in range(cfg.repeats):
                    shift = (ci + rep) % len(going)
                    for m in going[shift:] + going[:shift]:
                        fn = _bound(m, built[m.name], kind, param)
                        ns = harness.time_calls(fn, q_lat[sl], q_lng[sl])
                        spent[m.name] += float(ns.sum())
                        reps[m.name].append(ns)
                for m in going:
                    best[m.name].append(np.min(reps[m.name], axis=0))
                    raw[m.name].extend(reps[m.name])
        finally:
            if gc_was:
                gc.enable()
        for m in active:
            ns = np.concatenate(best[m.name])
            stats = harness.percentiles_us(ns)
            all_ns = harness.percentiles_us(np.concatenate(raw[m.name]))
            stats["every_call_p50_us"] = all_ns["p50_us"]
            stats["every_call_p99_us"] = all_ns["p99_us"]
            timed = is_uniform[: len(ns)]
            stats["p50_us_merchant_queries"] = float(np.median(ns[~timed]) / 1e3)
            if timed.any():
                stats["p50_us_uniform_queries"] = float(np.median(ns[timed]) / 1e3)
            stats["budget_hit"] = len(ns) < len(queries)
            per_method[m.name]["metrics"][key] = stats
        summary = ", ".join(
            f"{m.name} {per_method[m.name]['metrics'][key]['p50_us']:.1f}" for m in active
        )
        log(f"timed {heading}: p50 µs {summary}")

    timing_cpu_share = (time.process_time() - cpu0) / max(time.perf_counter() - wall0, 1e-9)

    # ---- batch kNN throughput: batch APIs on one core and every core (checked against
    # the oracle on the check sample), a Python loop over knn for the rest
    batch_ratios: dict[str, Any] = {}
    if cfg.batch:
        k = int(METRICS[0][2])
        batched = [m for m in active if m.knn_many is not None]
        lanes = nearby_batch.run_batch(
            batched,
            built,
            q_lat,
            q_lng,
            k,
            repeats=cfg.repeats,
            warmup=min(cfg.warmup, len(queries)),
            check_rows=check_idx,
            oracle=lambda r: oracle_m(points.lat, points.lng, float(q_lat[r]), float(q_lng[r])),
            check=check_knn,
        )
        for name, lane in lanes.items():
            info = per_method[name]
            for problem in lane.pop("batch_problems"):
                info["n_mismatches"] += 1
                if len(info["mismatches"]) < 10:
                    info["mismatches"].append({"metric": "batch_knn20", "problem": problem})
            info.update(lane)
        for m in active:
            if m.knn_many is not None:
                continue
            done = len(queries)
            t0 = time.perf_counter()
            for i, (a, b) in enumerate(zip(q_lat.tolist(), q_lng.tolist(), strict=True)):
                m.knn(built[m.name], a, b, k)
                if time.perf_counter() - t0 > cfg.budget_s:
                    done = i + 1
                    break
            elapsed = time.perf_counter() - t0
            info = per_method[m.name]
            info["batch_knn_qps"] = done / elapsed if elapsed > 0 else None
            info["batch_queries"] = done
            info["batch_how"] = "loop over knn"
        batch_ratios = nearby_batch.batch_ratios(per_method)
        for name, row in batch_ratios.items():
            log(f"batch kNN vs cKDTree {name}: {row}")

    # ---- re-opening a saved index (geo_discovery: memory-mapped)
    for m in active:
        if m.load_probe is not None:
            gc.collect()
            per_method[m.name]["load_probe"] = m.load_probe(built[m.name])
            log(f"load probe {m.name}: {per_method[m.name]['load_probe']['open_s']:.4f} s open")

    # ---- ratios to the baseline
    ratios: dict[str, dict[str, dict[str, float]]] = {}
    if BASELINE in per_method:
        base = per_method[BASELINE]["metrics"]
        for m in active:
            mm = per_method[m.name]["metrics"]
            ratios[m.name] = {
                key: {
                    "p50": mm[key]["p50_us"] / base[key]["p50_us"],
                    "p99": mm[key]["p99_us"] / base[key]["p99_us"],
                }
                for key, *_ in METRICS
            }

    profile = (
        profile_knn(built[BASELINE], queries, cfg.profile_calls)
        if (cfg.profile_calls and BASELINE in built)
        else None
    )

    n_mismatch = sum(v["n_mismatches"] for v in per_method.values())
    return {
        "benchmark": "nearby",
        "dataset": points.name,
        "n_points": len(points),
        "data_note": points.note,
        "sources": points.sources,
        "queries": queries.description,
        "n_queries": len(queries),
        "n_check": n_check,
        "repeats": cfg.repeats,
        "timing_cpu_share": timing_cpu_share,
        "mean_results_in_radius": {
            key: float(np.mean(v)) if v else None for key, v in result_sizes.items() if v
        },
        "methods": per_method,
        "skipped": skipped,
        "ratios_vs_geo_discovery": ratios,
        "batch_ratios_vs_ckdtree": batch_ratios,
        "profile": profile,
        "correct": n_mismatch == 0,
        "n_mismatches": n_mismatch,
        "config": asdict(cfg),
    }


def _n_check(cfg: Config, n_points: int) -> int:
    if cfg.n_check is not None:
        return cfg.n_check
    return N_CHECK_LARGE if n_points > LARGE_POINTS else 300


def profile_knn(index: Any, queries: Queries, n_calls: int) -> dict[str, Any]:
    """cProfile ``n_calls`` CellIndex.knn(k=20) calls; the top functions by own time."""
    lat = queries.lat[:n_calls].tolist()
    lng = queries.lng[:n_calls].tolist()
    prof = cProfile.Profile()
    prof.enable()
    for a, b in zip(lat, lng, strict=True):
        index.knn(a, b, 20)
    prof.disable()
    st = pstats.Stats(prof, stream=io.StringIO())
    total = st.total_tt  # type: ignore[attr-defined]
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        short = f"{Path(file).name}:{line}({func})" if line else func
        rows.append({"function": short, "ncalls": nc, "tottime_s": tt, "cumtime_s": ct})
    rows.sort(key=lambda r: -r["tottime_s"])
    return {"calls": len(lat), "total_s": total, "top": rows[:15]}


# --------------------------------------------------------------------------- markdown
def _fmt_us(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def render_markdown(res: dict[str, Any], machine: dict[str, Any], command: str) -> str:
    meth = res["methods"]
    names = list(meth)
    out: list[str] = []
    title = f"## Nearby search — `{res['dataset']}` ({res['n_points']:,} points)"
    out += [title, ""]
    out.append(f"Command: `{command}`  ")
    vers = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    out.append(
        f"Machine: {machine['cpu']}, {machine['cores_usable']} usable cores "
        f"(load average at start {machine['load_average_at_start']}), Python "
        f"{machine['python']}, {vers}; {machine['date_utc']}; git {machine['git']}."
    )
    if machine.get("servers"):
        out.append(
            "Servers on 127.0.0.1: "
            + ", ".join(f"{k} {v}" for k, v in machine["servers"].items())
            + " (started by `benchmarks/servers.sh start`)."
        )
    out.append("")
    where = f" Read from `{res['data_dir']}`." if res.get("data_dir") else ""
    out.append(f"Data: {res['data_note']}{where}  ")
    src = "; ".join(f"`{s['file']}` {s['kept']:,}/{s['rows']:,}" for s in res["sources"])
    out.append(f"Sources (kept/read): {src}.  ")
    out.append(f"Queries: {res['queries']}.")
    out.append("")
    reps = res["repeats"]
    best = f"the best of {reps} calls per query point, " if reps > 1 else ""
    out.append(
        "Single-query latency in µs, **p50 / p99** over the query points: "
        f"{best}one call at a time with Python floats, `perf_counter_ns` around each call, "
        f"GC off while timing, methods interleaved in chunks of {res['config']['chunk']} "
        "queries. Every method returns the same answer: positions and great-circle metres, "
        f"nearest first. This process got {res['timing_cpu_share']:.0%} of a core while "
        "timing (below ~95% means other work on the machine preempted it; "
        f"{'the best-of-' + str(reps) + ' filters most of that' if reps > 1 else 'p99 suffers'})."
    )
    out.append("")
    heads = [h for *_, h in METRICS]
    out.append("| method | " + " | ".join(heads) + " | build s | index B/point | batch kNN q/s |")
    out.append("|---|" + "---:|" * (len(heads) + 3))
    cut: list[str] = []
    for n in names:
        mm = meth[n]
        cells = []
        for k, *_, h in METRICS:
            st = mm["metrics"][k]
            mark = ""
            if st.get("budget_hit"):
                mark = " †"
                cut.append(f"{mm['label']} {h}: {st['n']:,}")
            cells.append(f"{_fmt_us(st['p50_us'])} / {_fmt_us(st['p99_us'])}{mark}")
        bpp = mm["bytes_per_point"]
        qps = mm.get("batch_knn_qps")
        out.append(
            f"| {mm['label']} | "
            + " | ".join(cells)
            + f" | {mm['build_s']:.3f} | {'–' if bpp is None else f'{bpp:.1f}'} | "
            + f"{'–' if qps is None else f'{qps:,.0f}'} |"
        )
    out.append("")
    if cut:
        out.append(
            f"† Timing of this search passed the {res['config']['budget_s']:g} s budget per "
            "method and search, so it stopped early; p50/p99 are over the first query points "
            "(the order is random): " + "; ".join(cut) + ".  "
        )
    for n in names:
        mm = meth[n]
        if mm.get("batch_queries") is not None and mm["batch_queries"] < res["n_queries"]:
            out.append(
                f"{mm['label']}: batch kNN q/s from the first {mm['batch_queries']:,} queries "
                "(time budget).  "
            )
        if mm.get("batch_knn_qps_all_cores"):
            out.append(
                f"{mm['label']} batch kNN on every core ({mm['batch_all_cores_how']}, "
                f"{machine['cores_usable']} usable cores): "
                f"{mm['batch_knn_qps_all_cores']:,.0f} q/s.  "
            )
        br = res.get("batch_ratios_vs_ckdtree", {}).get(n)
        if br:
            parts = [
                f"{label} {br[key]:.2f}×"
                for key, label in (("one_core", "one core"), ("all_cores", "every core"))
                if br.get(key) is not None
            ]
            out.append(
                f"{mm['label']} batch kNN throughput / scipy cKDTree's on the same cores "
                f"(median of {reps} runs each): " + ", ".join(parts) + ".  "
            )
        lp = mm.get("load_probe")
        if lp:
            out.append(
                f"{mm['label']} saved and re-opened memory-mapped: open "
                f"{lp['open_s'] * 1e3:,.1f} ms + first kNN {lp['first_query_s'] * 1e3:,.1f} ms "
                f"(second {lp['second_query_s'] * 1e6:,.0f} µs) for "
                f"{lp['disk_bytes'] / 1e6:,.1f} MB of files; {lp['how']}.  "
            )
    out.append("")
    if res["ratios_vs_geo_discovery"]:
        out.append(
            "Ratios **method ÷ geo_discovery CellIndex**, p50 (p99 in brackets): above 1 means "
            "geo_discovery is faster, below 1 slower."
        )
        out.append("")
        out.append("| method | " + " | ".join(heads) + " |")
        out.append("|---|" + "---:|" * len(heads))
        for n, r in res["ratios_vs_geo_discovery"].items():
            if n == BASELINE:
                continue
            cells = [f"{r[k]['p50']:.2f} ({r[k]['p99']:.2f})" for k, *_ in METRICS]
            out.append(f"| {meth[n]['label']} | " + " | ".join(cells) + " |")
        out.append("")
    sizes = res.get("mean_results_in_radius") or {}
    if sizes:
        txt = ", ".join(
            f"{h}: {sizes[k]:,.0f}" for k, kind, _p, h in METRICS if kind == "radius" and k in sizes
        )
        out.append(f"Mean points per radius answer (check sample): {txt}.  ")
    if BASELINE in meth:
        g = meth[BASELINE]["metrics"]
        txt = ", ".join(
            f"{h} {_fmt_us(g[k]['p50_us_merchant_queries'])} / "
            f"{_fmt_us(g[k].get('p50_us_uniform_queries'))}"
            for k, *_, h in METRICS
        )
        out.append(f"geo_discovery p50 µs at merchant / uniform query points: {txt}.")
    out.append("")
    verdict = (
        "**all answers match**"
        if res["correct"]
        else f"**{res['n_mismatches']} MISMATCHES** (see the JSON)"
    )
    out.append(
        f"Correctness: {res['n_check']} queries × {len(METRICS)} searches per method checked "
        f"against a brute-force haversine oracle (distances within {TOL_M:g} m, ids exact up to "
        f"ties at the k-th place or the radius boundary): {verdict}."
    )
    bad = [
        f"{meth[n]['label']}: {meth[n]['n_mismatches']}" for n in names if meth[n]["n_mismatches"]
    ]
    if bad:
        out.append("Mismatches: " + "; ".join(bad) + ".")
    if res["skipped"]:
        out.append("Skipped: " + "; ".join(f"{k} ({v})" for k, v in res["skipped"].items()) + ".")
    out.append("")
    out.append(
        "Methods: "
        + "; ".join(
            f"{meth[n]['label']} — {meth[n]['note']} (bytes: {meth[n]['nbytes_how']}; batch: "
            f"{meth[n].get('batch_how', '–')})"
            for n in names
        )
        + "."
    )
    prof = res.get("profile")
    if prof:
        out.append("")
        out.append(
            f"Where geo_discovery kNN k=20 time goes: cProfile of {prof['calls']} calls "
            f"({prof['total_s'] * 1e6 / max(prof['calls'], 1):,.0f} µs per call under the "
            "profiler), top functions by own time:"
        )
        out.append("")
        out.append("| function | calls | own µs per query | cumulative µs per query |")
        out.append("|---|---:|---:|---:|")
        for row in prof["top"][:12]:
            out.append(
                f"| `{row['function']}` | {row['ncalls']:,} | "
                f"{row['tottime_s'] * 1e6 / prof['calls']:.1f} | "
                f"{row['cumtime_s'] * 1e6 / prof['calls']:.1f} |"
            )
    out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- growth
GROWTH_METHODS = ("geo_discovery", "ckdtree")
GROWTH_METRICS = ("knn20", "r1000")


def growth_summary(results_dir: Path) -> dict[str, Any] | None:
    """How p50 grows with the number of points, from the real-run JSON files in
    ``results_dir`` (``nearby_<dataset>.json``, smoke runs excluded); ``None`` with fewer
    than two datasets. The issue's target: geo_discovery kNN p50 grows at most 1.5× from
    100k to 10M points."""
    runs = []
    for path in sorted(results_dir.glob("nearby_*.json")):
        if path.stem in ("nearby_smoke", "nearby_growth"):
            continue
        try:
            doc = json.loads(path.read_text())
        except ValueError:
            continue
        if doc.get("benchmark") == "nearby" and not doc.get("config", {}).get("smoke"):
            runs.append(doc)
    runs = [r for r in runs if BASELINE in r.get("methods", {})]
    if len(runs) < 2:
        return None
    runs.sort(key=lambda r: r["n_points"])
    heads = {k: h for k, _kind, _p, h in METRICS}

    def p50(run: dict[str, Any], method: str, key: str) -> float | None:
        mm = run["methods"].get(method)
        return mm["metrics"][key]["p50_us"] if mm and key in mm["metrics"] else None

    labels = {m: runs[-1]["methods"].get(m, {}).get("label", m) for m in GROWTH_METHODS}
    cols = [(m, k) for k in GROWTH_METRICS for m in GROWTH_METHODS]
    out = ["## Nearby search — growth with the number of points", ""]
    out.append(
        "Single-query p50 in µs from each dataset's own run (the sections above; each run "
        "has its own date and machine load, so compare with care). Radius answers hold more "
        "points as density grows, so radius p50 is expected to grow; kNN k=20 should not."
    )
    out.append("")
    out.append(
        "| dataset | points | "
        + " | ".join(f"{labels[m]} {heads[k]}" for m, k in cols)
        + " | run |"
    )
    out.append("|---|---:|" + "---:|" * len(cols) + "---|")
    for run in runs:
        cells = [_fmt_us(p50(run, m, k)) for m, k in cols]
        when = run.get("machine", {}).get("date_utc", "?")
        out.append(
            f"| `{run['dataset']}` | {run['n_points']:,} | " + " | ".join(cells) + f" | {when} |"
        )
    lo, hi = runs[0], runs[-1]
    growth: dict[str, dict[str, float | None]] = {}
    lines = []
    for m, k in cols:
        a, b = p50(lo, m, k), p50(hi, m, k)
        g = b / a if a and b else None
        growth.setdefault(m, {})[k] = g
        if g is not None:
            lines.append(f"{labels[m]} {heads[k]} ×{g:.2f}")
    out.append("")
    target = growth[BASELINE].get("knn20")
    verdict = (
        ""
        if target is None
        else f" geo_discovery kNN k=20: ×{target:.2f} against the target of ≤ 1.5× "
        f"({'met' if target <= 1.5 else 'NOT met'})."
    )
    out.append(
        f"p50 growth from `{lo['dataset']}` ({lo['n_points']:,}) to `{hi['dataset']}` "
        f"({hi['n_points']:,}): " + ", ".join(lines) + "." + verdict
    )
    by_name = {r["dataset"]: r for r in runs}
    if "100k" in by_name and "10m" in by_name:  # issue #16 goal 4: ≤ 1.3× from 100k to 10M
        a, b = p50(by_name["100k"], BASELINE, "knn20"), p50(by_name["10m"], BASELINE, "knn20")
        if a and b:
            out.append("")
            out.append(
                f"From `100k` to `10m`: geo_discovery kNN k=20 ×{b / a:.2f} against the "
                f"target of ≤ 1.3× ({'met' if b / a <= 1.3 else 'NOT met'})."
            )
    out.append("")
    return {
        "benchmark": "nearby_growth",
        "order": GROWTH_ORDER,
        "datasets": [r["dataset"] for r in runs],
        "n_points": [r["n_points"] for r in runs],
        "p50_us": {r["dataset"]: {f"{m}.{k}": p50(r, m, k) for m, k in cols} for r in runs},
        "growth_smallest_to_largest": growth,
        "markdown": "\n".join(out),
    }


def _server_versions(methods: Sequence[Method]) -> dict[str, str]:
    names = {m.name for m in methods}
    if not names & {"postgis", "redis"}:
        return {}
    from .server_methods import server_versions

    return server_versions()


# --------------------------------------------------------------------------- command line
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: python -m benchmarks.bench_nearby --dataset nyc --queries 2000",
    )
    p.add_argument(
        "--dataset",
        choices=["nyc", "all", *RESAMPLED],
        default="nyc",
        help="nyc: food stores + DOHMH restaurants + Airbnb (~67k); "
        "all: every real file in the data folder (~230k); 100k, 1m, 10m: resampled from "
        f"every real point with {RESAMPLE_JITTER_M:g} m Gaussian jitter (10m needs ~10 GB)",
    )
    p.add_argument(
        "--real-data",
        default=None,
        help="real data folder (default: $GEO_DISCOVERY_REAL_DATA or ../shared/data)",
    )
    p.add_argument("--queries", type=int, default=2000, help="timed query points (default 2000)")
    p.add_argument(
        "--check",
        type=int,
        default=None,
        help="queries checked against the oracle, per method and search (default 300; "
        f"{N_CHECK_LARGE} above {LARGE_POINTS:,} points, as each check is O(n))",
    )
    p.add_argument(
        "--uniform-share",
        type=float,
        default=0.2,
        help="share of uniform query points in the data's box (default 0.2)",
    )
    p.add_argument(
        "--jitter-m",
        type=float,
        default=5.0,
        help="jitter of merchant query points, metres (default 5)",
    )
    p.add_argument("--seed", type=int, default=20_240_601)
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="time each query this many times and keep its best (default 3; 1 = every call)",
    )
    p.add_argument(
        "--methods",
        default="",
        help=f"comma-separated subset of: {', '.join(METHODS)} (default all)",
    )
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="cProfile N geo_discovery kNN calls and report where the time goes",
    )
    p.add_argument("--no-batch", action="store_true", help="skip the batch kNN throughput")
    p.add_argument(
        "--budget-s",
        type=float,
        default=60.0,
        help="seconds of timing per method and search (and per batch loop) before it stops "
        "early and reports the queries it did (default 60)",
    )
    p.add_argument(
        "--all-peers",
        action="store_true",
        help="run every method at any size (by default brute force, PostGIS and Redis are "
        "skipped above 2M points, with the reason)",
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="5,000 points, 50 queries, all checked; output to a temporary folder",
    )
    p.add_argument(
        "--out-dir",
        default=None,
        help="where RESULTS.md and results/ go (default benchmarks/; with --smoke "
        "a temporary folder)",
    )
    return p


def main(argv: Sequence[str] | None = None, *, extra_methods: Sequence[Method] = ()) -> int:
    """Run the benchmark; 0 when every answer matched, 1 on any mismatch, 2 on bad usage.

    ``extra_methods`` are appended to the registry's (the smoke test injects a broken one).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    cfg = Config(
        dataset=args.dataset,
        n_queries=args.queries,
        n_check=args.check,
        uniform_share=args.uniform_share,
        jitter_m=args.jitter_m,
        seed=args.seed,
        repeats=max(args.repeats, 1),
        methods=[m for m in args.methods.split(",") if m],
        profile_calls=args.profile,
        smoke=args.smoke,
        batch=not args.no_batch,
        budget_s=args.budget_s,
        all_peers=args.all_peers,
    )
    if cfg.smoke:
        cfg.n_queries = min(cfg.n_queries, 50)
        cfg.n_check = cfg.n_queries
        cfg.budget_s = min(cfg.budget_s, 10.0)
        cfg.warmup = 5
        cfg.chunk = 25
        cfg.repeats = 1
        cfg.profile_calls = min(cfg.profile_calls, 20)
    try:
        methods = resolve(cfg.methods) + list(extra_methods)
    except ValueError as exc:
        harness.eprint(f"error: {exc}")
        return 2

    try:
        data_dir = harness.real_data_dir(args.real_data)
    except harness.RealDataMissing as exc:
        if not cfg.smoke:
            print(f"SKIPPED: {exc}")
            return 0
        data_dir = None
        harness.eprint(f"{exc}; smoke run uses synthetic points")
    if cfg.smoke:
        if data_dir is not None:
            points = harness.load_nyc_points(data_dir).subsample(cfg.smoke_points, cfg.seed)
        else:
            points = harness.synthetic_points(cfg.smoke_points, cfg.seed)
    else:
        assert data_dir is not None
        if cfg.dataset in RESAMPLED:
            points = harness.resample_points(
                harness.load_all_points(data_dir),
                RESAMPLED[cfg.dataset],
                jitter_m=RESAMPLE_JITTER_M,
                seed=cfg.seed,
            )
        elif cfg.dataset == "all":
            points = harness.load_all_points(data_dir)
        else:
            points = harness.load_nyc_points(data_dir)
    harness.eprint(f"{points.name}: {len(points):,} points")
    queries = harness.make_queries(
        points,
        cfg.n_queries,
        uniform_share=cfg.uniform_share,
        jitter_m=cfg.jitter_m,
        seed=cfg.seed,
    )

    if args.out_dir:
        out_dir = Path(args.out_dir)
    elif cfg.smoke:
        out_dir = Path(tempfile.mkdtemp(prefix="bench_nearby_smoke_"))
    else:
        out_dir = harness.BENCH_DIR
    machine = harness.machine_info(
        (
            "scipy",
            "scikit-learn",
            "h3",
            "numba",
            "rtree",
            "shapely",
            "psycopg",
            "redis",
            "geo-discovery",
        )
    )
    machine["servers"] = _server_versions(methods)
    command = harness.command_line(MODULE, argv)
    res = run_benchmark(points, queries, methods, cfg)
    res.update(
        {
            "machine": machine,
            "command": command,
            "data_dir": str(data_dir) if data_dir is not None else None,
            "order": DATASET_ORDER.get(cfg.dataset, 100) + (1000 if cfg.smoke else 0),
        }
    )
    md = render_markdown(res, machine, command)
    key = f"nearby_{'smoke' if cfg.smoke else cfg.dataset}"
    md_path = harness.write_results(out_dir, key, res, md)
    if not cfg.smoke:
        growth = growth_summary(out_dir / "results")
        if growth is not None:
            md_path = harness.write_results(out_dir, "nearby_growth", growth, growth["markdown"])
    print(md)
    print(f"wrote {md_path} and {out_dir / 'results' / (key + '.json')}")
    if not res["correct"]:
        print(f"FAILED: {res['n_mismatches']} answers differ from brute force", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
