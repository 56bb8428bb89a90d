"""``/v1/tiles`` and ``/v1/tiles.json``, the map page and the offline docs, over HTTP.

On the bundled Helsinki sample (it has districts; no real data needed): tiles equal the
engine's, HTTP caching and compression, the empty-tile policy (204), errors naming the
value, TileJSON with absolute URLs carrying the filters; ``/``, ``/docs`` and ``/redoc``
load nothing from outside the package, and the vendored files match their manifest.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.query import Filters
from geo_discovery.settings import Settings
from geo_discovery_api import create_app
from geo_discovery_api.routes.pages import STATIC_DIR
from geo_discovery_api.schemas import TileJSON

CENTRE_TILE = (14, 9326, 4742)  # central Helsinki
URL = "/v1/tiles/{}/{}/{}.mvt"
IDENTITY = {"Accept-Encoding": "identity"}


def _client(data_dir: Path, **overrides: Any) -> TestClient:
    settings = Settings(data_dir=data_dir, api_reload_interval_ms=0, **overrides)
    return TestClient(create_app(settings, data_dir))


@pytest.fixture(scope="module")
def client(sample_data_dir: Path) -> Iterator[TestClient]:
    with _client(sample_data_dir, map_style_url="https://tiles.example.com/style.json") as c:
        yield c


def _decode(data: bytes) -> dict[str, Any]:
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})


# ------------------------------------------------------------------------ tiles
def test_a_tile_is_the_engines_tile_with_caching_headers(
    client: TestClient, sample_engine: DiscoveryEngine
) -> None:
    r = client.get(URL.format(*CENTRE_TILE), headers=IDENTITY)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert "content-encoding" not in r.headers
    assert r.headers["etag"] == f'W/"{sample_engine.version}"'
    assert r.headers["cache-control"] == "public, max-age=60"
    assert r.headers["vary"] == "Accept-Encoding"  # set by GZipMiddleware
    assert r.content == sample_engine.tile(*CENTRE_TILE).data
    layers = _decode(r.content)
    assert set(layers) == {"merchants", "districts"}
    assert len(layers["merchants"]["features"]) == sample_engine.tile(*CENTRE_TILE).merchants
    again = client.get(URL.format(*CENTRE_TILE), headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_tiles_are_gzipped_for_clients_that_accept_it(client: TestClient) -> None:
    raw = client.get(URL.format(*CENTRE_TILE), headers=IDENTITY).content
    r = client.get(URL.format(*CENTRE_TILE), headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
    assert int(r.headers["content-length"]) < len(raw)
    assert r.content == raw  # httpx undoes the gzip: the same tile
    streamed = client.get(URL.format(*CENTRE_TILE), headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(gzip.compress(streamed.content)) == raw


def test_an_empty_tile_is_204_with_the_cache_headers(client: TestClient) -> None:
    r = client.get(URL.format(14, 0, 0))
    assert r.status_code == 204 and r.content == b""
    assert r.headers["etag"].startswith('W/"') and "cache-control" in r.headers


def test_filters_reach_the_tile(client: TestClient, sample_engine: DiscoveryEngine) -> None:
    r = client.get(URL.format(*CENTRE_TILE), params={"categories": "food"}, headers=IDENTITY)
    want = sample_engine.tile(*CENTRE_TILE, where=Filters(categories="food"))
    assert (
        r.content == want.data and 0 < want.merchants < sample_engine.tile(*CENTRE_TILE).merchants
    )
    cats = {f["properties"]["category"] for f in _decode(r.content)["merchants"]["features"]}
    assert cats and all(c == "food" or c.startswith("food/") for c in cats)
    live = client.get(URL.format(*CENTRE_TILE), params={"open_now": "true"})
    assert live.status_code in (200, 204)
    assert "etag" not in live.headers  # depends on the clock, never revalidated
    stale = client.get(
        URL.format(*CENTRE_TILE), params={"open_now": "true"}, headers={"If-None-Match": "*"}
    )
    assert stale.status_code in (200, 204)


def test_text_reaches_the_tile_and_the_tilejson(
    client: TestClient, sample_engine: DiscoveryEngine
) -> None:
    r = client.get(URL.format(*CENTRE_TILE), params={"q": "kahvila"}, headers=IDENTITY)
    want = sample_engine.tile(*CENTRE_TILE, where=Filters(text="kahvila"))
    assert r.status_code == 200 and r.content == want.data
    assert 0 < want.merchants < sample_engine.tile(*CENTRE_TILE).merchants
    doc = client.get("/v1/tiles.json", params={"q": "kahvila", "categories": "food"}).json()
    assert doc["tiles"] == ["http://testserver/v1/tiles/{z}/{x}/{y}.mvt?q=kahvila&categories=food"]


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        (URL.format(25, 0, 0), {}, "z=25 is out of range; allowed: 0 <= z <= 24"),
        (URL.format(3, 8, 0), {}, "x=8 is out of range for z=3; allowed: 0 <= x <= 7"),
        (URL.format(3, 0, 9), {}, "y=9 is out of range for z=3; allowed: 0 <= y <= 7"),
        (URL.format(3, -1, 0), {}, "x=-1 is out of range for z=3; allowed: 0 <= x <= 7"),
        (URL.format(3, 0, 2**40), {}, f"y={2**40} is out of range for z=3; allowed: 0 <= y"),
        (URL.format(30, 0, 0), {}, "z=30 is out of range; allowed: 0 <= z <= 24"),
        (URL.format("a", 0, 0), {}, "z=a is not an integer"),
        (URL.format(3, 0, "1.5"), {}, "y=1.5 is not an integer"),
        (URL.format(3, 0, 0), {"radius": "5"}, "unknown query parameter(s) radius"),
        (URL.format(3, 0, 0), {"categories": "Food!"}, "categories=Food! does not have"),
        (URL.format(3, 0, 0), {"min_rating": "6"}, "min_rating=6 is out of range"),
        (URL.format(3, 0, 0), {"q": "x" * 201}, "at most 200 characters"),
        ("/v1/tiles.json", {"min_price": "9"}, "min_price=9 is out of range"),
    ],
)
def test_bad_requests_are_422_naming_the_value(
    client: TestClient, path: str, params: dict[str, str], message: str
) -> None:
    r = client.get(path, params=params)
    assert r.status_code == 422, r.text
    assert message in r.json()["detail"]


def test_out_of_range_tile_indices_are_reported_as_path_parameters(client: TestClient) -> None:
    r = client.get(URL.format(2, 4, 7))
    assert r.status_code == 422
    assert [(e["parameter"], e["location"]) for e in r.json()["errors"]] == [
        ("x", "path"),
        ("y", "path"),
    ]


# --------------------------------------------------------------------- TileJSON
def test_tilejson_has_absolute_urls_carrying_the_filters(
    client: TestClient, sample_engine: DiscoveryEngine
) -> None:
    r = client.get("/v1/tiles.json", params={"categories": "food", "min_rating": "4"})
    assert r.status_code == 200
    doc = TileJSON.model_validate(r.json()).model_dump()
    assert doc["tilejson"] == "3.0.0" and doc["scheme"] == "xyz"
    assert doc["tiles"] == [
        "http://testserver/v1/tiles/{z}/{x}/{y}.mvt?categories=food&min_rating=4"
    ]
    assert doc["snapshot"] == sample_engine.version
    west, south, east, north = doc["bounds"]
    lng, lat, zoom = doc["center"]
    assert west <= lng <= east and south <= lat <= north and zoom == 14
    assert {layer["id"] for layer in doc["vector_layers"]} == {"merchants", "districts"}
    assert sum(doc["top_categories"].values()) == len(sample_engine)
    assert len(doc["bin_resolutions"]) == doc["maxzoom"] + 1
    plain = client.get("/v1/tiles.json", headers={"Host": "maps.example.org:8080"}).json()
    assert plain["tiles"] == ["http://maps.example.org:8080/v1/tiles/{z}/{x}/{y}.mvt"]
    assert r.headers["etag"] == f'W/"{sample_engine.version}"'


# --------------------------------------------------------------- pages and docs
def _asset_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["']([^"']+)["']""", html) + re.findall(
        r"""url\(["']?([^"')]+)""", html
    )


