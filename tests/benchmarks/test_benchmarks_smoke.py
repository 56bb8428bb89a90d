"""Every benchmark script runs once in smoke mode, so none can rot (DESIGN: run them in CI).

Smoke mode uses 5,000 real NYC points when ../shared/data is there, synthetic points
otherwise, writes to a temporary folder, and never touches benchmarks/RESULTS.md. The
correctness check inside the benchmark must pass, and must catch a deliberately broken
adapter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks import bench_nearby, methods  # noqa: E402
from benchmarks.methods import Method  # noqa: E402

# Contract for every benchmarks/bench_*.py: accepts --smoke and --out-dir, writes
# results/*.json there (with "correct": true when it checks answers), exits 0 on success,
# 1 when a check fails, and SKIP_EXIT when an external tool it needs is not installed.
SKIP_EXIT = 3
BENCH_SCRIPTS = sorted(
    p.stem
    for pattern in ("bench_*.py", "eval_*.py")
    for p in (PROJECT_ROOT / "benchmarks").glob(pattern)
)


def _fingerprint(path: Path) -> tuple[int, int] | None:
    return (path.stat().st_mtime_ns, path.stat().st_size) if path.exists() else None


def _check_api_load(docs: list[dict], text: str) -> None:
    (res,) = docs
    assert res["steady"]["requests"] > 0 and res["steady"]["rps"] > 0
    assert res["steady"]["failed_requests"] == 0
    assert res["swap"]["swapped"] and res["swap"]["failed_requests"] == 0
    assert "Query API under load" in text


def _check_http(docs: list[dict], text: str) -> None:
    (res,) = docs
    assert res["correct"] is True  # the bare app sent serve's status, headers and bytes
    for row in ("bare", "serve_1", "serve_2"):
        assert res[row]["requests"] > 0 and res[row]["failed_requests"] == 0
        assert res[row]["peak_rss_bytes"] > 10 * 2**20  # a Python server holds > 10 MiB
    # two workers and their supervisor hold more than one worker alone
    assert res["serve_2"]["peak_rss_bytes"] > res["serve_1"]["peak_rss_bytes"]
    assert res["ratio"] == res["serve_1"]["rps_median"] / res["bare"]["rps_median"] > 0
    assert res["cpu_ratio"] > 0 and res["serve_2"]["cpu_us_median"] > 0
    assert "uvloop" in res["uvicorn"] and res["mean_body_bytes"] > 0
    assert "HTTP nearby against the bare-ASGI ceiling" in text and "serve / bare" in text


def _check_ranking(docs: list[dict], text: str) -> None:
    from benchmarks import bench_ranking

    (doc,) = docs
    assert doc["n_checked"] > 0
    assert set(doc["methods"]) == set(bench_ranking.METHODS)
    assert doc["ratio_best_match_to_knn"] > 0
    assert set(doc["pairwise_with_knn"]) == set(bench_ranking.PAIRED)
    pairs = doc["pairwise_with_knn"].values()
    assert all(p["ratio"] > 0 and p["distance_p50_us"] > 0 for p in pairs)
    assert "best_match / kNN" in text and "Side by side with kNN alone" in text


def _check_tiles(docs: list[dict], text: str) -> None:
    (doc,) = docs
    assert {"geo_discovery", "geo_discovery (cached)", "mapbox-vector-tile"} <= set(doc["methods"])
    assert "postgis" in doc["methods"] or doc["skipped"].get("postgis")
    assert doc["midtown_merchants"] > 0 and len(doc["tiles"]) > 10
    assert "Vector tiles" in text and "Midtown z14 tile p50" in text


def _check_ranking_eval(docs: list[dict], text: str) -> None:
    (doc,) = docs
    assert doc["checked_against_engine"] > 0 and doc["mismatches"] == 0
    assert len(doc["report"]["table"]) == 7 and doc["report"]["events"] > 0
    assert "next-place prediction" in text and "gravity" in text


def _check_text(docs: list[dict], text: str) -> None:
    from benchmarks import bench_text

    (doc,) = docs
    assert doc["n_checked"] > 0 and doc["n_mismatches"] == 0
    assert set(doc["runs"]) == set(bench_text.KINDS)
    geo = doc["runs"]["exact"]["geo_discovery"]
    assert geo["n"] > 0 and geo["recall_at_10"] >= geo["recall_at_1"] > 0
    assert doc["index"]["bytes_per_merchant"] > 0
    assert "Text search: the search box" in text and "recall" not in doc.get("skipped", {})


def _check_build(docs: list[dict], text: str) -> None:
    (doc,) = docs
    (run,) = doc["runs"]
    assert set(run["methods"]) == {"single", "local:2"} and run["same"]
    for r in run["methods"].values():
        assert r["merchants"] == run["n"] and r["peak_rss_bytes"] > 0 and r["snapshot_bytes"] > 0
    assert "Snapshot build: one process vs a Dask local cluster" in text


def test_the_build_check_catches_a_different_snapshot(tmp_path: Path) -> None:
    """bench_build's check (snapshot_differences) sees one changed value in one array."""
    from geo_discovery.snapshot.compare import snapshot_differences

    for name in ("a", "b"):
        (tmp_path / name / "index").mkdir(parents=True)
        np.save(tmp_path / name / "index" / "xyz.npy", np.arange(12.0).reshape(4, 3))
        (tmp_path / name / "manifest.json").write_text(name)  # never compared
    assert snapshot_differences(tmp_path / "a", tmp_path / "b") == []
    np.save(tmp_path / "b" / "index" / "xyz.npy", np.arange(12.0).reshape(4, 3) + 1e-12)
    assert snapshot_differences(tmp_path / "a", tmp_path / "b") == ["index/xyz.npy"]


