"""HTTP load benchmark of the query API with wrk, on loopback: rps and latency of
``GET /v1/merchants/nearby?limit=20``, then errors while a snapshot is published under load.

1. Build a snapshot of real NYC merchants (food stores, DOHMH restaurants, Airbnb) with
   the CLI (``geo-discovery load``) in a temporary data dir.
2. Start ``geo-discovery serve`` (uvicorn, ``--workers``) on a free 127.0.0.1 port.
3. Steady phase: wrk for ``--duration`` seconds, each request a different query point
   (80% at merchants' locations with 5 m jitter, 20% uniform in the data's bounding box).
4. Swap phase: wrk again while ``geo-discovery load --mode upsert`` publishes a new
   snapshot; the server swaps to it (``/readyz`` shows the new version) during the run.
   Every non-2xx answer and socket error is counted (goal: 0).

wrk reports latency per request as it sees it (it is a closed-loop generator: under
overload, queueing shows up as lower rps rather than as higher latency).

Results go to ``benchmarks/results/api_load.json`` and their section of
``benchmarks/RESULTS.md``. ``--smoke`` (CI, a few seconds) uses the DOHMH file only,
short runs, and writes to a temporary folder unless ``--out-dir`` is given.

Needs the ``wrk`` binary (Debian/Ubuntu: ``apt-get install -y wrk``); without it the
script exits with status 3 and says so.

Examples
--------
    python -m benchmarks.bench_api_load                    # full run (about a minute)
    python -m benchmarks.bench_api_load --workers 1 --connections 16
    python -m benchmarks.bench_api_load --smoke            # CI
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import harness

MODULE = "benchmarks.bench_api_load"
REPO_ROOT = Path(__file__).resolve().parents[1]
NYC_FILES = (
    "nyc/nyc_retail_food_stores.csv",
    "nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv",
    "nyc/nyc_airbnb_listings_2019.csv.gz",
)
SMOKE_FILES = ("nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv",)
UPSERT_FILE = "nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv"
# Smoke runs on a machine without ../shared/data use the demo sample shipped in the repo.
SAMPLE_FILE = REPO_ROOT / "data" / "sample" / "helsinki_osm_pois.csv"
GOAL_RPS = 3000
GOAL_P99_MS = 20.0
EXIT_NO_WRK = 3

# wrk's done() callback: prints one JSON line with the summary (parsed by parse_wrk).
WRK_DONE_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nWRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"p999_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max))
end
"""
# wrk script: query points round-robin.
_LUA = r"""
local points = {%(points)s}
local n = #points
local i = 0
local limit = "%(limit)s"
request = function()
  i = (i %% n) + 1
  local p = points[i]
  local path = "/v1/merchants/nearby?lat=" .. p[1] .. "&lng=" .. p[2] .. "&limit=" .. limit
  return wrk.format("GET", path)
end
"""


# ------------------------------------------------------------------------- helpers
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(port: int, path: str) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def cli(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "geo_discovery.cli.main", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"geo-discovery {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - start, done


def query_points(data_dir: Path, n: int, seed: int) -> np.ndarray:
    """``n`` (lat, lng) rows: 80% merchants' locations + 5 m jitter, 20% uniform in bbox."""
    from geo_discovery.engine import DiscoveryEngine

    engine = DiscoveryEngine.from_snapshot(data_dir)
    lat = np.asarray(engine.merchants.column("lat").to_numpy(), dtype=float)
    lng = np.asarray(engine.merchants.column("lng").to_numpy(), dtype=float)
    rng = np.random.default_rng(seed)
    n_at = int(n * 0.8)
    pick = rng.integers(0, len(lat), size=n_at)
    jitter_deg = 5.0 / 111_320.0
    at = np.column_stack(
        [
            lat[pick] + rng.normal(0, jitter_deg, n_at),
            lng[pick] + rng.normal(0, jitter_deg, n_at) / np.cos(np.radians(lat[pick])),
        ]
    )
    lo_lat, hi_lat = np.percentile(lat, [0.5, 99.5])
    lo_lng, hi_lng = np.percentile(lng, [0.5, 99.5])
    uni = np.column_stack(
        [rng.uniform(lo_lat, hi_lat, n - n_at), rng.uniform(lo_lng, hi_lng, n - n_at)]
    )
    pts = np.vstack([at, uni])
    rng.shuffle(pts)
    return np.clip(pts, [-90, -180], [90, 180])


def write_lua(points: np.ndarray, limit: int, path: Path) -> None:
    """wrk's script asking nearby at ``points`` in turn (the paths of :func:`nearby_paths`)."""
    body = ",".join(f'{{"{a:.6f}","{b:.6f}"}}' for a, b in points.tolist())
    path.write_text(_LUA % {"points": body, "limit": limit} + WRK_DONE_LUA)


def nearby_paths(points: np.ndarray, limit: int) -> list[str]:
    """The request paths wrk sends with :func:`write_lua`'s script, in order."""
    return [
        f"/v1/merchants/nearby?lat={a:.6f}&lng={b:.6f}&limit={limit}" for a, b in points.tolist()
    ]


def wrk_command(
    port: int, script: Path, *, duration_s: float, connections: int, threads: int
) -> list[str]:
    """The wrk command line: keep-alive connections, a 5 s timeout, ``script``'s requests."""
    return [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}/",
    ]


