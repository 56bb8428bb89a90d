"""SnapshotStore: versioned snapshots, atomic publish, rollback, retention, the writer lock.

Snapshots are built directly with SnapshotStore + pipeline.write_merchant_table +
build_cell_index from a synthetic canonical table, so nothing here goes through ingest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import oracle
import pyarrow as pa
import pytest

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import SnapshotError, SnapshotNotFoundError
from geo_discovery.schema import SCHEMA_VERSION
from geo_discovery.search.index import build_cell_index
from geo_discovery.settings import Settings
from geo_discovery.snapshot.pipeline import write_merchant_table
from geo_discovery.snapshot.store import SnapshotInfo, SnapshotStore, resolve_snapshot_dir


def table_for(tag: str, n: int = 40, seed: int = 0) -> pa.Table:
    """``n`` merchants named ``<tag>-<i>`` around Manhattan."""
    rng = np.random.default_rng(seed)
    lat, lng = oracle.random_points("city", n, rng, centre=(40.75, -73.98), spread_deg=0.01)
    ids = [f"{tag}:{i:04d}" for i in range(n)]
    return oracle.canonical_table(lat, lng, ids, ["food/grocery"] * n,
                                  names=[f"{tag}-{i}" for i in range(n)])


def build_snapshot(
    store: SnapshotStore, table: pa.Table, tag: str, *, publish: bool = True
) -> SnapshotInfo:
    with store.lock():
        writer = store.begin()
        assert writer.path.name.startswith(".tmp-")
        write_merchant_table(table, writer.path / "merchants.parquet")
        build_cell_index(
            table.column("lat").to_numpy(),
            table.column("lng").to_numpy(),
            np.asarray(table.column("merchant_id").to_pylist(), dtype=object),
        ).to_directory(writer.path / "index")
        return writer.commit({"tag": tag, "rows": {"merchants": table.num_rows}}, publish=publish)


def names_in(engine: DiscoveryEngine) -> set[str]:
    return set(engine.merchants.column("name").to_pylist())


@pytest.fixture
def store(tmp_path: Path) -> SnapshotStore:
    return SnapshotStore(tmp_path / "data")


def fill(store: SnapshotStore, count: int) -> list[SnapshotInfo]:
    return [build_snapshot(store, table_for(f"s{i}", seed=i), f"s{i}") for i in range(1, count + 1)]


# ------------------------------------------------------------- publish and read


def test_empty_store(store: SnapshotStore) -> None:
    assert store.current() is None
    assert store.current_name() is None
    assert store.list() == []
    with pytest.raises(SnapshotNotFoundError, match="not found; known: none"):
        store.get(1)


def test_a_current_file_that_holds_no_number_is_named_and_rollback_mends_it(
    store: SnapshotStore,
) -> None:
    """``int("garbage")`` was an internal error (exit 70) in every command."""
    fill(store, 2)
    (store.data_dir / "CURRENT").write_text("garbage\n")
    with pytest.raises(SnapshotError, match="CURRENT holds 'garbage', not a snapshot number"):
        store.current()
    assert [s.snapshot_id for s in store.list()] == [1, 2]
    assert store.rollback(to=1).snapshot_id == 1
    current = store.current()
    assert current is not None and current.snapshot_id == 1


def test_ids_increase_and_current_follows_the_newest(store: SnapshotStore) -> None:
    infos = fill(store, 3)
    assert [i.snapshot_id for i in infos] == [1, 2, 3]
    assert [i.name for i in infos] == ["000001", "000002", "000003"]
    assert (store.data_dir / "CURRENT").read_text().strip() == "000003"
    current = store.current()
    assert current is not None and current.snapshot_id == 3 and current.is_current
    listed = store.list()
    assert [s.snapshot_id for s in listed] == [1, 2, 3]
    assert [s.is_current for s in listed] == [False, False, True]
    assert store.get(2).manifest["tag"] == "s2" and not store.get(2).is_current
    with pytest.raises(SnapshotNotFoundError, match="known: 000001, 000002, 000003") as info:
        store.get(7)
    assert isinstance(info.value, LookupError)


def test_manifest_records_format_schema_and_creation(store: SnapshotStore) -> None:
    info = fill(store, 1)[0]
    manifest = json.loads((info.path / "manifest.json").read_text())
    assert manifest["format"] == "geo-discovery-snapshot"
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["snapshot_id"] == 1
    assert manifest["tag"] == "s1" and manifest["rows"] == {"merchants": 40}
    created = datetime.strptime(manifest["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    now = datetime.now(UTC).replace(tzinfo=None)
    assert abs((now - created).total_seconds()) < 600
    assert info.version == f"000001-{manifest['created_at']}"
    assert (info.path / "merchants.parquet").is_file()
    assert (info.path / "index" / "index.json").is_file()


def test_unpublished_commit_leaves_current_alone(store: SnapshotStore) -> None:
    fill(store, 1)
    staged = build_snapshot(store, table_for("staged"), "staged", publish=False)
    assert staged.snapshot_id == 2 and not staged.is_current
    assert store.current_name() == "000001"
    store.set_current(2)
    assert store.current_name() == "000002"


def test_current_swaps_while_open_engines_keep_their_snapshot(store: SnapshotStore) -> None:
    fill(store, 1)
    old = DiscoveryEngine.from_snapshot(store.data_dir)
    assert names_in(old) == {f"s1-{i}" for i in range(40)}
    build_snapshot(store, table_for("fresh", n=25, seed=9), "fresh")
    new = DiscoveryEngine.from_snapshot(store.data_dir)
    assert names_in(new) == {f"fresh-{i}" for i in range(25)}
    assert new.snapshot is not None and new.snapshot.snapshot_id == 2
    # An engine opened before the swap still answers from its own, immutable snapshot.
    assert len(old.nearby(40.75, -73.98, 50)) == 40
    assert old.snapshot is not None and old.snapshot.snapshot_id == 1
    assert old.version != new.version


def test_set_current_refuses_an_unusable_snapshot(store: SnapshotStore) -> None:
    fill(store, 1)
    (store.snapshots_dir / "000005").mkdir()
    with pytest.raises(SnapshotNotFoundError):
        store.set_current(5)
    assert store.current_name() == "000001"


# --------------------------------------------------------------------- rollback


def test_rollback_to_previous_then_explicit(store: SnapshotStore) -> None:
    fill(store, 3)
    assert store.rollback().snapshot_id == 2
    assert store.current_name() == "000002"
    assert names_in(DiscoveryEngine.from_snapshot(store.data_dir)) == {
        f"s2-{i}" for i in range(40)
    }
    assert store.rollback().snapshot_id == 1
    with pytest.raises(SnapshotNotFoundError, match="000001 is the oldest"):
        store.rollback()
    assert store.current_name() == "000001"
    assert store.rollback(to=3).snapshot_id == 3  # forward again, explicitly
    assert store.current_name() == "000003"
    with pytest.raises(SnapshotNotFoundError, match="snapshot 9 not found"):
        store.rollback(to=9)
    assert store.current_name() == "000003"


def test_a_snapshot_never_made_current_is_marked_and_rollback_passes_it_by(
    store: SnapshotStore,
) -> None:
    """A load killed between writing its snapshot and moving CURRENT leaves a complete
    snapshot that was listed like any other, and a plain rollback from a later one went to
    it (data never served) rather than to the one served before."""
    fill(store, 1)
    build_snapshot(store, table_for("orphan", seed=7), "orphan", publish=False)  # killed
    build_snapshot(store, table_for("s3", seed=3), "s3")
    marks = {s.name: s.published for s in store.list()}
    assert marks == {"000001": True, "000002": False, "000003": True}
    assert store.rollback().snapshot_id == 1  # not the orphan 2
    assert store.rollback(to=2).snapshot_id == 2  # still there when asked for by id
    assert store.list()[1].published is True  # (now it has been current)
    store.rollback(to=3)
    names = (store.data_dir / "PUBLISHED").read_text().split()
    assert sorted(names) == ["000001", "000002", "000003"]  # each once: it named 1 twice


def test_a_data_dir_without_the_record_marks_nothing(store: SnapshotStore) -> None:
    """Snapshots of a data dir from before the record are unknown, not "never published";
    the first publication records every snapshot kept."""
    fill(store, 2)
    (store.data_dir / "PUBLISHED").unlink()
    assert {s.published for s in store.list()} == {None}
    assert store.rollback().snapshot_id == 1
    assert {s.published for s in store.list()} == {True}


def test_rollback_with_nothing_current_fails(store: SnapshotStore) -> None:
    with pytest.raises(SnapshotNotFoundError, match="no current snapshot"):
        store.rollback()


def test_rollback_skips_broken_snapshots(store: SnapshotStore) -> None:
    fill(store, 3)
    (store.snapshots_dir / "000002" / "manifest.json").write_text("{broken")
    assert store.rollback().snapshot_id == 1


# -------------------------------------------------------------------- retention


def test_prune_keeps_the_newest(store: SnapshotStore) -> None:
    fill(store, 5)
    assert sorted(store.prune(keep=2)) == ["000001", "000002", "000003"]
    assert [s.snapshot_id for s in store.list()] == [4, 5]
    assert not (store.snapshots_dir / "000001").exists()
    assert store.prune(keep=2) == []


def test_prune_never_deletes_the_current(store: SnapshotStore) -> None:
    fill(store, 5)
    store.rollback(to=1)
    pruned = store.prune(keep=2)
    assert sorted(pruned) == ["000002", "000003"]
    assert [s.snapshot_id for s in store.list()] == [1, 4, 5]
    assert store.current_name() == "000001"
    assert len(DiscoveryEngine.from_snapshot(store.data_dir)) == 40
    store.prune(keep=1)
    assert [s.snapshot_id for s in store.list()] == [1, 5]


@pytest.mark.parametrize("keep", [0, -1])
def test_prune_rejects_keep_below_one(store: SnapshotStore, keep: int) -> None:
    fill(store, 2)
    with pytest.raises(ValueError, match=f"keep={keep}.*keep >= 1"):
        store.prune(keep=keep)
    assert len(store.list()) == 2


def test_ids_keep_increasing_after_prune(store: SnapshotStore) -> None:
    fill(store, 3)
    store.prune(keep=1)
    assert build_snapshot(store, table_for("x"), "x").snapshot_id == 4


# -------------------------------------------------------------------------- lock


def test_second_writer_fails_clearly(store: SnapshotStore) -> None:
    other = SnapshotStore(store.data_dir)
    with store.lock():
        with (
            pytest.raises(SnapshotError, match="another load is writing") as info,
            other.lock(),
        ):
            pass  # pragma: no cover
        assert str(store.data_dir) in str(info.value)
    with other.lock():  # released: the next writer gets it
        pass


def test_lock_held_by_another_process(store: SnapshotStore) -> None:
    store.data_dir.mkdir(parents=True)
    script = textwrap.dedent(
        """
        import sys, time
        from geo_discovery.snapshot.store import SnapshotStore
        with SnapshotStore(sys.argv[1]).lock():
            print("locked", flush=True)
            sys.stdin.readline()
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, str(store.data_dir)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            assert proc.stdout.readline().strip() == "locked"
            with pytest.raises(SnapshotError, match="another load is writing"):
                build_snapshot(store, table_for("blocked"), "blocked")
            assert store.list() == []
            assert not list(store.data_dir.rglob(".tmp-*"))
        finally:
            proc.stdin.write("\n")
            proc.stdin.flush()
            proc.wait(timeout=30)
    assert build_snapshot(store, table_for("after"), "after").snapshot_id == 1


