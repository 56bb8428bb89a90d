"""The checks inside the long reliability runs (benchmarks/bench_soak.py and
benchmarks/bench_kill_load.py) catch what they exist to catch: an answer that mixes or
mislabels snapshots, snapshots seen out of order, a half-written snapshot folder, a lock
left held, rows a load must keep. The runs themselves go in the smoke test."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks import bench_kill_load, bench_soak  # noqa: E402
from benchmarks.bench_soak import Answer, order_violations  # noqa: E402
from geo_discovery.engine import DiscoveryEngine  # noqa: E402
from geo_discovery.snapshot.pipeline import load  # noqa: E402
from geo_discovery.snapshot.store import SnapshotStore  # noqa: E402


def _csv(path: Path, tag: str, seed: int, n: int = 400) -> Path:
    rng = np.random.default_rng(seed)
    pd.DataFrame({
        "id": [f"{tag}{i}" for i in range(n)], "name": [f"{tag} shop {i}" for i in range(n)],
        "lat": 40.72 + rng.normal(0, 0.01, n), "lng": -73.98 + rng.normal(0, 0.01, n),
        "category": "food/grocery",
    }).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def two_snapshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("soak")
    data = root / "store"
    load([_csv(root / "a.csv", "a", 1)], data_dir=data, profile="generic")
    load([_csv(root / "b.csv", "b", 2)], data_dir=data, profile="generic")
    return data


def _answer(engine: DiscoveryEngine, version: str, ids: list[str]) -> Answer:
    return Answer(t=1.0, kind="nearby", query=(40.72, -73.98), version=version, ids=ids,
                  sources=frozenset({"a.csv"}), total=None, ms=1.0)


def test_the_soak_check_catches_mixed_and_mislabelled_answers(two_snapshots: Path) -> None:
    first, second = SnapshotStore(two_snapshots).list()
    e1, e2 = (DiscoveryEngine.from_snapshot(s.path) for s in (first, second))
    ids1 = e1.nearby(40.72, -73.98, bench_soak.NEARBY_K).merchant_ids
    ids2 = e2.nearby(40.72, -73.98, bench_soak.NEARBY_K).merchant_ids
    src2 = set(e2.merchants.column("source").to_pylist())
    good = [_answer(e1, first.version, ids1),
            Answer(1.0, "nearby", (40.72, -73.98), second.version, ids2, frozenset(src2), None,
                   1.0)]
    good[0].sources = frozenset(e1.merchants.column("source").to_pylist())
    box = (-73.99, 40.71, -73.97, 40.73)
    res = e2.within_bbox(box, limit=bench_soak.SEARCH_LIMIT)
    good.append(Answer(1.0, "bbox", box, second.version, res.merchant_ids, frozenset(src2),
                       res.total, 1.0))
    ok = bench_soak.verify(good, two_snapshots)
    assert ok["answers_checked"] == 3 and ok["mismatches"] == 0
    assert ok["answers_with_foreign_merchants_or_sources"] == 0

    mixed = ids1[:10] + ids2[10:]
    bad = [
        _answer(e2, second.version, ids1),  # the first snapshot's answer, labelled second
        _answer(e1, first.version, mixed),  # half of each
        Answer(1.0, "bbox", box, second.version, res.merchant_ids, frozenset(src2),
               res.total + 1, 1.0),  # right page, wrong total
    ]
    caught = bench_soak.verify(bad, two_snapshots)
    assert caught["mismatches"] == 3
    assert caught["answers_with_foreign_merchants_or_sources"] == 2


def test_the_soak_order_check_allows_only_the_rollback_to_go_back() -> None:
    timeline = [(0.0, 1), (5.0, 2), (9.0, 3), (12.0, 2), (15.0, 4)]
    assert order_violations([(1, 1), (2, 1), (6, 2), (10, 3), (13, 2), (16, 4)], timeline) == []
    assert order_violations([(1, 1), (10, 3), (16, 4)], timeline) == []  # a step unseen
    assert order_violations([(6, 2), (7, 1)], timeline)  # back without a rollback
    assert order_violations([(16, 4), (17, 3)], timeline)
    assert order_violations([(10, 3), (11, 2)], timeline)  # back before the rollback began
    assert order_violations([(3, 2)], timeline)  # served before its load started


def test_the_kill_check_catches_a_damaged_store(two_snapshots: Path, tmp_path: Path) -> None:
    import shutil

    data = tmp_path / "store"
    shutil.copytree(two_snapshots, data)
    store = SnapshotStore(data)
    current = store.current()
    assert current is not None
    n = len(DiscoveryEngine.from_snapshot(current.path))
    # Snapshot 1 is a complete unserved snapshot of the "load" (400 rows): sound.
    problems, left, _ = bench_kill_load.store_problems(data, current.version, n)
    assert problems == [] and left["unserved_complete_snapshots"] == ["000001"]
    (store.snapshots_dir / ".tmp-000003-x").mkdir()
    (store.snapshots_dir / "000004").mkdir()  # numbered, but no manifest
    problems, left, _ = bench_kill_load.store_problems(data, current.version, n)
    assert left["tmp_folders"] == [".tmp-000003-x"]
    assert any("000004 has no readable manifest" in p for p in problems)
    with store.lock():
        problems, *_ = bench_kill_load.store_problems(data, current.version, n)
    assert any("lock is still held" in p for p in problems)
    first = store.list()[0]
    problems, _, published = bench_kill_load.store_problems(data, first.version, n + 1)
    assert any("CURRENT names 000002" in p for p in problems) and published is None
    assert any("holds 400 merchants" in p for p in problems)  # 000002, unserved now
    # A kill in the publish stage may come after the atomic switch: CURRENT naming the new
    # snapshot is then no problem, but that snapshot must still be complete.
    problems, _, published = bench_kill_load.store_problems(
        data, first.version, n + 1, may_publish=True)
    assert published == "000002" and not any("CURRENT names" in p for p in problems)
    assert any("holds 400 merchants" in p for p in problems)
    problems, _, published = bench_kill_load.store_problems(
        data, first.version, n, may_publish=True)
    assert published == "000002"


def test_the_kill_count_of_loadable_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    pd.DataFrame({
        "id": ["a", "b", "c", "d", "e", "a", "g"],
        "name": ["x", "", "y", "z", "w", "dup", "v"],
        "lat": ["40.7", "40.7", "nan", "91", "40.7", "40.7", "inf"],
        "lng": ["-74", "-74", "-74", "-74", "-74", "-74", "-74"],
    }).to_csv(path, index=False)
    rows, ids = bench_kill_load.expected_rows([path])
    assert rows == 7 and ids == {"a", "e"}
