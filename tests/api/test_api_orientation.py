"""RFC 7946 §3.1.6 ring orientation of every GeoJSON polygon the API writes: exterior
rings counter-clockwise, holes clockwise (districts, catchment trade areas and cell
hexagons, aggregate hexagons), and the one helper that orients them
(:func:`geo_discovery.cellsets.rfc7946_oriented`) against shapely's signed area.

Vector tiles keep MVT's own rule (exterior clockwise in y-down tile coordinates):
``tests/tiles`` checks that.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import shapely
from api_support import app_client
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from geo_discovery.cellsets import cells_geojson, geojson_geometry, rfc7946_oriented


def _signed_area(ring: list[Any]) -> float:
    """Shoelace: positive for a counter-clockwise ring in (x=lng, y=lat)."""
    return 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0, *_), (x1, y1, *_) in pairwise(ring))


def assert_rfc7946(geometry: dict[str, Any]) -> int:
    """Every ring of a (Multi)Polygon GeoJSON geometry is oriented per RFC 7946; returns
    the number of rings checked."""
    kind = geometry["type"]
    assert kind in ("Polygon", "MultiPolygon"), kind
    polygons = [geometry["coordinates"]] if kind == "Polygon" else geometry["coordinates"]
    checked = 0
    for rings in polygons:
        assert _signed_area(rings[0]) > 0, "exterior ring is not counter-clockwise"
        for hole in rings[1:]:
            assert _signed_area(hole) < 0, "hole is not clockwise"
        checked += len(rings)
    return checked


@pytest.fixture(scope="module")
def client(sample_data_dir: Path) -> Iterator[TestClient]:
    with app_client(sample_data_dir) as c:
        yield c


def test_district_polygons(client: TestClient) -> None:
    r = client.get("/v1/districts", params={"format": "geojson"})
    assert r.status_code == 200
    features = r.json()["features"]
    assert features
    for feature in features:
        assert_rfc7946(feature["geometry"])
        one = client.get(f"/v1/districts/{feature['properties']['district_id']}")
        assert_rfc7946(one.json()["geometry"])


def test_catchment_trade_areas_and_cells(client: TestClient) -> None:
    district_id = client.get("/v1/districts").json()["districts"][0]["district_id"]
    url = f"/v1/districts/{district_id}/catchment"
    body = client.get(url).json()
    assert body["trade_areas"]
    for area in body["trade_areas"]:
        assert_rfc7946(area["geometry"])
    features = client.get(url, params={"format": "geojson"}).json()["features"]
    layers = {f["properties"]["layer"] for f in features}
    assert "cell" in layers and "primary" in layers
    for feature in features:
        assert_rfc7946(feature["geometry"])


def test_aggregate_hexagons(client: TestClient) -> None:
    r = client.get(
        "/v1/aggregate",
        params={"bbox": "24.8,60.1,25.1,60.3", "resolution": "9", "format": "geojson"},
    )
    assert r.status_code == 200
    features = r.json()["features"]
    assert len(features) > 10
    for feature in features:
        assert assert_rfc7946(feature["geometry"]) == 1


coords = st.floats(-170, 170, allow_nan=False)


@given(
    x=coords,
    y=st.floats(-80, 80, allow_nan=False),
    w=st.floats(0.01, 5),
    h=st.floats(0.01, 5),
    flip_outer=st.booleans(),
    flip_hole=st.booleans(),
    multi=st.booleans(),
)
def test_helper_orients_any_winding(
    x: float, y: float, w: float, h: float, flip_outer: bool, flip_hole: bool, multi: bool
) -> None:
    outer = [(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)]
    hole = [
        (x + w / 4, y + h / 4),
        (x + w / 4, y + h / 2),
        (x + w / 2, y + h / 2),
        (x + w / 4, y + h / 4),
    ]
    if flip_outer:
        outer.reverse()
    if flip_hole:
        hole.reverse()
    polygon = shapely.Polygon(outer, [hole])
    shape = (
        shapely.MultiPolygon([polygon, shapely.box(x - 20, y, x - 10, y + 1)]) if multi else polygon
    )
    out = geojson_geometry(shape)
    assert assert_rfc7946(out) == (3 if multi else 2)
    assert shapely.geometry.shape(out).equals(shape)  # the same points, only reordered
    assert rfc7946_oriented(shape).equals(shape)


def test_hexagons_without_cells() -> None:
    assert cells_geojson([]) == []
