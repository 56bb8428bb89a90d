"""The API as a browser meets it (in-process): ``OPTIONS`` and ``HEAD`` on every route,
CORS on and off, unknown ``district_id`` everywhere it is accepted, no server paths in
catchment answers.

Over the bundled Helsinki sample (no real data needed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import app_client
from fastapi.testclient import TestClient

HELSINKI = {"lat": "60.17", "lng": "24.94"}
ORIGIN = "https://map.example.com"
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}


@pytest.fixture(scope="module")
def client(sample_data_dir: Path) -> Iterator[TestClient]:
    with app_client(sample_data_dir) as c:
        yield c


@pytest.fixture(scope="module")
def cors_client(sample_data_dir: Path) -> Iterator[TestClient]:
    with app_client(sample_data_dir, api_cors_origins=[ORIGIN]) as c:
        yield c


@pytest.fixture(scope="module")
def district_id(client: TestClient) -> str:
    r = client.get("/v1/districts")
    assert r.status_code == 200 and r.json()["count"] > 0, r.text
    return str(r.json()["districts"][0]["district_id"])


def _get_urls(client: TestClient, district_id: str) -> list[str]:
    """One answerable URL per GET route of the app (path parameters filled in)."""
    fill = {
        "{merchant_id:path}": "osm:node/945724472",
        "{district_id}": district_id,
        "{z}": "14",
        "{x}": "9326",
        "{y}": "4742.mvt",
    }
    urls = []
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        if "get" not in operations:
            continue
        for key, value in fill.items():
            path = path.replace(key, value)
        path = path.replace(".mvt.mvt", ".mvt")
        if "{" in path:
            continue
        urls.append(path)
    return urls


QUERY = {
    "/v1/merchants/nearby": HELSINKI,
    "/v1/merchants/search": {"bbox": "24.9,60.1,25.0,60.2"},
    "/v1/aggregate": {"bbox": "24.9,60.1,25.0,60.2", "resolution": "7"},
    "/v1/districts/at": HELSINKI,
    "/v1/autocomplete": {"q": "caf"},
}


def test_every_get_route_answers_head_and_options(client: TestClient, district_id: str) -> None:
    urls = _get_urls(client, district_id)
    assert len(urls) >= 10, urls
    for url in urls:
        params = QUERY.get(url, {})
        got = client.get(url, params=params)
        head = client.head(url, params=params)
        assert head.status_code == got.status_code, (url, head.status_code, got.status_code)
        assert head.content == b""
        names = ["content-type", "etag", "cache-control", "content-length"]
        if url == "/metrics":
            names.remove("content-length")  # the counters moved between the two requests
        for name in names:
            assert head.headers.get(name) == got.headers.get(name), (url, name)
        pre = client.options(url, headers=PREFLIGHT)
        assert pre.status_code == 204, (url, pre.status_code, pre.text)
        assert {"GET", "HEAD", "OPTIONS"} <= set(pre.headers["allow"].split(", "))


def test_head_of_the_nearby_fast_lane_has_the_get_headers(client: TestClient) -> None:
    got = client.get("/v1/merchants/nearby", params=HELSINKI)
    head = client.head("/v1/merchants/nearby", params=HELSINKI)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]
    assert client.head("/v1/merchants/nearby", params={"lat": "91", "lng": "0"}).status_code == 422


def test_options_on_post_only_and_unknown_paths(client: TestClient) -> None:
    r = client.options(
        "/v1/merchants/search", headers={**PREFLIGHT, "Access-Control-Request-Method": "POST"}
    )
    assert r.status_code == 204 and "POST" in r.headers["allow"]
    assert "access-control-allow-origin" not in r.headers  # CORS is off: the browser refuses
    assert client.options("/v1/nope", headers=PREFLIGHT).status_code == 404
    assert client.head("/v1/nope").status_code == 404


def test_cors_preflight_and_answers(cors_client: TestClient, district_id: str) -> None:
    for url in _get_urls(cors_client, district_id):
        r = cors_client.options(url, headers=PREFLIGHT)
        assert r.status_code == 200, (url, r.status_code)
        assert r.headers["access-control-allow-origin"] == ORIGIN
    r = cors_client.options(
        "/v1/merchants/search", headers={**PREFLIGHT, "Access-Control-Request-Method": "POST"}
    )
    assert r.status_code == 200 and "POST" in r.headers["access-control-allow-methods"]
    r = cors_client.get("/v1/merchants/nearby", params=HELSINKI, headers={"Origin": ORIGIN})
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "ETag" in r.headers["access-control-expose-headers"]
    r = cors_client.options("/v1/merchants/nearby", headers={**PREFLIGHT, "Origin": "https://evil"})
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize(
    "url",
    [
        "/v1/merchants/nearby?lat=60.17&lng=24.94&district_id=nope",
        "/v1/merchants/nearby?lat=60.17&lng=24.94&sort=distance&district_id=nope",
        "/v1/districts/nope",
        "/v1/districts/nope/catchment",
        "/v1/districts/nope?format=geojson",
    ],
)
def test_unknown_district_id_is_404(client: TestClient, url: str) -> None:
    r = client.get(url)
    assert r.status_code == 404, r.text
    assert "district_id='nope' is not a known district" in r.json()["detail"]


def test_known_and_unknown_district_ids_together(client: TestClient, district_id: str) -> None:
    ok = client.get("/v1/merchants/nearby", params={**HELSINKI, "district_id": district_id})
    assert ok.status_code == 200 and ok.json()["count"] > 0
    both = client.get(
        "/v1/merchants/nearby", params={**HELSINKI, "district_id": f"{district_id},nope"}
    )
    assert both.status_code == 404 and "'nope'" in both.json()["detail"]


def test_catchment_reveals_no_server_path(
    sample_data_dir: Path, tmp_path: Path, district_id: str
) -> None:
    secret = tmp_path / "secret-server-folder"
    secret.mkdir()
    csv = secret / "population.csv"
    csv.write_text("lat,lng,population\n60.17,24.94,1000\n60.18,24.95,500\n60.16,24.92,700\n")
    url = f"/v1/districts/{district_id}/catchment"
    with app_client(sample_data_dir, catchment_demand_path=csv) as c:
        for params in ({}, {"format": "geojson"}):
            r = c.get(url, params=params)
            assert r.status_code == 200, r.text
            assert r.json()["demand_source"]["kind"] == "population"
            assert "secret-server-folder" not in r.text and str(tmp_path) not in r.text
    with app_client(sample_data_dir, catchment_demand_path=secret / "missing.csv") as c:
        r = c.get(url)
        assert r.status_code == 503
        assert "missing.csv" in r.text and "secret-server-folder" not in r.text
