"""HTTP nearby against its ceiling: ``geo-discovery serve`` and a bare ASGI app that sends
the same bytes, on the same uvicorn stack, with wrk, in one run (issue 16, goal 3).

1. Build a snapshot of real NYC merchants with ``geo-discovery load`` (as
   ``bench_api_load``), and the query points (80% at merchants + 5 m jitter, 20% uniform).
2. Start ``geo-discovery serve --workers 1`` and record its answer to every query path
   wrk will send (``GET /v1/merchants/nearby?lat=…&lng=…&limit=20``).
3. Start the bare ASGI app (:mod:`benchmarks.bare_asgi`) on the same uvicorn options
   (:func:`geo_discovery_api.app.uvicorn_options`), replaying those answers by query
   string; check that both send the same status, headers (but ``date``) and body for a
   sample of paths (``correct``).
4. ``--rounds`` times: wrk on ``serve``, then wrk on the bare app (same connections,
   duration, query list); report each, the medians and the ratio serve / bare.
5. With ``--profile S``: py-spy samples the one-worker server for S seconds under wrk; its
   stacks are sorted into request-path stages (middleware, routing, query parsing,
   validation, search, serialisation, uvicorn/httptools, socket writes, event loop) and
   turned into µs per request with the process's CPU time and wrk's request count.
6. ``geo-discovery serve --workers 2``: wrk ``--rounds`` times (goal: ≥ 3,000 rps, p99 ≤
   20 ms with wrk on the same 2 cores).

Results go to ``benchmarks/results/http.json`` and their section of ``RESULTS.md``;
``--smoke`` (CI: the DOHMH file, 200 points, a couple of seconds of wrk per server) writes
to a temporary folder unless ``--out-dir`` is given. Needs wrk (exit 3 without it);
``--profile`` needs py-spy (``pip install py-spy``) and the right to ptrace the server.

Examples
--------
    python -m benchmarks.bench_http                      # full run (~3 min)
    python -m benchmarks.bench_http --profile 10         # plus the per-stage profile
    python -m benchmarks.bench_http --smoke
"""

from __future__ import annotations

import argparse
import http.client
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import harness
from benchmarks.bench_api_load import (
    NYC_FILES,
    SAMPLE_FILE,
    SMOKE_FILES,
    cli,
    free_port,
    nearby_paths,
    query_points,
    run_wrk,
    running,
    server,
    write_lua,
)
from benchmarks.http_profile import cpu_seconds, peak_rss_bytes, profile_server

