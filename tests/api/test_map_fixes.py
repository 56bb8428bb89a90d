"""The map explorer's heat layer and hot swaps, and the API parts they need.

* ``/v1/aggregate`` takes the filters of ``/v1/tiles`` (``q``, prices, ratings, reviews,
  ``open_now``, categories), exactly: its bins count what a box search with the same
  filters finds (the library's, and the HTTP one for the filters it takes), so the heat
  layer counts what the tiles draw; the page sends it the tiles' filters.
* After a hot swap the page labels the new snapshot and draws the new snapshot's tiles
  (its tile URLs carry ``v=`` the snapshot version, which ``/v1/tiles`` ignores) without
  a reload, instead of tiles the browser keeps for ``api_cache_max_age_s``.

Over a synthetic town around Helsinki written at run time (ratings, prices, review counts,
opening hours that are always or never open), loaded through the real pipeline; the
expected answers come from the library and the API's own answers, never hard-coded counts.
"""

from __future__ import annotations

import csv
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

import pytest
from api_support import app_client, get_json, running_server
from fastapi.testclient import TestClient

from geo_discovery import cells
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.query import Filters, split_list
from geo_discovery.settings import Settings

CENTRE = (60.1699, 24.9384)
BBOX = "24.90,60.15,24.98,60.19"
WORDS = ("Coffee", "Pizza", "Books", "Bakery", "Bar", "Kahvila")
CATEGORIES = ("food/cafe", "food/restaurant", "shop/books", "shop/bakery", "nightlife/bar")
FIELDS = ["id", "name", "lat", "lng", "category", "rating", "rating_scale", "review_count",
          "price_level", "opening_hours"]  # fmt: skip
NEW_ID = "swapped-in-1"
WAIT_MS = 60_000


def _town(path: Path, n: int = 900, seed: int = 11) -> Path:
    """``n`` merchants within ~2 km of the centre, with every filtered value varied (and
    some missing: a filter leaves out merchants without its value)."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(FIELDS)
        for i in range(n):
            word = rng.choice(WORDS)
            writer.writerow([
                f"m{i}",
                f"{word} {rng.choice(('North', 'South', 'Corner', 'Old', 'Blue'))} {i}",
                f"{CENTRE[0] + rng.uniform(-0.018, 0.018):.6f}",
                f"{CENTRE[1] + rng.uniform(-0.035, 0.035):.6f}",
                rng.choice(CATEGORIES),
                "" if rng.random() < 0.1 else f"{rng.uniform(1, 5):.1f}",
                "5",
                "" if rng.random() < 0.1 else str(rng.randint(0, 300)),
                "" if rng.random() < 0.15 else str(rng.randint(1, 4)),
                rng.choice(("24/7", "off", "")),
            ])  # fmt: skip
    return path


def _load(source: Path, data: Path, mode: str = "replace") -> None:
    from geo_discovery.snapshot.pipeline import load

    load([source], data_dir=data, mode=mode, settings=Settings(data_dir=data))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def town_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("town")
    data = folder / "data"
    _load(_town(folder / "town.csv"), data)
    return data


@pytest.fixture(scope="module")
def town_engine(town_dir: Path) -> DiscoveryEngine:
    return DiscoveryEngine.from_snapshot(town_dir, settings=Settings(data_dir=town_dir))


@pytest.fixture(scope="module")
def client(town_dir: Path) -> Iterator[TestClient]:
    with app_client(town_dir) as c:
        yield c


def _filters(params: dict[str, str]) -> Filters:
    """The library's filters for the tiles' parameters (the oracle's own reading)."""
    number = {k: float(v) if k == "min_rating" else int(v)
              for k, v in params.items() if k in ("min_price", "max_price", "min_rating",
                                                   "min_reviews")}  # fmt: skip
    return Filters(
        categories=split_list(params.get("categories"), "categories"),
        exclude_categories=split_list(params.get("exclude_categories"), "exclude_categories"),
        open_now=params.get("open_now") == "true",
        text=params.get("q"),
        **number,  # type: ignore[arg-type]
    )


def _expected_bins(engine: DiscoveryEngine, bbox: str, resolution: int,
                   params: dict[str, str]) -> Counter[str]:  # fmt: skip
    """Per H3 cell, the merchants a library box search with the same filters finds."""
    res = engine.within_bbox(bbox, where=_filters(params))
    lat = engine.snapshot.lat[res.positions]
    lng = engine.snapshot.lng[res.positions]
    ids = cells.latlngs_to_cells(lat, lng, resolution)
    return Counter(cells.cell_to_str(int(c)) for c in ids.tolist())


FILTER_SETS = [
    {"q": "coffee"},
    {"min_rating": "4"},
    {"q": "coffee", "min_rating": "4"},
    {"min_price": "2", "max_price": "3"},
    {"min_reviews": "150"},
    {"open_now": "true"},
    {"exclude_categories": "food"},
    {"categories": "food", "min_rating": "3.5", "max_price": "2", "q": "kahvila"},
]


# ------------------------------------------------------------------ the aggregate route
@pytest.mark.parametrize(
    "params", FILTER_SETS, ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items())
)
def test_aggregate_counts_what_a_box_search_with_the_same_filters_finds(
    client: TestClient, town_engine: DiscoveryEngine, params: dict[str, str]
) -> None:
    everything = client.get("/v1/aggregate", params={"bbox": BBOX, "resolution": "9"}).json()
    r = client.get("/v1/aggregate", params={"bbox": BBOX, "resolution": "9", **params})
    assert r.status_code == 200, r.text
    got = r.json()
    counts = Counter({c["cell"]: c["count"] for c in got["cells"]})
    want = _expected_bins(town_engine, BBOX, 9, params)
    assert counts == want
    assert got["total"] == sum(want.values())
    assert 0 < got["total"] < everything["total"], "the filter should keep some, not all"
    # The HTTP box search agrees, for the filters it takes (it refuses the others: 422).
    search = client.get("/v1/merchants/search", params={"bbox": BBOX, "limit": "1", **params})
    if search.status_code == 200:
        assert search.json()["total"] == got["total"]
    else:
        assert search.status_code == 422, search.text


