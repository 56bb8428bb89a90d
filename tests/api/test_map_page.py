"""The map explorer in a real browser: Playwright driving Debian's chromium.

A real ``geo-discovery serve`` on 127.0.0.1 over the Helsinki sample (it has districts),
and over the real NYC snapshot for Midtown. What a person would check, through the map's
own API (``map.queryRenderedFeatures``), never by pixels: the page loads with no console
error and no request leaving 127.0.0.1; the merchants of the tiles are drawn at the start
view; panning refreshes the ranked list; clicking a district shows its stats; its
catchment appears on demand; the heat layer fills; the URL restores a view and filters;
the search box suggests a merchant picked from the snapshot at run time first (its name's
matched spans marked), up/down/enter choose it and it comes first, selected, in the list;
a category suggestion becomes the category filter; a URL with ``q=`` restores the search
(tiles and list); a search text the API refuses (422) reaches neither the tiles nor the URL
and its message shows by the search box; URL state the API refuses is dropped, with a
notice, and the map starts anyway; the heat layer asks for the wrapped box of a view across
the antimeridian; ``/docs`` and ``/redoc`` render offline.

Screenshots go to ``$GEO_DISCOVERY_ARTIFACTS_DIR`` when set, else a pytest temporary
folder (printed with ``-s``). The tests skip, with the reason, when chromium is absent
(``apt-get install -y chromium``), except under ``CI=true`` where that is a failure:
``.ci/run`` installs it. Select them with ``-m browser``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import pytest
from api_support import PROJECT_ROOT, get_json, running_server
from browser_support import CHROMIUM

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.query import Filters

pytestmark = pytest.mark.browser

WAIT_MS = 60_000
HELSINKI = (60.1699, 24.9384)
MIDTOWN = (40.7549, -73.9840)
SAMPLE_CSV = PROJECT_ROOT / "data" / "sample" / "helsinki_osm_pois.csv"
# What Chromium logs for any answer >= 400, here the API's 422 to a text or URL state the
# page asks about before using it (a tile refusing its URL would log MapLibre's own error).
REFUSED = "the server responded with a status of 422"


# --------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("GEO_DISCOVERY_ARTIFACTS_DIR")
    folder = Path(given) if given else tmp_path_factory.mktemp("map-page-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nmap page screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def sample_server(sample_data_dir: Path) -> Iterator[str]:
    with running_server(sample_data_dir, env={"GEO_DISCOVERY_API_RELOAD_INTERVAL_MS": "0"}) as port:
        yield f"http://127.0.0.1:{port}"


class Page:
    """A browser page that records console errors, page errors and every request."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.on("request", lambda req: self.requests.append(req.url))
        self.page.on("requestfailed", self._failed)
        self.page.set_default_timeout(WAIT_MS)

    def _failed(self, req: Any) -> None:
        # The page cancelling a request is no failure: MapLibre aborts the tile loads it no
        # longer needs when the view or the tile URL (a new q) changes under them.
        if "ERR_ABORTED" not in (req.failure or ""):
            self.errors.append(f"failed request {req.url}: {req.failure}")

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.errors.append(f"console error: {msg.text}")

    def open(self, path: str = "/") -> Page:
        self.page.goto(self.base + path)
        return self

    def js(self, script: str, arg: Any = None) -> Any:
        return self.page.evaluate(script, arg)

    def wait(self, condition: str, arg: Any = None) -> None:
        self.page.wait_for_function(condition, arg=arg, timeout=WAIT_MS)

    def wait_for_start(self) -> None:
        """Until the page is ready or says it could not start (then fail with its words)."""
        self.wait(
            "document.body.dataset.ready === 'true' ||"
            " document.getElementById('status').textContent.includes('could not start')"
        )
        assert self.js("document.body.dataset.ready") == "true", self.js(
            "document.getElementById('status').textContent"
        )

    def wait_for_map(self) -> None:
        self.wait("document.body.dataset.ready === 'true' && !!document.body.dataset.listSeq")
        self.wait("window.gdMap.loaded() && window.gdMap.areTilesLoaded()")

    def wait_for_tiles(self, **want: str) -> None:
        """Until the tiles whose URLs carry the filters ``want`` are all drawn (the page
        deletes ``data-tiles`` when its filters change, and sets it to the tiles' query
        string once the tiles in view are loaded from the new URLs)."""
        self.wait(
            "(want) => { const t = document.body.dataset.tiles;"
            " if (t === undefined) return false; const p = new URLSearchParams(t);"
            " return Object.entries(want).every(([k, v]) => p.get(k) === v); }",
            want,
        )

    def rendered(self, *layers: str) -> list[dict[str, Any]]:
        return self.js(
            "(layers) => window.gdMap.queryRenderedFeatures({layers}).map("
            "f => ({layer: f.layer.id, properties: f.properties}))",
            list(layers),
        )

    def check_clean(self, *, refused: bool = False) -> None:
        """No console or page error, and nothing was fetched from outside 127.0.0.1;
        ``refused``: Chromium's line for a 422 the page asked for (and handled) is no error."""
        errors = [e for e in self.errors if not (refused and REFUSED in e)]
        assert not errors, errors
        outside = [u for u in self.requests if urlparse(u).hostname not in ("127.0.0.1", None)]
        outside = [u for u in outside if not u.startswith(("data:", "blob:"))]
        assert not outside, f"requests left the machine: {outside[:5]}"

    def shot(self, folder: Path, name: str) -> Path:
        path = folder / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def page_factory(browser: Any) -> Iterator[Callable[[str], Page]]:
    pages: list[Page] = []

    def make(base: str) -> Page:
        page = Page(browser, base)
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.page.close()