def parse_wrk(returncode: int, stdout: str, stderr: str, cmd: list[str]) -> dict[str, Any]:
    """wrk's summary (the ``WRK_JSON`` line of :data:`WRK_DONE_LUA`): latencies in ms,
    error counts, rps."""
    line = next((ln for ln in stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({returncode}):\n{stdout}\n{stderr}")
    raw = json.loads(line.removeprefix("WRK_JSON "))
    seconds = raw["duration_us"] / 1e6
    errors = {k: raw[k] for k in ("connect", "read", "write", "status", "timeout")}
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 3),
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "latency_ms": {
            "p50": raw["p50_us"] / 1000,
            "p90": raw["p90_us"] / 1000,
            "p99": raw["p99_us"] / 1000,
            "p99.9": raw["p999_us"] / 1000,
            "mean": round(raw["mean_us"] / 1000, 3),
            "max": raw["max_us"] / 1000,
        },
        "errors": errors,
        "failed_requests": sum(errors.values()),
        "mb_per_s": round(raw["bytes"] / seconds / 1e6, 2) if seconds else 0.0,
        "command": " ".join(cmd),
    }


def run_wrk(
    port: int, script: Path, *, duration_s: float, connections: int, threads: int
) -> dict[str, Any]:
    """One wrk run; returns its summary (latencies in ms, error counts)."""
    cmd = wrk_command(port, script, duration_s=duration_s, connections=connections, threads=threads)
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=duration_s + 60)
    return parse_wrk(done.returncode, done.stdout, done.stderr, cmd)


def wait_ready(proc: subprocess.Popen[str], port: int, log: Any) -> None:
    """Wait until ``proc`` answers ``/readyz`` with 200 (its output is in ``log``)."""
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read()}")
        try:
            if get_json(port, "/readyz")[0] == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("server not ready within 180 s")
        time.sleep(0.2)