def test_aggregate_geojson_takes_the_filters_too(
    client: TestClient, town_engine: DiscoveryEngine
) -> None:
    params = {"q": "pizza", "min_price": "2"}
    r = client.get(
        "/v1/aggregate", params={"bbox": BBOX, "resolution": "8", "format": "geojson", **params}
    )
    assert r.status_code == 200, r.text
    got = Counter({f["id"]: f["properties"]["count"] for f in r.json()["features"]})
    assert got == _expected_bins(town_engine, BBOX, 8, params)


def test_an_open_now_aggregate_carries_no_etag(client: TestClient) -> None:
    plain = client.get("/v1/aggregate", params={"bbox": BBOX, "resolution": "8"})
    live = client.get("/v1/aggregate", params={"bbox": BBOX, "resolution": "8", "open_now": "true"})
    assert plain.status_code == live.status_code == 200, live.text
    assert "etag" in plain.headers and "etag" not in live.headers
    # a 304 is never given for an answer that changes with the clock
    again = client.get(
        "/v1/aggregate",
        params={"bbox": BBOX, "resolution": "8", "open_now": "true"},
        headers={"If-None-Match": plain.headers["etag"]},
    )
    assert again.status_code == 200


@pytest.mark.parametrize(
    ("params", "parameter"), [({"q": "\u2615"}, "q"), ({"min_price": "9"}, "min_price")]
)
def test_aggregate_refuses_the_filters_the_tiles_refuse(
    client: TestClient, params: dict[str, str], parameter: str
) -> None:
    tile = client.get("/v1/tiles.json", params=params)
    r = client.get("/v1/aggregate", params={"bbox": BBOX, "resolution": "8", **params})
    assert tile.status_code == r.status_code == 422
    assert [p["parameter"] for p in r.json()["errors"]] == [parameter]
    assert r.json()["errors"][0]["message"] == tile.json()["errors"][0]["message"]


def test_the_openapi_documents_the_new_parameters(client: TestClient) -> None:
    from geo_discovery_api.routes.tiles import TILE_FILTERS

    spec = client.get("/openapi.json").json()
    aggregate = {p["name"]: p for p in spec["paths"]["/v1/aggregate"]["get"]["parameters"]}
    for name in TILE_FILTERS:
        assert aggregate[name].get("description"), name
    assert "box search" in spec["paths"]["/v1/aggregate"]["get"]["description"]
    tile = {p["name"]: p for p in spec["paths"]["/v1/tiles/{z}/{x}/{y}.mvt"]["get"]["parameters"]}
    assert "snapshot version" in tile["v"]["description"]