# ------------------------------------------------------------ temporaries, abort


def test_leftover_temporaries_are_removed_by_the_next_begin(store: SnapshotStore) -> None:
    fill(store, 1)
    dead = store.snapshots_dir / ".tmp-000002-deadbeef"
    (dead / "index").mkdir(parents=True)
    (dead / "merchants.parquet").write_bytes(b"half written")
    assert [s.snapshot_id for s in store.list()] == [1]  # never listed
    assert store.current_name() == "000001"
    info = build_snapshot(store, table_for("next"), "next")
    assert info.snapshot_id == 2
    assert not dead.exists()
    assert not list(store.snapshots_dir.glob(".tmp-*"))


def test_abort_leaves_nothing_behind(store: SnapshotStore) -> None:
    fill(store, 1)
    with store.lock():
        writer = store.begin()
        (writer.path / "junk").write_text("x")
        writer.abort()
    assert not writer.path.exists()
    assert [s.snapshot_id for s in store.list()] == [1]
    assert store.current_name() == "000001"


# ------------------------------------------------------------- manifest checks


def _rewrite_manifest(path: Path, **changes: object) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    manifest.update(changes)
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_schema_version_mismatch_is_refused(store: SnapshotStore) -> None:
    fill(store, 2)
    _rewrite_manifest(store.snapshots_dir / "000002", schema_version=SCHEMA_VERSION + 98)
    with pytest.raises(SnapshotError, match=f"schema_version={SCHEMA_VERSION + 98}") as info:
        store.get(2)
    assert f"reads schema_version={SCHEMA_VERSION}" in str(info.value)
    assert [s.snapshot_id for s in store.list()] == [1]  # unusable: not listed
    with pytest.raises(SnapshotError, match="schema_version"):
        DiscoveryEngine.from_snapshot(store.data_dir)  # CURRENT names it
    with pytest.raises(SnapshotError, match="schema_version"):
        DiscoveryEngine.from_snapshot(store.snapshots_dir / "000002")