def _check_nearby(docs: list[dict], text: str) -> None:
    (doc,) = docs
    engine = doc["methods"]["geo_discovery_nearby"]
    assert engine["batch_knn_qps"] > 0 and engine["batch_knn_qps_all_cores"] > 0
    assert "nearby_many" in engine["batch_how"] and "nearby_many" in engine["batch_all_cores_how"]
    ratios = doc["batch_ratios_vs_ckdtree"]["geo_discovery_nearby"]
    assert ratios["one_core"] > 0 and ratios["all_cores"] > 0
    assert "ckdtree" not in doc["batch_ratios_vs_ckdtree"]
    assert "batch kNN throughput / scipy cKDTree's on the same cores" in text


def _check_cold_start(docs: list[dict], text: str) -> None:
    (doc,) = docs
    runs = doc["runs"]
    assert len(runs) == 2 and list(runs)[1].endswith(", jitted only")
    for run in runs.values():
        assert 0 < run["open_s"] < run["open_to_first_answer_s"] < run["process_wall_s"]
        assert run["peak_rss_bytes"] > 10 * 2**20
    # Each process's first answer equals the in-process engine's, and came from the kernel
    # it was meant to use (the ahead-of-time extension when it is built, else jitted).
    assert doc["n"] == 5000 and doc["correct"] is True and doc["kernel_problems"] == []
    assert "Ahead-of-time extension: " in text
    assert "Cold start: open a snapshot, answer the first query" in text


def _check_soak(docs: list[dict], text: str) -> None:
    (doc,) = docs
    run = doc["run"]
    assert run["wrk"]["requests"] > 0 and run["wrk"]["failed_requests"] == 0
    assert [t["snapshot"] for t in run["timeline"]] == [1, 2, 1]  # publish, then rollback
    assert run["verify"]["answers_checked"] > 0 and run["verify"]["mismatches"] == 0
    assert len(run["verify"]["answers_per_snapshot"]) == 2
    for conn in run["checker"].values():
        assert conn["snapshots_seen_in_order"] == [1, 2, 1] and not conn["order_violations"]
    assert run["all_snapshots_seen"] and run["steps_done_during_load"]
    assert "Soak: full load while snapshots are published" in text


