"""``POST /v1/merchants/search`` with polygons across the antimeridian, as map draw tools
send them (one ring whose edge jumps from 175 to -175): read the short way, as the box
``bbox=175,-20,-175,-10`` is, never as a band round the world.

Oracle: a brute-force point-in-polygon (even-odd ray casting, written here) of every
merchant against the ring unrolled round its centre, on a synthetic snapshot around ±180
(some merchants on ±180 itself) with decoys in South America and Africa, the latitudes
the long reading would catch.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from api_support import app_client
from fastapi.testclient import TestClient
from oracle import ray_cast_inside

FIJI = [[175, -20], [-175, -20], [-175, -10], [175, -10], [175, -20]]


def _wrap(lng: np.ndarray) -> np.ndarray:
    return (lng + 180.0) % 360.0 - 180.0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[float, float]]]:
    """A data dir of merchants round the antimeridian and decoys far from it, and each
    merchant's (lat, lng) by id."""
    from geo_discovery.settings import Settings
    from geo_discovery.snapshot.pipeline import load

    rng = np.random.default_rng(20)
    lat = rng.uniform(-30, 0, 1500).round(6)
    lng = _wrap(180 + rng.normal(0, 6, 1500)).round(6)
    lng[:30] = rng.choice([-180.0, 180.0], 30)  # on the antimeridian itself
    lat[-300:], lng[-300:] = rng.uniform(-30, 0, 300).round(6), rng.uniform(-60, 30, 300).round(6)
    folder = tmp_path_factory.mktemp("antimeridian")
    path = folder / "pois.csv"
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["osm_type", "osm_id", "name", "key", "value", "lat", "lon"])
        for i, (a, b) in enumerate(zip(lat, lng, strict=True)):
            out.writerow(["node", 1000 + i, f"Cafe {i}", "amenity", "cafe", a, b])
    data = folder / "data"
    load([path], data_dir=data, profile="osm_poi", settings=Settings(data_dir=data))
    pairs = enumerate(zip(lat.tolist(), lng.tolist(), strict=True))
    where = {f"osm:node/{1000 + i}": (a, b) for i, (a, b) in pairs}
    return data, where


@pytest.fixture(scope="module")
def client(world: tuple[Path, Any]) -> Iterator[TestClient]:
    with app_client(world[0]) as c:
        yield c


def _search(client: TestClient, body: Any) -> set[str]:
    found: set[str] = set()
    params: dict[str, Any] = {"limit": 1000, "fields": "lat"}
    while True:
        r = client.post("/v1/merchants/search", params=params, json=body)
        assert r.status_code == 200, r.text
        found |= {m["merchant_id"] for m in r.json()["results"]}
        if not r.json()["next_cursor"]:
            return found
        params["cursor"] = r.json()["next_cursor"]


def _oracle(
    where: dict[str, tuple[float, float]], unrolled: np.ndarray, centre_lng: float
) -> tuple[set[str], set[str]]:
    """(ids inside the unrolled ring, ids within 1e-7° of its boundary: either answer)."""
    ring = shapely.LinearRing(unrolled)
    inside, edge = set(), set()
    for mid, (lat, lng) in where.items():
        x = centre_lng + float(_wrap(np.array(lng - centre_lng)))
        if shapely.distance(ring, shapely.Point(x, lat)) < 1e-7:
            edge.add(mid)
        elif ray_cast_inside(unrolled, x, lat):
            inside.add(mid)
    return inside, edge


def test_the_reported_polygon_finds_fiji_not_brazil(client: TestClient, world: Any) -> None:
    _, where = world
    expected = {
        mid for mid, (lat, lng) in where.items() if -20 <= lat <= -10 and abs(lng) >= 175
    }
    assert len(expected) > 20 and any(abs(where[m][1]) == 180 for m in expected)
    got = _search(client, {"type": "Polygon", "coordinates": [FIJI]})
    assert got == expected
    r = client.get("/v1/merchants/search", params={"bbox": "175,-20,-175,-10", "limit": 1000})
    assert {m["merchant_id"] for m in r.json()["results"]} == expected
    halves = [
        [[[175, -20], [180, -20], [180, -10], [175, -10], [175, -20]]],
        [[[-180, -20], [-175, -20], [-175, -10], [-180, -10], [-180, -20]]],
    ]
    assert _search(client, {"type": "MultiPolygon", "coordinates": halves}) == expected
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": h}}
            for h in halves
        ],
    }
    assert _search(client, collection) == expected


@pytest.mark.parametrize("seed", range(12))
def test_drawn_polygons_match_ray_casting(client: TestClient, world: Any, seed: int) -> None:
    _, where = world
    rng = np.random.default_rng(seed)
    centre = (float(rng.uniform(-25, -5)), float(rng.uniform(172, 188)))
    n = int(rng.integers(4, 10))  # angular gaps under 180°: a simple star
    angles = (np.arange(n) + rng.uniform(0, 0.8, n)) * 2 * np.pi / n
    radii = float(rng.choice([1.0, 4.0, 12.0])) * rng.uniform(0.3, 1.0, n)
    ring = np.column_stack(
        [centre[1] + radii * np.cos(angles), centre[0] + 0.6 * radii * np.sin(angles)]
    )
    unrolled = np.vstack([ring, ring[:1]])
    written = np.column_stack([_wrap(unrolled[:, 0]), unrolled[:, 1]])
    inside, edge = _oracle(where, unrolled, centre[1])
    got = _search(client, {"type": "Polygon", "coordinates": [written.tolist()]})
    assert got - edge == inside


def test_a_polygon_wider_than_180_degrees_sent_without_long_edges(client: TestClient,
                                                                   world: Any) -> None:
    _, where = world
    band = [[-170, -20], [0, -20], [170, -20], [170, -10], [0, -10], [-170, -10], [-170, -20]]
    expected = {m for m, (lat, lng) in where.items() if -20 <= lat <= -10 and abs(lng) <= 170}
    assert _search(client, {"type": "Polygon", "coordinates": [band]}) == expected


def test_a_ring_round_a_pole_is_refused(client: TestClient) -> None:
    ring = [[0, -80], [100, -80], [-160, -80], [-60, -80], [0, -80]]
    r = client.post("/v1/merchants/search", json={"type": "Polygon", "coordinates": [ring]})
    assert r.status_code == 422
    assert "goes round the earth" in r.json()["detail"]
