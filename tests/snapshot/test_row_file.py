"""The row file: a snapshot's merchant table as memory-mapped Arrow IPC (``merchants.arrow``).

A load writes it beside ``merchants.parquet``; ``Snapshot.open`` maps it instead of
decoding the parquet. The table and every answer must be the ones the parquet gives, and
a snapshot written before the row file existed (parquet only) must still open.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import SnapshotError
from geo_discovery.query import Filters
from geo_discovery.settings import Settings
from geo_discovery.snapshot.rows import ROW_FILE, read_rows, write_row_file
from geo_discovery.snapshot.snapshot import Snapshot
from geo_discovery.snapshot.store import resolve_snapshot_dir


@pytest.fixture(scope="module")
def two_copies(
    sample_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The sample snapshot as loaded, and a copy without its row file (an old snapshot)."""
    snap = resolve_snapshot_dir(sample_data_dir)
    old = tmp_path_factory.mktemp("old") / snap.name
    shutil.copytree(snap, old)
    (old / ROW_FILE).unlink()
    return snap, old


def test_a_load_writes_the_row_file_equal_to_the_parquet(two_copies: tuple[Path, Path]) -> None:
    snap, _ = two_copies
    assert (snap / ROW_FILE).is_file()
    mapped = read_rows(snap)
    parquet = pq.read_table(snap / "merchants.parquet").drop_columns(["geometry"])
    assert mapped.schema == parquet.schema
    assert mapped.equals(parquet)
    assert mapped.num_rows > 1000


def test_old_snapshots_open_from_parquet_with_identical_answers(
    two_copies: tuple[Path, Path],
) -> None:
    snap, old = two_copies
    new_engine = DiscoveryEngine(Snapshot.open(snap), settings=Settings(data_dir=snap))
    old_engine = DiscoveryEngine(Snapshot.open(old), settings=Settings(data_dir=old))
    assert new_engine.merchants.equals(old_engine.merchants)
    rng = np.random.default_rng(7)
    lat0, lng0 = (
        float(np.median(new_engine.snapshot.lat)),
        float(np.median(new_engine.snapshot.lng)),
    )
    codes, vocab = new_engine.snapshot.categories
    cafe = Filters(categories=vocab[int(np.bincount(codes).argmax())])
    for lat, lng in zip(
        lat0 + rng.normal(0, 0.02, 12), lng0 + rng.normal(0, 0.04, 12), strict=True
    ):
        lat, lng = float(lat), float(lng)
        for kwargs in ({}, {"radius_m": 400.0}, {"sort": "best_match"}, {"where": cafe}):
            a = new_engine.nearby(lat, lng, 15, **kwargs)  # type: ignore[arg-type]
            b = old_engine.nearby(lat, lng, 15, **kwargs)  # type: ignore[arg-type]
            assert a.merchant_ids == b.merchant_ids
            assert a.to_records() == b.to_records()
    mid = new_engine.merchants.column("merchant_id")[3].as_py()
    assert new_engine.get(mid) == old_engine.get(mid)


def test_a_damaged_row_file_is_a_snapshot_error(tmp_path: Path) -> None:
    (tmp_path / ROW_FILE).write_bytes(b"not arrow at all")
    with pytest.raises(SnapshotError, match="unreadable"):
        read_rows(tmp_path)


def test_the_row_file_round_trips_several_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa

    from geo_discovery.snapshot import rows

    monkeypatch.setattr(rows, "_BATCH_ROWS", 3)
    table = pa.table({"merchant_id": [f"m{i}" for i in range(10)], "lat": np.arange(10.0)})
    write_row_file(table, tmp_path / ROW_FILE)
    back = read_rows(tmp_path)
    assert back.equals(table)
    assert len(back.to_batches()) == 4