def _check_kill_load(docs: list[dict], text: str) -> None:
    (doc,) = docs
    run = doc["run"]
    assert len(run["kills"]) == 2 and all(k["returncode"] == -9 for k in run["kills"])
    assert not any(k["problems"] for k in run["kills"])
    assert run["watcher"]["answers"] > 0 and run["watcher"]["failures"] == 0
    rows = run["final"]["rows"]
    assert rows["read"] == run["rows_in_files"] == 20_000
    assert rows["loaded"] == run["rows_expected_loaded"] and not run["final"]["problems"]
    assert "Kill -9 during a load" in text


# What each benchmark's own smoke results must show, beyond the common contract.
EXTRA_CHECKS = {
    "bench_soak": _check_soak,
    "bench_kill_load": _check_kill_load,
    "bench_nearby": _check_nearby,
    "bench_cold_start": _check_cold_start,
    "eval_ranking": _check_ranking_eval,
    "bench_build": _check_build,
    "bench_api_load": _check_api_load,
    "bench_http": _check_http,
    "bench_ranking": _check_ranking,
    "bench_text": _check_text,
    "bench_tiles": _check_tiles,
}


@pytest.mark.parametrize("script", BENCH_SCRIPTS)
def test_benchmark_smoke_runs_and_checks_out(script: str, tmp_path: Path) -> None:
    results_md = PROJECT_ROOT / "benchmarks" / "RESULTS.md"
    before = _fingerprint(results_md)
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{script}", "--smoke", "--out-dir", str(tmp_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode == SKIP_EXIT:  # an external tool it needs (e.g. wrk) is absent
        pytest.skip(f"{script} --smoke: {(proc.stdout + proc.stderr).strip()[-300:]}")
    assert proc.returncode == 0, f"{script} --smoke failed:\n{proc.stdout}\n{proc.stderr}"
    docs = [json.loads(p.read_text()) for p in (tmp_path / "results").glob("*.json")]
    assert docs, f"{script} wrote no results/*.json"
    for doc in docs:
        # scripts that check answers against an oracle record it as "correct"
        assert doc.get("correct", True) is True, doc.get("methods")
        assert doc.get("n_mismatches", 0) == 0
    text = (tmp_path / "RESULTS.md").read_text()
    assert text.startswith("# Benchmark results")
    assert _fingerprint(results_md) == before, "smoke mode must not rewrite benchmarks/RESULTS.md"
    if script in EXTRA_CHECKS:
        EXTRA_CHECKS[script](docs, text)


def test_smoke_without_out_dir_writes_to_a_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    results_md = PROJECT_ROOT / "benchmarks" / "RESULTS.md"
    before = _fingerprint(results_md)
    rc = bench_nearby.main(
        ["--smoke", "--queries", "10", "--methods", "geo_discovery,brute", "--no-batch"]
    )
    assert rc == 0
    out = capsys.readouterr().out
    wrote = next(line for line in out.splitlines() if line.startswith("wrote "))
    assert f"wrote {tmp_path}" in wrote
    assert list(tmp_path.glob("bench_nearby_smoke_*/results/nearby_smoke.json"))
    assert _fingerprint(results_md) == before


def _broken(kind: str) -> Method:
    """cKDTree, but wrong in one subtle way."""
    good = methods.METHODS["ckdtree"]

    def knn(obj: object, lat: float, lng: float, k: int) -> tuple[np.ndarray, np.ndarray]:
        pos, dist = good.knn(obj, lat, lng, k)
        if kind == "knn_drops_last":
            return pos[:-1], dist[:-1]
        if kind == "knn_distance_off":
            return pos, dist + 1e-4  # a tenth of a millimetre
        return pos, dist

    def radius(obj: object, lat: float, lng: float, r: float) -> tuple[np.ndarray, np.ndarray]:
        pos, dist = good.radius(obj, lat, lng, r)
        if kind == "radius_drops_farthest" and len(pos):
            return pos[:-1], dist[:-1]
        return pos, dist

    def many(obj: object, lat: np.ndarray, lng: np.ndarray, k: int) -> object:
        pos, dist = good.knn_many(obj, lat, lng, k)  # type: ignore[misc]
        if kind == "batch_swaps_rows":
            return pos[::-1], dist[::-1]
        return pos, dist

    return Method(
        name=f"broken_{kind}",
        label=f"broken ({kind})",
        build=good.build,
        knn=knn,
        radius=radius,
        knn_many=many,
        knn_many_checked=True,
    )


