"""Soak: wrk at full load on nearby and box search while snapshots are published and one
is rolled back; every answer is checked against the snapshot it names.

1. Write the snapshots' input files from the real NYC files (whole files, or random subsets
   of their rows in smoke mode) so each snapshot holds a different set of sources, and
   load the first with ``geo-discovery load``.
2. Start ``geo-discovery serve --workers 2`` on a free 127.0.0.1 port.
3. Run wrk (one Lua script alternating ``GET /v1/merchants/nearby`` and
   ``GET /v1/merchants/search?bbox=…``) for ``--duration`` seconds, and meanwhile:
   publish three snapshots (``geo-discovery load … --allow-shrink``: each replaces the
   data with another source set) with a ``geo-discovery rollback`` between the second and
   the third. wrk runs until the duration has passed *and* the last step was seen served
   (then it is stopped with SIGINT, which makes it report).
4. A checker (two threads in this process, one keep-alive connection each: one asks
   nearby with ``sort=distance``, the other box search) records every answer. After the
   run, each answer is compared with the same query asked of the snapshot its
   ``snapshot`` field names, opened locally (exact ids in order, and ``total``): an answer
   mixing two snapshots, or labelled with the wrong one, is a mismatch. Each answer's
   sources must be that snapshot's sources. On each connection (one server worker) the
   snapshots seen must follow the order in which ``CURRENT`` moved — forward only, except
   back to the rollback's target after the rollback began — and never before the command
   that made a snapshot current had started.

Passes (exit 0) with 0 non-2xx answers and 0 socket errors from wrk, 0 failed checker
requests, 0 mismatches, no out-of-order snapshot, every step done during the run and every
snapshot of the timeline seen by the checker. Results: ``benchmarks/results/soak.json``
and its section of ``benchmarks/RESULTS.md``.

Examples
--------
    python -m benchmarks.bench_soak                 # 60 s on the real NYC files (~3 min)
    python -m benchmarks.bench_soak --smoke         # CI: 5 s, 1 publish, 1 rollback
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks import harness
from benchmarks.bench_api_load import (
    EXIT_NO_WRK,
    SAMPLE_FILE,
    WRK_DONE_LUA,
    cli,
    free_port,
    parse_wrk,
    query_points,
    server,
    wrk_command,
)

__all__ = ["main", "order_violations"]

MODULE = "benchmarks.bench_soak"
ORDER = 62
FOOD = "nyc/nyc_retail_food_stores.csv"
DOHMH = "nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv"
AIRBNB = "nyc/nyc_airbnb_listings_2019.csv.gz"
BOX_HALF_M = 250.0  # box search: 500 m boxes around the query points
NEARBY_K = 20
SEARCH_LIMIT = 50

# wrk: odd requests nearby (the app default sort, best_match), even ones a box search.
_LUA = r"""
local points = {%(points)s}
local boxes = {%(boxes)s}
local n, m = #points, #boxes
local i, j, turn = 0, 0, 0
request = function()
  turn = 1 - turn
  if turn == 1 then
    i = (i %% n) + 1
    local p = points[i]
    return wrk.format("GET", "/v1/merchants/nearby?lat=" .. p[1] .. "&lng=" .. p[2] ..
      "&limit=%(k)d")
  end
  j = (j %% m) + 1
  return wrk.format("GET", "/v1/merchants/search?bbox=" .. boxes[j] .. "&limit=%(limit)d")
