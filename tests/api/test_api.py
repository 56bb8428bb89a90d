"""The HTTP API over real NYC data: every endpoint, every error class, caching, metrics.

Answers are checked against the engine (itself checked against brute force in
test_index.py) and against plain geometry (points inside the box / polygon).
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
from api_support import TIMES_SQUARE
from fastapi.testclient import TestClient

from geo_discovery import cells
from geo_discovery.districts.detect import Districts
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import DistrictNotFoundError, InvalidQueryError
from geo_discovery.query import Filters
from geo_discovery.settings import Settings
from geo_discovery.snapshot.rows import HIT_FIELDS
from geo_discovery_api import create_app

pytestmark = pytest.mark.real_data

LAT, LNG = TIMES_SQUARE
MIDTOWN_BBOX = "-73.9950,40.7500,-73.9750,40.7650"
SQUARE = [
    [-73.9900, 40.7540],
    [-73.9800, 40.7540],
    [-73.9800, 40.7620],
    [-73.9900, 40.7620],
    [-73.9900, 40.7540],
]


@pytest.fixture(scope="module")
def data_dir(nyc_data_dir: Path) -> Path:
    return nyc_data_dir


@pytest.fixture(scope="module")
def engine(nyc_engine: DiscoveryEngine) -> DiscoveryEngine:
    return nyc_engine


def _client(data_dir: Path, **overrides: Any) -> TestClient:
    settings = Settings(data_dir=data_dir, api_reload_interval_ms=0, **overrides)
    return TestClient(create_app(settings, data_dir))


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    with _client(data_dir, api_admin_key="s3cret") as c:
        yield c


def nearby(client: TestClient, **params: Any) -> Any:
    r = client.get("/v1/merchants/nearby", params={"lat": LAT, "lng": LNG, **params})
    assert r.status_code == 200, r.text
    return r.json()


# --------------------------------------------------------------------------- nearby
def test_nearby_equals_the_engine(client: TestClient, engine: DiscoveryEngine) -> None:
    body = nearby(client, limit=25)  # the API's default order is best_match
    expected = engine.nearby(LAT, LNG, 25, sort="best_match")
    assert expected.scores is not None
    assert [h["score"] for h in body["results"]] == pytest.approx(expected.scores.tolist())
    knn = nearby(client, limit=25, sort="distance")
    assert [h["merchant_id"] for h in knn["results"]] == engine.nearby(LAT, LNG, 25).merchant_ids
    assert body["snapshot"] == engine.version
    assert body["count"] == 25
    assert [h["merchant_id"] for h in body["results"]] == expected.merchant_ids
    assert [h["distance_m"] for h in body["results"]] == pytest.approx(
        expected.distances_m.tolist(), abs=1e-9
    )


def test_nearby_records_match_hit_to_dict(client: TestClient, engine: DiscoveryEngine) -> None:
    # Near the Lower East Side: Airbnb listings with review dates, DOHMH grades, stores.
    body = nearby(client, lat=40.7193, lng=-73.9897, limit=60, sort="distance")
    expected = [_json_roundtrip(h) for h in engine.nearby(40.7193, -73.9897, 60).to_records()]
    assert body["results"] == expected
    assert tuple(body["results"][0]) == HIT_FIELDS
    assert any(h["last_review"] for h in body["results"]), "the sample should hold review dates"
    assert {h["source"] for h in body["results"]} >= {"airbnb", "nys_retail_food"}


def _json_roundtrip(record: dict[str, Any]) -> dict[str, Any]:
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()}


def test_nearby_default_limit_is_the_setting(client: TestClient) -> None:
    assert nearby(client)["count"] == 20


def test_nearby_radius(client: TestClient, engine: DiscoveryEngine) -> None:
    body = nearby(client, limit=1000, radius_m=150)
    assert 0 < body["count"] < 1000
    assert all(h["distance_m"] <= 150 for h in body["results"])
    assert body["count"] == len(engine.within_radius(LAT, LNG, 150))


def test_nearby_categories(client: TestClient) -> None:
    body = nearby(client, limit=50, categories="food/grocery")
    assert body["count"] == 50
    assert all(h["category"].startswith("food/grocery") for h in body["results"])
    body = nearby(client, limit=50, exclude_categories="food,lodging")
    assert all(not h["category"].startswith(("food/", "lodging/")) for h in body["results"])
    body = nearby(client, limit=50, categories="food/grocery,food/restaurant")
    tops = {"/".join(h["category"].split("/")[:2]) for h in body["results"]}
    assert tops <= {"food/grocery", "food/restaurant"}


@pytest.mark.parametrize(
    "path",
    ["/v1/merchants/nearby", "/v1/merchants/search", "/v1/tiles.json"],
)
def test_an_empty_list_is_no_list_as_an_empty_q_is_no_text(client: TestClient, path: str) -> None:
    """A form with a blank box sends categories= (and q=, fields=): categories= was a 422
    while q= and fields= were taken as absent."""
    point = {"/v1/merchants/nearby": {"lat": LAT, "lng": LNG},
             "/v1/merchants/search": {"bbox": "-74.1,40.6,-73.8,40.9"}}.get(path, {})
    plain = client.get(path, params=point)
    for blank in ("categories", "exclude_categories", "fields", "q"):
        if "tiles" in path and blank == "fields":
            continue
        r = client.get(path, params={**point, blank: ""})
        assert r.status_code == 200, (blank, r.text)
        assert r.json().get("results") == plain.json().get("results"), blank


def test_nearby_geojson(client: TestClient) -> None:
    r = client.get("/v1/merchants/nearby", params={"lat": LAT, "lng": LNG, "format": "geojson"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 20
    plain = nearby(client)["results"]
    for feature, hit in zip(fc["features"], plain, strict=True):
        assert feature["id"] == hit["merchant_id"]
        assert feature["geometry"] == {"type": "Point", "coordinates": [hit["lng"], hit["lat"]]}
        assert "lat" not in feature["properties"] and "lng" not in feature["properties"]
        assert feature["properties"]["distance_m"] == hit["distance_m"]


def test_fields_selects_output(client: TestClient) -> None:
    body = nearby(client, fields="name,distance_m")
    assert all(set(h) == {"merchant_id", "name", "distance_m"} for h in body["results"])
    r = client.get(
        "/v1/merchants/nearby",
        params={"lat": LAT, "lng": LNG, "fields": "category", "format": "geojson"},
    )
    feature = r.json()["features"][0]
    assert set(feature["properties"]) == {"merchant_id", "category"}
    assert len(feature["geometry"]["coordinates"]) == 2


def test_nearby_empty_answer_far_from_data(client: TestClient) -> None:
    body = nearby(client, lat=-45.0, lng=170.0, radius_m=1000)
    assert body == {"snapshot": body["snapshot"], "count": 0, "next_cursor": None, "results": []}


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "best_match"},
        {"sort": "rating", "min_rating": 3.5},
        {"sort": "review_count", "min_reviews": 5},
        {"sort": "price", "min_price": 1, "max_price": 2},
        {"sort": "distance", "exclude_chains": True, "categories": "food"},
        {"sort": "best_match", "exclude_brands": "Duane Reade,Starbucks", "radius_m": 2000},
        {"open_at": "2024-07-15T18:30:00-04:00"},
        {"open_now": True, "radius_m": 5000},
    ],
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()),
)
def test_nearby_ranking_and_filters_equal_the_engine(
    client: TestClient, engine: DiscoveryEngine, params: dict[str, Any]
) -> None:
    body = nearby(client, limit=30, **params)
    filters = {k: v for k, v in params.items() if k not in ("sort", "radius_m")}
    sort = params.get("sort", "best_match")  # the API's default order
    expected = engine.nearby(
        LAT, LNG, 30, sort=sort, radius_m=params.get("radius_m"), where=Filters(**filters)
    )
    assert [h["merchant_id"] for h in body["results"]] == expected.merchant_ids
    if sort == "best_match":
        assert expected.scores is not None
        assert [h["score"] for h in body["results"]] == pytest.approx(expected.scores.tolist())
    else:
        assert all("score" not in h for h in body["results"])


def test_nearby_district_filter_follows_the_engine(
    client: TestClient, engine: DiscoveryEngine
) -> None:
    """422 while the snapshot has no districts, 404 for an unknown one; the engine's
    answer for known ones."""
    ids = engine.snapshot.require_districts().frame.index[:2].tolist()
    for district_ids in (("1", "2"), tuple(str(i) for i in ids)):
        _district_filter_case(client, engine, district_ids)


def _district_filter_case(
    client: TestClient, engine: DiscoveryEngine, district_ids: tuple[str, ...]
) -> None:
    params = {"lat": LAT, "lng": LNG, "district_id": ",".join(district_ids)}
    r = client.get("/v1/merchants/nearby", params=params)
    try:
        expected = engine.nearby(
            LAT, LNG, 20, where=Filters(district_ids=district_ids), sort="best_match"
        ).merchant_ids
    except InvalidQueryError as exc:
        assert r.status_code == 422 and r.json()["detail"] == str(exc)
    except DistrictNotFoundError as exc:
        assert r.status_code == 404 and r.json()["detail"] == str(exc)
    else:
        assert r.status_code == 200
        assert [h["merchant_id"] for h in r.json()["results"]] == expected


def test_nearby_explain(client: TestClient) -> None:
    body = nearby(client, sort="best_match", explain="true", limit=5)
    assert all(isinstance(h["explain"], dict) and h["explain"] for h in body["results"])
    assert all("explain" not in h for h in nearby(client, limit=5)["results"])


def test_nearby_cursor_pages(client: TestClient, engine: DiscoveryEngine) -> None:
    first = nearby(client, sort="best_match", limit=10)
    assert first["next_cursor"]
    second = nearby(client, sort="best_match", limit=10, cursor=first["next_cursor"])
    expected = engine.nearby(LAT, LNG, 20, sort="best_match").merchant_ids
    got = [h["merchant_id"] for h in first["results"] + second["results"]]
    assert got == expected
    r = client.get(
        "/v1/merchants/nearby",
        params={
            "lat": LAT,
            "lng": LNG,
            "limit": 10,
            "sort": "distance",
            "cursor": first["next_cursor"],
        },
    )
    assert r.status_code == 422 and "cursor" in r.json()["detail"]  # a cursor of another query
    r = client.get("/v1/merchants/nearby", params={"lat": LAT, "lng": LNG, "cursor": "garbage"})
    assert r.status_code == 422 and "cursor" in r.json()["detail"]
    last = nearby(client, radius_m=30, limit=1000)
    assert last["next_cursor"] is None


# --------------------------------------------------------------------------- search
def test_search_bbox(client: TestClient, engine: DiscoveryEngine) -> None:
    r = client.get("/v1/merchants/search", params={"bbox": MIDTOWN_BBOX, "limit": 1000})
    assert r.status_code == 200, r.text
    body = r.json()
    lat = engine.merchants.column("lat").to_numpy()
    lng = engine.merchants.column("lng").to_numpy()
    inside = int(((lng >= -73.995) & (lng <= -73.975) & (lat >= 40.75) & (lat <= 40.765)).sum())
    assert body["total"] == inside and body["count"] == min(inside, 1000)
    assert body["truncated"] is (inside > 1000)
    for h in body["results"]:
        assert -73.995 <= h["lng"] <= -73.975 and 40.75 <= h["lat"] <= 40.765
    d = [h["distance_m"] for h in body["results"]]
    assert d == sorted(d)


def test_search_bbox_limit_and_origin(client: TestClient) -> None:
    r = client.get(
        "/v1/merchants/search", params={"bbox": MIDTOWN_BBOX, "limit": 5, "lat": LAT, "lng": LNG}
    )
    body = r.json()
    assert body["count"] == 5 and body["truncated"] is True and body["total"] > 5
    closest = nearby(client, limit=5, sort="distance")["results"]
    assert [h["merchant_id"] for h in body["results"]] == [h["merchant_id"] for h in closest]
    r = client.get("/v1/merchants/search", params={"bbox": MIDTOWN_BBOX, "lat": LAT})
    assert r.status_code == 422 and "lat was given without lng" in r.json()["detail"]


def test_search_bbox_geojson(client: TestClient) -> None:
    r = client.get(
        "/v1/merchants/search", params={"bbox": MIDTOWN_BBOX, "format": "geojson", "limit": 3}
    )
    fc = r.json()
    assert r.headers["content-type"].startswith("application/geo+json")
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 3 and fc["truncated"]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "Polygon", "coordinates": [SQUARE]},
        {
            "type": "Feature",
            "properties": {"name": "x"},
            "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
        },
        {"type": "MultiPolygon", "coordinates": [[SQUARE]]},
    ],
    ids=["polygon", "feature", "multipolygon"],
)
def test_search_polygon(client: TestClient, engine: DiscoveryEngine, body: dict[str, Any]) -> None:
    r = client.post("/v1/merchants/search", json=body, params={"limit": 1000})
    assert r.status_code == 200, r.text
    got = r.json()
    poly = shapely.Polygon(SQUARE)
    lat = engine.merchants.column("lat").to_numpy()
    lng = engine.merchants.column("lng").to_numpy()
    expected = int(shapely.intersects_xy(poly, lng, lat).sum())
    assert got["total"] == expected > 0
    assert all(poly.intersects(shapely.Point(h["lng"], h["lat"])) for h in got["results"])


def test_search_polygon_filters_and_geojson(client: TestClient) -> None:
    r = client.post(
        "/v1/merchants/search",
        json={"type": "Polygon", "coordinates": [SQUARE]},
        params={"categories": "food/restaurant", "format": "geojson", "fields": "category"},
    )
    fc = r.json()
    assert fc["features"] and all(
        f["properties"]["category"].startswith("food/restaurant") for f in fc["features"]
    )


# ------------------------------------------------------------------------- merchant
def test_merchant_by_id(client: TestClient, engine: DiscoveryEngine) -> None:
    hit = nearby(client, limit=1)["results"][0]
    r = client.get(f"/v1/merchants/{hit['merchant_id']}")
    assert r.status_code == 200
    rec = r.json()
    assert rec["merchant_id"] == hit["merchant_id"] and rec["snapshot"] == engine.version
    assert isinstance(rec["attributes"], dict) and rec["attributes"]
    assert rec["name"] == engine.get(hit["merchant_id"])["name"]
    r = client.get(f"/v1/merchants/{hit['merchant_id']}", params={"format": "geojson"})
    feature = r.json()
    assert feature["type"] == "Feature" and feature["id"] == hit["merchant_id"]
    assert feature["geometry"]["coordinates"] == [hit["lng"], hit["lat"]]


@pytest.mark.parametrize(
    "merchant_id", ["nope:1", "nys_retail_food:does-not-exist", "a/b/c", "%E2%9C%93"]
)
def test_unknown_merchant_is_404(client: TestClient, merchant_id: str) -> None:
    r = client.get(f"/v1/merchants/{merchant_id}")
    assert r.status_code == 404
    assert "is not in snapshot" in r.json()["detail"]


# ------------------------------------------------------------------------ aggregate
def test_aggregate(client: TestClient, engine: DiscoveryEngine) -> None:
    r = client.get("/v1/aggregate", params={"bbox": MIDTOWN_BBOX, "resolution": 9})
    assert r.status_code == 200, r.text
    body = r.json()
    total = client.get("/v1/merchants/search", params={"bbox": MIDTOWN_BBOX}).json()["total"]
    assert body["total"] == total == sum(c["count"] for c in body["cells"])
    assert body["resolution"] == 9
    for c in body["cells"][:50]:
        cell = cells.str_to_cell(c["cell"])
        assert cells.latlng_to_cell(c["lat"], c["lng"], 9) in {cell, *cells.grid_disk(cell, 1)}
    cell_ids = [c["cell"] for c in body["cells"]]
    assert len(set(cell_ids)) == len(cell_ids)
    # Mean word of mouth per bin, from the snapshot's reputation scores.
    assert engine.snapshot.wom is not None
    wom = engine.snapshot.wom[0]
    members = engine.within_bbox(MIDTOWN_BBOX).positions
    lat = engine.merchants.column("lat").to_numpy()[members]
    lng = engine.merchants.column("lng").to_numpy()[members]
    in_bin = [
        cells.cell_to_str(cells.latlng_to_cell(a, b, 9)) for a, b in zip(lat, lng, strict=True)
    ]
    busiest = max(body["cells"], key=lambda c: c["count"])
    values = [float(wom[p]) for p, c in zip(members, in_bin, strict=True) if c == busiest["cell"]]
    assert busiest["mean_wom"] == pytest.approx(sum(values) / len(values))
    assert all(0 <= c["mean_wom"] <= 1 for c in body["cells"])


def test_aggregate_counts_every_merchant_once(client: TestClient, engine: DiscoveryEngine) -> None:
    r = client.get("/v1/aggregate", params={"bbox": "-180,-90,180,90", "resolution": 5})
    body = r.json()
    assert body["total"] == len(engine)
    lat = engine.merchants.column("lat").to_numpy()
    lng = engine.merchants.column("lng").to_numpy()
    expected: dict[str, int] = {}
    for a, b in zip(lat.tolist(), lng.tolist(), strict=True):
        key = cells.cell_to_str(cells.latlng_to_cell(a, b, 5))
        expected[key] = expected.get(key, 0) + 1
    assert {c["cell"]: c["count"] for c in body["cells"]} == expected


def test_aggregate_geojson_hexagons(client: TestClient) -> None:
    r = client.get(
        "/v1/aggregate", params={"bbox": MIDTOWN_BBOX, "resolution": 8, "format": "geojson"}
    )
    fc = r.json()
    assert r.headers["content-type"].startswith("application/geo+json")
    for f in fc["features"]:
        ring = f["geometry"]["coordinates"][0]
        assert f["geometry"]["type"] == "Polygon" and ring[0] == ring[-1] and len(ring) >= 6
        assert f["id"] == f["properties"]["cell"]


def test_aggregate_bin_limit_is_a_setting(data_dir: Path) -> None:
    with _client(data_dir, api_max_aggregate_cells=3) as c:
        r = c.get("/v1/aggregate", params={"bbox": MIDTOWN_BBOX, "resolution": 10})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert (
        "resolution=10" in detail and "at most 3" in detail and "api_max_aggregate_cells" in detail
    )


# ------------------------------------------------------------------------ districts
@pytest.fixture(scope="module")
def districts(engine: DiscoveryEngine) -> Districts:
    return engine.snapshot.require_districts()


def test_districts_list_and_bbox(client: TestClient, districts: Districts) -> None:
    r = client.get("/v1/districts")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == len(districts) == len(body["districts"]) > 0
    assert {d["district_id"] for d in body["districts"]} == set(districts.ids)
    assert all(len(d["bbox"]) == 4 and "geometry" not in d for d in body["districts"])
    r = client.get("/v1/districts", params={"bbox": MIDTOWN_BBOX})
    near = r.json()["districts"]
    assert 0 < len(near) < len(districts)
    for d in near:
        west, south, east, north = d["bbox"]
        assert east >= -73.995 and west <= -73.975 and north >= 40.75 and south <= 40.765
    fc = client.get("/v1/districts", params={"bbox": MIDTOWN_BBOX, "format": "geojson"}).json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == len(near)
    assert fc["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_district_at_and_by_id(client: TestClient, districts: Districts) -> None:
    expected = districts.at(LAT, LNG)
    body = client.get("/v1/districts/at", params={"lat": LAT, "lng": LNG}).json()
    if expected is None:
        assert body["district"] is None
    else:
        assert body["district"]["district_id"] == expected
        one = client.get(f"/v1/districts/{expected}").json()
        assert one["district_id"] == expected and one["geometry"]["type"] in (
            "Polygon",
            "MultiPolygon",
        )
        assert one["name"] == districts.get(expected)["name"]
        feature = client.get(f"/v1/districts/{expected}", params={"format": "geojson"}).json()
        assert feature["type"] == "Feature" and feature["id"] == expected
    far = client.get("/v1/districts/at", params={"lat": -45, "lng": 170}).json()
    assert far["district"] is None
    r = client.get("/v1/districts/nope")
    assert r.status_code == 404 and "district_id='nope'" in r.json()["detail"]
    r = client.get("/v1/districts/at", params={"lat": 95, "lng": 0})
    assert r.status_code == 422 and "-90 <= lat <= 90" in r.json()["detail"]
    r = client.get("/v1/districts/x/catchment")
    assert r.status_code == 404


# ------------------------------------------------------------------------- operations
def test_healthz_and_readyz(client: TestClient, engine: DiscoveryEngine) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["snapshot"] == engine.version
    assert ready["merchants"] == len(engine) and ready["snapshot_id"] == 1


def test_no_snapshot_is_503(tmp_path: Path) -> None:
    with _client(tmp_path / "empty") as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "no_snapshot"
        for url in (
            f"/v1/merchants/nearby?lat={LAT}&lng={LNG}",
            f"/v1/merchants/search?bbox={MIDTOWN_BBOX}",
            "/v1/merchants/x:1",
            f"/v1/aggregate?bbox={MIDTOWN_BBOX}&resolution=8",
        ):
            r = c.get(url)
            assert r.status_code == 503, url
            assert "no snapshot is being served yet" in r.json()["detail"]
            assert str(tmp_path) not in r.text  # no server path for clients (/readyz has it)
            assert r.headers["retry-after"]


def test_metrics(client: TestClient, engine: DiscoveryEngine) -> None:
    nearby(client)
    client.get("/v1/merchants/nearby", params={"lat": 91, "lng": 0})
    text = client.get("/metrics").text
    assert (
        'geo_discovery_http_requests_total{method="GET",route="/v1/merchants/nearby",status="200"}'
        in text
    )
    assert (
        'geo_discovery_http_requests_total{method="GET",route="/v1/merchants/nearby",status="422"}'
        in text
    )
    assert (
        'geo_discovery_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/merchants/nearby"}'
        in text
    )
    assert f'geo_discovery_snapshot_info{{version="{engine.version}"}} 1.0' in text
    assert f"geo_discovery_snapshot_merchants {float(len(engine))}" in text
    client.get("/no/such/path")
    assert 'route="unmatched",status="404"' in client.get("/metrics").text


def test_admin_reload(client: TestClient, data_dir: Path, engine: DiscoveryEngine) -> None:
    r = client.post("/v1/admin/reload")
    assert r.status_code == 401
    r = client.post("/v1/admin/reload", headers={"X-API-Key": "wrong"})
    assert r.status_code == 401 and "X-API-Key" in r.json()["detail"]
    r = client.post("/v1/admin/reload", headers={"X-API-Key": "s3cret"})
    assert r.status_code == 200
    assert r.json() == {"changed": False, "previous": engine.version, "snapshot": engine.version}
    with _client(data_dir) as c:
        r = c.post("/v1/admin/reload", headers={"X-API-Key": "s3cret"})
        assert r.status_code == 403 and "GEO_DISCOVERY_API_ADMIN_KEY" in r.json()["detail"]


# ---------------------------------------------------------------- caching, gzip, CORS
def test_etag_and_304(client: TestClient, engine: DiscoveryEngine) -> None:
    url = f"/v1/merchants/nearby?lat={LAT}&lng={LNG}"
    r = client.get(url)
    etag = r.headers["etag"]
    assert etag == f'W/"{engine.version}"'
    assert r.headers["cache-control"] == "public, max-age=60"
    r2 = client.get(url, headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b"" and r2.headers["etag"] == etag
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.get(url, headers={"If-None-Match": f'"x", {etag}'}).status_code == 304
    hit = r.json()["results"][0]["merchant_id"]
    assert client.get(f"/v1/merchants/{hit}", headers={"If-None-Match": etag}).status_code == 304
    # An ETag never turns an invalid request into a 304 (RFC 9110 §13.2.1: a 2xx only):
    # an unknown merchant or district, a junk cursor, a text a tile refuses were 304s
    district = client.get("/v1/districts").json()["districts"][0]["district_id"]
    bad = ["/v1/merchants/nearby?lat=91&lng=0", "/v1/merchants/nosuch:1",
           "/v1/districts/zzz", "/v1/districts/zzz/catchment",
           f"/v1/merchants/nearby?lat={LAT}&lng={LNG}&cursor=junk",
           "/v1/merchants/search?bbox=-74.0,40.7,-73.9,40.8&cursor=junk",
           "/v1/tiles/3/1/1.mvt?q=%E2%98%95", "/v1/tiles.json?q=%E2%98%95",
           # (the regression sweep's: a district filter or a text refused in the search)
           f"/v1/merchants/nearby?lat={LAT}&lng={LNG}&district_id=zzz",
           f"/v1/merchants/nearby?lat={LAT}&lng={LNG}&q=!!!",
           "/v1/merchants/search?bbox=-74.0,40.7,-73.9,40.8&q=!!!",
           "/v1/merchants/search?bbox=40.7,-74.0,40.8,-73.9",  # (lat, lng) order: a 422
           "/v1/aggregate?bbox=-74.0,40.7,-73.9,40.8&resolution=8&q=!!!",
           "/v1/aggregate?bbox=0,91,1,92&resolution=8",
           f"/v1/autocomplete?lat={LAT}&lng={LNG}&q=!!!"]
    for path in bad:
        plain = client.get(path, headers={"Accept-Encoding": "identity"}).status_code
        for tag in (etag, "*"):
            asked = client.get(path, headers={"If-None-Match": tag, "Accept-Encoding": "identity"})
            assert 400 <= plain < 500 and asked.status_code == plain, (path, tag, plain, asked)
    for path in (f"/v1/districts/{district}", "/v1/tiles/12/1206/1539.mvt", url,
                 f"/v1/autocomplete?lat={LAT}&lng={LNG}&q=pizz",
                 "/v1/aggregate?bbox=-74.0,40.7,-73.9,40.8&resolution=8"):  # fmt: skip
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.headers["vary"] == "Accept-Encoding", path
    # a page asked with a good cursor is a 304 again too (a skipped check made it a 200)
    for first in (f"/v1/merchants/nearby?lat={LAT}&lng={LNG}&limit=5",
                  "/v1/merchants/search?bbox=-74.0,40.7,-73.9,40.8&limit=5"):
        cursor = client.get(first).json()["next_cursor"]
        page = f"{first}&cursor={cursor}"
        assert client.get(page).status_code == 200
        assert client.get(page, headers={"If-None-Match": etag}).status_code == 304, page


def test_gzip(client: TestClient) -> None:
    r = client.get(
        "/v1/merchants/nearby",
        params={"lat": LAT, "lng": LNG, "limit": 200},
        headers={"Accept-Encoding": "gzip"},
    )
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.json()["count"] == 200
    small = client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers
    assert gzip.decompress(gzip.compress(b"x")) == b"x"


def test_cors(data_dir: Path, client: TestClient) -> None:
    origin = "https://map.example.com"
    with _client(data_dir, api_cors_origins=[origin]) as c:
        pre = c.options(
            "/v1/merchants/nearby",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
        )
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == origin
        r = c.get(f"/v1/merchants/nearby?lat={LAT}&lng={LNG}", headers={"Origin": origin})
        assert r.headers["access-control-allow-origin"] == origin
        assert "etag" in r.headers["access-control-expose-headers"].lower()
        other = c.get(
            f"/v1/merchants/nearby?lat={LAT}&lng={LNG}", headers={"Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
    r = client.get(f"/v1/merchants/nearby?lat={LAT}&lng={LNG}", headers={"Origin": origin})
    assert "access-control-allow-origin" not in r.headers


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("url", "needles"),
    [
        ("/v1/merchants/nearby?lat=91&lng=0", ["lat=91", "-90 <= lat <= 90"]),
        ("/v1/merchants/nearby?lat=40&lng=-181", ["lng=-181", "-180 <= lng <= 180"]),
        ("/v1/merchants/nearby?lat=nan&lng=0", ["lat=nan", "-90 <= lat <= 90"]),
        ("/v1/merchants/nearby?lat=inf&lng=0", ["lat=inf", "-90 <= lat <= 90"]),
        ("/v1/merchants/nearby?lat=abc&lng=0", ["lat=abc", "not a finite number"]),
        ("/v1/merchants/nearby?lng=0", ["lat is required", "-90 <= lat <= 90"]),
        ("/v1/merchants/nearby?lat=1&lng=0&limit=0", ["limit=0", "1 <= limit <= 1000"]),
        ("/v1/merchants/nearby?lat=1&lng=0&limit=1001", ["limit=1001", "1 <= limit <= 1000"]),
        ("/v1/merchants/nearby?lat=1&lng=0&limit=2.5", ["limit=2.5", "not an integer"]),
        (
            "/v1/merchants/nearby?lat=1&lng=0&radius_m=-1",
            ["radius_m=-1", "0 <= radius_m <= 100000"],
        ),
        (
            "/v1/merchants/nearby?lat=1&lng=0&radius_m=1e9",
            ["radius_m=1000000000", "0 <= radius_m <= 100000"],
        ),
        ("/v1/merchants/nearby?lat=1&lng=0&format=xml", ["format=xml", "'json' or 'geojson'"]),
        (
            "/v1/merchants/nearby?lat=1&lng=0&fields=name,bogus",
            ["fields=name,bogus", "merchant_id, name"],
        ),
        ("/v1/merchants/nearby?lat=1&lng=0&categories=Food!", ["categories=Food!", "lower-case"]),
        (
            "/v1/merchants/nearby?lat=1&lng=0&exclude_categories=a//b c",
            ["exclude_categories", "a//b c"],
        ),
        ("/v1/merchants/nearby?lat=1&lng=0&radius=5", ["radius", "radius_m"]),
        ("/v1/merchants/search?bbox=1,2,3", ["bbox=1,2,3", "4 comma-separated numbers"]),
        ("/v1/merchants/search?bbox=a,b,c,d", ["bbox=a,b,c,d", "west,south,east,north"]),
        ("/v1/merchants/search?bbox=0,50,1,40", ["south=50", "south <= north"]),
        ("/v1/merchants/search?bbox=0,-95,1,40", ["south=-95", "-90 <= south <= 90"]),
        # (lat, lng) order west of -90° (Salt Lake City), said so as for boxes in ±90
        ("/v1/merchants/search?bbox=40.70,-111.95,40.80,-111.85",
         ["south=-111.95 is out of range", "look like (lat, lng) order",
          "bbox=-111.95,40.7,-111.85,40.8"]),
        ("/v1/aggregate?resolution=8&bbox=-33.9,151.1,-33.8,151.3",
         ["south=151.1", "look like (lat, lng)", "bbox=151.1,-33.9,151.3,-33.8"]),
        ("/v1/merchants/search?bbox=40.7,-200,40.8,-111", ["south=-200", "-90 <= south <= 90"]),
        ("/v1/merchants/search", ["bbox is required; allowed: 4 comma-separated numbers"]),
        ("/v1/aggregate?resolution=8", ["bbox is required; allowed: 4 comma-separated numbers"]),
        (f"/v1/merchants/nearby?lat={LAT}&lng={LNG}&at=now", ["at='now' is not an ISO 8601"]),
        # read as the library and the CLI read it: no Unix epoch, an hour without minutes
        (f"/v1/merchants/nearby?lat={LAT}&lng={LNG}&at=1705330800", ["at='1705330800' is not"]),
        (f"/v1/merchants/nearby?lat={LAT}&lng={LNG}&explain=sure", ["explain=sure is not true"]),
        ("/v1/merchants/search?bbox=" + "1" * 300, ["bbox=", "at most 200 characters"]),
        ("/v1/aggregate?bbox=0,0,1,1&resolution=16", ["resolution=16", "0 <= resolution <= 15"]),
        ("/v1/aggregate?bbox=0,0,1,1", ["resolution is required", "0 <= resolution <= 15"]),
        ("/v1/merchants/x:1?format=kml", ["format=kml"]),
        ("/v1/merchants/nearby?lat=1&lng=0&sort=fame", ["sort=fame", "best_match"]),
        ("/v1/merchants/nearby?lat=1&lng=0&min_price=5", ["min_price=5", "1 <= min_price <= 4"]),
        (
            "/v1/merchants/nearby?lat=1&lng=0&min_price=3&max_price=2",
            ["min_price=3", "max_price=2"],
        ),
        ("/v1/merchants/nearby?lat=1&lng=0&min_rating=6", ["min_rating=6", "0 <= min_rating <= 5"]),
        ("/v1/merchants/nearby?lat=1&lng=0&min_reviews=-1", ["min_reviews=-1", "min_reviews >= 0"]),
        ("/v1/merchants/nearby?lat=1&lng=0&open_now=maybe", ["open_now=maybe"]),
        ("/v1/merchants/nearby?lat=1&lng=0&open_at=tomorrow", ["open_at='tomorrow' is not"]),
        (  # the last one was used, the first ignored in silence
            "/v1/merchants/nearby?lat=52.37&lng=0&lat=10",
            ["lat is given 2 times (52.37, 10); allowed: once"],
        ),
        (
            "/v1/merchants/search?bbox=0,0,1,1&categories=food&categories=shop",
            ["categories is given 2 times", "a list is one comma-separated value"],
        ),
        (  # 9999-12-31 at -12:00 is past the last date Python holds in UTC (it was a 500)
            f"/v1/merchants/nearby?lat={LAT}&lng={LNG}&open_at=9999-12-31T23:59:59-12:00",
            ["open_at=9999-12-31T23:59:59-12:00", "outside the dates opening hours are read for"],
        ),
        (
            f"/v1/merchants/nearby?lat={LAT}&lng={LNG}&open_at=0001-01-01T00:00:00%2B14:00",
            ["open_at=0001-01-01T00:00:00+14:00", "outside the dates opening hours are read for"],
        ),
    ],
)
def test_bad_parameters_are_422_naming_value_and_range(
    client: TestClient, url: str, needles: list[str]
) -> None:
    r = client.get(url)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    for needle in needles:
        assert needle in detail, (needle, detail)


@pytest.mark.parametrize(
    ("param", "hint"),
    [("price", "min_price"), ("radius", "radius_m"), ("k", "limit"), ("open", None)],
)
def test_unknown_parameters_are_refused_not_ignored(
    client: TestClient, param: str, hint: str | None
) -> None:
    r = client.get("/v1/merchants/nearby", params={"lat": LAT, "lng": LNG, param: "1"})
    assert r.status_code == 422
    body = r.json()
    assert f"unknown query parameter(s) {param}" in body["detail"]
    assert "allowed: at, categories, cursor" in body["detail"]
    assert hint is None or f"use {hint}" in body["detail"]
    assert body["errors"][0]["parameter"] == param
    r = client.get("/v1/aggregate", params={"bbox": MIDTOWN_BBOX, "resolution": 8, "limit": 3})
    assert r.status_code == 422 and "limit" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        (
            {"type": "Point", "coordinates": [1, 2]},
            ["'Point'", "Polygon", "MultiPolygon", "Feature"],
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
            ["invalid", "Self-intersection"],
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]},
            ["polygon is invalid", "Too few points"],
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [200, 1], [0, 0]]]},
            ["out of range", "-180 <= lng <= 180"],
        ),
        ({"type": "Polygon", "coordinates": []}, ["empty"]),
        ({"type": "Polygon", "coordinates": [[[0, 0, 0, 0]]]}, ["body.Polygon.coordinates.0.0"]),
        ({"type": "Polygon"}, ["body.Polygon.coordinates is required"]),
        (
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}},
            ["body.Feature.geometry"],
        ),
        ([1, 2], ["body"]),
    ],
)
def test_bad_polygons_are_422(client: TestClient, body: Any, needles: list[str]) -> None:
    r = client.post("/v1/merchants/search", json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    for needle in needles:
        assert needle in detail, (needle, detail)


def test_malformed_json_body_is_422(client: TestClient) -> None:
    r = client.post(
        "/v1/merchants/search",
        content=b'{"type": "Polygon", ',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]


def test_polygon_vertex_and_body_limits_are_settings(data_dir: Path) -> None:
    ring = [[-74 + i * 1e-4, 40.7 + (i % 2) * 1e-4] for i in range(40)]
    ring = [*ring, [-73.99, 40.8], ring[0]]
    with _client(data_dir, max_polygon_vertices=20, api_max_body_bytes=2048) as c:
        r = c.post("/v1/merchants/search", json={"type": "Polygon", "coordinates": [ring]})
        assert r.status_code == 422
        assert "at most 20" in r.json()["detail"] and "max_polygon_vertices" in r.json()["detail"]
        big = {"type": "Polygon", "coordinates": [SQUARE], "pad": "x" * 4096}
        r = c.post("/v1/merchants/search", json=big)
        assert r.status_code == 413
        assert "2048" in r.json()["detail"] and "api_max_body_bytes" in r.json()["detail"]

        def chunks() -> Iterator[bytes]:
            yield b'{"type": "Polygon", "coordinates": [], "pad": "'
            for _ in range(10):
                yield b"x" * 512
            yield b'"}'

        r = c.post(
            "/v1/merchants/search", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413


def test_limits_follow_settings(data_dir: Path) -> None:
    with _client(data_dir, max_k=50, max_radius_m=500, api_default_limit=7) as c:
        assert c.get(f"/v1/merchants/nearby?lat={LAT}&lng={LNG}").json()["count"] == 7
        r = c.get(f"/v1/merchants/nearby?lat={LAT}&lng={LNG}&limit=51")
        assert r.status_code == 422 and "1 <= limit <= 50" in r.json()["detail"]
        r = c.get(f"/v1/merchants/nearby?lat={LAT}&lng={LNG}&radius_m=501")
        assert r.status_code == 422 and "0 <= radius_m <= 500" in r.json()["detail"]
        spec = c.get("/openapi.json").json()
        params = {p["name"]: p for p in spec["paths"]["/v1/merchants/nearby"]["get"]["parameters"]}
        assert params["limit"]["schema"]["maximum"] == 50
        assert params["radius_m"]["schema"]["maximum"] == 500


def test_wrong_method_and_path(client: TestClient) -> None:
    assert client.delete("/v1/merchants/nearby").status_code == 405
    assert client.get("/v2/anything").status_code == 404
    assert client.get("/v1/admin/reload").status_code == 405
    # Allow lists every method the path serves, as OPTIONS does (it said GET for search)
    for path in ("/v1/merchants/search", "/v1/merchants/nearby", "/v1/admin/reload"):
        r = client.request("PATCH", path)
        assert r.status_code == 405
        assert r.headers["allow"] == client.options(path).headers["allow"], path
    assert client.options("/v1/merchants/search").headers["allow"] == "GET, HEAD, OPTIONS, POST"


# -------------------------------------------------------------------------- OpenAPI
def test_openapi_documents_every_parameter_with_an_example(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    missing = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for p in op.get("parameters", []):  # a cursor has none: no cursor fits every query
                if p["name"] != "cursor" and not (
                    p.get("examples") or p.get("example") or p["schema"].get("examples")
                ):
                    missing.append(f"{method.upper()} {path} {p['name']}")
            if path.startswith("/v1/"):
                assert "422" in op["responses"], (path, method)
    assert not missing, missing
    body = spec["paths"]["/v1/merchants/search"]["post"]["requestBody"]["content"][
        "application/json"
    ]
    assert body["examples"]
    nearby_200 = spec["paths"]["/v1/merchants/nearby"]["get"]["responses"]["200"]["content"]
    assert set(nearby_200) == {"application/json", "application/geo+json"}
    assert "HitFeatureCollection" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("accept", "gzipped"),
    [("gzip", True), ("GZIP", True), ("br, gzip;q=0.5", True), ("*", True),
     ("gzip;q=0", False), ("gzip; q=0.0, br", False), ("br", False), ("identity", False),
     ("*, gzip;q=0", False)],
)
def test_gzip_follows_accept_encoding_weights(
    client: TestClient, accept: str, gzipped: bool
) -> None:
    """gzip;q=0 (not acceptable) was answered in gzip, GZIP was not: the letters "gzip"
    were looked for anywhere in the header."""
    for path, params in (
        ("/v1/merchants/nearby", {"lat": LAT, "lng": LNG, "limit": 50}),  # the fast lane
        ("/v1/merchants/nearby", {"lat": LAT, "lng": LNG, "limit": 50, "format": "geojson"}),
        ("/v1/tiles/14/4823/6157.mvt", {}),
    ):
        r = client.get(path, params=params, headers={"Accept-Encoding": accept})
        assert r.status_code == 200, (path, r.text)
        assert (r.headers.get("content-encoding") == "gzip") is gzipped, (path, accept)


@pytest.mark.parametrize(
    ("path", "parameter", "location"),
    [
        ("/v1/merchants/nearby?lat=40.75&lng=-73.98&cursor=abc.def", "cursor", "query"),
        ("/v1/merchants/search?bbox=-74,40.8,-73.9,40.7", "bbox", "query"),
        ("/v1/merchants/search?bbox=-74,40.7,-73.9,40.8&lat=40.75", "lat", "query"),
        ("/v1/districts/nope", "district_id", "path"),
        ("/v1/merchants/nope", "merchant_id", "path"),
    ],
)
def test_every_4xx_lists_its_problem(
    client: TestClient, path: str, parameter: str, location: str
) -> None:
    """errors was [] for cursors, a bbox upside down, lat without lng, unknown ids and
    polygon problems: the README says it lists each problem."""
    r = client.get(path)
    assert 400 <= r.status_code < 500
    body = r.json()
    assert [(e["parameter"], e["location"]) for e in body["errors"]] == [(parameter, location)]
    assert body["errors"][0]["message"] == body["detail"]


def test_a_polygon_problem_is_listed_as_the_body(client: TestClient) -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 1], [1, 0], [0, 0]]]}
    r = client.post("/v1/merchants/search", json=bowtie)
    assert r.status_code == 422
    assert [(e["parameter"], e["location"]) for e in r.json()["errors"]] == [("body", "body")]