def test_foreign_or_broken_manifests_are_refused(store: SnapshotStore) -> None:
    fill(store, 3)
    _rewrite_manifest(store.snapshots_dir / "000001", format="something-else")
    (store.snapshots_dir / "000002" / "manifest.json").write_text("{not json")
    with pytest.raises(SnapshotError, match="not a geo-discovery-snapshot manifest"):
        store.get(1)
    with pytest.raises(SnapshotError, match="unreadable"):
        store.get(2)
    (store.snapshots_dir / "000003" / "manifest.json").unlink()
    with pytest.raises(SnapshotNotFoundError, match=r"no manifest\.json"):
        store.get(3)
    assert store.list() == []


# ------------------------------------------------- resolving and opening snapshots


def test_resolve_snapshot_dir_accepts_data_dir_or_snapshot_dir(store: SnapshotStore) -> None:
    infos = fill(store, 2)
    assert resolve_snapshot_dir(store.data_dir) == infos[1].path
    assert resolve_snapshot_dir(infos[0].path) == infos[0].path
    assert resolve_snapshot_dir(str(infos[0].path)) == infos[0].path


def test_resolve_snapshot_dir_explains_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(SnapshotNotFoundError, match="neither a data dir nor a snapshot") as info:
        resolve_snapshot_dir(tmp_path)
    assert "geo-discovery load" in str(info.value)
    (tmp_path / "snapshots").mkdir()
    with pytest.raises(SnapshotNotFoundError, match="no current snapshot"):
        resolve_snapshot_dir(tmp_path)


