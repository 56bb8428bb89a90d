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
(tiles and list); ``/docs`` and ``/redoc`` render offline.

Screenshots go to ``$GEO_DISCOVERY_ARTIFACTS_DIR`` when set, else a pytest temporary
folder (printed with ``-s``). The tests skip, with the reason, when chromium is absent
(``apt-get install -y chromium``), except under ``CI=true`` where that is a failure:
``.ci/run`` installs it. Select them with ``-m browser``.
"""

from __future__ import annotations

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
from api_support import get_json, running_server
from browser_support import CHROMIUM

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.query import Filters

pytestmark = pytest.mark.browser

WAIT_MS = 60_000
HELSINKI = (60.1699, 24.9384)
MIDTOWN = (40.7549, -73.9840)


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

    def check_clean(self) -> None:
        """No console or page error, and nothing was fetched from outside 127.0.0.1."""
        assert not self.errors, self.errors
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
