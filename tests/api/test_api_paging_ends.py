"""A next_cursor is set exactly when another page follows: a page that holds the last
matches has none, also when they fill it (a radius or filter holding exactly ``limit``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import app_client
from fastapi.testclient import TestClient

NEARBY = "/v1/merchants/nearby"
CENTRE = {"lat": 60.17, "lng": 24.94}  # Helsinki: the bundled sample
SORTS = ["distance", "best_match", "rating", "review_count", "price"]


@pytest.fixture(scope="module")
def client(sample_data_dir: Path) -> Iterator[TestClient]:
    with app_client(sample_data_dir) as c:
        yield c


def _radius_holding(client: TestClient, n: int, **params: object) -> float:
    """A radius holding exactly the ``n`` nearest matches (midway to the next one)."""
    r = client.get(NEARBY, params={**CENTRE, "limit": n + 1, "sort": "distance", **params})
    assert r.status_code == 200, r.text
    d = [hit["distance_m"] for hit in r.json()["results"]]
    assert len(d) == n + 1 and d[n - 1] < d[n]  # no tie at the edge
    return (d[n - 1] + d[n]) / 2


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("n", [1, 7])
def test_a_radius_holding_exactly_limit_matches_has_no_cursor(
    client: TestClient, sort: str, n: int
) -> None:
    radius = _radius_holding(client, n)
    params = {**CENTRE, "radius_m": radius, "sort": sort}
    full = client.get(NEARBY, params={**params, "limit": n})
    assert full.status_code == 200, full.text
    assert full.json()["count"] == n and full.json()["next_cursor"] is None
    # one match fewer than the page: a cursor, and its page holds the last match alone
    first = client.get(NEARBY, params={**params, "limit": n - 1 or 1}).json()
    if n > 1:
        assert first["next_cursor"] is not None
        rest = client.get(NEARBY, params={**params, "limit": n - 1,
                                          "cursor": first["next_cursor"]}).json()  # fmt: skip
        assert rest["count"] == 1 and rest["next_cursor"] is None


def test_filtered_pages_end_without_an_empty_page(client: TestClient) -> None:
    """A category filter and a radius: walking pages of 3 never meets an empty page."""
    radius = _radius_holding(client, 9, categories="food")
    params = {**CENTRE, "radius_m": radius, "categories": "food", "limit": 3}
    for sort in SORTS:
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            more = {"cursor": cursor} if cursor else {}
            page = client.get(NEARBY, params={**params, "sort": sort, **more}).json()
            assert page["count"] > 0, sort
            seen += [hit["merchant_id"] for hit in page["results"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 9, sort