@pytest.fixture(scope="module")
def antimeridian_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server over merchants on both sides of the antimeridian (Fiji): the sample's
    first 200 rows moved there, every other one to 178.4° E, the rest to 179.8° W."""
    from geo_discovery.settings import Settings
    from geo_discovery.snapshot.pipeline import load

    folder = tmp_path_factory.mktemp("antimeridian")
    with SAMPLE_CSV.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[:200]
    for i, row in enumerate(rows):
        dlat, dlng = float(row["lat"]) - 60.17, float(row["lon"]) - 24.94
        lat, lng = (-17.8, 178.4) if i % 2 == 0 else (-16.8, -179.8)
        row["lat"], row["lon"] = f"{lat + dlat:.7f}", f"{lng + dlng / 2:.7f}"
    source = folder / "fiji.csv"
    with source.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    data = folder / "data"
    load([source], data_dir=data, profile="osm_poi", settings=Settings(data_dir=data))
    with running_server(data, env={"GEO_DISCOVERY_API_RELOAD_INTERVAL_MS": "0"}) as port:
        yield f"http://127.0.0.1:{port}"


@contextmanager
def profile_server(data: Path, tmp_path: Path, *weights: tuple[str, float]) -> Iterator[int]:
    """A server (its port) ranking by a learned profile of these feature weights."""
    from geo_discovery.ranking_profile import RankingProfile

    profile = RankingProfile(weights=weights, gamma=1.0, radii=(("", 800.0),))
    env = {"GEO_DISCOVERY_API_RELOAD_INTERVAL_MS": "0",
           "GEO_DISCOVERY_RANKING_PROFILE": str(profile.save(tmp_path / "profile.json"))}
    with running_server(data, env=env) as port:
        yield port


# ------------------------------------------------------------------------ tests
def test_the_page_loads_clean_and_draws_the_merchants_of_the_tiles(
    page_factory: Callable[[str], Page],
    sample_server: str,
    sample_engine: DiscoveryEngine,
    artifacts: Path,
) -> None:
    page = page_factory(sample_server).open()
    page.wait_for_map()
    drawn = page.rendered("merchants")
    assert len(drawn) > 100, "the start view should show the sample's merchants"
    known = set(sample_engine.merchants.column("merchant_id").to_pylist())
    assert {f["properties"]["id"] for f in drawn} <= known
    assert page.rendered("districts-fill"), "the sample's districts should be drawn"
    items = page.js(
        "[...document.querySelectorAll('#results li')].map(li => li.dataset.merchantId)"
    )
    lat, lng = (float(v) for v in page.js("document.body.dataset.listCentre").split(","))
    _, want = get_json(
        int(urlparse(sample_server).port or 0),
        f"/v1/merchants/nearby?lat={lat}&lng={lng}&limit=20&sort=best_match",
    )
    assert items == [h["merchant_id"] for h in want["results"]]
    assert "score" in page.js("document.querySelector('#results li .why').textContent")
    page.shot(artifacts, "helsinki-start")
    page.check_clean()


def test_panning_refreshes_the_list_and_the_url(
    page_factory: Callable[[str], Page], sample_server: str, artifacts: Path
) -> None:
    page = page_factory(sample_server).open()
    page.wait_for_map()
    before = page.js(
        "({seq: document.body.dataset.listSeq, centre: document.body.dataset.listCentre,"
        " ids: [...document.querySelectorAll('#results li')].map(li => li.dataset.merchantId)})"
    )
    page.js("window.gdMap.panBy([420, 260], {duration: 0})")
    page.wait("(seq) => document.body.dataset.listSeq !== seq", before["seq"])
    after = page.js(
        "({centre: document.body.dataset.listCentre,"
        " ids: [...document.querySelectorAll('#results li')].map(li => li.dataset.merchantId)})"
    )
    centre = page.js("(() => { const c = window.gdMap.getCenter(); return [c.lat, c.lng]; })()")
    lat, lng = (float(v) for v in after["centre"].split(","))
    assert after["centre"] != before["centre"]
    assert abs(lat - centre[0]) < 1e-5 and abs(lng - centre[1]) < 1e-5
    assert after["ids"] and after["ids"] != before["ids"]
    query = page.js("window.location.search")
    assert f"lat={centre[0]:.5f}" in query and f"lng={centre[1]:.5f}" in query and "zoom=" in query
    page.shot(artifacts, "helsinki-panned")
    page.check_clean()


def _click_a_district(page: Page) -> str:
    """Click a spot inside a drawn district with no merchant nearby; its district_id."""
    spot = page.js(
        """() => {
          const map = window.gdMap, canvas = map.getCanvas();
          const w = canvas.clientWidth, h = canvas.clientHeight;
          for (let y = 20; y < h - 20; y += 6) {
            for (let x = 20; x < w - 20; x += 6) {
              const d = map.queryRenderedFeatures([x, y], {layers: ['districts-fill']});
              if (!d.length) continue;
              const near = map.queryRenderedFeatures([[x - 7, y - 7], [x + 7, y + 7]],
                {layers: ['merchants', 'merchant-bins']});
              if (near.length) continue;
              const r = canvas.getBoundingClientRect();
              return {x: r.left + x, y: r.top + y, id: d[0].properties.district_id};
            }
          }
          return null;
        }"""
    )
    assert spot is not None, "no clickable district in view"
    page.page.mouse.click(spot["x"], spot["y"])
    page.wait("(id) => document.body.dataset.district === id", spot["id"])
    return str(spot["id"])


def test_clicking_a_district_shows_its_stats(
    page_factory: Callable[[str], Page],
    sample_server: str,
    sample_engine: DiscoveryEngine,
    artifacts: Path,
) -> None:
    page = page_factory(sample_server).open()
    page.wait_for_map()
    district_id = _click_a_district(page)
    stats = sample_engine.district(district_id)["properties"]
    assert page.js("document.getElementById('district').hidden") is False
    assert page.js("document.getElementById('district-name').textContent") == stats["name"]
    panel = page.js("document.getElementById('district-stats').textContent")
    assert stats["tier"] in panel and str(stats["n_merchants"]) in panel and district_id in panel
    page.shot(artifacts, "helsinki-district")
    page.check_clean()


def test_the_catchment_layer_appears_on_demand(
    page_factory: Callable[[str], Page], sample_server: str, artifacts: Path
) -> None:
    page = page_factory(sample_server).open()
    page.wait_for_map()
    assert not page.rendered("catchment-cells", "catchment-areas")
    district_id = _click_a_district(page)
    page.page.click("#catchment-show")
    page.wait("(id) => document.body.dataset.catchment === id", district_id)
    page.wait("window.gdMap.loaded()")
    cells = page.rendered("catchment-cells")
    areas = page.rendered("catchment-areas")
    assert cells and areas, "the catchment's demand cells and trade areas should be drawn"
    assert {f["properties"]["layer"] for f in areas} <= {"primary", "secondary"}
    assert "Huff share" in page.js("document.getElementById('catchment-summary').textContent")
    page.shot(artifacts, "helsinki-catchment")
    page.check_clean()


def test_the_heat_layer_and_url_filters(
    page_factory: Callable[[str], Page], sample_server: str, artifacts: Path
) -> None:
    lat, lng = HELSINKI
    page = page_factory(sample_server).open(
        f"/?lat={lat}&lng={lng}&zoom=15.5&categories=food&heat=true&q=coffee"
    )
    page.wait_for_map()
    centre = page.js("(() => { const c = window.gdMap.getCenter(); return [c.lat, c.lng]; })()")
    assert abs(centre[0] - lat) < 1e-4 and abs(centre[1] - lng) < 1e-4
    assert abs(page.js("window.gdMap.getZoom()") - 15.5) < 1e-6
    assert page.js("document.getElementById('f-category').value") == "food"
    drawn = page.rendered("merchants")
    assert drawn and all(f["properties"]["category"].split("/")[0] == "food" for f in drawn), (
        "the category filter should reach the tiles"
    )
    page.wait("window.gdMap.querySourceFeatures('heat').length > 0")
    assert "q=coffee" in page.js("window.location.search"), "q stays in the shared URL"
    page.shot(artifacts, "helsinki-food-heat")
    page.check_clean()


# ------------------------------------------------------------------- search box
def _centre(page: Page) -> tuple[float, float]:
    lat, lng = page.js("(() => { const c = window.gdMap.getCenter(); return [c.lat, c.lng]; })()")
    return float(lat), float(lng)


def _ids(page: Page, selector: str) -> list[str]:
    return list(
        page.js(f"[...document.querySelectorAll({selector!r})].map(li => li.dataset.merchantId)")
    )


def _in_view(page: Page, engine: DiscoveryEngine, text: str) -> tuple[set[str], set[str]]:
    """The merchants in the map's view (a little more: a circle on the edge is drawn
    while its centre is out) matching ``text``, and all of them (the engine's box search)."""
    west, south, east, north = page.js("window.gdMap.getBounds().toArray().flat()")
    pad = 0.05 * (north - south)
    bounds = (west - pad, south - pad, east + pad, north + pad)
    matching = set(engine.within_bbox(bounds, where=Filters(text=text)).merchant_ids)
    return matching, set(engine.within_bbox(bounds).merchant_ids)


def a_merchant_to_type(engine: DiscoveryEngine, lat: float, lng: float) -> dict[str, Any]:
    """A merchant near ``(lat, lng)`` whose name is unique in the snapshot and has at
    least two words of letters: picked from the data at run time, never hard-coded."""
    count = Counter(n.casefold() for n in engine.merchants.column("name").to_pylist() if n)
    for hit in engine.nearby(lat, lng, k=200):
        name = hit.name or ""
        words = re.findall(r"[^\W\d_]{3,}", name)
        if count[name.casefold()] == 1 and len(words) >= 2 and name.isprintable():
            return {"merchant_id": hit.merchant_id, "name": name, "lat": hit.lat, "lng": hit.lng}
    raise AssertionError("no merchant with a unique two-word name near the centre")


def test_typing_a_name_suggests_it_first_and_choosing_it_selects_it(
    page_factory: Callable[[str], Page],
    sample_server: str,
    sample_engine: DiscoveryEngine,
    artifacts: Path,
) -> None:
    page = page_factory(sample_server).open()
    page.wait_for_map()
    lat, lng = _centre(page)
    want = a_merchant_to_type(sample_engine, lat, lng)
    name = want["name"]
    page.page.locator("#q").press_sequentially(name, delay=15)  # debounced: one request
    page.wait("(q) => document.body.dataset.suggestQuery === q", name)
    shown = _ids(page, "#suggestions li.merchant")
    _, api = get_json(
        int(urlparse(sample_server).port or 0),
        f"/v1/autocomplete?q={quote(name)}&lat={lat}&lng={lng}&limit=8",
    )
    assert shown == [m["merchant_id"] for m in api["merchants"]]
    assert shown[0] == want["merchant_id"], (name, shown)
    marked = page.js(
        "[...document.querySelectorAll('#suggestions li.merchant')][0]"
        ".querySelectorAll('mark').length"
    )
    spans = api["merchants"][0]["highlight"]
    assert marked == len(spans) > 0
    first_marks = page.js(
        "[...document.querySelectorAll('#suggestions li.merchant')[0].querySelectorAll('mark')]"
        ".map(m => m.textContent)"
    )
    assert first_marks == ["".join(list(name)[a:b]) for a, b in spans]
    page.shot(artifacts, "helsinki-suggestions")
    # Escape closes the list; typing again reopens it; down + enter chooses the first
    page.page.keyboard.press("Escape")
    assert page.js("document.getElementById('suggestions').hidden") is True
    page.js("delete document.body.dataset.suggestQuery")
    page.page.keyboard.press("Backspace")
    page.page.keyboard.type(name[-1])
    page.wait("(q) => document.body.dataset.suggestQuery === q", name)
    page.page.keyboard.press("ArrowDown")
    active = page.js("document.querySelector('#suggestions li.active').dataset.merchantId")
    assert active == want["merchant_id"]
    page.page.keyboard.press("Enter")
    page.wait("(id) => document.body.dataset.selected === id", want["merchant_id"])
    page.wait("!window.gdMap.isMoving()")
    page.wait(
        "(q) => document.body.dataset.listQ === q && document.body.dataset.listCentre === "
        "(c => `${c.lat.toFixed(6)},${c.lng.toFixed(6)}`)(window.gdMap.getCenter())",
        name,
    )
    first = page.js(
        "(() => { const li = document.querySelector('#results li');"
        " return {id: li.dataset.merchantId, selected: li.classList.contains('selected'),"
        " why: li.querySelector('.why').textContent}; })()"
    )
    assert first["id"] == want["merchant_id"] and first["selected"], first
    assert "relevance" in first["why"], "the explanation shows the text's relevance"
    clat, clng = _centre(page)
    assert abs(clat - want["lat"]) < 1e-4 and abs(clng - want["lng"]) < 1e-4, "flew to it"
    assert page.js("document.getElementById('suggestions').hidden") is True
    assert parse_qs(page.js("window.location.search")[1:])["q"] == [name]
    page.wait_for_tiles(q=name)
    drawn = {f["properties"]["id"] for f in page.rendered("merchants")}
    assert want["merchant_id"] in drawn
    page.shot(artifacts, "helsinki-chosen")
    page.check_clean()


def test_a_category_suggestion_becomes_the_category_filter(
    page_factory: Callable[[str], Page], sample_server: str, sample_engine: DiscoveryEngine
) -> None:
    page = page_factory(sample_server).open()
    page.wait_for_map()
    options = page.js("[...document.getElementById('f-category').options].map(o => o.value)")
    tree = {c.path: c for c in sample_engine.categories()}
    assert set(options) - {""} <= set(tree) and "food" in options, "from /v1/categories"
    # the most common second-level category, typed by its label
    node = max((c for c in tree.values() if c.path.count("/") == 1), key=lambda c: c.count)
    page.page.locator("#q").press_sequentially(node.label, delay=15)
    page.wait("(q) => document.body.dataset.suggestQuery === q", node.label)
    suggested = page.js(
        "[...document.querySelectorAll('#suggestions li.category')].map(li => li.dataset.category)"
    )
    assert node.path in suggested
    seq = page.js("document.body.dataset.listSeq")
    page.page.click(f"#suggestions li.category[data-category='{node.path}']")
    page.wait("(seq) => document.body.dataset.listSeq !== seq", seq)
    assert page.js("document.getElementById('f-category').value") == node.path
    assert page.js("document.getElementById('q').value") == ""
    assert parse_qs(page.js("window.location.search")[1:])["categories"] == [node.path]
    page.wait_for_tiles(categories=node.path)
    drawn = page.rendered("merchants")
    assert drawn and all(
        (f["properties"]["category"] + "/").startswith(node.path + "/") for f in drawn
    )
    page.check_clean()


def test_a_url_with_q_restores_the_search(
    page_factory: Callable[[str], Page],
    sample_server: str,
    sample_engine: DiscoveryEngine,
    artifacts: Path,
) -> None:
    lat, lng = HELSINKI
    # a word of a nearby merchant's name, from the data at run time
    want = a_merchant_to_type(sample_engine, lat, lng)
    word = max(re.findall(r"[^\W\d_]{3,}", want["name"]), key=len)
    page = page_factory(sample_server).open(f"/?lat={lat}&lng={lng}&zoom=15&q={quote(word)}")
    page.wait_for_map()
    page.wait_for_tiles(q=word)
    assert page.js("document.getElementById('q').value") == word
    assert page.js("document.body.dataset.listQ") == word
    clat, clng = (float(v) for v in page.js("document.body.dataset.listCentre").split(","))
    _, api = get_json(
        int(urlparse(sample_server).port or 0),
        f"/v1/merchants/nearby?lat={clat}&lng={clng}&limit=20&sort=best_match&q={quote(word)}",
    )
    assert api["results"], word
    assert _ids(page, "#results li") == [h["merchant_id"] for h in api["results"]]
    drawn = {f["properties"]["id"] for f in page.rendered("merchants")}
    matching, everything = _in_view(page, sample_engine, word)
    assert drawn and drawn <= matching < everything, "the tiles carry q"
    assert parse_qs(page.js("window.location.search")[1:])["q"] == [word]
    page.shot(artifacts, "helsinki-q-restored")
    page.check_clean()


def _asked(page: Page, path: str, name: str, value: str) -> list[str]:
    """The requests to ``path`` (a prefix) whose query gives ``name`` this ``value``."""
    return [
        u
        for u in page.requests
        if urlparse(u).path.startswith(path) and value in parse_qs(urlparse(u).query).get(name, [])
    ]


def _url_state(page: Page) -> dict[str, list[str]]:
    return parse_qs(page.js("window.location.search").lstrip("?"))


@pytest.mark.parametrize(
    "text",
    ["\u2615", "'", " ".join(["cafe"] * 17)],
    ids=["emoji", "apostrophe", "17-words"],
)
def test_a_text_the_api_refuses_keeps_the_map_and_the_url(
    page_factory: Callable[[str], Page], sample_server: str, text: str
) -> None:
    """Enter on a text the API refuses (422): no tile or list request carries it, the URL
    keeps no q, the tiles drawn stay, the API's message shows by the search box; the box
    still searches a text the API takes afterwards."""
    lat, lng = HELSINKI
    page = page_factory(sample_server).open(f"/?lat={lat}&lng={lng}&zoom=15")
    page.wait_for_map()
    page.wait_for_tiles()
    before = {f["properties"]["id"] for f in page.rendered("merchants")}
    assert before and page.rendered("districts-fill")
    status, refused = get_json(
        int(urlparse(sample_server).port or 0), f"/v1/tiles.json?q={quote(text)}"
    )
    assert status == 422, refused
    detail = refused["detail"]
    page.page.locator("#q").fill(text)
    page.page.locator("#q").press("Enter")
    page.wait(  # the message by the box (or, as before, the list's "no answer")
        "(d) => [document.getElementById('search-message'), document.getElementById("
        "'list-status')].some(el => el && !el.hidden && el.textContent.includes(d))",
        detail,
    )
    page.page.wait_for_timeout(400)  # longer than the page waits before it refreshes
    page.wait("window.gdMap.loaded() && window.gdMap.areTilesLoaded()")
    assert not _asked(page, "/v1/tiles/", "q", text), "the refused text reached the tiles"
    assert not _asked(page, "/v1/merchants/nearby", "q", text), "and the list"
    assert "q" not in _url_state(page), "a refused text is no URL state"
    message = page.js("document.getElementById('search-message')?.textContent || ''")
    assert detail in message, message
    assert page.js("document.getElementById('search-message').hidden") is False
    assert page.js("document.body.dataset.tiles") == "", "the tiles' filters did not change"
    assert {f["properties"]["id"] for f in page.rendered("merchants")} == before
    assert page.rendered("districts-fill")
    assert "no answer" not in page.js("document.getElementById('list-status').textContent")
    assert page.js("document.getElementById('q').value") == text, "left to correct"
    # the box still works: a text the API takes searches, and the message goes
    page.page.locator("#q").fill("cafe")
    page.page.locator("#q").press("Enter")
    page.wait_for_tiles(q="cafe")
    page.wait("document.body.dataset.listQ === 'cafe'")
    assert _url_state(page)["q"] == ["cafe"]
    assert page.js("document.getElementById('search-message').hidden") is True
    page.check_clean(refused=True)


@pytest.mark.parametrize(
    ("query", "ignored", "kept"),
    [
        ("q=%E2%98%95&lat=100&lng=0&zoom=15", {"q": "\u2615", "lat": "100"}, {}),
        (
            "lat=60.17&lng=24.94&zoom=15&categories=Food&min_price=9&q=cafe",
            {"categories": "Food", "min_price": "9"},
            {"q": "cafe"},
        ),
        (
            "lat=60.17&lng=181.5&zoom=15&at=someday&heat=true",
            {"lng": "181.5", "at": "someday"},
            {"heat": "true"},
        ),
    ],
    ids=["text-and-latitude", "category-and-price", "longitude-and-time"],
)
def test_url_state_the_api_refuses_is_dropped_and_the_map_starts(
    page_factory: Callable[[str], Page],
    sample_server: str,
    query: str,
    ignored: dict[str, str],
    kept: dict[str, str],
) -> None:
    """A shared URL whose state the API (or MapLibre) refuses: the map starts without it,
    a one-line notice names each value ignored, and the URL does not carry it on."""
    page = page_factory(sample_server).open(f"/?{query}")
    page.wait_for_start()
    page.wait(
        "!!document.body.dataset.listSeq ||"
        " document.getElementById('list-status').textContent.startsWith('no answer')"
    )
    assert "no answer" not in page.js("document.getElementById('list-status').textContent")
    page.wait_for_map()
    page.wait_for_tiles(**{k: v for k, v in kept.items() if k == "q"})
    assert page.rendered("merchants"), "the merchants are drawn"
    notice = page.js(
        "(() => { const el = document.getElementById('url-notice'); if (!el) return null;"
        " const r = el.getBoundingClientRect(), lh = parseFloat(getComputedStyle(el).lineHeight);"
        " return {text: el.textContent, hidden: el.hidden, height: r.height, line: lh}; })()"
    )
    assert notice and not notice["hidden"], notice
    for name, value in ignored.items():
        assert f"{name}={value}" in notice["text"], (name, notice)
    assert notice["height"] < 2 * notice["line"], "one line"
    state = _url_state(page)
    for name, value in ignored.items():
        assert value not in state.get(name, []), (name, state)
        assert not _asked(page, "/v1/tiles/", name, value)
    for name, value in kept.items():
        assert state.get(name) == [value], (name, state)
    asked = [u for u in page.requests if "/v1/merchants/nearby?" in u]
    assert page.js("document.body.dataset.listCount") not in (None, "0")
    if "at" in ignored:
        assert parse_qs(urlparse(asked[-1]).query)["at"] != [ignored["at"]]
    page.check_clean(refused=True)


def _bbox_asked(page: Page, move: str) -> list[float]:
    """The bbox of the heat layer's next /v1/aggregate request after the ``move`` script."""
    with page.page.expect_request(lambda r: "/v1/aggregate?" in r.url, timeout=WAIT_MS) as req:
        page.js(move)
    return [float(v) for v in parse_qs(urlparse(req.value.url).query)["bbox"][0].split(",")]


def test_the_heat_layer_asks_for_the_wrapped_box_across_the_antimeridian(
    page_factory: Callable[[str], Page], antimeridian_server: str
) -> None:
    """A view from 189.8° W to 169.2° W asks the heat for the box from 170.2° E to 169.2° W
    (west > east: across the antimeridian), and draws the bins on both sides; a view of
    360° or more asks for the whole world."""
    page = page_factory(antimeridian_server).open("/?lat=-17.9&lng=-179.5&zoom=5&heat=true")
    page.wait_for_map()
    west, _, east, _ = page.js("window.gdMap.getBounds().toArray().flat()")
    assert west < -180 < east, "the view spans the antimeridian"
    page.wait("window.gdMap.querySourceFeatures('heat').length > 0")
    asked = [u for u in page.requests if "/v1/aggregate?" in u]
    bbox = [float(v) for v in parse_qs(urlparse(asked[0]).query)["bbox"][0].split(",")]
    assert bbox[0] > bbox[2], bbox
    assert abs(bbox[0] - (west + 360)) < 1e-5 and abs(bbox[2] - east) < 1e-5, (bbox, west, east)
    page.wait(
        "(() => { const lngs = window.gdMap.querySourceFeatures('heat')"
        ".map(f => f.geometry.coordinates[0]); return lngs.some(x => x > 0) &&"
        " lngs.some(x => x < 0); })()"
    )
    # from the east side: 169.2° E … 189.8° E is 169.2° E … 170.2° W
    bbox = _bbox_asked(page, "void window.gdMap.jumpTo({center: [179.5, -17.9]})")
    west, _, east, _ = page.js("window.gdMap.getBounds().toArray().flat()")
    assert bbox[0] > bbox[2] and abs(bbox[2] - (east - 360)) < 1e-5, (bbox, west, east)
    # the whole world once the view spans 360°
    bbox = _bbox_asked(page, "void window.gdMap.jumpTo({zoom: 0})")
    assert bbox[0] == -180 and bbox[2] == 180, bbox
    # the list's centre and the URL stay within -180 … 180 (the view starts at 181.5° E)
    page.js("void window.gdMap.jumpTo({center: [181.5, -17.9], zoom: 6})")
    assert page.js("window.gdMap.getCenter().lng") == 181.5, "MapLibre keeps it as set"
    page.wait("document.body.dataset.listCentre === '-17.900000,-178.500000'")
    assert _url_state(page)["lng"] == ["-178.50000"]
    asked = [u for u in page.requests if "/v1/merchants/nearby?" in u]
    assert parse_qs(urlparse(asked[-1]).query)["lng"] == ["-178.500000"]
    page.check_clean()


@pytest.mark.parametrize(
    ("path", "ready"),
    [("/docs", ".swagger-ui .info .title"), ("/redoc", "redoc h1, [role=main] h1")],
)
def test_the_docs_render_offline(
    page_factory: Callable[[str], Page], sample_server: str, path: str, ready: str
) -> None:
    page = page_factory(sample_server).open(path)
    page.page.wait_for_selector(ready, timeout=WAIT_MS)
    assert "geo-discovery" in page.page.inner_text(ready)
    page.check_clean()


@pytest.mark.real_data
def test_midtown_manhattan_on_the_nyc_snapshot(
    page_factory: Callable[[str], Page],
    nyc_data_dir: Path,
    nyc_engine: DiscoveryEngine,
    artifacts: Path,
) -> None:
    lat, lng = MIDTOWN
    with running_server(nyc_data_dir, env={"GEO_DISCOVERY_API_RELOAD_INTERVAL_MS": "0"}) as port:
        page = page_factory(f"http://127.0.0.1:{port}").open(f"/?lat={lat}&lng={lng}&zoom=14.6")
        page.wait_for_map()
        drawn = page.rendered("merchants")
        assert len(drawn) > 200
        ids = {f["properties"]["id"] for f in drawn}
        assert ids <= set(nyc_engine.merchants.column("merchant_id").to_pylist())
        assert page.rendered("districts-fill")
        page.shot(artifacts, "nyc-midtown")
        _click_a_district(page)
        page.shot(artifacts, "nyc-midtown-district")
        seq = page.js("document.body.dataset.listSeq")
        page.js("window.gdMap.jumpTo({zoom: 11.5})")
        page.wait("(seq) => document.body.dataset.listSeq !== seq", seq)
        page.wait("window.gdMap.loaded() && window.gdMap.areTilesLoaded()")
        bins = page.rendered("merchant-bins")
        assert bins and all(int(f["properties"]["count"]) >= 1 for f in bins)
        page.shot(artifacts, "nyc-bins")
        # a search: the commonest long word of the food places around Midtown that names
        # a category (so both kinds of suggestion show), from the data at run time
        words = Counter(
            w.casefold()
            for hit in nyc_engine.nearby(lat, lng, k=500, where=Filters(categories="food"))
            for w in re.findall(r"[^\W\d_]{5,}", hit.name or "")
        )
        common = [w for w, _ in words.most_common(40)]
        word = next(
            (w for w in common if nyc_engine.autocomplete(w, lat, lng, 8).categories), common[0]
        )
        page.page.click("#district-close")
        page.js(f"window.gdMap.jumpTo({{center: [{lng}, {lat}], zoom: 15.2}})")
        page.page.locator("#q").press_sequentially(word, delay=15)
        page.page.keyboard.press("Enter")
        page.wait("(q) => document.body.dataset.listQ === q", word)
        page.wait_for_tiles(q=word)
        drawn_q = {f["properties"]["id"] for f in page.rendered("merchants")}
        matching, everything = _in_view(page, nyc_engine, word)
        assert drawn_q and drawn_q <= matching < everything
        page.page.locator("#q").blur()
        page.page.locator("#q").focus()  # the suggestions for the text again
        page.wait("(q) => document.body.dataset.suggestQuery === q", word)
        page.wait("!document.getElementById('suggestions').hidden")
        page.shot(artifacts, "nyc-midtown-search")  # the README's picture (docs/map_explorer.png)
        page.check_clean()
    (artifacts / "nyc-midtown.json").write_text(json.dumps({"merchants_drawn": len(drawn)}))


def test_chromium_is_where_ci_installs_it() -> None:
    """.ci/run installs chromium and playwright; the tests above look for it here."""
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    assert "chromium" in ci and "playwright" in ci
    if shutil.which("chromium"):
        assert Path(shutil.which("chromium") or "").resolve() == Path(CHROMIUM).resolve()


def test_the_list_explains_a_learned_profile_by_its_own_parts(
    page_factory: Callable[[str], Page], sample_data_dir: Path, tmp_path: Path
) -> None:
    """Served with a learned profile, each list item shows the factors that multiply to its
    score (decay × each feature × scale), not the hand-set blend's parts."""
    with profile_server(sample_data_dir, tmp_path, ("wom", 1.5), ("district", 0.4)) as port:
        page = page_factory(f"http://127.0.0.1:{port}").open()
        page.wait_for_map()
        lat, lng = (float(v) for v in page.js("document.body.dataset.listCentre").split(","))
        _, want = get_json(
            port, f"/v1/merchants/nearby?lat={lat}&lng={lng}&limit=20&sort=best_match&explain=true"
        )
        ex = want["results"][0]["explain"]
        assert ex["model"] == "profile"
        why = page.js("document.querySelector('#results li .why').textContent")
        parts = " × ".join(
            f"{name} {part['factor']:.2f}" for name, part in ex["profile"]["parts"].items()
        )
        assert f"decay {ex['decay']:.2f} × {parts} × scale {ex['profile']['scale']:.2f}" in why
        assert "district" in parts and "wom" in parts  # the learned parts, named as fitted
        title = page.js("document.querySelector('#results li .why').title")
        assert "learned feature" in title
        page.check_clean()


def test_the_list_asks_for_now_and_a_url_time_ranks_by_that_times_popular_hours(
    page_factory: Callable[[str], Page], sample_data_dir: Path, tmp_path: Path
) -> None:
    """The list's request carries the browser's now with its offset; under a profile that
    weighs popular times, `?at=` in the URL fixes the time, the list names its time-of-week
    block (as geo_discovery.timeofweek labels it), and the page equals the API's at then."""
    from geo_discovery.timeofweek import BIN_LABELS, time_bin

    with profile_server(sample_data_dir, tmp_path, ("wom", 1.5), ("busy", 0.8)) as port:
        page = page_factory(f"http://127.0.0.1:{port}").open()
        page.wait_for_map()
        asked = [u for u in page.requests if "/v1/merchants/nearby?" in u]
        at = parse_qs(urlparse(asked[-1]).query)["at"][0]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", at), at
        lat, lng = page.js("document.body.dataset.listCentre").split(",")

        saturday_night = "2024-07-13T21:30:00"
        page = page_factory(f"http://127.0.0.1:{port}").open(
            f"/?lat={lat}&lng={lng}&zoom=15&at={saturday_night}"
        )
        page.wait_for_map()
        asked = [u for u in page.requests if "/v1/merchants/nearby?" in u]
        assert parse_qs(urlparse(asked[-1]).query)["at"] == [saturday_night]
        label = BIN_LABELS[time_bin(datetime.fromisoformat(saturday_night))]
        assert label == "weekend 18:00-24:00"
        status = page.js("document.getElementById('list-status').textContent")
        assert status.endswith(f"popular times: {label}"), status
        centre = page.js("document.body.dataset.listCentre")
        _, want = get_json(port, f"/v1/merchants/nearby?lat={centre.split(',')[0]}"
                           f"&lng={centre.split(',')[1]}&limit=20&sort=best_match&explain=true"
                           f"&at={saturday_night}")  # fmt: skip
        shown = page.js(
            "[...document.querySelectorAll('#results li')].map(li => li.dataset.merchantId)"
        )
        assert shown == [h["merchant_id"] for h in want["results"]]
        assert "busy" in page.js("document.querySelector('#results li .why').textContent")
        kept = parse_qs(page.js("window.location.search").lstrip("?"))  # the view's URL
        assert kept["at"] == [saturday_night]
        page.check_clean()
