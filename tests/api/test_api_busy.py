"""``at`` over HTTP: popular times rank best_match like the library, bad times are 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import visit_log_data_dir
from fastapi.testclient import TestClient

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.ranking_profile import PROFILE_FILE, RankingProfile
from geo_discovery.settings import Settings
from geo_discovery_api import create_app

CENTRE = {"lat": 48.8566, "lng": 2.3522}
PROFILE = RankingProfile(
    weights=(("volume", 0.5), ("busy", 3.0)), gamma=1.0, radii=(("", 2_000.0),)
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = visit_log_data_dir(tmp_path_factory.mktemp("busy-api"), seed=3)
    PROFILE.save(data / PROFILE_FILE)
    return data


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=data_dir, api_reload_interval_ms=0)
    with TestClient(create_app(settings, data_dir)) as c:
        yield c


def test_at_ranks_as_the_engine_and_changes_the_page(client: TestClient, data_dir: Path) -> None:
    engine = DiscoveryEngine.from_snapshot(data_dir, settings=Settings(data_dir=data_dir))
    assert engine.ranking.profile == PROFILE
    pages = {}
    for at in ("2024-07-13T23:00:00", "2024-07-15T07:30:00", "2024-07-15T07:30:00+02:00"):
        r = client.get("/v1/merchants/nearby", params={**CENTRE, "at": at, "explain": "true"})
        assert r.status_code == 200, r.text
        rows = r.json()["results"]
        pages[at] = [row["merchant_id"] for row in rows]
        assert pages[at] == engine.nearby(**CENTRE, k=20, sort="best_match", at=at).merchant_ids
        assert all(row["explain"]["profile"]["parts"]["busy"]["weight"] == 3.0 for row in rows)
    assert pages["2024-07-13T23:00:00"] != pages["2024-07-15T07:30:00"]
    # Paris is at +02:00 in July: the aware time is the same local time
    assert pages["2024-07-15T07:30:00+02:00"] == pages["2024-07-15T07:30:00"]
    # any ISO 8601 form the library reads (pydantic refused an hour without minutes)
    r = client.get("/v1/merchants/nearby", params={**CENTRE, "at": "2024-07-15T07"})
    assert r.status_code == 200, r.text
    assert [row["merchant_id"] for row in r.json()["results"]] == pages["2024-07-15T07:30:00"]


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"at": "tonight"}, "at"),
        ({"at": "9999-12-31T23:59:59-12:00"}, "out of range in UTC"),
        ({"at": "2024-07-15T07:30:00", "sort": "distance"}, "at ranks best_match only"),
    ],
)
def test_bad_times_are_client_errors(client: TestClient, params: dict, needle: str) -> None:  # type: ignore[type-arg]
    r = client.get("/v1/merchants/nearby", params={**CENTRE, **params})
    assert 400 <= r.status_code < 500, r.text
    assert needle in r.text