@pytest.mark.parametrize(
    "kind", ["knn_drops_last", "knn_distance_off", "radius_drops_farthest", "batch_swaps_rows"]
)
def test_a_broken_adapter_fails_the_run(kind: str, tmp_path: Path) -> None:
    argv = [
        "--smoke",
        "--queries",
        "20",
        "--methods",
        "geo_discovery,ckdtree",
        *([] if kind.startswith("batch") else ["--no-batch"]),
        "--out-dir",
        str(tmp_path),
    ]
    rc = bench_nearby.main(argv, extra_methods=[_broken(kind)])
    assert rc == 1
    doc = json.loads((tmp_path / "results" / "nearby_smoke.json").read_text())
    per = doc["methods"]
    assert per[f"broken_{kind}"]["n_mismatches"] > 0
    assert per["geo_discovery"]["n_mismatches"] == 0
    assert per["ckdtree"]["n_mismatches"] == 0
    assert "MISMATCHES" in (tmp_path / "RESULTS.md").read_text()


def test_checks_accept_ties_and_reject_wrong_answers() -> None:
    d_all = np.array([5.0, 1.0, 3.0, 3.0, 9.0])
    # k=3: {1, 2, 3} with the tie at 3 m either way round
    assert bench_nearby.check_knn(np.array([1, 2, 3]), d_all[[1, 2, 3]], d_all, 3) is None
    assert bench_nearby.check_knn(np.array([1, 3, 2]), d_all[[1, 3, 2]], d_all, 3) is None
    # k=2: either of the tied points at 3 m may take second place
    assert bench_nearby.check_knn(np.array([1, 3]), d_all[[1, 3]], d_all, 2) is None
    assert bench_nearby.check_knn(np.array([1, 0]), d_all[[1, 0]], d_all, 2) is not None
    assert bench_nearby.check_knn(np.array([2, 1]), d_all[[2, 1]], d_all, 2) is not None  # order
    assert bench_nearby.check_knn(np.array([1, 1]), d_all[[1, 1]], d_all, 2) is not None  # dup
    assert bench_nearby.check_radius(np.array([1, 2, 3]), d_all[[1, 2, 3]], d_all, 3.0) is None
    # a point exactly on the boundary may be in or out; one inside it may not be missing
    assert bench_nearby.check_radius(np.array([1, 2]), d_all[[1, 2]], d_all, 3.0) is None
    assert bench_nearby.check_radius(np.array([1, 2]), d_all[[1, 2]], d_all, 4.0) is not None
    assert bench_nearby.check_radius(np.array([1, 0]), d_all[[1, 0]], d_all, 4.0) is not None
    assert bench_nearby.check_radius(np.array([1]), d_all[[1]] + 1e-5, d_all, 1.0) is not None


# --------------------------------------------------------------------------- the peers
SERVER_PEERS = ("postgis", "redis")


def _edge_points() -> tuple[np.ndarray, np.ndarray]:
    """Points across the antimeridian, around both poles and near Redis's latitude limit,
    plus a clustered city: where degree-space boxes go wrong if the cap maths is."""
    rng = np.random.default_rng(7)
    lat = np.concatenate(
        [
            rng.uniform(-5, 5, 300),
            rng.uniform(84.5, 90, 200),
            rng.uniform(-90, -86, 100),
            40.7 + rng.normal(0, 0.02, 400),
        ]
    )
    lng = np.concatenate(
        [
            rng.choice([-1, 1], 300) * rng.uniform(175, 180, 300),
            rng.uniform(-180, 180, 200),
            rng.uniform(-180, 180, 100),
            -74.0 + rng.normal(0, 0.02, 400),
        ]
    )
    return lat, lng


