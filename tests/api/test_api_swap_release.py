"""A server lets go of the snapshots it swapped out, and tries a snapshot that failed to
open again.

Before: an engine and its snapshot hold reference cycles, which only Python's cycle
collector frees, and a server seldom runs a full pass. Every swap kept the old snapshot's
files open and mapped (~14 handles each): after ~70 swaps a server held 757 handles and
195 MiB of deleted files, until it ran out of handles and could open no new snapshot.
And a snapshot that failed to open (out of handles, say) was not tried again until
``CURRENT`` changed: the server stayed on the old one after the cause had passed.
"""

from __future__ import annotations

import gc
import os
import shutil
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from api_support import PROJECT_ROOT, publish_broken

from geo_discovery.settings import Settings
from geo_discovery.snapshot.pipeline import load
from geo_discovery.snapshot.rows import ROW_FILE
from geo_discovery.snapshot.store import SnapshotStore
from geo_discovery_api import state
from geo_discovery_api.state import EngineHolder

SAMPLE = PROJECT_ROOT / "data" / "sample" / "helsinki_osm_pois.csv"


@pytest.fixture()
def no_automatic_gc() -> Iterator[None]:
    """As in a server between full passes: only an explicit collection frees cycles."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _handles_into(folder: Path) -> int:
    """This process's open files and memory maps under ``folder``."""
    prefix = str(folder.resolve())
    fds = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds += os.readlink(f"/proc/self/fd/{fd}").startswith(prefix)
        except OSError:
            continue  # closed meanwhile
    maps = sum(prefix in line for line in Path("/proc/self/maps").read_text().splitlines())
    return fds + maps


def _soon(predicate: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def _gone(ref: weakref.ref) -> bool:
    return _soon(lambda: ref() is None)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc (Linux)")
def test_a_swapped_out_snapshot_is_closed_once_its_requests_end(
    tmp_path: Path, no_automatic_gc: None
) -> None:
    data_dir = tmp_path / "store"
    settings = Settings(data_dir=data_dir, keep_snapshots=1)
    load([SAMPLE], profile="osm_poi", data_dir=data_dir, settings=settings)
    holder = EngineHolder(data_dir, settings)
    in_flight = holder.engine  # a request that took the engine before the swap
    assert in_flight is not None
    first = in_flight.snapshot.path
    assert in_flight.nearby(60.17, 24.94, 5) and _handles_into(first) > 0

    load([SAMPLE], profile="osm_poi", data_dir=data_dir, settings=settings)  # prunes 000001
    assert holder.refresh().changed and not first.exists()
    ref = weakref.ref(in_flight)
    time.sleep(1.5)  # the collector has run at least once: the request still holds it
    assert ref() is not None and len(in_flight.nearby(60.17, 24.94, 5)) == 5
    del in_flight  # the request ends
    assert _gone(ref), "the engine swapped out was never freed"
    assert _soon(lambda: _handles_into(first) == 0)  # closed, unmapped: the disk space is back
    assert holder.engine is not None and holder.engine.snapshot.snapshot_id == 2

    for _ in range(3):  # more swaps: each old engine goes, the current one stays
        load([SAMPLE], profile="osm_poi", data_dir=data_dir, settings=settings)
        old = weakref.ref(holder.engine)
        assert holder.refresh().changed
        assert _gone(old)
    current = holder.engine
    assert current is not None and current.snapshot.snapshot_id == 5
    assert _soon(lambda: _handles_into(data_dir / "snapshots") == _handles_into(
        current.snapshot.path) > 0)  # fmt: skip


def test_a_snapshot_that_failed_to_open_is_tried_again_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "store"
    settings = Settings(data_dir=data_dir)
    load([SAMPLE], profile="osm_poi", data_dir=data_dir, settings=settings)
    holder = EngineHolder(data_dir, settings)
    assert holder.engine is not None
    broken = publish_broken(data_dir)  # as if it could not be read for a while
    first = holder.refresh()
    assert not first.changed and first.error and broken in first.error
    assert holder.refresh().error == first.error  # not retried on every check

    good = SnapshotStore(data_dir).get(1).path
    for name in ("merchants.parquet", ROW_FILE):  # the cause has passed
        shutil.copy(good / name, data_dir / "snapshots" / broken / name)
    assert not holder.refresh().changed  # until RETRY_S has passed since it failed
    monkeypatch.setattr(state, "RETRY_S", 0.0)
    again = holder.refresh()
    assert again.changed and again.error is None and holder.last_error is None
    assert holder.engine is not None and holder.engine.snapshot.path.name == broken


def test_the_fast_lane_does_not_keep_an_engine_alive(tmp_path: Path, no_automatic_gc: None) -> None:
    """The nearby lane below the app kept the last engine it answered from for its
    headers: after a swap, the old snapshot stayed open (its files mapped, its disk space
    held) until the next plain request without gzip came."""
    from geo_discovery_api.routes.merchants import build_nearby_lane

    data_dir = tmp_path / "store"
    settings = Settings(data_dir=data_dir)
    load([SAMPLE], profile="osm_poi", data_dir=data_dir, settings=settings)
    holder = EngineHolder(data_dir, settings)
    lane = build_nearby_lane(settings)
    scope = {"type": "http", "method": "GET", "headers": [],
             "query_string": b"lat=60.1699&lng=24.9384&limit=3"}  # fmt: skip
    engine = holder.engine
    assert engine is not None
    got = lane.answer_raw(engine, scope)
    assert got is not None and (b"etag", etag_of(engine)) in got[0]
    ref = weakref.ref(engine)
    del engine, got
    load([SAMPLE], profile="osm_poi", data_dir=data_dir, settings=settings)
    assert holder.refresh().changed
    assert _gone(ref), "the lane kept the engine swapped out"
    new = holder.engine
    assert new is not None
    again = lane.answer_raw(new, scope)
    assert again is not None and (b"etag", etag_of(new)) in again[0]  # the new one's ETag


def etag_of(engine: object) -> bytes:
    from geo_discovery_api.responses import etag_for

    return etag_for(engine).encode("latin-1")  # type: ignore[arg-type]