def test_a_tile_url_may_carry_the_snapshot_version(
    client: TestClient, town_engine: DiscoveryEngine
) -> None:
    path = "/v1/tiles/15/18653/9484.mvt"  # the town's centre
    plain = client.get(path, params={"q": "coffee"}, headers={"Accept-Encoding": "identity"})
    versioned = client.get(
        path,
        params={"q": "coffee", "v": town_engine.version},
        headers={"Accept-Encoding": "identity"},
    )
    assert plain.status_code == versioned.status_code == 200, versioned.text
    assert versioned.content == plain.content
    assert versioned.headers["etag"] == plain.headers["etag"]
    # any text: a cache key, never checked against the snapshot served
    assert client.get(path, params={"v": "000000-old"}).status_code == 200
    # and the TileJSON takes it too (it was "unknown query parameter v": 422), and puts it
    # in its tile URL with the filters
    doc = client.get("/v1/tiles.json", params={"q": "coffee", "v": town_engine.version})
    assert doc.status_code == 200, doc.text
    plain_doc = client.get("/v1/tiles.json", params={"q": "coffee"}).json()
    (url,), (plain_url,) = doc.json()["tiles"], plain_doc["tiles"]
    assert url == plain_url + "&" + urlencode({"v": town_engine.version})
    assert {**doc.json(), "tiles": None} == {**plain_doc, "tiles": None}


# ------------------------------------------------------------------------ the page