end
"""


# ------------------------------------------------------------------------- the plan
@dataclass
class Step:
    """One change of ``CURRENT``: a load of ``files`` or a rollback."""

    label: str
    files: list[Path] = field(default_factory=list)
    rollback: bool = False
    started_s: float | None = None
    finished_s: float | None = None
    snapshot_id: int | None = None
    version: str | None = None
    first_seen_s: float | None = None
    error: str | None = None

    def args(self, data_dir: Path) -> list[str]:
        if self.rollback:
            return ["rollback", "--data-dir", str(data_dir)]
        return ["load", *map(str, self.files), "--allow-shrink", "--data-dir", str(data_dir)]


def _subset(src: Path, rows: int | None, out: Path, seed: int) -> Path:
    """``src`` as is (``rows=None``) or a seeded random ``rows``-row subset, columns kept
    (so the same ingest profile is detected), written to ``out``."""
    if rows is None:
        return src
    frame = pd.read_csv(src, dtype=str, keep_default_na=False)
    pick = np.sort(np.random.default_rng(seed).choice(len(frame), min(rows, len(frame)), False))
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.iloc[pick].to_csv(out, index=False)
    return out


def plan(real: Path | None, smoke: bool, work: Path, seed: int) -> tuple[list[Path], list[Step]]:
    """The first snapshot's files and the steps that follow (each a different source set).

    Full: all three NYC files → DOHMH → food stores → rollback (to DOHMH) → food stores +
    DOHMH. Smoke: 2,000 DOHMH rows → 2,000 food-store rows → rollback.
    """
    if real is None:  # smoke without the real data: halves of the bundled sample
        frame = pd.read_csv(SAMPLE_FILE, dtype=str, keep_default_na=False)
        a, b = work / "sample_a.csv", work / "sample_b.csv"
        frame.iloc[::2].to_csv(a, index=False)
        frame.iloc[1::2].to_csv(b, index=False)
        return [a], [Step("publish half B", [b]), Step("rollback", rollback=True)]
    if smoke:
        first = _subset(real / DOHMH, 2000, work / "dohmh_2000.csv", seed)
        food = _subset(real / FOOD, 2000, work / "food_2000.csv", seed + 1)
        return [first], [
            Step("publish 2,000 food stores", [food]),
            Step("rollback", rollback=True),
        ]
    return [real / FOOD, real / DOHMH, real / AIRBNB], [
        Step("publish DOHMH restaurants", [real / DOHMH]),
        Step("publish food stores", [real / FOOD]),
        Step("rollback", rollback=True),
        Step("publish food stores + DOHMH", [real / FOOD, real / DOHMH]),
    ]


# ------------------------------------------------------------------------- checker
@dataclass
class Answer:
    t: float
    kind: str  # "nearby" | "bbox"
    query: tuple[float, ...]
    version: str
    ids: list[str]
    sources: frozenset[str]
    total: int | None
    ms: float


class Checker(threading.Thread):
    """One keep-alive connection asking ``kind`` queries round-robin until stopped."""

    def __init__(self, port: int, kind: str, queries: np.ndarray, t0: float) -> None:
        super().__init__(daemon=True, name=f"checker-{kind}")
        self.port, self.kind, self.queries, self.t0 = port, kind, queries, t0
        self.stop = threading.Event()
        self.answers: list[Answer] = []
        self.failures: list[str] = []
        self.reconnects = 0

    def _path(self, text: list[str]) -> str:
        if self.kind == "nearby":
            return (f"/v1/merchants/nearby?lat={text[0]}&lng={text[1]}&limit={NEARBY_K}"
                    "&sort=distance&fields=merchant_id,source")
        return (f"/v1/merchants/search?bbox={','.join(text)}&limit={SEARCH_LIMIT}"
                "&fields=merchant_id,source")

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        i = 0
        while not self.stop.is_set():
            text = [f"{x:.6f}" for x in self.queries[i % len(self.queries)].tolist()]
            q = tuple(float(x) for x in text)  # exactly what the server parses
            i += 1
            start = time.perf_counter()
            try:
                conn.request("GET", self._path(text))
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(f"{self.kind} {q}: {exc!r}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                self.reconnects += 1
                continue
            ms = (time.perf_counter() - start) * 1000
            if resp.status != 200:
                self.failures.append(f"{self.kind} {q}: HTTP {resp.status} {body[:200]!r}")
                continue
            doc = json.loads(body)
            rows = doc["results"]
            self.answers.append(Answer(
                t=time.perf_counter() - self.t0, kind=self.kind, query=q,
                version=doc["snapshot"], ids=[r["merchant_id"] for r in rows],
                sources=frozenset(r["source"] for r in rows), total=doc.get("total"), ms=ms,
            ))
        conn.close()


def order_violations(
    seen: list[tuple[float, int]], timeline: list[tuple[float, int]]
) -> list[str]:
    """Where the snapshots one connection saw break the order ``CURRENT`` moved in.

    ``timeline`` is ``(start time of the command, snapshot id)`` for the first snapshot and
    every step, in order; ``seen`` is ``(time, snapshot id)`` of each answer. Each answer
    must name the snapshot of the same or a later timeline entry than the previous
    answer, and not before that entry's command started.

    Examples
    --------
    >>> tl = [(0.0, 1), (5.0, 2), (9.0, 3), (12.0, 2), (15.0, 4)]
    >>> order_violations([(1, 1), (6, 2), (10, 3), (13, 2), (16, 4)], tl)
    []
    >>> order_violations([(1, 1), (16, 4), (17, 3)], tl)
    ['t=17.00 s: snapshot 3 after 4 (not in the order CURRENT moved)']
    >>> order_violations([(1, 1), (10, 3), (11, 2)], tl)  # back to 2 before the rollback
    ['t=11.00 s: snapshot 2 before the command that made it current started (12.00 s)']
    """
    out, pos = [], 0
    for t, sid in seen:
        nxt = next((q for q in range(pos, len(timeline)) if timeline[q][1] == sid), None)
        if nxt is None:
            prev = timeline[pos][1]
            out.append(f"t={t:.2f} s: snapshot {sid} after {prev} (not in the order CURRENT "
                       "moved)")
            continue
        if t < timeline[nxt][0]:
            out.append(f"t={t:.2f} s: snapshot {sid} before the command that made it current "
                       f"started ({timeline[nxt][0]:.2f} s)")
            continue
        pos = nxt
    return out


def verify(answers: list[Answer], data_dir: Path) -> dict[str, Any]:
    """Each answer against the same query on the snapshot it names, opened locally."""
    from geo_discovery.engine import DiscoveryEngine
    from geo_discovery.snapshot.store import SnapshotStore

    engines: dict[str, Any] = {}
    by_version = {s.version: s for s in SnapshotStore(data_dir).list()}
    mismatches: list[str] = []
    foreign = 0
    per_version: dict[str, int] = {}
    for a in answers:
        per_version[a.version] = per_version.get(a.version, 0) + 1
        if a.version not in by_version:
            mismatches.append(f"{a.kind} {a.query}: unknown snapshot {a.version}")
            continue
        if a.version not in engines:
            eng = DiscoveryEngine.from_snapshot(by_version[a.version].path)
            engines[a.version] = (eng, set(eng.merchants.column("source").to_pylist()),
                                  set(eng.merchants.column("merchant_id").to_pylist()))
        eng, sources, ids = engines[a.version]
        if a.kind == "nearby":
            res = eng.nearby(a.query[0], a.query[1], NEARBY_K)
        else:
            res = eng.within_bbox(a.query, limit=SEARCH_LIMIT)
        foreign += int(not a.sources <= sources or not set(a.ids) <= ids)
        if res.merchant_ids != a.ids or (a.kind == "bbox" and res.total != a.total):
            mismatches.append(f"{a.kind} {a.query} at t={a.t:.2f} s labelled {a.version}: "
                              f"{a.ids[:3]}… (total {a.total}) vs {res.merchant_ids[:3]}… "
                              f"(total {res.total})")
    return {
        "answers_checked": len(answers),
        "mismatches": len(mismatches),
        "mismatch_examples": mismatches[:10],
        "answers_with_foreign_merchants_or_sources": foreign,
        "answers_per_snapshot": per_version,
        "sources_per_snapshot": {v: sorted(e[1]) for v, e in engines.items()},
    }


# ---------------------------------------------------------------------------- run
def _boxes(points: np.ndarray) -> np.ndarray:
    """``(west, south, east, north)`` 500 m boxes centred on ``points``."""
    dlat = BOX_HALF_M / 111_320.0
    dlng = dlat / np.cos(np.radians(points[:, 0]))
    return np.column_stack([points[:, 1] - dlng, points[:, 0] - dlat,
                            points[:, 1] + dlng, points[:, 0] + dlat])


def _write_lua(points: np.ndarray, boxes: np.ndarray, path: Path) -> None:
    pts = ",".join(f"{{{a:.6f},{b:.6f}}}" for a, b in points.tolist())
    bxs = ",".join(f'"{w:.6f},{s:.6f},{e:.6f},{n:.6f}"' for w, s, e, n in boxes.tolist())
    path.write_text(_LUA % {"points": pts, "boxes": bxs, "k": NEARBY_K, "limit": SEARCH_LIMIT}
                    + WRK_DONE_LUA)


def _seen_everywhere(checkers: list[Checker], version: str) -> bool:
    return all(c.answers and c.answers[-1].version == version for c in checkers)


def publisher(steps: list[Step], data_dir: Path, port: int, checkers: list[Checker],
              t0: float, duration_s: float) -> None:
    """Run the steps in order, the i-th no earlier than ``duration · (0.1 + 0.8·i/n)``;
    each waits until both checker connections answer from the previous step's snapshot."""
    from geo_discovery.snapshot.store import SnapshotStore

    for i, step in enumerate(steps):
        planned = duration_s * (0.1 + 0.8 * i / len(steps))
        time.sleep(max(0.0, planned - (time.perf_counter() - t0)))
        step.started_s = time.perf_counter() - t0
        try:
            cli(*step.args(data_dir))
        except RuntimeError as exc:
            step.error = str(exc)[-2000:]
            return
        step.finished_s = time.perf_counter() - t0
        current = SnapshotStore(data_dir).current()
        assert current is not None
        step.snapshot_id, step.version = current.snapshot_id, current.version
        deadline = time.perf_counter() + 30
        while not _seen_everywhere(checkers, step.version):
            if time.perf_counter() > deadline:
                step.error = f"{step.version} not served on every connection within 30 s"
                return
            time.sleep(0.02)
        step.first_seen_s = min(
            a.t for c in checkers for a in c.answers if a.version == step.version
            and a.t >= step.started_s
        )


