"""A category filter that names no category of the snapshot is said in the answer
(``unknown_categories``), as the CLI notes it, not an empty page with no hint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import app_client
from fastapi.testclient import TestClient

NEARBY = "/v1/merchants/nearby"
CENTRE = {"lat": 60.17, "lng": 24.94}  # Helsinki: the bundled sample
BOX = {"bbox": "24.90,60.15,24.99,60.19"}
POLYGON = {
    "type": "Polygon",
    "coordinates": [[[24.9, 60.15], [24.99, 60.15], [24.99, 60.19], [24.9, 60.19], [24.9, 60.15]]],
}


@pytest.fixture(scope="module")
def client(sample_data_dir: Path) -> Iterator[TestClient]:
    with app_client(sample_data_dir) as c:
        yield c


def _known(client: TestClient) -> set[str]:
    return {c["path"] for c in client.get("/v1/categories").json()["categories"]}


@pytest.mark.parametrize("fmt", ["json", "geojson"])
@pytest.mark.parametrize("fields", [None, "merchant_id"])
def test_each_answer_names_the_category_filters_no_merchant_has(
    client: TestClient, fmt: str, fields: str | None
) -> None:
    known = _known(client)
    assert "food" in known and "dining_and_drinking" not in known and "foo" not in known
    extra = {"format": fmt, **({"fields": fields} if fields else {})}
    asked = {"categories": "dining_and_drinking,food", "exclude_categories": "foo", **extra}
    asks = [(NEARBY, {**CENTRE, **asked}), ("/v1/merchants/search", {**BOX, **asked})]
    for url, params in asks:
        body = client.get(url, params=params).json()
        assert sorted(body["unknown_categories"]) == ["dining_and_drinking", "foo"], (url, body)
        assert body["count"] > 0  # food still answers
        plain = client.get(url, params={**params, "categories": "food", "exclude_categories": ""})
        assert "unknown_categories" not in plain.json()  # absent when every one is known
    post = client.post(NEARBY, json={**CENTRE, "categories": ["zzz"], **extra}).json()
    assert post["unknown_categories"] == ["zzz"] and post["count"] == 0
    poly = client.post("/v1/merchants/search", params={"categories": "zzz", **extra},
                       json=POLYGON).json()  # fmt: skip
    assert poly["unknown_categories"] == ["zzz"] and poly["count"] == 0


def test_the_fast_lane_and_the_route_agree(client: TestClient) -> None:
    """The plain GET without gzip is the fast lane's, or the route's when it has filters:
    both name the unknown category the same way."""
    params = {**CENTRE, "categories": "nothing_here", "limit": 3}
    plain = client.get(NEARBY, params=params, headers={"Accept-Encoding": "identity"})
    zipped = client.get(NEARBY, params=params, headers={"Accept-Encoding": "gzip"})
    assert plain.json() == zipped.json()
    assert plain.json()["unknown_categories"] == ["nothing_here"]


def test_the_schema_documents_the_field(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("NearbyResponse", "SearchResponse"):
        assert "unknown_categories" in schemas[name]["properties"], name