@pytest.mark.parametrize("name", ["rtree", "strtree", *SERVER_PEERS])
def test_peers_are_exact_at_the_antimeridian_and_the_poles(name: str) -> None:
    method = methods.METHODS[name]
    reason = method.unavailable()
    if reason:
        pytest.skip(f"{name}: {reason}")
    lat, lng = _edge_points()
    obj = method.build(lat, lng, np.array([f"p{i}" for i in range(len(lat))], dtype=object))
    try:
        queries = [(0.0, 179.99), (1.0, -179.5), (89.9, 10.0), (86.0, -120.0), (-89.5, 0.0)]
        queries += [(40.7, -74.0), (-3.0, 180.0)]
        for q_lat, q_lng in queries:
            d_all = bench_nearby.oracle_m(lat, lng, q_lat, q_lng)
            for k in (1, 20):
                pos, dist = method.knn(obj, q_lat, q_lng, k)
                assert bench_nearby.check_knn(pos, dist, d_all, k) is None, (q_lat, q_lng, k)
            for r in (300.0, 50_000.0, 600_000.0):
                pos, dist = method.radius(obj, q_lat, q_lng, r)
                assert bench_nearby.check_radius(pos, dist, d_all, r) is None, (q_lat, q_lng, r)
    finally:
        if method.close is not None:
            method.close(obj)


def test_cap_boxes_contain_the_cap() -> None:
    rng = np.random.default_rng(3)
    for q_lat, q_lng, r in [(0.0, 179.9, 50_000.0), (89.0, 0.0, 200_000.0), (-60.0, -179.0, 1e6)]:
        boxes = methods.cap_boxes(q_lat, q_lng, r)
        # random points inside the cap must fall in a box
        lat = rng.uniform(-90, 90, 200_000)
        lng = rng.uniform(-180, 180, 200_000)
        inside = bench_nearby.oracle_m(lat, lng, q_lat, q_lng) <= r
        in_box = np.zeros(len(lat), bool)
        for w, s, e, n in boxes:
            in_box |= (lng >= w) & (lng <= e) & (lat >= s) & (lat <= n)
        assert inside.any() and not (inside & ~in_box).any()
    assert len(methods.cap_boxes(0.0, 179.9, 50_000.0)) == 2  # split at the antimeridian
    assert methods.cap_boxes(89.0, 0.0, 200_000.0)[0][0] == -180.0  # reaches the pole


def test_server_peers_run_in_the_smoke_benchmark(tmp_path: Path) -> None:
    """With `benchmarks/servers.sh start` run (as .ci/run does), PostGIS and Redis take part
    in the smoke benchmark and pass the oracle check; without the servers they are reported
    as skipped, with the reason, and the run still passes."""
    reasons = {n: methods.METHODS[n].unavailable() for n in SERVER_PEERS}
    argv = ["--smoke", "--queries", "30", "--methods", "geo_discovery,rtree,strtree,postgis,redis"]
    rc = bench_nearby.main([*argv, "--out-dir", str(tmp_path)])
    assert rc == 0
    doc = json.loads((tmp_path / "results" / "nearby_smoke.json").read_text())
    for name in ("rtree", "strtree"):
        assert doc["methods"][name]["n_mismatches"] == 0
    for name, reason in reasons.items():
        if reason:
            assert name in doc["skipped"] and doc["skipped"][name]
        else:
            assert doc["methods"][name]["n_mismatches"] == 0
            assert doc["methods"][name]["metrics"]["knn20"]["n"] == 30
    missing = {n: r for n, r in reasons.items() if r}
    if missing:
        pytest.skip(f"server peers not running (checked the skip path instead): {missing}")


def test_slow_peers_are_skipped_above_their_size_with_a_reason() -> None:
    cfg = bench_nearby.Config()
    brute = methods.METHODS["brute"]
    assert brute.max_points is not None
    reason = bench_nearby._skip_reason(brute, brute.max_points + 1, cfg)
    assert reason and "skipped at this size" in reason
    assert bench_nearby._skip_reason(methods.METHODS["ckdtree"], 10**8, cfg) in (None, "")
    cfg.all_peers = True
    assert bench_nearby._skip_reason(brute, brute.max_points + 1, cfg) is None