def test_from_snapshot_opens_data_dir_or_one_snapshot(store: SnapshotStore) -> None:
    fill(store, 2)
    current = DiscoveryEngine.from_snapshot(store.data_dir)
    older = DiscoveryEngine.from_snapshot(store.snapshots_dir / "000001")
    assert current.snapshot is not None and current.snapshot.snapshot_id == 2
    assert older.snapshot is not None and older.snapshot.snapshot_id == 1
    assert names_in(current) == {f"s2-{i}" for i in range(40)}
    assert names_in(older) == {f"s1-{i}" for i in range(40)}
    # Both answer queries, exactly, from their own data.
    for engine, seed in ((current, 2), (older, 1)):
        table = table_for(f"s{seed}", seed=seed)
        pts = oracle.Points(
            table.column("lat").to_numpy(), table.column("lng").to_numpy(),
            np.asarray(table.column("merchant_id").to_pylist(), dtype=object),
        )
        res = engine.nearby(40.75, -73.98, 10)
        oracle.assert_matches(res.positions, res.distances_m, oracle.knn(pts, 40.75, -73.98, 10))
        # memory-mapped, not copied: a view whose base is the file mapping
        assert isinstance(engine.index.xyz.base, np.memmap) and not engine.index.xyz.flags.owndata


def test_from_snapshot_defaults_to_the_data_dir_setting(store: SnapshotStore) -> None:
    fill(store, 1)
    engine = DiscoveryEngine.from_snapshot(settings=Settings(data_dir=store.data_dir))
    assert engine.snapshot is not None and engine.snapshot.snapshot_id == 1
    with pytest.raises(SnapshotNotFoundError):
        DiscoveryEngine.from_snapshot(settings=Settings(data_dir=store.data_dir / "nowhere"))