def soak(args: Any, first: list[Path], steps: list[Step], work: Path) -> dict[str, Any]:
    from geo_discovery.engine import DiscoveryEngine
    from geo_discovery.snapshot.store import SnapshotStore

    data_dir = work / "store"
    cli("load", *map(str, first), "--data-dir", str(data_dir))
    store = SnapshotStore(data_dir)
    initial = store.current()
    assert initial is not None
    merchants = len(DiscoveryEngine.from_snapshot(data_dir))
    points = query_points(data_dir, args.points, args.seed)
    boxes = _boxes(points)
    script = work / "soak.lua"
    _write_lua(points, boxes, script)
    port = free_port()
    harness.eprint(f"serving {merchants:,} merchants on 127.0.0.1:{port}, "
                   f"{args.workers} workers …")
    with server(data_dir, port, args.workers, reload_ms=args.reload_ms):
        cmd = wrk_command(port, script, duration_s=args.duration * 5 + 600,
                          connections=args.connections, threads=args.threads)
        t0 = time.perf_counter()
        wrk = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        checkers = [Checker(port, "nearby", points[::-1], t0), Checker(port, "bbox", boxes, t0)]
        try:
            for c in checkers:
                c.start()
            pub = threading.Thread(target=publisher, daemon=True,
                                   args=(steps, data_dir, port, checkers, t0, args.duration))
            pub.start()
            time.sleep(args.duration)
            pub.join(timeout=600)
            time.sleep(1.0)  # a last second of answers from the final snapshot
        finally:
            wrk.send_signal(signal.SIGINT)
            out, err = wrk.communicate(timeout=60)
            wall = time.perf_counter() - t0
            for c in checkers:
                c.stop.set()
                c.join(timeout=30)
    load = parse_wrk(wrk.returncode, out, err, cmd)
    harness.eprint(f"wrk: {load['requests']:,} requests in {load['seconds']} s; checking "
                   f"{sum(len(c.answers) for c in checkers):,} answers …")
    timeline = [(0.0, initial.snapshot_id)] + [
        (s.started_s or 0.0, s.snapshot_id or -1) for s in steps
    ]
    answers = [a for c in checkers for a in c.answers]
    verified = verify(answers, data_dir)
    per_conn = {}
    for c in checkers:
        seen = [(a.t, int(a.version.split("-")[0])) for a in c.answers]
        distinct = [sid for k, (_, sid) in enumerate(seen) if k == 0 or seen[k - 1][1] != sid]
        lat = np.array([a.ms for a in c.answers]) if c.answers else np.zeros(1)
        per_conn[c.kind] = {
            "answers": len(c.answers), "failures": len(c.failures),
            "failure_examples": c.failures[:5], "reconnects": c.reconnects,
            "snapshots_seen_in_order": distinct,
            "order_violations": order_violations(seen, timeline)[:10],
            "p50_ms": round(float(np.percentile(lat, 50)), 3),
            "p99_ms": round(float(np.percentile(lat, 99)), 3),
        }
    seen_ids = {int(v.split("-")[0]) for v in verified["answers_per_snapshot"]}
    return {
        "merchants_first_snapshot": merchants, "initial": initial.version,
        "wall_seconds": round(wall, 2), "wrk": load, "checker": per_conn,
        "verify": verified,
        "steps": [{k: v for k, v in vars(s).items() if k != "files"}
                  | {"files": [f.name for f in s.files]} for s in steps],
        "timeline": [{"from_s": round(t, 2), "snapshot": sid} for t, sid in timeline],
        "all_snapshots_seen": {sid for _, sid in timeline} <= seen_ids,
        "steps_done_during_load": all(
            s.error is None and s.first_seen_s is not None and s.first_seen_s < wall
            for s in steps),
    }


