"""N stateless replicas of one snapshot store: two real servers on two ports share one
data dir (as two hosts would over NFS), a snapshot is published while both serve under
load, and both move to it without a failed request.

Snapshot 1 holds only the DOHMH restaurants and snapshot 2 only the NYS food stores, so
every answer shows which snapshot it came from.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from api_support import (
    FOOD,
    RESTAURANTS,
    TIMES_SQUARE,
    NearbyHammer,
    cli,
    get_json,
    running_server,
)

from geo_discovery.snapshot.pipeline import load

pytestmark = pytest.mark.real_data

LAT, LNG = TIMES_SQUARE
SOURCE_OF = {"000001": "nyc_dohmh", "000002": "nys_retail_food"}


def test_two_replicas_over_one_store_swap_under_load_with_no_failed_request(
    real_data: Path, tmp_path: Path
) -> None:
    store = tmp_path / "shared-store"
    load([real_data / RESTAURANTS], data_dir=store)
    env = {"GEO_DISCOVERY_API_RELOAD_INTERVAL_MS": "100"}
    with running_server(store, env=env) as a, running_server(store, env=env) as b:
        ready = [get_json(port, "/readyz")[1] for port in (a, b)]
        assert {r["snapshot"] for r in ready} == {ready[0]["snapshot"]}
        v1 = ready[0]["snapshot"]
        assert ready[0]["snapshot_id"] == 1 and ready[0]["status"] == "ready"
        clients = [NearbyHammer(port, LAT, LNG, limit=10) for port in (a, b, a, b)]
        for c in clients:
            c.start()
        try:
            time.sleep(0.5)
            done = cli("load", str(real_data / FOOD), "--data-dir", str(store))
            assert done.returncode == 0, done.stdout + done.stderr
            deadline = time.monotonic() + 30
            while {get_json(p, "/readyz")[1]["snapshot"] for p in (a, b)} & {v1}:
                assert time.monotonic() < deadline, "a replica never moved to the new snapshot"
                time.sleep(0.05)
            time.sleep(0.5)  # both keep answering on the new one
        finally:
            for c in clients:
                c.stop.set()
            for c in clients:
                c.join(timeout=15)
        after = [get_json(port, "/readyz")[1] for port in (a, b)]

    v2 = after[0]["snapshot"]
    assert v2 != v1 and after[1]["snapshot"] == v2 and after[0]["snapshot_id"] == 2
    assert [c.failures for c in clients] == [[], [], [], []]
    for c in clients:
        versions = [v for v, _ in c.answers]
        assert v1 in versions and v2 in versions, "each client saw both snapshots"
        # once a replica answers from the new snapshot, it never answers from the old one
        assert versions == sorted(versions, key=lambda v: v != v1)
        # and no answer mixes the two
        assert all(sources == {SOURCE_OF[v[:6]]} for v, sources in c.answers)