def test_from_snapshot_reports_a_damaged_snapshot(store: SnapshotStore) -> None:
    fill(store, 1)
    (store.snapshots_dir / "000001" / "merchants.parquet").write_bytes(b"PAR1 not parquet")
    with pytest.raises(SnapshotError, match="unreadable"):
        DiscoveryEngine.from_snapshot(store.data_dir)


def test_published_snapshot_is_complete(store: SnapshotStore) -> None:
    """Every file the engine needs is in the published folder."""
    info = fill(store, 1)[0]
    names = {p.relative_to(info.path).as_posix() for p in info.path.rglob("*") if p.is_file()}
    assert {"manifest.json", "merchants.parquet", "index/index.json", "index/xyz.npy"} <= names
    assert os.stat(info.path / "manifest.json").st_size > 0


def test_a_pointer_file_left_by_a_killed_publish_is_cleaned_by_the_next_writer(
    tmp_path: Path,
) -> None:
    """A kill inside set_current can leave `.CURRENT.<hex>`; the next begin() removes it."""
    store = SnapshotStore(tmp_path)
    stale = tmp_path / ".CURRENT.deadbeef"
    stale.write_text("000009\n")
    with store.lock():
        writer = store.begin()
        writer.abort()
    assert not stale.exists()
    assert store.current() is None  # the stray pointer was never followed


@pytest.mark.parametrize("chunk", [3, 1 << 26])
def test_geoparquet_points_are_shapely_wkb_and_read_back_by_geopandas(
    tmp_path: Path, monkeypatch, chunk: int
) -> None:
    import geopandas
    import shapely

    from geo_discovery.snapshot import pipeline

    monkeypatch.setattr(pipeline, "_WKB_CHUNK", chunk)  # several chunks, or one
    rng = np.random.default_rng(5)
    lat = np.concatenate([[90.0, -90.0, 0.0, 52.5], rng.uniform(-90, 90, 7)])
    lng = np.concatenate([[0.0, 180.0, -180.0, 179.9999999], rng.uniform(-180, 180, 7)])
    wkb = pipeline.point_wkb(lng, lat)
    assert wkb.to_pylist() == list(shapely.to_wkb(shapely.points(lng, lat)))
    assert pipeline.point_wkb(np.empty(0), np.empty(0)).to_pylist() == []
    table = oracle.canonical_table(lat, lng, [f"t:{i}" for i in range(len(lat))],
                                   ["food/cafe"] * len(lat))
    write_merchant_table(table, tmp_path / "m.parquet")
    frame = geopandas.read_parquet(tmp_path / "m.parquet")
    assert frame.crs is not None and frame.crs.to_epsg() in (4326, None)
    assert frame.geometry.x.tolist() == lng.tolist()
    assert frame.geometry.y.tolist() == lat.tolist()


def test_an_engine_on_a_pruned_snapshot_says_so(tmp_path: Path) -> None:
    """Its districts, text index and member histories are read on first use; once newer
    loads pruned its folder they read as absent: best_match scored without the district
    term and autocomplete said the data predates text search."""
    from conftest import SAMPLE_CSV
    from geo_discovery.engine import DiscoveryEngine
    from geo_discovery.errors import SnapshotError
    from geo_discovery.snapshot.pipeline import load

    settings = Settings(data_dir=tmp_path, keep_snapshots=1)
    load([SAMPLE_CSV], data_dir=tmp_path, profile="osm_poi", settings=settings)
    old = DiscoveryEngine.from_snapshot(tmp_path, settings=settings)
    load([SAMPLE_CSV], data_dir=tmp_path, profile="osm_poi", settings=settings)
    new = DiscoveryEngine.from_snapshot(tmp_path, settings=settings)
    assert len(new.districts()) and new.autocomplete("kahv", 60.17, 24.94) is not None
    for call in (lambda: old.districts(), lambda: old.autocomplete("kahv", 60.17, 24.94),
                 lambda: old.nearby(60.17, 24.94, 3, sort="best_match")):
        with pytest.raises(SnapshotError, match="snapshot 000001 was removed"):
            call()