# ------------------------------------------------------------------------- report
def markdown(res: dict[str, Any]) -> str:
    m, w, v = res["machine"], res["run"]["wrk"], res["run"]["verify"]
    lat, err = w["latency_ms"], w["errors"]
    lines = [
        "## Soak: full load while snapshots are published and rolled back"
        + (" (smoke)" if res["smoke"] else ""),
        "",
        f"Command: `{res['command']}`  ",
        f"Machine: {m['cpu']}, {m['cores_usable']} usable cores shared by the server, wrk, "
        f"the loads and the checker (load average at start {m['load_average_at_start']}); "
        f"{m['date_utc']}; git {m['git']}.",
        "",
        f"Data: {res['data']}. Server: `geo-discovery serve --workers {res['workers']}` "
        f"(reload poll {res['reload_ms']} ms). Load: wrk {res['threads']} thread(s), "
        f"{res['connections']} connections, alternating `GET /v1/merchants/nearby` "
        f"(limit {NEARBY_K}, best_match) and `GET /v1/merchants/search?bbox=…` (500 m boxes, "
        f"limit {SEARCH_LIMIT}) over {res['query_points']:,} points, for "
        f"{w['seconds']:.1f} s (at least {res['duration_s']:g} s, until the last step was "
        "served).",
        "",
        "| requests | rps | p50 ms | p90 ms | p99 ms | max ms | non-2xx | socket errors | "
        "timeouts |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {w['requests']:,} | {w['rps']:,.0f} | {lat['p50']:.2f} | {lat['p90']:.2f} | "
        f"{lat['p99']:.2f} | {lat['max']:.1f} | {err['status']} | "
        f"{err['connect'] + err['read'] + err['write']} | {err['timeout']} |",
        "",
        "Timeline (seconds from the start of the load; *served* = first checker answer from "
        "it):",
        "",
        "| step | command started | finished | snapshot | first served |",
        "|---|---:|---:|---|---:|",
        f"| first snapshot (before the load) | — | — | {res['run']['initial']} | 0 |",
    ]
    for s in res["run"]["steps"]:
        def f(x: float | None) -> str:
            return "—" if x is None else f"{x:.1f}"
        lines.append(f"| {s['label']} | {f(s['started_s'])} | {f(s['finished_s'])} | "
                     f"{s['version'] or s['error']} | {f(s['first_seen_s'])} |")
    lines += ["", "Checker (one keep-alive connection per kind, each answer re-asked of the "
              "snapshot it names):", "",
              "| kind | answers | p50 ms | p99 ms | failed | snapshots seen, in order | "
              "out of order |", "|---|---:|---:|---:|---:|---|---:|"]
    for kind, c in res["run"]["checker"].items():
        lines.append(f"| {kind} | {c['answers']:,} | {c['p50_ms']:.2f} | {c['p99_ms']:.2f} | "
                     f"{c['failures']} | {' → '.join(map(str, c['snapshots_seen_in_order']))} "
                     f"| {len(c['order_violations'])} |")
    lines += [
        "",
        f"Answers checked: {v['answers_checked']:,}; differing from their snapshot's own "
        f"answer (mixed or mislabelled): **{v['mismatches']}**; holding a merchant or a "
        f"source not in their snapshot: **{v['answers_with_foreign_merchants_or_sources']}**. "
        f"Sources per snapshot: "
        + "; ".join(f"{k.split('-')[0]}: {', '.join(s)}"
                    for k, s in sorted(v["sources_per_snapshot"].items())) + ".",
        "",
        f"Result: **{'pass' if res['correct'] else 'FAIL'}** (0 failed requests, 0 mixed "
        "answers, snapshots in order, every step done and served during the load).",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = harness.base_parser(MODULE, __doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load (at least)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections")
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    p.add_argument("--points", type=int, default=2000, help="distinct query points")
    p.add_argument("--reload-ms", type=int, default=200, help="the server's CURRENT poll")
    args = p.parse_args(argv)
    if args.smoke:
        args.duration, args.connections = 5.0, min(args.connections, 8)
        args.points = min(args.points, 200)
    if shutil.which("wrk") is None:
        harness.eprint("wrk is not installed (Debian/Ubuntu: apt-get install -y wrk); "
                       "nothing measured")
        return EXIT_NO_WRK
    real = harness.real_data_or_smoke(args.real_data, args.smoke, f"halves of {SAMPLE_FILE.name}")
    os.environ["GEO_DISCOVERY_KEEP_SNAPSHOTS"] = "20"  # every snapshot stays checkable
    machine = harness.machine_info(["fastapi", "uvicorn"])
    with tempfile.TemporaryDirectory(prefix="gd-soak-") as tmp:
        first, steps = plan(real, args.smoke, Path(tmp), args.seed)
        data = ", ".join(f.name for f in first) + " first; then " + "; ".join(
            s.label for s in steps)
        run = soak(args, first, steps, Path(tmp))
    checker_ok = all(c["failures"] == 0 and not c["order_violations"]
                     for c in run["checker"].values())
    correct = (run["wrk"]["failed_requests"] == 0 and checker_ok
               and run["verify"]["mismatches"] == 0
               and run["verify"]["answers_with_foreign_merchants_or_sources"] == 0
               and run["all_snapshots_seen"] and run["steps_done_during_load"])
    res = {
        "benchmark": "soak", "order": ORDER + (1000 if args.smoke else 0), "smoke": args.smoke,
        "command": harness.command_line(MODULE, argv), "machine": machine, "data": data,
        "duration_s": args.duration, "workers": args.workers, "threads": args.threads,
        "connections": args.connections, "reload_ms": args.reload_ms,
        "query_points": args.points, "run": run, "correct": correct,
        "n_mismatches": run["verify"]["mismatches"],
    }
    md = markdown(res)
    print(md)
    out_dir = harness.output_dir(args.out_dir, args.smoke, "bench_soak")
    md_path = harness.write_results(out_dir, "soak_smoke" if args.smoke else "soak", res, md)
    print(f"wrote {out_dir / 'results'} and {md_path}")
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
