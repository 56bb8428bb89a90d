"""A server whose snapshot newer loads pruned (``keep_snapshots``) switches to the current one.

With the automatic reload off (``api_reload_interval_ms=0``, the README's "use POST
/v1/admin/reload" mode), or on a replica whose reload failed, loads kept publishing and
pruning: the served snapshot's folder went away, and every request reading a part of it
lazily (opening hours, member histories) answered 503 with library advice, from then on,
while ``/readyz`` still said ready.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from geo_discovery.settings import Settings
from geo_discovery.snapshot.pipeline import load
from geo_discovery_api import create_app

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "helsinki_osm_pois.csv"
LAT, LNG = 60.1699, 24.9384


def _load(data_dir: Path, keep: int) -> None:
    settings = Settings(data_dir=data_dir, keep_snapshots=keep)
    load([SAMPLE], data_dir=data_dir, profile="osm_poi", settings=settings)


@pytest.mark.parametrize("first", ["a query", "readyz"])
def test_a_pruned_snapshot_is_replaced_by_the_current_one(tmp_path: Path, first: str) -> None:
    data_dir = tmp_path / "store"
    _load(data_dir, keep=5)
    app = create_app(Settings(data_dir=data_dir, api_reload_interval_ms=0), data_dir)
    with TestClient(app) as client:
        assert client.get("/readyz").json()["snapshot_id"] == 1
        _load(data_dir, keep=1)  # snapshot 2 published, 1 (served) deleted
        assert not (data_dir / "snapshots" / "000001").exists()
        url = f"/v1/merchants/nearby?lat={LAT}&lng={LNG}&open_now=true"
        if first == "a query":
            got = client.get(url)  # opening hours are read lazily: from the deleted folder
            assert got.status_code == 503 and got.headers["Retry-After"] == "1"
            detail = got.json()["detail"]
            assert "deleted by newer loads" in detail and "now serves 000002" in detail
            assert "DiscoveryEngine" not in detail  # no library advice to an HTTP client
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["snapshot_id"] == 2
        assert client.get(url).status_code == 200