@contextmanager
def server(
    data_dir: Path, port: int, workers: int, reload_ms: int
) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "GEO_DISCOVERY_API_RELOAD_INTERVAL_MS": str(reload_ms)}
    env.pop("GEO_DISCOVERY_API_ACCESS_LOG", None)
    cmd = [
        sys.executable,
        "-m",
        "geo_discovery.cli.main",
        "serve",
        "--data-dir",
        str(data_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with running(cmd, port, env) as proc:
        yield proc


@contextmanager
def running(cmd: list[str], port: int, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """``cmd`` running until the block ends (SIGINT, then kill), once ``port`` is ready."""
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
        )
        try:
            wait_ready(proc, port, log)
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def swap_phase(
    port: int,
    script: Path,
    data_dir: Path,
    upsert: Path,
    *,
    duration_s: float,
    connections: int,
    threads: int,
) -> dict[str, Any]:
    """wrk for ``duration_s`` while the CLI publishes a new snapshot (after 1/5 of it)."""
    before = get_json(port, "/readyz")[1]["snapshot"]
    box: dict[str, Any] = {}

    def load() -> None:
        time.sleep(duration_s / 5)
        t0 = time.perf_counter()
        try:
            box["load_s"], _ = cli(
                "load", str(upsert), "--mode", "upsert", "--data-dir", str(data_dir)
            )
            while time.perf_counter() - t0 < duration_s:
                if get_json(port, "/readyz")[1]["snapshot"] != before:
                    box["swapped_after_s"] = round(time.perf_counter() - t0, 2)
                    return
                time.sleep(0.05)
        except Exception as exc:  # reported, never hidden
            box["error"] = repr(exc)

    publisher = threading.Thread(target=load, daemon=True)
    publisher.start()
    result = run_wrk(port, script, duration_s=duration_s, connections=connections, threads=threads)
    publisher.join(timeout=120)
    after = get_json(port, "/readyz")[1]["snapshot"]
    result.update(
        {
            "snapshot_before": before,
            "snapshot_after": after,
            "swapped": after != before,
            "swap_seen_during_run": "swapped_after_s" in box
            and box["swapped_after_s"] + duration_s / 5 < duration_s,
            "publish_seconds": round(box.get("load_s", float("nan")), 2),
            "publish_to_swap_seconds": box.get("swapped_after_s"),
            "publish_error": box.get("error"),
        }
    )
    return result


# --------------------------------------------------------------------------- report
def _swap_when(w: dict[str, Any]) -> str:
    t = w["publish_to_swap_seconds"]
    if t is None:
        return "did not answer from the new snapshot within the run"
    return f"answered from the new snapshot {t} s after it started"


def goals(steady: dict[str, Any], swap: dict[str, Any]) -> dict[str, Any]:
    """The goals met or not; the swap goal only when the server swapped while wrk ran
    (``swap_why`` says why not)."""
    why = None
    if swap.get("publish_error"):
        why = f"the publish failed: {swap['publish_error']}"
    elif not swap["swapped"]:
        why = "no swap: the server still answers from the old snapshot"
    elif not swap["swap_seen_during_run"]:
        why = "the swap did not happen while the load ran, so no request could fail during it"
    elif swap["failed_requests"]:
        why = f"{swap['failed_requests']} failed request(s)"
    return {
        "rps_met": steady["rps"] >= GOAL_RPS,
        "p99_met": steady["latency_ms"]["p99"] <= GOAL_P99_MS,
        "swap_met": why is None,
        "swap_why": why,
    }


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    s, w = res["steady"], res["swap"]
    goal = res["goal"]
    lines = [
        f"## Query API under load — nearby, limit={res['limit']}"
        + (" (smoke)" if res["smoke"] else ""),
        "",
        f"Command: `{res['command']}`  ",
        f"Machine: {m['cpu']}, {m['cores_usable']} usable cores shared with the load generator "
        f"and other work (load average at start {m['load_average_at_start']}), Python "
        f"{m['python']}, {', '.join(f'{k} {v}' for k, v in m['versions'].items())}; "
        f"{m['date_utc']}; git {m['git']}.",
        "",
        f"Data: {res['merchants']:,} real merchants ({', '.join(res['files'])}), one snapshot "
        f"built with `geo-discovery load`. Server: `geo-discovery serve --workers "
        f"{res['workers']}` (uvicorn) on 127.0.0.1. Load: wrk {res['wrk_version']}, "
        f"{res['threads']} thread(s), {res['connections']} connections, keep-alive, "
        f"{res['query_points']:,} query points round-robin (80% at merchants' locations + "
        "5 m jitter, 20% uniform in the data's bounding box). Latency is wrk's per-request "
        "time (closed loop).",
        "",
        "| phase | seconds | requests | rps | p50 ms | p90 ms | p99 ms | max ms | failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in (("steady", s), ("snapshot published under load", w)):
        lat = r["latency_ms"]
        lines.append(
            f"| {name} | {r['seconds']:.1f} | {r['requests']:,} | {r['rps']:,.0f} | "
            f"{lat['p50']:.2f} | {lat['p90']:.2f} | {lat['p99']:.2f} | {lat['max']:.1f} | "
            f"{r['failed_requests']} |"
        )
    lines += [
        "",
        f"Swap: {w['seconds'] / 5:.0f} s into the phase, `geo-discovery load --mode upsert` "
        f"published a new snapshot ({w['snapshot_before']} → {w['snapshot_after']}); the "
        f"command took {w['publish_seconds']} s and the server {_swap_when(w)}; swapped during "
        "the run: "
        f"**{'yes' if w['swap_seen_during_run'] else 'no'}**; failed requests during the swap "
        f"phase: **{w['failed_requests']}** (non-2xx {w['errors']['status']}, socket errors "
        f"{w['errors']['connect'] + w['errors']['read'] + w['errors']['write']}, timeouts "
        f"{w['errors']['timeout']}).",
        "",
        f"Goal (issue 5): ≥ {GOAL_RPS:,} rps with p99 ≤ {GOAL_P99_MS:g} ms on this 2-core "
        f"machine: rps **{'met' if goal['rps_met'] else 'not met'}** ({s['rps']:,.0f}), p99 "
        f"**{'met' if goal['p99_met'] else 'not met'}** ({s['latency_ms']['p99']:.2f} ms); "
        f"0 failed requests during a swap: **{'met' if goal['swap_met'] else 'not met'}**"
        + (f" ({goal['swap_why']})." if goal.get("swap_why") else "."),
    ]
    if res.get("note"):
        lines += ["", res["note"]]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main
def _without_note(argv: list[str]) -> list[str]:
    """The command to reproduce a run: ``--note TEXT`` is commentary, not a setting."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--note":
            skip = True
        elif not arg.startswith("--note="):
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=20.0, help="seconds of the steady phase")
    p.add_argument("--swap-duration", type=float, default=30.0, help="seconds of the swap phase")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of unrecorded warm-up")
    p.add_argument("--connections", type=int, default=32, help="wrk connections")
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    p.add_argument("--limit", type=int, default=20, help="nearby limit")
    p.add_argument("--points", type=int, default=2000, help="distinct query points")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--real-data", default=None, help="folder with nyc/ (default: setting)")
    p.add_argument("--out-dir", default=None, help="where RESULTS.md and results/ go")
    p.add_argument("--smoke", action="store_true", help="CI: small data, short runs")
    p.add_argument("--note", default="", help="a sentence added to the results section")
    args = p.parse_args(argv)
    if args.smoke:
        args.duration, args.swap_duration, args.warmup = 2.0, 6.0, 1.0
        args.connections, args.points = min(args.connections, 8), min(args.points, 200)

    wrk = shutil.which("wrk")
    if wrk is None:
        harness.eprint(
            "wrk is not installed (Debian/Ubuntu: apt-get install -y wrk); nothing measured"
        )
        return EXIT_NO_WRK
    wrk_version = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    version_text = (
        (wrk_version.stdout or wrk_version.stderr).split("[")[0].replace("wrk", "").strip()
    )

    files: tuple[str, ...] = SMOKE_FILES if args.smoke else NYC_FILES
    try:
        real = harness.real_data_dir(args.real_data)
        inputs = [real / f for f in files]
        upsert = real / UPSERT_FILE
    except harness.RealDataMissing as exc:
        if not args.smoke:
            raise
        harness.eprint(f"{exc}; the smoke run uses the bundled sample {SAMPLE_FILE.name}")
        files = (str(SAMPLE_FILE.relative_to(REPO_ROOT)),)
        inputs, upsert = [SAMPLE_FILE], SAMPLE_FILE
    machine = harness.machine_info(["fastapi", "uvicorn", "starlette", "geo-discovery"])
    with tempfile.TemporaryDirectory(prefix="gd-api-load-") as tmp:
        data_dir = Path(tmp) / "store"
        harness.eprint(f"building the snapshot from {', '.join(files)} …")
        build_s, _ = cli("load", *(str(f) for f in inputs), "--data-dir", str(data_dir))
        points = query_points(data_dir, args.points, args.seed)
        from geo_discovery.engine import DiscoveryEngine

        merchants = len(DiscoveryEngine.from_snapshot(data_dir))
        script = Path(tmp) / "nearby.lua"
        write_lua(points, args.limit, script)
        port = free_port()
        harness.eprint(f"serving on 127.0.0.1:{port} with {args.workers} worker(s) …")
        with server(data_dir, port, args.workers, reload_ms=200):
            run_wrk(
                port,
                script,
                duration_s=args.warmup,
                connections=args.connections,
                threads=args.threads,
            )
            harness.eprint(f"steady phase, {args.duration:g} s …")
            steady = run_wrk(
                port,
                script,
                duration_s=args.duration,
                connections=args.connections,
                threads=args.threads,
            )
            harness.eprint(f"swap phase, {args.swap_duration:g} s, publishing a snapshot …")
            swap = swap_phase(
                port,
                script,
                data_dir,
                upsert,
                duration_s=args.swap_duration,
                connections=args.connections,
                threads=args.threads,
            )
    res: dict[str, Any] = {
        "order": 60,
        "smoke": args.smoke,
        "command": harness.command_line(MODULE, _without_note(argv)),
        "machine": machine,
        "wrk_version": version_text,
        "files": list(files),
        "merchants": merchants,
        "snapshot_build_seconds": round(build_s, 2),
        "workers": args.workers,
        "threads": args.threads,
        "connections": args.connections,
        "limit": args.limit,
        "query_points": len(points),
        "steady": steady,
        "swap": swap,
        "goal": goals(steady, swap),
        "note": args.note,
    }
    md = markdown(res)
    print(md)
    if args.out_dir is not None:
        out_dir = Path(args.out_dir)
    elif args.smoke:
        out_dir = Path(tempfile.mkdtemp(prefix="gd-api-load-results-"))
    else:
        out_dir = REPO_ROOT / "benchmarks"
    md_path = harness.write_results(
        out_dir, "api_load" if not args.smoke else "api_load_smoke", res, md
    )
    harness.eprint(f"wrote {out_dir / 'results'} and {md_path}")
    ok = steady["failed_requests"] == 0 and swap["failed_requests"] == 0 and swap["swapped"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