MODULE = "benchmarks.bench_http"
REPO_ROOT = Path(__file__).resolve().parents[1]
GOAL_RATIO = 0.5
GOAL_RPS_2W = 3000
GOAL_P99_MS_2W = 20.0
EXIT_NO_WRK = 3
_CHECKED_PATHS = 50

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def fetch_all(port: int, paths: list[str]) -> dict[str, Answer]:
    """Each path's answer (status, headers but ``date`` in order, body) over one connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out: dict[str, Answer] = {}
    try:
        for path in paths:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            headers = [
                (k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in resp.getheaders()
                if k.lower() != "date"
            ]
            out[path] = (resp.status, headers, body)
    finally:
        conn.close()
    return out


def bare_server(answers: dict[str, Answer], port: int, folder: Path) -> Any:
    """The bare ASGI app replaying ``answers`` (by query string) on ``port``."""
    recorded = {path.split("?", 1)[1].encode(): answer for path, answer in answers.items()}
    file = folder / "answers.pkl"
    file.write_bytes(pickle.dumps(recorded))
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.bare_asgi",
        "--answers",
        str(file),
        "--port",
        str(port),
    ]
    env = {**os.environ}
    env.pop("GEO_DISCOVERY_API_ACCESS_LOG", None)
    return running(cmd, port, env)


def measured(pid: int, port: int, script: Path, *, duration_s: float, **wrk: Any) -> dict[str, Any]:
    """One wrk run on ``port``, with the CPU time the server (``pid`` and its workers) used
    per request (less sensitive than rps to how much of the shared cores it got)."""
    cpu0 = cpu_seconds(pid)
    result = run_wrk(port, script, duration_s=duration_s, **wrk)
    cpu = cpu_seconds(pid) - cpu0
    result["server_cpu_us_per_request"] = cpu / max(1, result["requests"]) * 1e6
    result["server_cores_used"] = cpu / result["seconds"] if result["seconds"] else 0.0
    result["server_peak_rss_bytes"] = peak_rss_bytes(pid)
    return result


def median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rps (its latencies kept together), plus every run's rps."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    mid = ordered[(len(ordered) - 1) // 2]
    return {
        **mid,
        "rps_each": [r["rps"] for r in runs],
        "rps_median": statistics.median(r["rps"] for r in runs),
        "cpu_us_median": statistics.median(r["server_cpu_us_per_request"] for r in runs),
        "cores_used_median": statistics.median(r["server_cores_used"] for r in runs),
        "peak_rss_bytes": max(r["server_peak_rss_bytes"] for r in runs),
    }


# --------------------------------------------------------------------------- report
def _row(name: str, r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    each = " / ".join(f"{x:,.0f}" for x in r["rps_each"])
    return (
        f"| {name} | {r['rps_median']:,.0f} | {each} | {lat['p50']:.2f} | {lat['p90']:.2f} | "
        f"{lat['p99']:.2f} | {lat['max']:.1f} | {r['failed_requests']} | "
        f"{r['cpu_us_median']:.0f} | {r['cores_used_median']:.2f} | "
        f"{r['peak_rss_bytes'] / 2**20:,.0f} |"
    )


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    bare, one, two = res["bare"], res["serve_1"], res["serve_2"]
    goal = res["goal"]
    lines = [
        f"## HTTP nearby against the bare-ASGI ceiling — limit={res['limit']}"
        + (" (smoke)" if res["smoke"] else ""),
        "",
        f"Command: `{res['command']}`  ",
        f"Machine: {m['cpu']}, {m['cores_usable']} usable cores shared with wrk and other work "
        f"(load average at start {m['load_average_at_start']}, at end {res['load_average_at_end']}"
        f"), Python {m['python']}, {', '.join(f'{k} {v}' for k, v in m['versions'].items())}; "
        f"{m['date_utc']}; git {m['git']}.",
        "",
        f"Data: {res['merchants']:,} real merchants ({', '.join(res['files'])}). Both servers run "
        f"uvicorn with `serve`'s options ({res['uvicorn']}); the bare ASGI app "
        "(`benchmarks/bare_asgi.py`) replays, by query string, the answer `serve` gave to each "
        f"of the {res['query_points']:,} query paths (mean body {res['mean_body_bytes']:,.0f} "
        f"bytes; status, headers but `date` and body checked equal on {res['checked_paths']} "
        f"paths: **{'equal' if res['correct'] else 'DIFFERENT'}**). wrk {res['wrk_version']}, "
        f"{res['threads']} thread, {res['connections']} connections, keep-alive, "
        f"{res['duration_s']:g} s per run, {res['rounds']} round(s) alternating serve and bare "
        "(rps median of the rounds; latencies of the median round).",
        "",
        "| server | rps (median) | rps each round | p50 ms | p90 ms | p99 ms | max ms | failed "
        "| server CPU µs / request | cores used | server peak RSS MiB (workers included) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        _row("bare ASGI, 1 worker (ceiling)", bare),
        _row("`geo-discovery serve --workers 1`", one),
        _row("`geo-discovery serve --workers 2`", two),
        "",
        f"**serve / bare, one worker: {res['ratio']:.3f}** (rounds: "
        f"{', '.join(f'{x:.3f}' for x in res['ratio_each'])}). Server CPU time per request, "
        f"bare / serve: {res['cpu_ratio']:.3f}: the rps ratio if both got the same share of "
        "the cores (on a shared machine each gets what the scheduler leaves it: see the "
        "cores-used column).",
        "",
        f"Goals (issue 16, goal 3): one worker ≥ {GOAL_RATIO:.0%} of the ceiling: "
        f"**{'met' if goal['ratio_met'] else 'not met'}** ({res['ratio']:.1%}); two workers "
        f"≥ {GOAL_RPS_2W:,} rps: **{'met' if goal['rps_2w_met'] else 'not met'}** "
        f"({two['rps_median']:,.0f}), p99 ≤ {GOAL_P99_MS_2W:g} ms: "
        f"**{'met' if goal['p99_2w_met'] else 'not met'}** ({two['latency_ms']['p99']:.2f} ms).",
    ]
    prof = res.get("profile")
    if prof:
        lines += [
            "",
            f"Profile of the one-worker server (py-spy {prof['py_spy']}, {prof['rate']} Hz, "
            f"{prof['seconds']:g} s under wrk: {prof['requests']:,} requests, {prof['rps']:,.0f} "
            f"rps while sampled; {prof['samples']:,} busy samples; server CPU "
            f"{prof['cpu_us_per_request']:.1f} µs per request):",
            "",
            "| stage | share | µs per request |",
            "|---|---:|---:|",
        ]
        for stage, share, us in prof["stages"]:
            lines.append(f"| {stage} | {share:.1%} | {us:.1f} |")
    if res.get("note"):
        lines += ["", res["note"]]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main
def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds of each wrk run")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of unrecorded warm-up")
    p.add_argument("--rounds", type=int, default=3, help="alternating serve/bare runs")
    p.add_argument("--connections", type=int, default=16, help="wrk connections")
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--limit", type=int, default=20, help="nearby limit")
    p.add_argument("--points", type=int, default=2000, help="distinct query points")
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--profile", type=float, default=0.0, help="seconds of py-spy (0: none)")
    p.add_argument("--profile-rate", type=int, default=200, help="py-spy samples per second")
    p.add_argument("--real-data", default=None, help="folder with nyc/ (default: setting)")
    p.add_argument("--out-dir", default=None, help="where RESULTS.md and results/ go")
    p.add_argument("--smoke", action="store_true", help="CI: small data, short runs")
    p.add_argument("--note", default="", help="a sentence added to the results section")
    args = p.parse_args(argv)
    if args.smoke:
        args.duration, args.warmup, args.rounds = 1.0, 0.5, 1
        args.connections, args.points = min(args.connections, 8), min(args.points, 200)

    wrk = shutil.which("wrk")
    if wrk is None:
        harness.eprint("wrk is not installed (apt-get install -y wrk); nothing measured")
        return EXIT_NO_WRK
    out = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    wrk_version = (out.stdout or out.stderr).split("[")[0].replace("wrk", "").strip()

    files: tuple[str, ...] = SMOKE_FILES if args.smoke else NYC_FILES
    try:
        real = harness.real_data_dir(args.real_data)
        inputs = [real / f for f in files]
    except harness.RealDataMissing as exc:
        if not args.smoke:
            raise
        harness.eprint(f"{exc}; the smoke run uses the bundled sample {SAMPLE_FILE.name}")
        files = (str(SAMPLE_FILE.relative_to(REPO_ROOT)),)
        inputs = [SAMPLE_FILE]
    machine = harness.machine_info(["fastapi", "uvicorn", "starlette", "uvloop", "httptools"])
    wrk_opts = {"connections": args.connections, "threads": args.threads}
    with tempfile.TemporaryDirectory(prefix="gd-http-") as tmp:
        data_dir = Path(tmp) / "store"
        harness.eprint(f"building the snapshot from {', '.join(files)} …")
        cli("load", *(str(f) for f in inputs), "--data-dir", str(data_dir))
        points = query_points(data_dir, args.points, args.seed)
        from geo_discovery.engine import DiscoveryEngine
        from geo_discovery.settings import get_settings
        from geo_discovery_api.app import uvicorn_options

        merchants = len(DiscoveryEngine.from_snapshot(data_dir))
        script = Path(tmp) / "nearby.lua"
        write_lua(points, args.limit, script)
        paths = nearby_paths(points, args.limit)
        serve_port, bare_port = free_port(), free_port()
        with server(data_dir, serve_port, 1, reload_ms=0) as proc:
            harness.eprint(f"recording {len(paths):,} answers …")
            answers = fetch_all(serve_port, paths)
            with bare_server(answers, bare_port, Path(tmp)) as bare_proc:
                checked = paths[:: max(1, len(paths) // _CHECKED_PATHS)]
                same = fetch_all(bare_port, checked) == {p: answers[p] for p in checked}
                statuses_ok = all(a[0] == 200 for a in answers.values())
                for port in (serve_port, bare_port):
                    run_wrk(port, script, duration_s=args.warmup, **wrk_opts)
                one_runs, bare_runs = [], []
                for r in range(args.rounds):
                    harness.eprint(f"round {r + 1}/{args.rounds}: serve, then bare …")
                    one_runs.append(
                        measured(proc.pid, serve_port, script, duration_s=args.duration, **wrk_opts)
                    )
                    bare_runs.append(
                        measured(
                            bare_proc.pid, bare_port, script, duration_s=args.duration, **wrk_opts
                        )
                    )
            profile = None
            if args.profile > 0:
                harness.eprint(f"profiling serve --workers 1 for {args.profile:g} s …")
                profile = profile_server(
                    proc.pid,
                    lambda: run_wrk(serve_port, script, duration_s=args.profile, **wrk_opts),
                    rate=args.profile_rate,
                    out_dir=Path(args.out_dir or tmp),
                )
        two_port = free_port()
        with server(data_dir, two_port, 2, reload_ms=0) as proc2:
            run_wrk(two_port, script, duration_s=args.warmup, **wrk_opts)
            two_runs = []
            for r in range(args.rounds):
                harness.eprint(f"serve --workers 2, run {r + 1}/{args.rounds} …")
                two_runs.append(
                    measured(proc2.pid, two_port, script, duration_s=args.duration, **wrk_opts)
                )
    ratios = [a["rps"] / b["rps"] for a, b in zip(one_runs, bare_runs, strict=True)]
    one, bare, two = median_row(one_runs), median_row(bare_runs), median_row(two_runs)
    options = uvicorn_options(get_settings(), "127.0.0.1", 0)
    res: dict[str, Any] = {
        "order": 61,
        "smoke": args.smoke,
        "command": harness.command_line(MODULE, [a for a in argv if not a.startswith("--note")]),
        "machine": machine,
        "load_average_at_end": _load_average(),
        "wrk_version": wrk_version,
        "uvicorn": ", ".join(f"{k}={v}" for k, v in options.items() if k not in ("host", "port")),
        "files": list(files),
        "merchants": merchants,
        "limit": args.limit,
        "query_points": len(paths),
        "mean_body_bytes": statistics.fmean(len(a[2]) for a in answers.values()),
        "checked_paths": len(checked),
        "correct": bool(same and statuses_ok),
        "connections": args.connections,
        "threads": args.threads,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "bare": bare,
        "serve_1": one,
        "serve_2": two,
        "ratio_each": ratios,
        "ratio": one["rps_median"] / bare["rps_median"],
        "cpu_ratio": bare["cpu_us_median"] / one["cpu_us_median"],
        "profile": profile,
        "goal": {
            "ratio_met": one["rps_median"] / bare["rps_median"] >= GOAL_RATIO,
            "rps_2w_met": two["rps_median"] >= GOAL_RPS_2W,
            "p99_2w_met": two["latency_ms"]["p99"] <= GOAL_P99_MS_2W,
        },
        "note": args.note,
    }
    md = markdown(res)
    print(md)
    if args.out_dir is not None:
        out_dir = Path(args.out_dir)
    elif args.smoke:
        out_dir = Path(tempfile.mkdtemp(prefix="gd-http-results-"))
    else:
        out_dir = REPO_ROOT / "benchmarks"
    md_path = harness.write_results(out_dir, "http_smoke" if args.smoke else "http", res, md)
    harness.eprint(f"wrote {out_dir / 'results'} and {md_path}")
    failed = sum(r["failed_requests"] for r in (*one_runs, *bare_runs, *two_runs))
    return 0 if res["correct"] and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
