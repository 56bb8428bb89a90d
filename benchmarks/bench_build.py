"""Snapshot build time and peak memory: one process vs a Dask ``local:N`` cluster.

Each dataset is written as ``--parts`` CSV files of resampled merchants (real NYC and
other real points, 20 m jitter, with a name, a category, a rating and a review count),
then loaded twice into fresh data dirs, each load in its own child process:

* ``single``: ``geo-discovery load PARTS…`` (today's default path);
* ``local:N``: the same with ``--cluster local:N`` (cluster start included; also shown
  without it).

A sampler sums the resident memory of the child and every process below it (the Dask
scheduler and workers) every 50 ms: "peak RSS" is the largest such sum. The snapshot's
final size is its folder on disk. The check: the two snapshots hold the same data, file
for file (:func:`geo_discovery.snapshot.compare.snapshot_differences`); any difference
fails the run.

    python -m benchmarks.bench_build --smoke            # 20k merchants, seconds
    python -m benchmarks.bench_build --sizes 1m         # ~3 min on 2 cores
    python -m benchmarks.bench_build --sizes 1m,10m     # 10M needs far more RAM (see RESULTS)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import harness

KEY = "build"
SIZES = {"smoke": 20_000, "100k": 100_000, "1m": 1_000_000, "2m": 2_000_000,
         "10m": 10_000_000}
CATEGORIES = ("food/restaurant/pizza", "food/grocery", "food/cafe", "shop/clothes",
              "shop/convenience", "lodging/room", "service/hairdresser", "food/bar")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="20k merchants, temporary output")
    p.add_argument("--sizes", default="1m", help="comma list of " + ", ".join(SIZES))
    p.add_argument("--workers", type=int, default=2, help="N of local:N (default 2)")
    p.add_argument("--parts", type=int, default=4, help="CSV files per dataset (default 4)")
    p.add_argument("--out-dir", help="where results/ and RESULTS.md go")
    p.add_argument("--real-data", help="the real data folder (default: as harness finds it)")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    return p


# ----------------------------------------------------------------------------- data
def write_parts(n: int, parts: int, folder: Path, real_data: str | None) -> tuple[list[Path],
                                                                                  str]:
    """``parts`` CSV files holding ``n`` resampled merchants; returns them and a note."""
    try:
        base = harness.load_nyc_points(harness.real_data_dir(real_data))
    except harness.RealDataMissing:
        base = harness.synthetic_points(50_000, seed=3)
    pts = harness.resample_points(base, n, jitter_m=20.0, seed=11)
    rng = np.random.default_rng(12)
    frame = pd.DataFrame({
        "id": pts.ids, "name": [f"Shop {i}" for i in range(n)],
        "category": np.asarray(CATEGORIES, dtype=object)[rng.integers(0, len(CATEGORIES), n)],
        "lat": np.round(pts.lat, 7), "lng": np.round(pts.lng, 7),
        "rating": np.where(rng.random(n) < 0.6, rng.integers(1, 6, n), np.nan),
        "review_count": rng.poisson(12, n),
    })
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, chunk in enumerate(np.array_split(np.arange(n), parts)):
        path = folder / f"part-{i:02d}.csv"
        frame.iloc[chunk].to_csv(path, index=False)
        files.append(path)
    return files, pts.note


# ------------------------------------------------------------------------- a run
def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def run_child(method: str, files: Sequence[Path], data_dir: Path) -> dict[str, Any]:
    """Load ``files`` in a child process; its wall time, peak tree RSS and result."""
    cmd = [sys.executable, "-m", "benchmarks.bench_build", "--child", method, str(data_dir),
           *map(str, files)]
    peak = [0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=harness.REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak[0] = max(peak[0], _tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{method} load failed ({proc.returncode}):\n{err[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    return {**result, "wall_s": wall, "peak_rss_bytes": peak[0]}


def child(argv: Sequence[str]) -> int:
    """``--child METHOD DATA_DIR FILE…``: one load, its timings as one JSON line."""
    from geo_discovery.settings import Settings
    from geo_discovery.snapshot.cluster import open_cluster
    from geo_discovery.snapshot.pipeline import load

    method, data_dir, *files = argv
    stages: dict[str, float] = {}
    last = [time.perf_counter()]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        stages[stage] = stages.get(stage, 0.0) + (now - last[0])
        last[0] = now

    settings = Settings(data_dir=Path(data_dir))
    t0 = time.perf_counter()
    if method == "single":
        start_s = 0.0
        report = load(files, data_dir=data_dir, settings=settings, progress=progress)
    else:
        with open_cluster(method) as cluster:
            start_s = time.perf_counter() - t0
            last[0] = time.perf_counter()
            report = load(files, data_dir=data_dir, settings=settings, progress=progress,
                          cluster=cluster)
    total = time.perf_counter() - t0
    assert report.snapshot is not None
    snap = report.snapshot.path
    size = sum(p.stat().st_size for p in snap.rglob("*") if p.is_file())
    print(json.dumps({
        "load_s": total, "cluster_start_s": start_s, "stages_s": stages,
        "snapshot": str(snap), "snapshot_bytes": size, "merchants": report.merchants_total,
        "rows_read": report.rows_read,
    }))
    return 0


# --------------------------------------------------------------------------- report
def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def _markdown(doc: dict[str, Any]) -> str:
    lines = [
        "## Snapshot build: one process vs a Dask local cluster",
        "",
        f"`{doc['command']}` — {doc['machine'].get('cpu', '')}, "
        f"{doc['machine'].get('cores_usable', '?')} usable cores, load average "
        f"{doc['machine'].get('load_average_at_start', '?')} at the start, "
        f"{doc['machine'].get('date_utc')}.",
        "",
        doc["note"],
        "",
        "| merchants | path | wall s | of which cluster start s | peak RSS (all processes) "
        "| snapshot on disk | peak / snapshot | same snapshot |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for run in doc["runs"]:
        for name, r in run["methods"].items():
            lines.append(
                f"| {run['n']:,} | {name} | {r['wall_s']:.1f} | {r['cluster_start_s']:.1f} | "
                f"{_gb(r['peak_rss_bytes'])} | {_gb(r['snapshot_bytes'])} | "
                f"{r['peak_rss_bytes'] / max(r['snapshot_bytes'], 1):.1f}× | "
                f"{'yes' if run['same'] else 'NO: ' + ', '.join(run['differences'][:5])} |"
            )
    lines += ["", "Stage times (seconds, from the load's progress callbacks):", ""]
    for run in doc["runs"]:
        for name, r in run["methods"].items():
            parts = ", ".join(f"{k} {v:.1f}" for k, v in r["stages_s"].items())
            lines.append(f"* {run['n']:,} {name}: {parts}")
    cross = doc.get("crossover")
    lines += ["", f"Crossover: {cross}" if cross else ""]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.child:
        return child(args.child)
    sizes = ["smoke"] if args.smoke else [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise SystemExit(f"--sizes {unknown} not allowed; allowed: {', '.join(SIZES)}")
    if args.out_dir:
        out_dir = Path(args.out_dir)
    elif args.smoke:
        out_dir = Path(tempfile.mkdtemp(prefix="bench_build_smoke_"))
    else:
        out_dir = harness.BENCH_DIR
    from geo_discovery.snapshot.compare import snapshot_differences

    cluster = f"local:{args.workers}"
    machine = harness.machine_info(["dask", "distributed", "h3", "pyarrow"])
    runs, ok, note = [], True, ""
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        for size in sizes:
            n = SIZES[size]
            files, note = write_parts(n, 2 if args.smoke else args.parts, Path(tmp) / size,
                                      args.real_data)
            methods = {}
            for method in ("single", cluster):
                harness.eprint(f"{size}: {method} …")
                methods[method] = run_child(method, files, Path(tmp) / f"{size}-{method}")
            diffs = snapshot_differences(methods["single"]["snapshot"],
                                         methods[cluster]["snapshot"])
            ok &= not diffs
            runs.append({"size": size, "n": n, "methods": methods, "same": not diffs,
                         "differences": diffs})
    faster = [r["n"] for r in runs
              if r["methods"][cluster]["wall_s"] < r["methods"]["single"]["wall_s"]]
    crossover = (f"{cluster} is faster from {min(faster):,} merchants on"
                 if faster else f"{cluster} was faster at no size measured here")
    doc = {
        "benchmark": "build", "order": 40, "command": harness.command_line(
            "benchmarks.bench_build", argv), "machine": machine,
        "note": note + f" Written as {2 if args.smoke else args.parts} CSV files.",
        "runs": runs, "crossover": crossover, "correct": ok,
        "n_mismatches": sum(len(r["differences"]) for r in runs),
    }
    key = f"{KEY}_smoke" if args.smoke else f"{KEY}_{'_'.join(sizes)}"
    md = harness.write_results(out_dir, key, doc, _markdown(doc))
    print(f"wrote {md}")
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
