"""``POST /v1/merchants/search`` bodies as map draw tools send them: Feature and
FeatureCollection (the union of its polygons; a clear 422 for anything else), a
MultiPolygon whose parts overlap or share an edge (their union; an invalid part named),
coordinates that are not JSON numbers (refused), a ``crs`` member (WGS84 honoured,
anything else refused), and polygons or boxes given in (lat, lng) order (a 422 whose
message says so).

Over the bundled Helsinki sample (no real data needed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import app_client
from fastapi.testclient import TestClient

WEST = [[24.93, 60.16], [24.94, 60.16], [24.94, 60.17], [24.93, 60.17], [24.93, 60.16]]
EAST = [[24.95, 60.16], [24.96, 60.16], [24.96, 60.17], [24.95, 60.17], [24.95, 60.16]]


def polygon(ring: list[list[float]], **extra: Any) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring], **extra}


def feature(geometry: dict[str, Any] | None) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"drawn": True}}


@pytest.fixture(scope="module")
def client(sample_data_dir: Path) -> Iterator[TestClient]:
    with app_client(sample_data_dir) as c:
        yield c


def ids(client: TestClient, body: Any) -> set[str]:
    r = client.post("/v1/merchants/search", params={"limit": 1000}, json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["count"] == out["total"]
    return {m["merchant_id"] for m in out["results"]}


def refusal(client: TestClient, body: Any) -> str:
    r = client.post("/v1/merchants/search", json=body)
    assert r.status_code == 422, r.text
    return str(r.json()["detail"])


def test_feature_and_collection_search_the_union(client: TestClient) -> None:
    west, east = ids(client, polygon(WEST)), ids(client, polygon(EAST))
    assert west and east and not west & east
    assert ids(client, feature(polygon(WEST))) == west
    collection = {"type": "FeatureCollection", "features": [feature(polygon(WEST))]}
    assert ids(client, collection) == west
    collection["features"].append(feature(polygon(EAST)))
    assert ids(client, collection) == west | east
    multi = {"type": "MultiPolygon", "coordinates": [[WEST], [EAST]]}
    assert ids(client, feature(multi)) == west | east


@pytest.mark.parametrize(
    ("geometry", "detail"),
    [
        ({"type": "Point", "coordinates": [24.94, 60.17]}, "features[1]: polygon type 'Point'"),
        ({"type": "LineString", "coordinates": [[24.9, 60.1], [25, 60.2]]}, "'LineString'"),
        (None, "features[1]: polygon Feature has no geometry"),
    ],
)
def test_collection_with_a_non_polygon_is_refused(
    client: TestClient, geometry: dict[str, Any] | None, detail: str
) -> None:
    body = {"type": "FeatureCollection", "features": [feature(polygon(WEST)), feature(geometry)]}
    message = refusal(client, body)
    assert detail in message and "allowed: " in message and "Polygon" in message


def test_empty_collection_is_refused(client: TestClient) -> None:
    r = client.post("/v1/merchants/search", json={"type": "FeatureCollection", "features": []})
    assert r.status_code == 422


@pytest.mark.parametrize(
    "name",
    [
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "urn:ogc:def:crs:OGC::CRS84",
        "urn:ogc:def:crs:EPSG::4326",
        "urn:ogc:def:crs:EPSG:6.6:4326",
        "EPSG:4326",
        "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
    ],
)
def test_wgs84_crs_is_honoured(client: TestClient, name: str) -> None:
    crs = {"type": "name", "properties": {"name": name}}
    expected = ids(client, polygon(WEST))
    assert ids(client, polygon(WEST, crs=crs)) == expected
    collection = {"type": "FeatureCollection", "features": [feature(polygon(WEST))], "crs": crs}
    assert ids(client, collection) == expected


@pytest.mark.parametrize("name", ["EPSG:3857", "urn:ogc:def:crs:EPSG::3067", "EPSG:43260"])
def test_other_crs_is_refused(client: TestClient, name: str) -> None:
    crs = {"type": "name", "properties": {"name": name}}
    for body in (polygon(WEST, crs=crs), {**feature(polygon(WEST)), "crs": crs}):
        message = refusal(client, body)
        assert f"polygon crs '{name}' is not allowed" in message
        assert "reproject to EPSG:4326" in message


def test_lat_lng_order_gets_a_hint(client: TestClient) -> None:
    swapped = [[lat, lng] for lng, lat in WEST]  # in range, but off the data
    message = refusal(client, polygon(swapped))
    assert "look like (lat, lng)" in message and "lies outside the data" in message
    message = refusal(client, feature(polygon([[lat, lng] for lng, lat in WEST])))
    assert "look like (lat, lng)" in message


def test_lat_lng_order_beyond_90_gets_a_hint(client: TestClient) -> None:
    ring = [[35.68, 139.70], [35.68, 139.71], [35.69, 139.71], [35.69, 139.70], [35.68, 139.70]]
    message = refusal(client, polygon(ring))
    assert "look like (lat, lng)" in message and "-90 <= lat <= 90" in message


def test_empty_area_without_a_mirror_is_an_empty_answer(client: TestClient) -> None:
    far = [[10.0, 10.0], [10.1, 10.0], [10.1, 10.1], [10.0, 10.1], [10.0, 10.0]]
    assert ids(client, polygon(far)) == set()


# ---------------------------------------------------------------- JSON numbers only
@pytest.mark.parametrize("bad", [True, "1", None, False, [1]])
def test_coordinates_must_be_json_numbers(client: TestClient, bad: Any) -> None:
    ring: list[list[Any]] = [[bad, 60.16], *WEST[1:-1], [bad, 60.16]]
    message = refusal(client, polygon(ring))
    assert "body.Polygon.coordinates.0.0.0=" in message, message
    multi = {"type": "MultiPolygon", "coordinates": [[EAST], [ring]]}
    message = refusal(client, multi)
    assert "body.MultiPolygon.coordinates.1.0.0.0=" in message, message
    message = refusal(client, feature(polygon(ring)))
    assert "body.Feature.geometry.Polygon.coordinates.0.0.0=" in message, message
    assert "is not a number; allowed: JSON numbers" in message


def test_boolean_and_text_coordinates_say_what_is_allowed(client: TestClient) -> None:
    body = {"type": "Polygon", "coordinates": [[[True, 2], [2, 2], [2, 3], [True, 2]]]}
    r = client.post("/v1/merchants/search", json=body)
    assert r.status_code == 422
    error = r.json()["errors"][0]
    assert error["parameter"] == "body.Polygon.coordinates.0.0.0" and error["value"] is True
    assert error["message"] == (
        "body.Polygon.coordinates.0.0.0=true is not a number; allowed: JSON numbers "
        "(GeoJSON positions are [lng, lat])"
    )
    body["coordinates"] = [[["1", 2], [2, 2], [2, 3], ["1", 2]]]
    detail = refusal(client, body)
    assert 'body.Polygon.coordinates.0.0.0="1" is not a number' in detail
    collection = {"type": "FeatureCollection", "features": [feature(body)]}
    detail = refusal(client, collection)  # geometry read by the library: named there too
    assert 'features[0]: polygon coordinates[0][0][0]="1" is not a number' in detail


# ----------------------------------------------------- MultiPolygon: the union
MIDDLE = [[24.935, 60.165], [24.945, 60.165], [24.945, 60.175], [24.935, 60.175], [24.935, 60.165]]
BESIDE = [[24.94, 60.16], [24.95, 60.16], [24.95, 60.17], [24.94, 60.17], [24.94, 60.16]]
BOWTIE = [[24.93, 60.16], [24.94, 60.17], [24.94, 60.16], [24.93, 60.17], [24.93, 60.16]]


@pytest.mark.parametrize("other", [MIDDLE, BESIDE], ids=["overlapping", "sharing-an-edge"])
def test_multipolygon_parts_that_touch_are_unioned(
    client: TestClient, other: list[list[float]]
) -> None:
    west, rest = ids(client, polygon(WEST)), ids(client, polygon(other))
    assert west and rest and west != rest
    multi = {"type": "MultiPolygon", "coordinates": [[WEST], [other]]}
    collection = {"type": "FeatureCollection", "features": [feature(polygon(WEST)),
                                                            feature(polygon(other))]}
    assert ids(client, multi) == ids(client, collection) == west | rest
    assert ids(client, feature(multi)) == west | rest


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"type": "MultiPolygon", "coordinates": [[WEST], [BOWTIE]]}, "at coordinates[1]"),
        (feature({"type": "MultiPolygon", "coordinates": [[BOWTIE], [EAST]]}),
         "at geometry.coordinates[0]"),
        ({"type": "FeatureCollection", "features": [feature(polygon(WEST)),
                                                    feature(polygon(BOWTIE))]},
         "at features[1]"),  # was a 500 (GEOS TopologyException on the union)
    ],
)
def test_an_invalid_part_is_named(client: TestClient, body: dict[str, Any], where: str) -> None:
    message = refusal(client, body)
    assert message.startswith(f"polygon is invalid {where}: Self-intersection"), message
    assert "their union is searched" in message


# --------------------------------------------------------- boxes as (lat, lng)
SWAPPED_BOX = "60.16,24.93,60.17,24.94"  # south,west,north,east: WEST's box in (lat, lng)


@pytest.mark.parametrize(
    ("path", "extra"),
    [("/v1/merchants/search", {}), ("/v1/districts", {})],
)
def test_box_in_lat_lng_order_gets_a_hint(
    client: TestClient, path: str, extra: dict[str, Any]
) -> None:
    r = client.get(path, params={"bbox": SWAPPED_BOX, **extra})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["detail"].startswith(f"bbox={SWAPPED_BOX} holds nothing: ")
    assert "the numbers look like (lat, lng)" in body["detail"]
    assert "e.g. 24.93,60.16,24.94,60.17" in body["detail"]
    assert body["errors"][0]["parameter"] == "bbox" and body["errors"][0]["value"] == SWAPPED_BOX
    r = client.get(path, params={"bbox": "24.93,60.16,24.94,60.17", **extra})
    assert r.status_code == 200, r.text


def test_box_hint_matches_the_polygon_hint(client: TestClient) -> None:
    r = client.get("/v1/merchants/search", params={"bbox": "24.93,60.16,24.94,60.17",
                                                   "limit": 1000})
    assert {m["merchant_id"] for m in r.json()["results"]} == ids(client, polygon(WEST))
    swapped = [[lat, lng] for lng, lat in WEST]
    assert "look like (lat, lng)" in refusal(client, polygon(swapped))


@pytest.mark.parametrize(
    "box", ["10,10,10.1,10.1", "24.955,60.16,24.99,60.17", SWAPPED_BOX]
)
def test_empty_box_without_a_mirror_is_an_empty_answer(client: TestClient, box: str) -> None:
    """(A map's heat layer asks /v1/aggregate for its view, which may lie anywhere: an
    aggregate box is never refused for being empty.)"""
    r = client.get("/v1/aggregate", params={"bbox": box, "resolution": 8})
    assert r.status_code == 200 and r.json()["total"] == 0
    if box == SWAPPED_BOX:
        return
    r = client.get("/v1/merchants/search", params={"bbox": box})
    assert r.status_code == 200 and r.json()["total"] == 0
    r = client.get("/v1/aggregate", params={"bbox": box, "resolution": 8})
    assert r.status_code == 200 and r.json()["total"] == 0
