"""Nearby says when the search box's fallback left a word of ``q`` out.

When no merchant matches every word, nearby drops the last word and answers (the
half-typed word of a search box); box and polygon search do not. Before, nothing in the
answer said so unless ``explain=true`` was asked: "cafe zzzqqq" answered cafés as if
"zzzqqq" had matched, while a box search with the same ``q`` answered nothing.
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
from geo_discovery.query import Filters

LAT, LNG = 60.1699, 24.9384
URL = "/v1/merchants/nearby"


@pytest.fixture(scope="module")
def client(sample_data_dir: Path) -> Iterator[TestClient]:
    with app_client(sample_data_dir) as c:
        yield c


def test_the_library_names_the_dropped_words_on_every_page(sample_engine: DiscoveryEngine) -> None:
    where = Filters(text="kahvila zzzqqq")
    first = sample_engine.nearby(LAT, LNG, 2, sort="best_match", where=where)
    assert len(first) == 2 and first.dropped_words == ("zzzqqq",)
    assert first.next_cursor is not None
    second = sample_engine.nearby(LAT, LNG, 2, sort="best_match", where=where,
                                  cursor=first.next_cursor)  # fmt: skip
    assert second.dropped_words == ("zzzqqq",) and second[:1].dropped_words == ("zzzqqq",)
    whole = sample_engine.nearby(LAT, LNG, 2, sort="best_match", where=Filters(text="kahvila"))
    assert whole.dropped_words == ()
    # dropping words that does not help drops none: 'kahvila' was said to be left out
    nothing = sample_engine.nearby(LAT, LNG, 2, where=Filters(text="zzqxw kahvila"))
    assert len(nothing) == 0 and nothing.dropped_words == ()
    assert sample_engine.nearby(LAT, LNG, 2).dropped_words == ()


@pytest.mark.parametrize("extra", [{}, {"fields": "merchant_id,name"}, {"format": "geojson"}])
def test_http_nearby_says_which_words_were_left_out(client: TestClient, extra: dict) -> None:
    """The plain GET (the fast lane's JSON), selected fields and GeoJSON (the route)."""
    params = {"lat": LAT, "lng": LNG, "sort": "distance", "limit": 3, **extra}
    fell_back = client.get(URL, params={**params, "q": "kahvila zzzqqq"})
    assert fell_back.status_code == 200, fell_back.text
    body = fell_back.json()
    assert body["dropped_words"] == ["zzzqqq"] and body["count"] == 3
    every = client.get(URL, params={**params, "q": "kahvila"}).json()
    assert "dropped_words" not in every  # absent when every word was used
    assert "dropped_words" not in client.get(URL, params=params).json()


def test_the_openapi_document_describes_dropped_words(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    field = spec["components"]["schemas"]["NearbyResponse"]["properties"]["dropped_words"]
    assert "left out" in field["description"]


def test_the_cli_notes_the_dropped_words(sample_data_dir: Path) -> None:
    got = CliRunner().invoke(app, ["query", "nearby", "--lat", str(LAT), "--lng", str(LNG),
                                   "--q", "kahvila zzzqqq", "-k", "2",
                                   "--data-dir", str(sample_data_dir)])  # fmt: skip
    assert got.exit_code == 0, got.output
    assert "note: no merchant matches every word of --q; left out: 'zzzqqq'" in got.stderr
