"""Cold start: how long a fresh process takes from opening a snapshot to its first answer.

A snapshot of ``--n`` merchants (resampled from every real point with 20 m jitter, loaded
through the real pipeline as OSM POIs) is written once. Then, each in a fresh Python
process (``subprocess``), the child times

* ``import geo_discovery.engine`` (numpy, pyarrow, pandas, shapely, numba, …);
* ``DiscoveryEngine.from_snapshot(data_dir)`` (manifest, memory-mapped parquet and index);
* the first ``engine.nearby(lat, lng, 20)`` (loading or compiling the numba kernels, the
  first touch of the mapped pages), and a second one for comparison;

with the single-query kernels compiled ahead of time (``geo-discovery warm-up`` builds them:
:mod:`geo_discovery.search.aot`) and, for comparison, with only the jitted ones
(``GEO_DISCOVERY_NO_AOT=1``) and numba's on-disk cache **cold** (``NUMBA_CACHE_DIR``
pointing at an empty folder: the kernels compile) and **warm** (the same folder again: they
load from it, but numba still starts up at the first call); and once more on the same
snapshot without its ``merchants.arrow`` (as a snapshot written before the row file existed
opens: decoding ``merchants.parquet``). The first answer is compared with the one an
in-process engine gives (``correct``), and each process says which kernel answered: a
missing ahead-of-time extension (not built yet: ``geo-discovery warm-up`` or ``make
install``) is reported on its own line, not as a wrong answer.
``--profile`` adds a cProfile of open + first query (ahead-of-time kernels), the top
functions by cumulative time.

Smoke mode: 5,000 merchants, the installed ``__pycache__`` with and without the
ahead-of-time kernels, no profile.

Examples
--------
    python -m benchmarks.bench_cold_start --n 1000000 --profile
    python -m benchmarks.bench_cold_start --smoke
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import harness

__all__ = ["child", "main", "render_markdown", "write_snapshot"]

MODULE = "benchmarks.bench_cold_start"
GOAL_MS = 100.0
ORDER = 35


def write_snapshot(n: int, seed: int, work: Path, real: Path | None) -> Path:
    """A data dir with one snapshot of ``n`` merchants (an OSM POI CSV through ``load``)."""
    from geo_discovery.settings import Settings
    from geo_discovery.snapshot.pipeline import load

    base = harness.load_all_points(real) if real else harness.synthetic_points(50_000, seed)
    pts = harness.resample_points(base, n, seed=seed)
    csv = work / "pois.csv"
    kinds = np.array(["restaurant", "cafe", "bar", "pharmacy", "bakery"])[np.arange(n) % 5]
    with csv.open("w") as fh:
        fh.write("osm_type,osm_id,name,key,value,lat,lon\n")
        for i, (a, b, v) in enumerate(zip(pts.lat.tolist(), pts.lng.tolist(), kinds, strict=True)):
            fh.write(f"node,{i + 1},Place {i},amenity,{v},{a:.7f},{b:.7f}\n")
    data_dir = work / "data"
    load([csv], data_dir=data_dir, profile="osm_poi", settings=Settings(data_dir=data_dir))
    csv.unlink()
    return data_dir


def child(data_dir: str, lat: float, lng: float, profile: bool) -> dict[str, Any]:
    """Run in the fresh process: time imports, open and the first two queries."""
    t0 = time.perf_counter()
    from geo_discovery.engine import DiscoveryEngine
    from geo_discovery.settings import Settings

    t1 = time.perf_counter()
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    engine = DiscoveryEngine.from_snapshot(data_dir, settings=Settings(data_dir=Path(data_dir)))
    t2 = time.perf_counter()
    first = engine.nearby(lat, lng, 20)
    t3 = time.perf_counter()
    if prof is not None:
        prof.disable()
    t3b = time.perf_counter()
    engine.nearby(lat + 1e-4, lng, 20)
    t4 = time.perf_counter()
    from geo_discovery.search import kernels

    from .http_profile import peak_rss_bytes

    aot = engine.snapshot.index.knn_kernel is not kernels.knn_one
    # VmHWM, not getrusage's ru_maxrss: that one keeps the forking parent's peak across exec.
    peak = peak_rss_bytes(os.getpid())
    out: dict[str, Any] = {
        "import_s": t1 - t0,
        "open_s": t2 - t1,
        "first_query_s": t3 - t2,
        "second_query_s": t4 - t3b,
        "open_to_first_answer_s": t3 - t1,
        "first_ids": first.merchant_ids,
        "ahead_of_time": aot,
        "peak_rss_bytes": peak,
    }
    if prof is not None:
        out["profile"] = _top(prof)
    return out


def _top(prof: Any, n: int = 18) -> list[dict[str, Any]]:
    import pstats

    stats = pstats.Stats(prof)
    rows = []
    for (file, line, name), (_, calls, own, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{Path(file).name}:{line}({name})", "calls": calls,
                     "own_ms": own * 1e3, "cumulative_ms": cum * 1e3})  # fmt: skip
    rows.sort(key=lambda r: -r["cumulative_ms"])
    return rows[:n]


def _run_child(
    data_dir: Path, lat: float, lng: float, cache: Path | None, profile: bool, aot: bool = True
) -> Any:
    from geo_discovery.search.aot import DISABLE

    env = dict(os.environ)
    if cache is not None:
        env["NUMBA_CACHE_DIR"] = str(cache)
    env.pop(DISABLE, None)
    if not aot:
        env[DISABLE] = "1"
    cmd = [sys.executable, "-m", MODULE, "--child", str(data_dir), repr(lat), repr(lng)]
    if profile:
        cmd.append("--profile")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=harness.REPO_ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"cold-start child failed:\n{proc.stderr[-3000:]}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "process_wall_s": wall}


@contextlib.contextmanager
def _row_file_hidden(data_dir: Path, hide: bool) -> Iterator[None]:
    """Rename the current snapshot's row file away (when ``hide``) and back."""
    from geo_discovery.snapshot.rows import ROW_FILE
    from geo_discovery.snapshot.store import resolve_snapshot_dir

    path = resolve_snapshot_dir(data_dir) / ROW_FILE
    if not hide or not path.is_file():
        yield
        return
    hidden = path.with_suffix(".hidden")
    path.rename(hidden)
    try:
        yield
    finally:
        hidden.rename(path)


