"""``kill -9`` at random points of a load of a million rows: the previous snapshot is
served throughout, and a re-run loads every row.

1. Write ``--rows`` merchants resampled from the real NYC points (20 m jitter, with a
   name, a category, a rating and a review count; :func:`benchmarks.bench_build.write_parts`)
   as ``--parts`` CSV files, and count independently with pandas how many rows they hold
   and how many a load must keep (a name, finite in-range coordinates, a unique id).
2. Publish a first snapshot from a small real file (the DOHMH restaurants) and start
   ``geo-discovery serve`` on it; a watcher asks it for the nearest merchants to one point
   every 50 ms for the whole run and compares each answer with the first snapshot's.
3. ``--kills`` times: start ``geo-discovery load`` of the parts in a child process and
   SIGKILL it after a seeded random delay (slot *i* of *n* draws its delay in
   ``[i/n, (i+1)/n)`` of 0.85 × the load time, measured by one uninterrupted load of the
   same files into a scratch data dir first, so the kills spread over the run). The
   child is the CLI's ``load`` command run by a wrapper that prints each stage's name as
   it starts (``read``, ``merge``, ``index``, ``write``, ``derive``, ``publish``), which
   names the stage each kill hit. After each kill: ``CURRENT`` still names the first
   snapshot; the engine opened from the data dir is that snapshot and answers exactly as
   before; every numbered snapshot folder is complete (a kill between the rename and the
   swap of ``CURRENT`` leaves a complete, unserved one, which must hold every row); the
   store's lock is free again; the server never answered from anything else.
4. Run the load again without a kill: exit 0, a new current snapshot whose rows read =
   loaded + rejected, loaded = the pandas count, the same merchant ids as the files; no
   ``.tmp-*`` folder left; the server swaps to it.

Results: ``benchmarks/results/kill_load.json`` and its section of ``RESULTS.md``.

Examples
--------
    python -m benchmarks.bench_kill_load              # 1M rows, 5 kills (~10 min)
    python -m benchmarks.bench_kill_load --smoke      # CI: 20k rows, 2 kills
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks import harness
from benchmarks.bench_api_load import SAMPLE_FILE, cli, free_port, get_json, server
from benchmarks.bench_build import write_parts

__all__ = ["child", "expected_rows", "main"]

MODULE = "benchmarks.bench_kill_load"
ORDER = 64
FIRST_FILE = "nyc/nyc_restaurants_dohmh_mongodb_primer_subset.csv"
K = 10  # nearest merchants compared in every check


# ------------------------------------------------------------------------ the child
def child(argv: list[str]) -> int:
    """``--child ARGS…``: ``geo-discovery ARGS…`` in this process, printing ``stage NAME``
    when the load's progress callback enters a new stage (the CLI's own callback, wrapped)."""
    cli_load = importlib.import_module("geo_discovery.cli.load")
    from geo_discovery.cli.main import app

    inner = cli_load.StageProgress.__call__
    seen: list[str] = []

    def call(self: Any, stage: str, done: int, total: int) -> None:
        if not seen or seen[-1] != stage:
            seen.append(stage)
            print(f"stage {stage}", flush=True)
        inner(self, stage, done, total)

    cli_load.StageProgress.__call__ = call
    app(argv, prog_name="geo-discovery")  # exits with the command's code
    return 0


class Load:
    """One child load; a reader thread timestamps its ``stage`` lines."""

    def __init__(self, files: list[Path], data_dir: Path) -> None:
        cmd = [sys.executable, "-m", MODULE, "--child", "load", *map(str, files),
               "--data-dir", str(data_dir)]
        self.errfile = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in wait()
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=harness.REPO_ROOT, stdout=subprocess.PIPE,
                                     stderr=self.errfile, text=True)
        self.lines: list[tuple[float, str]] = []
        self.err = ""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.perf_counter() - self.t0, line.rstrip("\n")))

    def stages(self, until: float | None = None) -> list[tuple[str, float]]:
        return [(ln.split()[1], round(t, 2)) for t, ln in list(self.lines)
                if ln.startswith("stage ") and (until is None or t <= until)]

    def wait(self) -> int:
        rc = self.proc.wait()
        self.reader.join(timeout=30)
        self.errfile.seek(0)
        self.err = self.errfile.read()
        self.errfile.close()
        return rc


# ---------------------------------------------------------------------- the checks
def expected_rows(files: list[Path]) -> tuple[int, set[str]]:
    """Rows in ``files`` and the ids a load must keep, counted with pandas alone: a
    non-empty name and id, finite coordinates in range, the first row of each id."""
    frame = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files])
    lat = pd.to_numeric(frame["lat"], errors="coerce")
    lng = pd.to_numeric(frame["lng"], errors="coerce")
    ok = (frame["name"].str.strip() != "") & (frame["id"].str.strip() != "")
    ok &= np.isfinite(lat) & np.isfinite(lng) & (lat.abs() <= 90) & (lng.abs() <= 180)
    ok &= ~frame["id"].duplicated()
    return len(frame), set(frame.loc[ok, "id"])


class Watcher(threading.Thread):
    """Asks the server for the ``K`` nearest merchants every 50 ms; compares each answer
    with ``expected`` (version, ids) while ``expected`` is set."""

    def __init__(self, port: int, lat: float, lng: float) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.path = (f"/v1/merchants/nearby?lat={lat:.6f}&lng={lng:.6f}&limit={K}"
                     "&sort=distance&fields=merchant_id")
        self.expected: tuple[str, list[str]] | None = None
        self.stop = threading.Event()
        self.answers = 0
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.wait(0.05):
            expected = self.expected
            if expected is None:
                continue
            try:
                status, doc = get_json(self.port, self.path)
            except OSError as exc:
                self.failures.append(repr(exc))
                continue
            self.answers += 1
            if status != 200:
                self.failures.append(f"HTTP {status}: {doc}")
            elif (doc["snapshot"], [r["merchant_id"] for r in doc["results"]]) != expected:
                self.failures.append(f"answered from {doc['snapshot']}, not {expected[0]}")


def answer(data_dir: Path, lat: float, lng: float) -> tuple[str, list[str]]:
    """The version the engine opened from ``data_dir`` serves, and its ``K`` nearest ids."""
    from geo_discovery.engine import DiscoveryEngine

    engine = DiscoveryEngine.from_snapshot(data_dir)
    return engine.version, engine.nearby(lat, lng, K).merchant_ids


def store_problems(
    data_dir: Path, first: str, n_expected: int, may_publish: bool = False
) -> tuple[list[str], dict, str | None]:
    """What is wrong with the store after a kill (nothing, when it is sound), what the
    kill left behind, and the snapshot the load published before the kill landed (``None``
    when ``CURRENT`` still names ``first``).

    ``may_publish``: the kill came in the publish stage, after which ``CURRENT`` may name
    the new snapshot (the switch is atomic); it must then be complete, like any other."""
    from geo_discovery.engine import DiscoveryEngine
    from geo_discovery.snapshot.store import SnapshotStore

    store = SnapshotStore(data_dir)
    problems = []
    published = None
    if store.current_name() != first.split("-")[0]:
        if may_publish:
            published = store.current_name()
        else:
            problems.append(f"CURRENT names {store.current_name()}, not {first}")
    listed = {s.path.name: s for s in store.list()}
    folders = sorted(p.name for p in store.snapshots_dir.iterdir())
    numbered = [f for f in folders if f.isdigit()]
    for name in numbered:
        if name not in listed:
            problems.append(f"snapshots/{name} has no readable manifest (half-written)")
        elif name != first.split("-")[0]:
            rows = listed[name].manifest["rows"]["merchants"]
            opened = len(DiscoveryEngine.from_snapshot(listed[name].path))
            if rows != n_expected or opened != n_expected:
                problems.append(f"unserved snapshots/{name} holds {opened:,} merchants "
                                f"(manifest {rows:,}), not {n_expected:,}")
    try:
        with store.lock(wait_s=0):
            pass
    except Exception as exc:  # reported, never hidden
        problems.append(f"the store's lock is still held: {exc}")
    left = {"tmp_folders": [f for f in folders if f.startswith(".tmp-")],
            "unserved_complete_snapshots": [n for n in numbered if n != first.split("-")[0]]}
    return problems, left, published


# ------------------------------------------------------------------------------ run
#: Kill delays are drawn below this share of the measured load time, so they land in it.
SPREAD = 0.85


def timed_load(files: list[Path], data_dir: Path) -> float:
    """Seconds one uninterrupted load of ``files`` into ``data_dir`` takes here."""
    load = Load(files, data_dir)
    rc = load.wait()
    if rc != 0:
        raise RuntimeError(f"the calibration load failed (rc {rc}):\n{load.err[-2000:]}")
    return round(time.perf_counter() - load.t0, 2)


def kill_run(args: Any, work: Path, real: Path | None) -> dict[str, Any]:
    from geo_discovery.engine import DiscoveryEngine
    from geo_discovery.ingest.profiles import detect_profile
    from geo_discovery.snapshot.store import SnapshotStore

    files, note = write_parts(args.rows, args.parts, work / "parts", args.real_data)
    rows_in_files, ids = expected_rows(files)
    data_dir = work / "store"
    first_file = real / FIRST_FILE if real is not None else SAMPLE_FILE
    cli("load", str(first_file), "--data-dir", str(data_dir))
    first = SnapshotStore(data_dir).current()
    assert first is not None
    eng = DiscoveryEngine.from_snapshot(data_dir)
    lat = float(np.median(eng.merchants.column("lat").to_numpy()))
    lng = float(np.median(eng.merchants.column("lng").to_numpy()))
    expected = answer(data_dir, lat, lng)
    # The kills spread over the time the same load takes here, measured by running it once
    # into a scratch data dir (a fixed guess went stale whenever the load got faster).
    est = args.load_seconds or timed_load(files, work / "calibration")
    rng = np.random.default_rng(args.seed)
    delays = [round(est * SPREAD * (i + rng.random()) / args.kills, 2)
              for i in range(args.kills)]
    kills: list[dict[str, Any]] = []
    port = free_port()
    with server(data_dir, port, 1, reload_ms=200):
        watcher = Watcher(port, lat, lng)
        watcher.expected = expected
        watcher.start()
        for i, delay in enumerate(delays):
            load = Load(files, data_dir)
            while time.perf_counter() - load.t0 < delay and load.proc.poll() is None:
                time.sleep(0.01)
            finished = load.proc.poll() is not None
            if not finished:
                os.kill(load.proc.pid, signal.SIGKILL)
            killed_at = time.perf_counter() - load.t0
            rc = load.wait()
            stages = load.stages(killed_at)
            stage = stages[-1][0] if stages else "startup (imports, before reading)"
            problems, left, published = store_problems(
                data_dir, first.version, len(ids), may_publish=stage == "publish")
            if published is not None:
                # The kill landed after the atomic switch: the load had published a complete
                # snapshot (checked above), which the server may already answer from. Roll
                # back to the first one so the next kill starts from the same state.
                watcher.expected = None
                SnapshotStore(data_dir).rollback(first.snapshot_id)
                deadline = time.perf_counter() + 60
                while (get_json(port, "/readyz")[1].get("snapshot") != first.version
                       and time.perf_counter() < deadline):
                    time.sleep(0.1)
                watcher.failures = [f for f in watcher.failures
                                    if not f.startswith(f"answered from {published}-")]
                watcher.expected = expected
                stage = (f"publish, after the switch: {published} complete and served, "
                         "rolled back to the first")
            served = answer(data_dir, lat, lng)
            if served != expected:
                problems.append(f"the engine answers from {served[0]}, not {expected[0]}")
            if finished or rc != -signal.SIGKILL:
                problems.append(f"the load ended before the kill (rc {rc}); pass a larger "
                                f"--load-seconds than {est:g}")
            kills.append({
                "kill": i + 1, "delay_s": delay, "killed_at_s": round(killed_at, 2),
                "stage": stage,
                "stages_started": stages, "returncode": rc, "left_behind": left,
                "problems": problems, "watcher_failures_so_far": len(watcher.failures),
            })
            harness.eprint(f"kill {i + 1}: {killed_at:.1f} s, {kills[-1]['stage']}; "
                           f"problems: {problems or 'none'}")
        watcher.expected = None
        harness.eprint("the load again, without a kill …")
        final = Load(files, data_dir)
        rc = final.wait()
        final_s = time.perf_counter() - final.t0
        store = SnapshotStore(data_dir)
        current = store.current()
        assert current is not None
        rows = current.manifest["rows"]
        # merchant_id is "<the profile's id prefix>:<id>" (generic:r0000042)
        cut = len(detect_profile(pd.read_csv(files[0], nrows=0).columns).id_prefix) + 1
        loaded_ids = {m[cut:] for m in DiscoveryEngine.from_snapshot(data_dir).merchants.column(
            "merchant_id").to_pylist()}
        new = answer(data_dir, lat, lng)
        deadline = time.perf_counter() + 120
        while get_json(port, "/readyz")[1].get("snapshot") != new[0]:
            if time.perf_counter() > deadline:
                break
            time.sleep(0.2)
        swapped_s = round(time.perf_counter() - final.t0 - final_s, 2)
        status, doc = get_json(port, watcher.path)
        served_new = status == 200 and (
            doc["snapshot"], [r["merchant_id"] for r in doc["results"]]) == new
        watcher.stop.set()
        watcher.join(timeout=10)
    summary = [ln for _, ln in final.lines if ln.startswith("rows read")]
    final_problems = []
    if rc != 0:
        final_problems.append(f"exit {rc}: {final.err[-1500:]}")
    if rows["read"] != rows_in_files or rows["read"] != rows["loaded"] + rows["rejected"]:
        final_problems.append(f"rows read {rows['read']:,} (files: {rows_in_files:,}) != "
                              f"loaded {rows['loaded']:,} + rejected {rows['rejected']:,}")
    if rows["loaded"] != len(ids) or rows["merchants"] != len(ids) or loaded_ids != ids:
        final_problems.append(f"loaded {rows['loaded']:,} / {len(loaded_ids):,} distinct ids, "
                              f"pandas counts {len(ids):,}")
    tmp_left = [p.name for p in store.snapshots_dir.iterdir() if p.name.startswith(".tmp-")]
    if tmp_left:
        final_problems.append(f"temporary folders left: {tmp_left}")
    if not served_new:
        final_problems.append("the server did not swap to the new snapshot within 120 s")
    return {
        "note": note, "rows_in_files": rows_in_files, "rows_expected_loaded": len(ids),
        "first_snapshot": first.version, "first_merchants": len(eng),
        "probe_point": [lat, lng], "expected_load_seconds": round(est, 1), "kills": kills,
        "watcher": {"answers": watcher.answers, "failures": len(watcher.failures),
                    "failure_examples": watcher.failures[:5]},
        "final": {"returncode": rc, "seconds": round(final_s, 2),
                  "stages_started": final.stages(), "snapshot": current.version,
                  "rows": rows, "summary_line": summary[-1] if summary else "",
                  "server_swapped_after_s": swapped_s, "problems": final_problems},
    }


# --------------------------------------------------------------------------- report
def markdown(res: dict[str, Any]) -> str:
    r, m = res["run"], res["machine"]
    f = r["final"]
    lines = [
        "## Kill -9 during a load: the previous snapshot stays served"
        + (" (smoke)" if res["smoke"] else ""),
        "",
        f"Command: `{res['command']}`  ",
        f"Machine: {m['cpu']}, {m['cores_usable']} usable cores (load average at start "
        f"{m['load_average_at_start']}); {m['date_utc']}; git {m['git']}.",
        "",
        f"Data: {r['rows_in_files']:,} rows in {res['parts']} CSV files. {r['note']} "
        f"First snapshot: `{r['first_snapshot']}` ({r['first_merchants']:,} merchants, "
        f"{res['first_file']}), served by `geo-discovery serve` throughout; a watcher asked "
        f"it for the {K} nearest merchants to ({r['probe_point'][0]:.5f}, "
        f"{r['probe_point'][1]:.5f}) every 50 ms: {r['watcher']['answers']:,} answers, "
        f"**{r['watcher']['failures']}** not exactly the first snapshot's.",
        "",
        f"Kill delays: seeded (seed {res['seed']}), slot i of {len(r['kills'])} in "
        f"[i/n, (i+1)/n) of {SPREAD:g} × the load time {r['expected_load_seconds']:g} s "
        "(one uninterrupted load of the same files, timed first unless --load-seconds).",
        "",
        "| kill | at s | stage hit | stages started (s) | left behind | problems |",
        "|---:|---:|---|---|---|---|",
    ]
    for k in r["kills"]:
        stages = ", ".join(f"{s} {t:g}" for s, t in k["stages_started"]) or "—"
        left = k["left_behind"]
        behind = ", ".join(
            [f"{len(left['tmp_folders'])} `.tmp-*` folder(s)"] * bool(left["tmp_folders"])
            + [f"complete unserved {n}" for n in left["unserved_complete_snapshots"]]
        ) or "nothing"
        lines.append(f"| {k['kill']} | {k['killed_at_s']:.1f} | {k['stage']} | {stages} | "
                     f"{behind} | {'; '.join(k['problems']) or 'none'} |")
    rows = f["rows"]
    lines += [
        "",
        "After each kill: `CURRENT` names the first snapshot, the engine opened from the data "
        "dir answers exactly as before the kills, every numbered snapshot folder is complete, "
        "and the store's lock is free.",
        "",
        f"Re-run without a kill: exit {f['returncode']} in {f['seconds']:.1f} s (stages "
        f"started at {', '.join(f'{s} {t:g}' for s, t in f['stages_started'])} s); snapshot "
        f"`{f['snapshot']}`: rows read {rows['read']:,} = loaded {rows['loaded']:,} + rejected "
        f"{rows['rejected']:,}; pandas counts {r['rows_expected_loaded']:,} loadable rows of "
        f"{r['rows_in_files']:,}; the server answered from it {f['server_swapped_after_s']} s "
        f"after the load ended. Problems: {'; '.join(f['problems']) or 'none'}.",
        "",
        f"Result: **{'pass' if res['correct'] else 'FAIL'}**.",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        return child(argv[1:])
    p = harness.base_parser(MODULE, __doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="rows to load (resampled)")
    p.add_argument("--parts", type=int, default=4, help="CSV files")
    p.add_argument("--kills", type=int, default=5, help="killed loads before the re-run")
    p.add_argument("--load-seconds", type=float, default=None,
                   help="load time the kill delays spread over (default: one load of "
                        "the same files timed first, into a scratch data dir)")
    args = p.parse_args(argv)
    if args.smoke:
        args.rows, args.kills, args.parts = 20_000, 2, 2
    real = harness.real_data_or_smoke(args.real_data, args.smoke,
                                      f"synthetic points and {SAMPLE_FILE.name}")
    machine = harness.machine_info(["pyarrow"])
    with tempfile.TemporaryDirectory(prefix="gd-kill-load-") as tmp:
        run = kill_run(args, Path(tmp), real)
    correct = (not any(k["problems"] for k in run["kills"]) and not run["final"]["problems"]
               and run["watcher"]["failures"] == 0 and run["watcher"]["answers"] > 0)
    res = {
        "benchmark": "kill_load", "order": ORDER + (1000 if args.smoke else 0),
        "smoke": args.smoke, "command": harness.command_line(MODULE, argv),
        "machine": machine, "seed": args.seed, "parts": args.parts,
        "first_file": FIRST_FILE if real is not None else SAMPLE_FILE.name,
        "run": run, "correct": correct,
    }
    md = markdown(res)
    print(md)
    out_dir = harness.output_dir(args.out_dir, args.smoke, "bench_kill_load")
    key = "kill_load_smoke" if args.smoke else "kill_load"
    md_path = harness.write_results(out_dir, key, res, md)
    print(f"wrote {out_dir / 'results'} and {md_path}")
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
