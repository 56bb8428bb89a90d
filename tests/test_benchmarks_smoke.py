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

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks import bench_nearby, methods  # noqa: E402
from benchmarks.methods import Method  # noqa: E402

# Contract for every benchmarks/bench_*.py: accepts --smoke and --out-dir, writes
# results/*.json there (with "correct": true when it checks answers), exits 0 on success,
# 1 when a check fails, and SKIP_EXIT when an external tool it needs is not installed.
SKIP_EXIT = 3
BENCH_SCRIPTS = sorted(p.stem for p in (PROJECT_ROOT / "benchmarks").glob("bench_*.py"))


def _fingerprint(path: Path) -> tuple[int, int] | None:
    return (path.stat().st_mtime_ns, path.stat().st_size) if path.exists() else None


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
    assert (tmp_path / "RESULTS.md").read_text().startswith("# Benchmark results")
    assert _fingerprint(results_md) == before, "smoke mode must not rewrite benchmarks/RESULTS.md"


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

    return Method(
        name=f"broken_{kind}",
        label=f"broken ({kind})",
        build=good.build,
        knn=knn,
        radius=radius,
    )


@pytest.mark.parametrize("kind", ["knn_drops_last", "knn_distance_off", "radius_drops_farthest"])
def test_a_broken_adapter_fails_the_run(kind: str, tmp_path: Path) -> None:
    argv = [
        "--smoke",
        "--queries",
        "20",
        "--methods",
        "geo_discovery,ckdtree",
        "--no-batch",
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