class _Page:
    """A browser page recording errors and requests (as test_map_page's Page)."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.on("request", lambda req: self.requests.append(req.url))
        self.page.set_default_timeout(WAIT_MS)

    def js(self, script: str, arg: Any = None) -> Any:
        return self.page.evaluate(script, arg)

    def wait(self, condition: str, arg: Any = None, timeout: float = WAIT_MS) -> None:
        self.page.wait_for_function(condition, arg=arg, timeout=timeout)

    def wait_for_map(self) -> None:
        self.wait("document.body.dataset.ready === 'true' && !!document.body.dataset.listSeq")
        self.wait("window.gdMap.loaded() && window.gdMap.areTilesLoaded()")

    def drawn_ids(self) -> set[str]:
        return set(
            self.js(
                "window.gdMap.queryRenderedFeatures({layers: ['merchants']})"
                ".map(f => f.properties.id)"
            )
        )


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[[str, str], _Page]]:
    pages: list[_Page] = []

    def make(base: str, path: str) -> _Page:
        page = _Page(browser, base)
        pages.append(page)
        page.page.goto(base + path)
        page.wait_for_map()
        return page

    yield make
    for page in pages:
        page.page.close()


def _until(check: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.mark.browser
def test_the_heat_layer_counts_what_the_tiles_draw(
    open_page: Callable[[str, str], _Page], town_dir: Path, town_engine: DiscoveryEngine
) -> None:
    lat, lng = CENTRE
    with running_server(town_dir, env={"GEO_DISCOVERY_API_RELOAD_INTERVAL_MS": "0"}) as port:
        page = open_page(
            f"http://127.0.0.1:{port}",
            f"/?lat={lat}&lng={lng}&zoom=14&q=coffee&min_rating=4&heat=true",
        )
        page.wait("window.gdMap.querySourceFeatures('heat').length > 0")
        asked = [u for u in page.requests if "/v1/aggregate?" in u]
        assert asked, "the heat layer should ask /v1/aggregate"
        params = dict(parse_qsl(urlparse(asked[-1]).query))
        assert params.get("q") == "coffee" and params.get("min_rating") == "4", (
            f"the heat should get the tiles' filters: {asked[-1]}"
        )
        # The heat's bins are the API's answer to that URL, which the library's box search
        # with the same filters agrees with; the unfiltered count is larger.
        status, want = get_json(port, f"/v1/aggregate?{urlencode(params)}")
        assert status == 200
        heat = page.js(
            "window.gdMap.getSource('heat').getData()"
            ".then(d => d.features.reduce((a, f) => a + f.properties.count, 0))"
        )
        expected = _expected_bins(town_engine, params["bbox"], int(params["resolution"]), params)
        assert heat == want["total"] == sum(expected.values()) > 0
        unfiltered = {k: v for k, v in params.items() if k in ("bbox", "resolution")}
        _, everything = get_json(port, f"/v1/aggregate?{urlencode(unfiltered)}")
        assert everything["total"] > heat
        # every merchant drawn is one the heat counts (same filters)
        drawn = page.drawn_ids()
        kept = set(town_engine.within_bbox(params["bbox"], where=_filters(params)).merchant_ids)
        assert drawn and drawn <= kept
        # a filter changed in the panel reaches the heat too
        with page.page.expect_request(
            lambda r: "/v1/aggregate?" in r.url and "min_price=2" in r.url, timeout=WAIT_MS
        ):
            page.page.select_option("#f-min-price", "2")
        assert not page.errors, page.errors


@pytest.mark.browser
def test_a_hot_swap_relabels_the_page_and_draws_the_new_snapshots_tiles(
    open_page: Callable[[str, str], _Page], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    _load(_town(tmp_path / "town.csv", n=400, seed=5), data)
    lat, lng = CENTRE
    with running_server(data, env={"GEO_DISCOVERY_API_RELOAD_INTERVAL_MS": "200"}) as port:
        _, ready = get_json(port, "/readyz")
        old = ready["snapshot"]
        page = open_page(f"http://127.0.0.1:{port}", f"/?lat={lat}&lng={lng}&zoom=16")
        option = "(p) => document.querySelector(`#f-category option[value='${p}']`).textContent"
        cafes_before = page.js(option, "food/cafe")
        assert page.js("document.getElementById('snapshot').textContent") == (
            f"snapshot {old.split('-')[0]}"
        )
        new_id = f"generic:{NEW_ID}"
        assert new_id not in page.drawn_ids()

        # Publish a snapshot holding one more merchant, at the centre of the view.
        extra = tmp_path / "extra.csv"
        with extra.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(FIELDS)
            writer.writerow([NEW_ID, "Swapped In Cafe", lat, lng, "food/cafe", "4.5", "5",
                             "10", "2", "24/7"])  # fmt: skip
        _load(extra, data, mode="upsert")
        assert _until(lambda: get_json(port, "/readyz")[1]["snapshot"] != old), "no swap"
        new = get_json(port, "/readyz")[1]["snapshot"]

        # The page learns of it from its next answer (here: the list, after a small pan).
        page.js("window.gdMap.panBy([30, 0], {duration: 0})")
        label = f"snapshot {new.split('-')[0]}"
        shown = "document.getElementById('snapshot').textContent"
        assert _until(lambda: page.js(shown) == label), f"the label still says {page.js(shown)}"
        page.wait(
            "(v) => document.body.dataset.snapshot === v"
            " && document.body.dataset.tiles !== undefined",
            new,
        )
        page.wait("window.gdMap.loaded() && window.gdMap.areTilesLoaded()")
        assert _until(lambda: new_id in page.drawn_ids()), "the new merchant is not drawn"
        listed = page.js(
            "[...document.querySelectorAll('#results li')].map(li => li.dataset.merchantId)"
        )
        assert new_id in listed
        # The category filter counts the new snapshot's merchants (one more café).
        _, tree = get_json(port, "/v1/categories")
        cafes = next(c["count"] for c in tree["categories"] if c["path"] == "food/cafe")
        assert f"({cafes - 1:,})" in cafes_before, cafes_before
        assert _until(lambda: f"({cafes:,})" in page.js(option, "food/cafe")), (
            f"the category filter still shows {page.js(option, 'food/cafe')}"
        )
        tiles = [u for u in page.requests if "/v1/tiles/" in u]
        assert any(dict(parse_qsl(urlparse(u).query)).get("v") == new for u in tiles)
        assert not page.errors, page.errors


@pytest.mark.browser
def test_a_page_opened_before_the_first_snapshot_starts_once_one_is_published(
    browser: Any, tmp_path: Path
) -> None:
    """``make serve``, then the load: the page said "the map could not start" for the
    server's 503 and never asked again (only a reload helped). It now asks again after
    the 503's Retry-After and starts once the load publishes."""
    data = tmp_path / "data"
    data.mkdir()
    lat, lng = CENTRE
    with running_server(data, env={"GEO_DISCOVERY_API_RELOAD_INTERVAL_MS": "200"}) as port:
        assert get_json(port, "/readyz")[0] == 503
        page = _Page(browser, f"http://127.0.0.1:{port}")
        try:
            page.page.goto(f"{page.base}/?lat={lat}&lng={lng}&zoom=15")
            page.wait("Number(document.body.dataset.startRetries || 0) >= 1")
            said = page.js("document.getElementById('status').textContent")
            assert "could not start" in said and "trying again in" in said, said
            assert page.js("document.body.dataset.ready") is None
            _load(_town(tmp_path / "town.csv", n=300, seed=3), data)
            page.wait_for_map()
            assert page.js("document.getElementById('status').textContent") == ""
            assert page.drawn_ids(), "no merchant drawn after the start"
            # the 503s the page asked through are Chromium's console lines, nothing else
            assert all("503" in e for e in page.errors), page.errors
        finally:
            page.page.close()