def aot_built() -> bool:
    """Whether the ahead-of-time extension for the current sources is built."""
    from geo_discovery.search import aot

    return importlib.util.find_spec(f"geo_discovery.search.{aot.module_name()}") is not None


def numba_cache_installed() -> bool:
    """Whether numba's on-disk cache (beside the sources, or ``NUMBA_CACHE_DIR``) holds any
    kernel: ``make install`` / ``geo-discovery warm-up`` fill it."""
    where = os.environ.get("NUMBA_CACHE_DIR") or harness.REPO_ROOT / "geo_discovery"
    return any(Path(where).rglob("*.nbi"))


def kernel_problem(name: str, asked_aot: bool, used_aot: bool, built: bool) -> str | None:
    """Why the kernel that answered in run ``name`` is not the one it should be, or None."""
    if used_aot and not asked_aot:
        return f"{name}: the ahead-of-time kernel answered although it was switched off"
    if asked_aot and built and not used_aot:
        return f"{name}: the ahead-of-time extension is built but the jitted kernel answered"
    return None


def render_markdown(res: dict[str, Any], command: str) -> str:
    out = [f"## Cold start: open a snapshot, answer the first query ({res['n']:,} merchants)", ""]
    out.append(f"`{command}`  ")
    out.append(
        "Each line is a fresh Python process (median of its runs). *open → first answer* is "
        "`DiscoveryEngine.from_snapshot` plus the first `nearby(k=20)`; imports and the "
        f"interpreter come before it. Goal: first answer within {GOAL_MS:g} ms of opening."
    )
    out.append("")
    out.append("| kernels, numba cache | imports ms | open ms | first query ms "
               "| open → first answer ms | second query µs | process wall ms "
               "| peak RSS MiB |")  # fmt: skip
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in res["runs"].items():
        out.append(
            f"| {name} | {r['import_s'] * 1e3:,.0f} | {r['open_s'] * 1e3:,.1f} | "
            f"{r['first_query_s'] * 1e3:,.1f} | **{r['open_to_first_answer_s'] * 1e3:,.1f}** | "
            f"{r['second_query_s'] * 1e6:,.0f} | {r['process_wall_s'] * 1e3:,.0f} | "
            f"{r['peak_rss_bytes'] / 2**20:,.0f} |"
        )
    if res.get("profile"):
        out += ["", "cProfile of open + first query (ahead-of-time kernels), by time:", ""]
        out += ["| function | calls | cumulative ms | own ms |", "|---|---:|---:|---:|"]
        for row in res["profile"]:
            out.append(f"| `{row['function']}` | {row['calls']} | {row['cumulative_ms']:.1f} | "
                       f"{row['own_ms']:.1f} |")  # fmt: skip
    out.append("")
    out.append(f"Answers equal to an in-process engine's: **{res['correct']}**.")
    built = res.get("aot_built")
    if built is not None:
        out.append("")
        out.append("Ahead-of-time extension: " + ("built." if built else "**not built** (run "
                   "`geo-discovery warm-up` or `make install`): its rows ran the jitted kernels."))
    for problem in res.get("kernel_problems") or []:
        out += ["", f"Kernel check failed: {problem}."]
    return "\n".join(out) + "\n"