def test_the_map_page_is_served_with_its_settings_and_local_assets(client: TestClient) -> None:
    r = client.get("/", params={"lat": "60.17", "lng": "24.94", "zoom": "15", "q": "cafe"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert '"styleUrl": "https://tiles.example.com/style.json"' in html
    for url in _asset_urls(html):
        assert url.startswith("/"), f"the map page loads {url} from outside the package"
    for url in _asset_urls(html):
        if url.startswith("/static/"):
            assert client.get(url).status_code == 200, url


def test_the_default_map_style_fetches_nothing(sample_data_dir: Path) -> None:
    with _client(sample_data_dir) as c:
        html = c.get("/").text
    assert '"styleUrl": null' in html
    js = (STATIC_DIR / "map.js").read_text()
    # no style key that makes MapLibre fetch fonts or icons, no layer that needs them
    assert not re.search(r"""\b(glyphs|sprite)["']?\s*:""", js)
    assert not re.search(r"""type:\s*["']symbol""", js)
    assert not re.search(r"https?://", js), "map.js names an outside URL"


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_docs_use_the_packaged_assets(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    urls = [u for u in _asset_urls(r.text) if not u.startswith("#")]
    assert urls and all(u.startswith("/") for u in urls), urls
    assert "fonts.googleapis" not in r.text and "cdn.jsdelivr" not in r.text
    for url in urls:
        assert client.get(url).status_code == 200, url
    assert client.get("/openapi.json").status_code == 200


def test_vendored_files_match_their_manifest() -> None:
    vendor = STATIC_DIR / "vendor"
    lines = (vendor / "MANIFEST.txt").read_text().splitlines()
    packages = {line.split()[1]: line.split()[2] for line in lines if line.startswith("package ")}
    assert set(packages) == {"maplibre-gl", "swagger-ui-dist", "redoc"}
    sums = [line.split() for line in lines if line and not line.startswith(("#", "package "))]
    listed = {path for _, path in sums}
    present = {str(p.relative_to(vendor)) for p in vendor.rglob("*") if p.is_file()}
    assert listed == present - {"MANIFEST.txt"}
    for digest, path in sums:
        assert hashlib.sha256((vendor / path).read_bytes()).hexdigest() == digest, path
    for licence in ("maplibre-gl/LICENSE.txt", "swagger-ui/LICENSE", "redoc/LICENSE"):
        assert (vendor / licence).stat().st_size > 500
    script = (STATIC_DIR.parents[1] / "scripts" / "vendor_static.sh").read_text()
    for name, version in packages.items():
        var = {"maplibre-gl": "MAPLIBRE", "swagger-ui-dist": "SWAGGER_UI", "redoc": "REDOC"}[name]
        assert f"{var}_VERSION={version}" in script
