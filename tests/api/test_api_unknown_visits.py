"""Nearby says how many of a member's given visits name no merchant of the snapshot.

Such a visit lifts nothing (merchants come and go, so it is no error). Before, nothing said
so: an app sending a visit log's own venue ids (``V123`` where the merchant id is
``checkins:V123``) lost every member's personalisation without a word.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import app_client
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geo_discovery.cli import app
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.query import Member

LAT, LNG = 60.1699, 24.9384
URL = "/v1/merchants/nearby"


@pytest.fixture(scope="module")
def client(sample_data_dir: Path) -> Iterator[TestClient]:
    with app_client(sample_data_dir) as c:
        yield c


def _known(engine: DiscoveryEngine, n: int) -> list[str]:
    return list(engine.nearby(LAT, LNG, n).merchant_ids)


def test_the_library_counts_the_visits_it_could_not_find(sample_engine: DiscoveryEngine) -> None:
    known = _known(sample_engine, 2)
    given = [known[0], "no-such-merchant", f"{known[1]}@2024-05-01T10:00:00Z", "gone@2024-05-01"]
    page = sample_engine.nearby(LAT, LNG, 3, sort="best_match", member=Member(visits=given))
    assert page.unknown_visits == 2 and page[:1].unknown_visits == 2
    # a visit given twice counts twice: each entry is a visit
    twice = Member(visits=["zz", "zz", known[0]])
    assert sample_engine.nearby(LAT, LNG, 3, sort="best_match", member=twice).unknown_visits == 2
    # the validated path (a radius) says the same as the fast lane
    slow = sample_engine.nearby(LAT, LNG, 3, sort="best_match", radius_m=5000,
                                member=Member(visits=given))  # fmt: skip
    assert slow.unknown_visits == 2
    found = sample_engine.nearby(LAT, LNG, 3, sort="best_match", member=Member(visits=known))
    assert found.unknown_visits == 0
    assert sample_engine.nearby(LAT, LNG, 3, sort="best_match").unknown_visits == 0
    # a member id is never described: whether it has a history here is not said
    anyone = sample_engine.nearby(LAT, LNG, 3, sort="best_match", member=Member(member_id="x"))
    assert anyone.unknown_visits == 0


@pytest.mark.parametrize("extra", [{}, {"fields": "merchant_id,name"}, {"format": "geojson"}])
def test_http_nearby_counts_unknown_visits(client: TestClient, sample_engine: DiscoveryEngine,
                                           extra: dict) -> None:  # fmt: skip
    """The plain GET (the fast lane's JSON), selected fields and GeoJSON (the route), and
    the POST body."""
    known = _known(sample_engine, 1)
    params = {"lat": LAT, "lng": LNG, "limit": 3, **extra}
    got = client.get(URL, params={**params, "visits": f"V123,{known[0]},V9@2024-05-01T10:00"})
    assert got.status_code == 200, got.text
    assert got.json()["unknown_visits"] == 2
    posted = client.post(URL, json={**params, "visits": ["V123", known[0]]})
    assert posted.status_code == 200, posted.text
    assert posted.json()["unknown_visits"] == 1
    assert "unknown_visits" not in client.get(URL, params={**params, "visits": known[0]}).json()
    assert "unknown_visits" not in client.get(URL, params=params).json()
    assert "unknown_visits" not in client.get(URL, params={**params, "member": "x"}).json()


def test_the_openapi_document_describes_unknown_visits(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    field = spec["components"]["schemas"]["NearbyResponse"]["properties"]["unknown_visits"]
    assert "lift nothing" in field["description"]


def test_the_cli_notes_unknown_visits(sample_data_dir: Path,
                                      sample_engine: DiscoveryEngine) -> None:  # fmt: skip
    known = _known(sample_engine, 1)
    args = ["query", "nearby", "--lat", str(LAT), "--lng", str(LNG), "--sort", "best_match",
            "-k", "2", "--data-dir", str(sample_data_dir), "--visit", known[0]]  # fmt: skip
    got = CliRunner().invoke(app, [*args, "--visit", "V123"])
    assert got.exit_code == 0, got.output
    assert "holds no merchant of 1 of the ids given; those lift nothing" in got.stderr
    quiet = CliRunner().invoke(app, args)
    assert quiet.exit_code == 0 and "lift nothing" not in quiet.stderr