@pytest.mark.browser
def test_the_list_says_which_words_it_dropped_that_the_map_keeps(
    open_page: Callable[[str, str], _Page], town_dir: Path
) -> None:
    """``q=coffee zzyzx``: the list's fallback drops ``zzyzx`` (no merchant matches both)
    and ranks coffee places, while the tiles, which never drop a word, draw nothing: the
    list now says so, instead of 20 merchants beside an empty map without a word."""
    lat, lng = CENTRE
    with running_server(town_dir, env={"GEO_DISCOVERY_API_RELOAD_INTERVAL_MS": "0"}) as port:
        page = open_page(f"http://127.0.0.1:{port}", f"/?lat={lat}&lng={lng}&zoom=15"
                                                      "&q=coffee%20zzyzx")
        page.wait("document.body.dataset.listQ === 'coffee zzyzx'")
        assert page.js("document.body.dataset.listDropped") == "zzyzx"
        said = page.js("document.getElementById('list-status').textContent")
        assert "without “zzyzx”" in said and "the map shows only" in said, said
        assert int(page.js("document.body.dataset.listCount")) > 0
        page.wait("window.gdMap.loaded() && window.gdMap.areTilesLoaded()")
        assert not page.drawn_ids()  # every word, as the tiles search it: none
        plain = open_page(f"http://127.0.0.1:{port}", f"/?lat={lat}&lng={lng}&zoom=15&q=coffee")
        plain.wait("document.body.dataset.listQ === 'coffee'")
        assert plain.js("document.body.dataset.listDropped") == ""
        assert "without" not in plain.js("document.getElementById('list-status').textContent")
        assert not page.errors and not plain.errors, (page.errors, plain.errors)


@pytest.mark.browser
def test_on_a_phone_the_map_keeps_most_of_the_screen(browser: Any, town_dir: Path) -> None:
    """At 375 px wide the 340 px panel left the map 35 px; the panel now sits above it."""
    lat, lng = CENTRE
    with running_server(town_dir, env={"GEO_DISCOVERY_API_RELOAD_INTERVAL_MS": "0"}) as port:
        page = browser.new_page(viewport={"width": 375, "height": 740})
        try:
            page.goto(f"http://127.0.0.1:{port}/?lat={lat}&lng={lng}&zoom=15")
            page.wait_for_function("document.body.dataset.ready === 'true'", timeout=WAIT_MS)
            box = page.locator("#map").bounding_box()
            panel = page.locator("#panel").bounding_box()
            assert box is not None and panel is not None
            assert box["width"] >= 370 and box["height"] >= 0.5 * 740, box
            assert panel["width"] >= 370 and panel["y"] + panel["height"] <= box["y"] + 1
            wide = browser.new_page(viewport={"width": 1280, "height": 800})  # unchanged
            wide.goto(f"http://127.0.0.1:{port}/?lat={lat}&lng={lng}&zoom=15")
            wide.wait_for_function("document.body.dataset.ready === 'true'", timeout=WAIT_MS)
            assert wide.locator("#panel").bounding_box()["width"] == 340  # type: ignore[index]
            wide.close()
        finally:
            page.close()