def test_resampled_points_are_labelled_unique_and_near_the_real_ones() -> None:
    from benchmarks import harness

    base = harness.synthetic_points(2000, seed=1)
    ps = harness.resample_points(base, 10_000, jitter_m=20.0, seed=2)
    assert len(ps) == 10_000 and ps.name == "10k"
    assert len(set(ps.ids.tolist())) == len(ps)
    assert "resampled from real points with 20 m jitter" in ps.note.lower()
    # every resampled point lies within a few jitters of some base point
    from scipy.spatial import cKDTree

    d, _ = cKDTree(np.c_[base.lat, base.lng]).query(np.c_[ps.lat, ps.lng])
    assert np.max(d) * 111_320 < 20.0 * 8
    again = harness.resample_points(base, 10_000, jitter_m=20.0, seed=2)
    assert np.array_equal(again.lat, ps.lat)


def test_growth_summary_compares_the_smallest_and_largest_runs(tmp_path: Path) -> None:
    def run(dataset: str, n: int, gd: float, ckd: float) -> dict:
        metrics = {k: {"p50_us": gd} for k, *_ in bench_nearby.METRICS}
        ck = {k: {"p50_us": ckd} for k, *_ in bench_nearby.METRICS}
        return {
            "benchmark": "nearby",
            "dataset": dataset,
            "n_points": n,
            "config": {"smoke": False},
            "machine": {"date_utc": "today"},
            "methods": {
                "geo_discovery": {"label": "geo_discovery CellIndex", "metrics": metrics},
                "ckdtree": {"label": "scipy cKDTree", "metrics": ck},
            },
        }

    res = tmp_path / "results"
    res.mkdir()
    assert bench_nearby.growth_summary(res) is None
    (res / "nearby_100k.json").write_text(json.dumps(run("100k", 100_000, 10.0, 20.0)))
    (res / "nearby_smoke.json").write_text(json.dumps(run("smoke", 5_000, 1.0, 1.0)))
    assert bench_nearby.growth_summary(res) is None  # smoke runs do not count
    (res / "nearby_10m.json").write_text(json.dumps(run("10m", 10_000_000, 12.0, 40.0)))
    growth = bench_nearby.growth_summary(res)
    assert growth is not None
    assert growth["datasets"] == ["100k", "10m"]
    assert growth["growth_smallest_to_largest"]["geo_discovery"]["knn20"] == pytest.approx(1.2)
    assert growth["growth_smallest_to_largest"]["ckdtree"]["knn20"] == pytest.approx(2.0)
    assert "×1.20 against the target of ≤ 1.5× (met)" in growth["markdown"]


def test_the_tile_check_catches_a_broken_tile() -> None:
    """bench_tiles' check fails a tile that lost a merchant, one whose peer disagrees on a
    property, and passes the real ones."""
    from benchmarks import bench_tiles
    from geo_discovery.tiles import TileId
    from geo_discovery.tiles.mvt import POINT, encode_layer, encode_tile, point_geometry

    engine = bench_tiles._synthetic_engine(2_000, 3)
    cols = bench_tiles.Columns(engine)
    tile = bench_tiles._tile_at(*bench_tiles.MIDTOWN, 14)
    assert isinstance(tile, TileId)
    good = engine.tiles.build(tile).data
    theirs = bench_tiles.mapbox_tile(engine, cols, tile)
    assert (
        bench_tiles.check_tile(
            engine, tile, {"geo_discovery": good, "mapbox-vector-tile": theirs}, cols
        )
        == []
    )
    positions = engine.within_bbox(tile.bbox).positions[1:]  # one merchant lost
    x, y = tile.to_pixels(engine.snapshot.lat[positions], engine.snapshot.lng[positions])
    geom, offsets = point_geometry(x, y)
    columns = [(k, c, positions) for k, c in engine.tiles._merchant_columns]
    lossy = encode_tile(
        [encode_layer("merchants", geometry=geom, offsets=offsets, geom_type=POINT,
                      columns=columns, point_ids=positions)]
    )  # fmt: skip
    assert bench_tiles.check_tile(engine, tile, {"geo_discovery": lossy}, cols)
    wrong = {"geo_discovery": good, "mapbox-vector-tile": lossy}
    assert any("mapbox-vector-tile" in p for p in bench_tiles.check_tile(engine, tile, wrong, cols))
