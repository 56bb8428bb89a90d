"""Hot snapshot swap: in-flight answers stay on their snapshot, bad snapshots never win,
and a real server keeps answering while the CLI publishes a new snapshot.

Snapshot 1 holds only the DOHMH restaurants and snapshot 2 only the NYS food stores, so
every answer shows which snapshot it came from: an answer mixing the two would be seen.
"""

from __future__ import annotations

import http.client
import time
from pathlib import Path
from typing import Any

import pytest
from api_support import (
    FOOD,
    RESTAURANTS,
    TIMES_SQUARE,
    NearbyHammer,
    cli,
    get_json,
    publish_broken,
    running_server,
)
from fastapi.testclient import TestClient

from geo_discovery.settings import Settings
from geo_discovery.snapshot.pipeline import load
from geo_discovery.snapshot.store import SnapshotStore
from geo_discovery_api import create_app
from geo_discovery_api.state import EngineHolder

pytestmark = pytest.mark.real_data

LAT, LNG = TIMES_SQUARE
SOURCE_OF = {1: "nyc_dohmh", 2: "nys_retail_food"}


@pytest.fixture()
def data_dir(real_data: Path, tmp_path: Path) -> Path:
    """A data dir whose current snapshot (1) holds the DOHMH restaurants only."""
    d = tmp_path / "store"
    load([real_data / RESTAURANTS], data_dir=d)
    return d


def _sources(engine_or_body: Any) -> set[str]:
    if isinstance(engine_or_body, dict):
        return {h["source"] for h in engine_or_body["results"]}
    return {h.attributes["source"] for h in engine_or_body.nearby(LAT, LNG, 20)}


# ----------------------------------------------------------------------- the holder
def test_swap_keeps_in_flight_engine(data_dir: Path, real_data: Path) -> None:
    holder = EngineHolder(data_dir, Settings(data_dir=data_dir))
    first = holder.engine
    assert first is not None and first.snapshot is not None
    assert first.snapshot.snapshot_id == 1 and _sources(first) == {SOURCE_OF[1]}
    assert holder.refresh().changed is False

    load([real_data / FOOD], data_dir=data_dir)
    result = holder.refresh()
    assert result.changed and result.previous == first.version
    second = holder.engine
    assert second is not None and second.snapshot is not None and second.snapshot.snapshot_id == 2
    assert result.current == second.version
    # A request that took the first engine before the swap still answers from it, whole.
    assert _sources(first) == {SOURCE_OF[1]} and _sources(second) == {SOURCE_OF[2]}
    assert holder.swaps == 1


def test_a_snapshot_that_fails_to_open_never_replaces_a_good_one(
    data_dir: Path, real_data: Path
) -> None:
    errors: list[str] = []
    holder = EngineHolder(data_dir, Settings(data_dir=data_dir), on_error=errors.append)
    good = holder.engine
    assert good is not None

    broken = publish_broken(data_dir)
    result = holder.refresh()
    assert not result.changed and result.error and broken in result.error
    assert holder.engine is good and holder.last_error == result.error
    assert len(errors) == 1
    # Not retried on every check while CURRENT still names the broken snapshot.
    assert holder.refresh().error == result.error and len(errors) == 1

    SnapshotStore(data_dir).rollback(1)
    assert holder.refresh().changed is False and holder.last_error is None
    load([real_data / FOOD], data_dir=data_dir)  # snapshot 3, readable
    assert holder.refresh().changed
    assert holder.engine is not None and _sources(holder.engine) == {SOURCE_OF[2]}


def test_fixed_snapshot_folder_is_served_as_is(data_dir: Path, real_data: Path) -> None:
    current = SnapshotStore(data_dir).current()
    assert current is not None
    holder = EngineHolder(current.path, Settings(data_dir=data_dir))
    assert holder.fixed_snapshot and holder.engine is not None
    load([real_data / FOOD], data_dir=data_dir)
    assert holder.refresh().changed is False
    assert _sources(holder.engine) == {SOURCE_OF[1]}