def _parser() -> Any:
    p = harness.base_parser(MODULE, __doc__)
    p.add_argument("--n", type=int, default=1_000_000, help="merchants (default 1,000,000)")
    p.add_argument("--runs", type=int, default=3, help="fresh processes per cache state")
    p.add_argument("--profile", action="store_true", help="cProfile open + first query")
    p.add_argument("--data-dir", default=None, help="reuse a data dir written earlier")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--child":
        print(json.dumps(child(argv[1], float(argv[2]), float(argv[3]), "--profile" in argv)))
        return 0
    args = _parser().parse_args(argv)
    n, runs = (5_000, 1) if args.smoke else (args.n, max(args.runs, 1))
    # before this process compiles anything into the cache
    installed = "warm (installed cache)" if numba_cache_installed() else "no installed cache"
    tmp = tempfile.TemporaryDirectory(prefix="bench-cold-")
    work = Path(tmp.name)
    try:
        real: Path | None = harness.real_data_dir(args.real_data)
    except harness.RealDataMissing:
        real = None
    t0 = time.perf_counter()
    data_dir = Path(args.data_dir) if args.data_dir else write_snapshot(n, args.seed, work, real)
    harness.eprint(f"snapshot of {n:,} merchants ready in {time.perf_counter() - t0:.1f} s")

    from geo_discovery.engine import DiscoveryEngine

    engine = DiscoveryEngine.from_snapshot(data_dir)
    lat = float(np.median(engine.snapshot.lat))
    lng = float(np.median(engine.snapshot.lng))
    want = engine.nearby(lat, lng, 20).merchant_ids
    # (name, numba cache dir, hide the row file, use the ahead-of-time kernels)
    built = aot_built()
    states: list[tuple[str, Path | None, bool, bool]] = [
        (installed + ("" if built else ", ahead-of-time not built"), None, False, True),
        (f"{installed}, jitted only", None, False, False),
    ]
    if not args.smoke:
        cache = work / "numba-cache"
        cache.mkdir()
        states = [
            ("cold (empty cache: compiles), jitted only", cache, False, False),
            ("warm, jitted only", cache, False, False),
            ("empty numba cache, ahead-of-time kernels", work / "numba-cache-2", False, True),
            ("ahead-of-time kernels", cache, False, True),
        ]
        if not args.data_dir:  # our own snapshot: hide its row file for one state
            states.append(("ahead-of-time, old snapshot (parquet only)", cache, True, True))
    result_runs: dict[str, Any] = {}
    correct = True
    problems: list[str] = []
    for name, cache_dir, parquet_only, aot in states:
        samples = []
        for i in range(runs if "cold" not in name else 1):
            with _row_file_hidden(data_dir, parquet_only):
                r = _run_child(data_dir, lat, lng, cache_dir, False, aot)
            problem = kernel_problem(name, aot, bool(r.pop("ahead_of_time")), built)
            problems += [problem] if problem and problem not in problems else []
            correct &= r.pop("first_ids") == want
            samples.append(r)
            harness.eprint(f"{name} run {i + 1}: open → first answer "
                           f"{r['open_to_first_answer_s'] * 1e3:.1f} ms")  # fmt: skip
        result_runs[name] = {k: float(np.median([s[k] for s in samples])) for k in samples[0]}
    profile = None
    if args.profile and not args.smoke:
        r = _run_child(data_dir, lat, lng, work / "numba-cache", True)
        correct &= r.pop("first_ids") == want
        profile = r["profile"]
    res = {
        "benchmark": "cold_start",
        "order": ORDER,
        "n": n,
        "runs": result_runs,
        "profile": profile,
        "correct": correct,
        "aot_built": built,
        "kernel_problems": problems,
        "machine": harness.machine_info(["numba"]),
    }
    out_dir = Path(args.out_dir) if args.out_dir else (work if args.smoke else harness.BENCH_DIR)
    md = render_markdown(res, harness.command_line(MODULE, argv))
    path = harness.write_results(out_dir, "cold_start" + ("_smoke" if args.smoke else ""), res, md)
    print(md)
    harness.eprint(f"wrote {path}")
    tmp.cleanup()
    return 0 if correct and not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
