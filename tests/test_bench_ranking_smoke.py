"""The ranking benchmark runs in smoke mode, checks itself against brute force, and reports
best_match and kNN side by side (so it never rots)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks import bench_ranking  # noqa: E402


def test_bench_ranking_smoke(tmp_path: Path) -> None:
    assert bench_ranking.main(["--smoke", "--out-dir", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "results" / "ranking_smoke.json").read_text())
    assert doc["correct"] is True and doc["n_mismatches"] == 0 and doc["n_checked"] > 0
    assert set(doc["methods"]) == set(bench_ranking.METHODS)
    assert doc["ratio_best_match_to_knn"] > 0
    assert "best_match / kNN" in (tmp_path / "RESULTS.md").read_text()
