"""The search box over HTTP on the real NYC snapshot: ``q`` on nearby and area search,
``/v1/autocomplete`` and ``/v1/categories`` (answers, errors, the OpenAPI document)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.query import Filters
from geo_discovery.settings import Settings
from geo_discovery_api import create_app

pytestmark = pytest.mark.real_data

LAT, LNG = "40.758", "-73.985"


@pytest.fixture(scope="module")
def client(nyc_data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=nyc_data_dir, api_reload_interval_ms=0)
    with TestClient(create_app(settings, nyc_data_dir)) as c:
        yield c


def test_piza_near_times_square_gives_pizza_with_the_typo_explained(client: TestClient) -> None:
    r = client.get(
        "/v1/merchants/nearby", params={"lat": LAT, "lng": LNG, "q": "piza", "explain": "true"}
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 20
    assert all("pizza" in h["category"] or "pizza" in h["name"].lower() for h in results[:10])
    text = results[0]["explain"]["text"]
    assert text["query"] == "piza" and text["dropped"] == []
    assert text["words"][0] | {"score": None} == {
        "word": "piza", "field": "name", "term": "pizza", "typos": 1, "prefix": False,
        "score": None,
    }  # fmt: skip
    e = results[0]["explain"]
    parts = e["relevance"] * e["decay"] * e["wom_term"] * e["district_factor"]
    assert parts == pytest.approx(results[0]["score"], rel=1e-12)
    for hit in results:  # one word: relevance = its score² × the name's exactness
        t = hit["explain"]["text"]
        assert t["relevance"] == pytest.approx(t["words"][0]["score"] ** 2 * t["exactness"],
                                               rel=1e-12)  # fmt: skip


def test_q_with_every_sort_equals_the_library(
    client: TestClient, nyc_engine: DiscoveryEngine
) -> None:
    for sort in ("best_match", "distance", "rating", "review_count", "price"):
        params = {"lat": LAT, "lng": LNG, "q": "coffee", "sort": sort, "limit": "7"}
        r = client.get("/v1/merchants/nearby", params=params)
        assert r.status_code == 200, r.text
        want = nyc_engine.nearby(40.758, -73.985, 7, sort=sort, where=Filters(text="coffee"))
        assert [h["merchant_id"] for h in r.json()["results"]] == want.merchant_ids


def test_q_pages_on_with_its_cursor(client: TestClient) -> None:
    params = {"lat": LAT, "lng": LNG, "q": "pizza", "limit": "5", "categories": "food"}
    first = client.get("/v1/merchants/nearby", params=params).json()
    second = client.get(
        "/v1/merchants/nearby", params={**params, "cursor": first["next_cursor"]}
    ).json()
    ids = [h["merchant_id"] for h in first["results"] + second["results"]]
    assert len(set(ids)) == 10
    whole = client.get("/v1/merchants/nearby", params={**params, "limit": "10"}).json()
    assert [h["merchant_id"] for h in whole["results"]] == ids
    bad = client.get(
        "/v1/merchants/nearby", params={**params, "q": "bagel", "cursor": first["next_cursor"]}
    )
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]


def test_box_and_polygon_search_take_q(client: TestClient, nyc_engine: DiscoveryEngine) -> None:
    box = "-73.992,40.752,-73.978,40.762"
    pizza = client.get(
        "/v1/merchants/search", params={"bbox": box, "q": "pizza", "limit": "1000"}
    ).json()
    everything = client.get("/v1/merchants/search", params={"bbox": box}).json()
    assert 0 < pizza["total"] < everything["total"]
    want = nyc_engine.within_bbox(box, where=Filters(text="pizza"))
    assert [h["merchant_id"] for h in pizza["results"]] == want.merchant_ids
    ring = [[-73.992, 40.752], [-73.978, 40.752], [-73.978, 40.762], [-73.992, 40.762],
            [-73.992, 40.752]]  # fmt: skip
    poly = client.post(
        "/v1/merchants/search",
        params={"q": "pizza", "limit": "1000"},
        json={"type": "Polygon", "coordinates": [ring]},
    ).json()
    assert {h["merchant_id"] for h in poly["results"]} == set(want.merchant_ids)


def test_autocomplete_joe_lists_joes_places_nearby(client: TestClient) -> None:
    r = client.get("/v1/autocomplete", params={"q": "joe", "lat": LAT, "lng": LNG})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"] == "joe" and body["snapshot"]
    assert len(body["merchants"]) == 8
    for m in body["merchants"]:
        a, b = m["highlight"][0]
        assert m["name"][a:b].lower().startswith("joe")
        assert set(m) == {"merchant_id", "name", "category", "distance_m", "highlight"}
    cats = client.get("/v1/autocomplete", params={"q": "pizz", "lat": LAT, "lng": LNG}).json()
    assert cats["categories"][0] | {"count": 0} == {
        "path": "food/restaurant/pizza", "label": "Pizza", "count": 0,
    }  # fmt: skip
    assert cats["categories"][0]["count"] > 100
    # a suggested category counts what filtering by it finds: everything under it too
    tree = {c["path"]: c["count"] for c in client.get("/v1/categories").json()["categories"]}
    for q in ("restaurant", "grocery", "pizz", "food"):
        got = client.get("/v1/autocomplete", params={"q": q, "lat": LAT, "lng": LNG}).json()
        assert got["categories"], q
        for c in got["categories"]:
            assert c["count"] == tree[c["path"]], (q, c)
    # a word no merchant matches with the others: dropped and named, as nearby does; the
    # categories are the kept words' (there were none) and the answer fits its schema
    both = {"q": "pizz zzyzx", "lat": LAT, "lng": LNG}
    got = client.get("/v1/autocomplete", params=both).json()
    assert got["dropped_words"] == ["zzyzx"] and got["query"] == "pizz zzyzx"
    assert got["categories"] == cats["categories"] and "dropped_words" not in cats
    near = client.get("/v1/merchants/nearby", params={**both, "sort": "best_match", "limit": 8})
    assert near.status_code == 200, near.text
    assert [m["merchant_id"] for m in got["merchants"]] == [
        h["merchant_id"] for h in near.json()["results"]]
    assert near.json()["dropped_words"] == ["zzyzx"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert "dropped_words" in schema["AutocompleteResponse"]["properties"]


def test_categories_tree(client: TestClient) -> None:
    r = client.get("/v1/categories")
    assert r.status_code == 200
    nodes = {c["path"]: c for c in r.json()["categories"]}
    assert nodes["food"]["parent"] is None and nodes["food/grocery"]["parent"] == "food"
    assert nodes["food/grocery/bodega"]["label"] == "Bodega"
    assert nodes["food/restaurant/cafe_coffee_tea"]["label"] == "Café/Coffee/Tea"
    assert nodes["food/grocery"]["count"] == sum(
        c["count"] for p, c in nodes.items() if p.startswith("food/grocery/")
    )
    cached = client.get("/v1/categories", headers={"If-None-Match": r.headers["etag"]})
    assert cached.status_code == 304


@pytest.mark.parametrize(
    ("path", "params", "detail"),
    [
        ("/v1/autocomplete", {"q": "!!!", "lat": LAT, "lng": LNG}, "no letter or digit"),
        ("/v1/autocomplete", {"q": "pizza", "lat": "91", "lng": LNG}, "lat"),
        ("/v1/autocomplete", {"lat": LAT, "lng": LNG}, "q"),
        ("/v1/autocomplete", {"q": "x" * 201, "lat": LAT, "lng": LNG}, "q"),
        ("/v1/autocomplete", {"q": "a", "lat": LAT, "lng": LNG, "limit": "0"}, "limit"),
        ("/v1/merchants/nearby", {"lat": LAT, "lng": LNG, "q": "- ..."}, "no letter or digit"),
        ("/v1/merchants/nearby", {"lat": LAT, "lng": LNG, "q": " ".join("w" * 17)}, "at most 16"),
        ("/v1/categories", {"q": "x"}, "q"),
        # refused where no merchant is too (an empty box or tile answered 200 or 204, one
        # with merchants 422: a map drew some tiles and not others)
        ("/v1/merchants/search", {"bbox": "0,0,0.001,0.001", "q": "\U0001F600"}, "no letter"),
        ("/v1/tiles/14/0/0.mvt", {"q": "\U0001F600"}, "no letter or digit"),
        ("/v1/tiles.json", {"q": "\U0001F600"}, "no letter or digit"),
        ("/v1/tiles.json", {"q": " ".join("w" * 17)}, "at most 16"),
    ],
)
def test_bad_text_requests_are_422(
    client: TestClient, path: str, params: dict[str, str], detail: str
) -> None:
    r = client.get(path, params=params)
    assert r.status_code == 422, r.text
    assert detail in r.json()["detail"]


def test_openapi_documents_the_search_box(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/v1/autocomplete", "/v1/categories"):
        assert "200" in paths[path]["get"]["responses"]
    names = {p["name"]: p for p in paths["/v1/autocomplete"]["get"]["parameters"]}
    assert names["q"]["required"] and names["q"]["examples"]
    nearby = {p["name"] for p in paths["/v1/merchants/nearby"]["get"]["parameters"]}
    assert "q" in nearby
    search = {p["name"] for p in paths["/v1/merchants/search"]["get"]["parameters"]}
    assert "q" in search


def test_the_spec_says_where_the_last_word_is_dropped(client: TestClient) -> None:
    """Box, polygon and tile text only filters; the spec said the last word was dropped
    there too, as on nearby."""
    spec = client.get("/openapi.json").json()["paths"]

    def q_help(path: str, method: str = "get") -> str:
        params = spec[path][method]["parameters"]
        return next(p["description"] for p in params if p["name"] == "q")

    for path in ("/v1/merchants/nearby", "/v1/autocomplete"):
        assert "the last word is dropped" in q_help(path), path
    for path in ("/v1/merchants/search", "/v1/tiles/{z}/{x}/{y}.mvt", "/v1/tiles.json"):
        assert "no word is dropped" in q_help(path), path