# ---------------------------------------------------------------- the app (lifespan)
def _wait_for(predicate: Any, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_app_watches_current_and_swaps(data_dir: Path, real_data: Path) -> None:
    settings = Settings(data_dir=data_dir, api_reload_interval_ms=50, api_admin_key="k")
    with TestClient(create_app(settings, data_dir)) as client:
        url = f"/v1/merchants/nearby?lat={LAT}&lng={LNG}"
        r1 = client.get(url)
        v1, etag1 = r1.json()["snapshot"], r1.headers["etag"]
        assert _sources(r1.json()) == {SOURCE_OF[1]}

        load([real_data / FOOD], data_dir=data_dir)
        _wait_for(lambda: client.get("/readyz").json()["snapshot"] != v1)
        r2 = client.get(url, headers={"If-None-Match": etag1})
        assert r2.status_code == 200, "the old ETag must not validate against a new snapshot"
        assert r2.headers["etag"] != etag1 and _sources(r2.json()) == {SOURCE_OF[2]}
        metrics = client.get("/metrics").text
        assert f'geo_discovery_snapshot_info{{version="{r2.json()["snapshot"]}"}} 1.0' in metrics
        assert v1 not in metrics
        assert 'geo_discovery_snapshot_reloads_total{result="ok"} 2.0' in metrics

        # A broken publication: reported in /readyz and by the admin reload, never served.
        broken = publish_broken(data_dir)
        _wait_for(lambda: client.get("/readyz").json()["last_reload_error"] is not None)
        ready = client.get("/readyz").json()
        assert ready["snapshot"] == r2.json()["snapshot"] and broken in ready["last_reload_error"]
        assert _sources(client.get(url).json()) == {SOURCE_OF[2]}
        r = client.post("/v1/admin/reload", headers={"X-API-Key": "k"})
        assert r.status_code == 409 and broken in r.json()["detail"]
        assert (
            'geo_discovery_snapshot_reloads_total{result="failed"}' in client.get("/metrics").text
        )


def test_first_snapshot_published_while_serving(tmp_path: Path, real_data: Path) -> None:
    empty = tmp_path / "later"
    settings = Settings(data_dir=empty, api_reload_interval_ms=50)
    with TestClient(create_app(settings, empty)) as client:
        assert client.get("/readyz").status_code == 503
        load([real_data / RESTAURANTS], data_dir=empty)
        _wait_for(lambda: client.get("/readyz").status_code == 200)
        r = client.get(f"/v1/merchants/nearby?lat={LAT}&lng={LNG}")
        assert r.status_code == 200 and _sources(r.json()) == {SOURCE_OF[1]}


# ------------------------------------------------------------ a real uvicorn process
def test_real_server_swaps_under_traffic_with_no_failed_request(
    data_dir: Path, real_data: Path
) -> None:
    env = {"GEO_DISCOVERY_API_RELOAD_INTERVAL_MS": "100"}
    with running_server(data_dir, env=env) as port:
        status, ready = get_json(port, "/readyz")
        assert status == 200
        v1 = ready["snapshot"]
        hammer = NearbyHammer(port, LAT, LNG, limit=20)
        hammer.start()
        try:
            time.sleep(0.5)
            done = cli("load", str(real_data / FOOD), "--data-dir", str(data_dir))
            assert done.returncode == 0, done.stdout + done.stderr
            _wait_for(lambda: get_json(port, "/readyz")[1]["snapshot"] != v1)
            time.sleep(0.5)
        finally:
            hammer.stop.set()
            hammer.join(timeout=15)
        v2 = get_json(port, "/readyz")[1]["snapshot"]

    assert hammer.failures == []
    versions = [v for v, _ in hammer.answers]
    assert v1 in versions and v2 in versions and v1 != v2
    # One worker: once the new snapshot answers, the old one never does again.
    assert versions == sorted(versions, key=lambda v: v != v1)
    expected = {v1: frozenset({SOURCE_OF[1]}), v2: frozenset({SOURCE_OF[2]})}
    assert all(sources == expected[v] for v, sources in hammer.answers), (
        "an answer mixed snapshots"
    )


def test_real_server_with_two_workers_shares_metrics(data_dir: Path) -> None:
    with running_server(data_dir, workers=2) as port:
        for _ in range(20):
            status, body = get_json(port, f"/v1/merchants/nearby?lat={LAT}&lng={LNG}&limit=5")
            assert status == 200 and body["count"] == 5
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
    line = next(
        ln
        for ln in text.splitlines()
        if ln.startswith("geo_discovery_http_requests_total{")
        and 'route="/v1/merchants/nearby"' in ln
        and 'status="200"' in ln
    )
    assert float(line.rsplit(" ", 1)[1]) == 20.0, "the count must sum both workers"
