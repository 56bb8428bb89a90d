"""Box and polygon search: ``sort`` and a cursor that walks every match exactly once.

Oracle: brute force over the table (box or polygon containment per point, exact
haversine metres from the origin), sorted by the documented key — the sort's primary
(higher first, unknown last), metres, ``merchant_id`` — against the concatenation of a
walk of pages (hypothesis: areas, origins, sorts, page sizes; ties, poles and the
antimeridian on synthetic tables), then the same through the HTTP API.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import shapely
from api_support import app_client
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_discovery.distance import haversine_m
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import InvalidCursorError, InvalidQueryError
from geo_discovery.results import Results
from geo_discovery.settings import Settings

SORTS = ("distance", "rating", "review_count", "price")


def _table(lat: np.ndarray, lng: np.ndarray, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = len(lat)
    ids = [f"m{i:04d}" for i in rng.permutation(n)]
    rating = rng.choice([np.nan, 3.0, 4.0, 4.5, 5.0], n)  # few values: many ties
    reviews = rng.choice([np.nan, 0, 10, 100], n)
    price = rng.choice([np.nan, 1, 2, 3], n)
    return pa.table(
        {
            "merchant_id": ids,
            "name": ids,
            "lat": lat,
            "lng": lng,
            "category": rng.choice(["food/cafe", "retail/books"], n).tolist(),
            "rating": pa.array(rating, mask=np.isnan(rating)),
            "rating_scale": pa.array(np.full(n, 5.0)),
            "review_count": pa.array(reviews, mask=np.isnan(reviews)),
            "price_level": pa.array(price, mask=np.isnan(price)),
        }
    )


def _synthetic(centre: tuple[float, float], spread: float, seed: int) -> DiscoveryEngine:
    rng = np.random.default_rng(seed)
    n = 400
    lat = np.clip(centre[0] + rng.normal(0, spread, n), -90, 90)
    lng = centre[1] + rng.normal(0, spread, n)
    lng = (lng + 180) % 360 - 180
    lat[:40], lng[:40] = lat[40:80], lng[40:80]  # duplicate points: distance ties
    return DiscoveryEngine.from_table(_table(lat, lng, seed), settings=Settings())


ENGINES = {
    "helsinki": ((60.17, 24.94), 0.02),
    "antimeridian": ((-16.5, 179.9), 0.2),
    "north_pole": ((89.9, 0.0), 0.05),
}


@pytest.fixture(scope="module")
def engines() -> dict[str, DiscoveryEngine]:
    return {name: _synthetic(c, s, i) for i, (name, (c, s)) in enumerate(ENGINES.items())}


def _primary(engine: DiscoveryEngine, rows: np.ndarray, sort: str) -> np.ndarray:
    table = engine.snapshot.merchants
    if sort == "distance":
        return np.zeros(len(rows))
    column = {"rating": "rating", "review_count": "review_count", "price": "price_level"}[sort]
    values = np.asarray(table.column(column).to_numpy(zero_copy_only=False), dtype=float)[rows]
    values = -values if sort == "price" else values
    return np.where(np.isnan(values), -np.inf, values)


def _oracle(
    engine: DiscoveryEngine, inside: np.ndarray, origin: tuple[float, float], sort: str
) -> list[tuple[str, float]]:
    rows = np.flatnonzero(inside)
    table = engine.snapshot.merchants
    lat = np.asarray(table.column("lat"))[rows]
    lng = np.asarray(table.column("lng"))[rows]
    ids = [str(table.column("merchant_id")[int(r)]) for r in rows]
    dist = haversine_m(origin[0], origin[1], lat, lng)
    prim = _primary(engine, rows, sort)
    order = sorted(range(len(rows)), key=lambda i: (-prim[i], dist[i], ids[i]))
    return [(ids[i], float(dist[i])) for i in order]


def _walk(search: Any, limit: int) -> tuple[list[tuple[str, float]], list[Results]]:
    pages: list[Results] = []
    cursor = None
    while True:
        page = search(limit=limit, cursor=cursor)
        pages.append(page)
        assert len(page) <= limit
        cursor = page.next_cursor
        if cursor is None:
            break
        assert len(page) == limit
        assert len(pages) < 1000
    hits = [
        (m, float(d)) for p in pages for m, d in zip(p.merchant_ids, p.distances_m, strict=True)
    ]
    return hits, pages


def _same(walk: list[tuple[str, float]], oracle: list[tuple[str, float]]) -> None:
    assert [m for m, _ in walk] == [m for m, _ in oracle]
    for (_, got), (_, want) in zip(walk, oracle, strict=True):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-6)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    name=st.sampled_from(sorted(ENGINES)),
    dx=st.floats(-1, 1),
    dy=st.floats(-1, 1),
    w=st.floats(0.05, 2.5),
    h=st.floats(0.05, 2.5),
    sort=st.sampled_from(SORTS),
    limit=st.integers(1, 60),
    use_origin=st.booleans(),
    ox=st.floats(-1, 1),
    oy=st.floats(-1, 1),
)
def test_box_walk_matches_brute_force(
    engines: dict[str, DiscoveryEngine],
    name: str,
    dx: float,
    dy: float,
    w: float,
    h: float,
    sort: str,
    limit: int,
    use_origin: bool,
    ox: float,
    oy: float,
) -> None:
    engine = engines[name]
    (clat, clng), spread = ENGINES[name]
    south = min(90.0, max(-90.0, clat + (dy - h / 2) * 3 * spread))  # a box past a pole
    north = max(-90.0, min(90.0, clat + (dy + h / 2) * 3 * spread))  # is clipped to it
    west = (clng + (dx - w / 2) * 3 * spread + 180) % 360 - 180
    east = (clng + (dx + w / 2) * 3 * spread + 180) % 360 - 180
    origin = (
        (min(90.0, max(-90.0, clat + oy * spread)), (clng + ox * spread + 180) % 360 - 180)
        if use_origin
        else None
    )
    table = engine.snapshot.merchants
    lat, lng = np.asarray(table.column("lat")), np.asarray(table.column("lng"))
    in_lng = (lng >= west) & (lng <= east) if west <= east else (lng >= west) | (lng <= east)
    inside = (lat >= south) & (lat <= north) & in_lng
    box = (west, south, east, north)

    def search(**kw: Any) -> Results:
        return engine.within_bbox(box, origin=origin, sort=sort, **kw)

    walk, pages = _walk(search, limit)
    _same(walk, _oracle(engine, inside, origin or _box_centre(box), sort))
    assert all(p.total == int(inside.sum()) for p in pages)


def _box_centre(box: tuple[float, float, float, float]) -> tuple[float, float]:
    """The documented default origin: the box centre (across the antimeridian too)."""
    west, south, east, north = box
    width = (east - west) % 360 if west > east else east - west
    return ((south + north) / 2, (west + width / 2 + 180) % 360 - 180)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    angle=st.floats(0, 6.28),
    r=st.floats(0.005, 0.04),
    n=st.integers(3, 9),
    sort=st.sampled_from(SORTS),
    limit=st.integers(1, 50),
)
def test_polygon_walk_matches_brute_force(
    engines: dict[str, DiscoveryEngine], angle: float, r: float, n: int, sort: str, limit: int
) -> None:
    engine = engines["helsinki"]
    clat, clng = 60.17, 24.94
    ring = [
        (
            clng + r * 2 * math.cos(angle + 2 * math.pi * i / n),
            clat + r * math.sin(angle + 2 * math.pi * i / n),
        )
        for i in range(n)
    ]
    geom = shapely.Polygon(ring)
    table = engine.snapshot.merchants
    lat, lng = np.asarray(table.column("lat")), np.asarray(table.column("lng"))
    inside = np.asarray(shapely.intersects_xy(geom, lng, lat))
    origin = (clat, clng)

    def search(**kw: Any) -> Results:
        return engine.within_polygon(geom, origin=origin, sort=sort, **kw)

    walk, _ = _walk(search, limit)
    _same(walk, _oracle(engine, inside, origin, sort))


def test_cursor_is_bound_to_its_search(engines: dict[str, DiscoveryEngine]) -> None:
    engine = engines["helsinki"]
    box = (24.90, 60.15, 24.98, 60.19)
    page = engine.within_bbox(box, limit=5, sort="rating")
    assert page.next_cursor is not None
    with pytest.raises(InvalidCursorError, match="different query"):
        engine.within_bbox(box, limit=5, sort="price", cursor=page.next_cursor)
    with pytest.raises(InvalidCursorError, match="different query"):
        engine.within_bbox(
            (24.90, 60.15, 24.99, 60.19), limit=5, sort="rating", cursor=page.next_cursor
        )
    with pytest.raises(InvalidCursorError):
        engine.within_bbox(box, limit=5, sort="rating", cursor=page.next_cursor[:-3] + "abc")
    with pytest.raises(InvalidQueryError, match="sort='best_match' is not allowed"):
        engine.within_bbox(box, sort="best_match")


# ------------------------------------------------------------------------------- API
@pytest.fixture(scope="module")
def client(sample_data_dir: Path) -> Iterator[TestClient]:
    with app_client(sample_data_dir) as c:
        yield c


def _api_walk(
    client: TestClient, method: str, params: dict[str, Any], body: Any = None
) -> list[str]:
    ids: list[str] = []
    cursor = None
    total = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        r = client.request(method, "/v1/merchants/search", params=query, json=body)
        assert r.status_code == 200, r.text
        out = r.json()
        total = out["total"] if total is None else total
        assert out["total"] == total
        ids += [m["merchant_id"] for m in out["results"]]
        cursor = out["next_cursor"]
        assert out["truncated"] == (cursor is not None)
        if cursor is None:
            return ids


@pytest.mark.parametrize("sort", SORTS)
def test_api_box_and_polygon_walks(
    client: TestClient, sample_engine: DiscoveryEngine, sort: str
) -> None:
    bbox = "24.93,60.16,24.96,60.18"
    everything = sample_engine.within_bbox(bbox, sort=sort)
    assert everything.total > 100
    walk = _api_walk(client, "GET", {"bbox": bbox, "sort": sort, "limit": 37})
    assert walk == everything.merchant_ids
    assert len(set(walk)) == everything.total
    ring = [[24.93, 60.16], [24.96, 60.16], [24.96, 60.18], [24.93, 60.18], [24.93, 60.16]]
    polygon = {"type": "Polygon", "coordinates": [ring]}
    walk = _api_walk(client, "POST", {"sort": sort, "limit": 41}, polygon)
    assert sorted(walk) == sorted(everything.merchant_ids)


def test_api_refuses_other_sorts_and_foreign_cursors(client: TestClient) -> None:
    bbox = "24.93,60.16,24.96,60.18"
    r = client.get("/v1/merchants/search", params={"bbox": bbox, "sort": "best_match"})
    assert r.status_code == 422
    first = client.get("/v1/merchants/search", params={"bbox": bbox, "limit": 5}).json()
    r = client.get(
        "/v1/merchants/search",
        params={"bbox": bbox, "limit": 5, "sort": "rating", "cursor": first["next_cursor"]},
    )
    assert r.status_code == 422 and "different query" in r.json()["detail"]
