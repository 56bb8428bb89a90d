"""The nearby fast lane (api/fastpath.py) answers exactly as the FastAPI route would.

A value written with an exponent (``4.0758e1``) is the same number to the route but not
plain decimal to the fast lane, so the same query can be sent down both paths and the
answers compared byte for byte. Requests the lane does not take (errors, other
parameters, conditional requests) must reach the route unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import TIMES_SQUARE
from fastapi.testclient import TestClient

from geo_discovery.settings import Settings
from geo_discovery_api import create_app
from geo_discovery_api.fastpath import NearbyFastLane

pytestmark = pytest.mark.real_data

URL = "/v1/merchants/nearby"


@pytest.fixture(scope="module")
def client(nyc_data_dir: Path) -> Iterator[TestClient]:
    data_dir = nyc_data_dir
    settings = Settings(data_dir=data_dir, api_reload_interval_ms=0)
    with TestClient(create_app(settings, data_dir)) as c:
        yield c


@pytest.fixture()
def lane_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, per request, whether the fast lane answered it."""
    calls: list[bool] = []
    original = NearbyFastLane.answer

    def answer(self: NearbyFastLane, request):  # type: ignore[no-untyped-def]
        got = original(self, request)
        calls.append(got is not None)
        return got

    monkeypatch.setattr(NearbyFastLane, "answer", answer)
    return calls


def _exp(x: float) -> str:
    return f"{x:.10e}"  # the same float, in a form only the full route parses


def _both_ways(
    client: TestClient, lat: float, lng: float, params: dict[str, str], headers: dict[str, str]
) -> tuple[Any, Any]:
    """The same query down the fast lane (plain decimals) and to the route (exponents):
    both 200 with the same bytes."""
    fast = client.get(URL, params={"lat": repr(lat), "lng": repr(lng), **params}, headers=headers)
    full = client.get(URL, params={"lat": _exp(lat), "lng": _exp(lng), **params}, headers=headers)
    assert fast.status_code == full.status_code == 200, full.text
    assert fast.content == full.content
    return fast, full


POINTS = [TIMES_SQUARE, (40.7193, -73.9897), (40.6782, -73.9442), (40.5, -74.3), (41.2, -73.0)]


@pytest.mark.parametrize("sort", ["best_match", "distance", "rating", "review_count", "price"])
def test_fast_lane_answers_byte_for_byte_like_the_route(
    client: TestClient, lane_calls: list[bool], sort: str
) -> None:
    for i, (lat, lng) in enumerate(POINTS):
        limit = [1, 5, 20, 100, 20][i]
        extra = {"radius_m": "400"} if i % 2 else {}
        fast = client.get(URL, params={"lat": repr(lat), "lng": repr(lng), "limit": str(limit),
                                       "sort": sort, **extra})  # fmt: skip
        full = client.get(URL, params={"lat": _exp(lat), "lng": _exp(lng), "limit": str(limit),
                                       "sort": sort, **extra})  # fmt: skip
        assert fast.status_code == full.status_code == 200, full.text
        assert fast.content == full.content
        assert fast.headers["etag"] == full.headers["etag"]
        assert fast.headers["content-type"] == full.headers["content-type"]
        assert fast.headers["cache-control"] == full.headers["cache-control"]
        if i < 3:  # the last two points may have nothing within the radius
            assert len(fast.json()["results"]) > 0
    assert lane_calls == [True, False] * len(POINTS)


@pytest.mark.parametrize("q", ["pizza", "piza", "joe's pi", "Café", "星巴克", "coffee shop zzyzx"])
def test_fast_lane_answers_text_queries_like_the_route(
    client: TestClient, lane_calls: list[bool], q: str
) -> None:
    for sort in ("best_match", "distance", "rating"):
        lat, lng = TIMES_SQUARE
        fast = client.get(URL, params={"lat": repr(lat), "lng": repr(lng), "q": q, "sort": sort})
        full = client.get(URL, params={"lat": _exp(lat), "lng": _exp(lng), "q": q, "sort": sort})
        assert fast.status_code == full.status_code == 200, full.text
        assert fast.content == full.content
        assert fast.headers["etag"] == full.headers["etag"]
    assert lane_calls == [True, False] * 3


def test_default_request_takes_the_fast_lane(client: TestClient, lane_calls: list[bool]) -> None:
    body = client.get(URL, params={"lat": "40.758", "lng": "-73.9855"}).json()
    assert lane_calls == [True]
    assert body["count"] == 20 and body["next_cursor"]
    assert all("score" in hit for hit in body["results"])  # best_match is the default
    # Its cursor pages on through the full route.
    nxt = client.get(
        URL, params={"lat": "40.758", "lng": "-73.9855", "cursor": body["next_cursor"]}
    )
    assert nxt.status_code == 200, nxt.text
    seen = {h["merchant_id"] for h in body["results"]}
    assert seen.isdisjoint(h["merchant_id"] for h in nxt.json()["results"])


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"lat": "91", "lng": "0"}, 422, "lat=91 is out of range; allowed: -90 <= lat <= 90"),
        ({"lat": "40.7", "lng": "-73.9", "limit": "0"}, 422, "limit=0 is out of range"),
        ({"lat": "40.7", "lng": "-73.9", "limit": "2.5"}, 422, "limit=2.5 is not an integer"),
        ({"lat": "40.7", "lng": "-73.9", "radius_m": "-1"}, 422, "radius_m=-1 is out of range"),
        ({"lat": "40.7", "lng": "-73.9", "sort": "nearest"}, 422, "sort=nearest is not allowed"),
        ({"lat": "nan", "lng": "-73.9"}, 422, "lat=nan"),
        ({"lat": "40.7"}, 422, "lng is required"),
        ({"lat": "40.7", "lng": "-73.9", "radius": "5"}, 422, "radius (use radius_m (metres))"),
        ({"lat": "40.7", "lng": "-73.9", "q": "!!"}, 422, "q='!!' has no letter or digit"),
        ({"lat": "40.7", "lng": "-73.9", "q": "x" * 201}, 422, "q"),
        ({"lat": "40.7", "lng": "-73.9", "member": "x" * 201}, 422, "member"),
        ({"lat": "40.7", "lng": "-73.9", "member": ""}, 422, "member is empty"),
        ({"lat": "40.7", "lng": "-73.9", "member": "m", "sort": "distance"}, 422,
         "member ranks best_match only"),
        ({"lat": "40.7", "lng": "-73.9", "visits": "a@yesterday"}, 422,
         "visits entry 1 has a time that is not an ISO 8601 date-time"),
    ],
)
def test_anything_else_reaches_the_route(
    client: TestClient, lane_calls: list[bool], params: dict[str, str], status: int, detail: str
) -> None:
    r = client.get(URL, params=params)
    assert r.status_code == status
    assert detail in r.json()["detail"]
    assert lane_calls == [False]


def test_conditional_and_repeated_requests_reach_the_route(
    client: TestClient, lane_calls: list[bool]
) -> None:
    first = client.get(URL, params={"lat": "40.758", "lng": "-73.9855"})
    again = client.get(
        URL,
        params={"lat": "40.758", "lng": "-73.9855"},
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304
    twice = client.get(f"{URL}?lat=40.758&lat=40.7&lng=-73.9855")  # the route refuses it
    assert twice.status_code == 422 and "lat is given 2 times" in twice.json()["detail"]
    assert lane_calls == [True, False, False]


# ------------------------------------------------- below the app (FastLaneMiddleware)
IDENTITY = {"Accept-Encoding": "identity"}


@pytest.fixture()
def raw_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, per request reaching it, whether the middleware's lane answered."""
    calls: list[bool] = []
    original = NearbyFastLane.answer_raw

    def answer_raw(self: NearbyFastLane, engine, scope):  # type: ignore[no-untyped-def]
        got = original(self, engine, scope)
        calls.append(got is not None)
        return got

    monkeypatch.setattr(NearbyFastLane, "answer_raw", answer_raw)
    return calls


@pytest.mark.parametrize("sort", ["best_match", "distance", "price"])
def test_middleware_lane_sends_the_routes_status_headers_and_bytes(
    client: TestClient, raw_calls: list[bool], lane_calls: list[bool], sort: str
) -> None:
    for i, (lat, lng) in enumerate(POINTS):
        limit = [1, 5, 20, 100, 20][i]
        extra = {"radius_m": "400"} if i % 2 else {}
        common = {"limit": str(limit), "sort": sort, **extra}
        fast, full = _both_ways(client, lat, lng, common, IDENTITY)
        assert fast.headers.raw == full.headers.raw  # the same headers, in the same order
    assert raw_calls == [True, False] * len(POINTS)
    assert lane_calls == [False] * len(POINTS)  # the route's own lane saw only the others
    vary = [r for r in (fast, full) if "vary" in r.headers]
    assert all(r.headers["vary"] == "Accept-Encoding" for r in vary)


def test_small_answers_carry_no_vary_like_the_route(client: TestClient) -> None:
    far = {"lat": "41.2", "lng": "-73.0", "radius_m": "10", "sort": "distance"}
    fast = client.get(URL, params=far, headers=IDENTITY)
    full = client.get(URL, params={**far, "lat": _exp(41.2)}, headers=IDENTITY)
    assert fast.json()["count"] == 0 and "vary" not in fast.headers
    assert fast.headers.raw == full.headers.raw and fast.content == full.content


@pytest.mark.parametrize(
    ("method", "headers"),
    [("GET", {"Accept-Encoding": "gzip"}), ("HEAD", IDENTITY), ("GET", {**IDENTITY,
     "If-None-Match": '"x"'})],
)  # fmt: skip
def test_gzip_head_and_conditional_requests_go_on_to_the_app(
    client: TestClient, raw_calls: list[bool], method: str, headers: dict[str, str]
) -> None:
    r = client.request(method, URL, params={"lat": "40.758", "lng": "-73.9855"}, headers=headers)
    assert r.status_code == 200
    assert raw_calls in ([False], [])  # HEAD never reaches the lane
    if "gzip" in headers["Accept-Encoding"]:
        assert r.headers["content-encoding"] == "gzip"


def _count(client: TestClient) -> float:
    line = (
        'geo_discovery_http_requests_total{method="GET",route="/v1/merchants/nearby",status="200"}'
    )
    for row in client.get("/metrics").text.splitlines():
        if row.startswith(line):
            return float(row.rsplit(" ", 1)[1])
    return 0.0


def test_middleware_lane_answers_are_counted_under_the_route(
    client: TestClient, raw_calls: list[bool]
) -> None:
    before = _count(client)
    client.get(URL, params={"lat": "40.758", "lng": "-73.9855"}, headers=IDENTITY)
    assert raw_calls == [True]
    assert _count(client) == before + 1


@pytest.mark.parametrize("how", ["member", "visits"])
def test_member_requests_take_the_lanes_and_stay_private_like_the_route(
    client: TestClient, raw_calls: list[bool], lane_calls: list[bool], how: str
) -> None:
    """A member's request (an id, or recent visits that really lift the page) is answered
    by the lanes with the route's bytes and headers, ``private, no-store`` included: below
    the app (identity) and by the route's own lane (gzip)."""
    plain = client.get(URL, params={"lat": "40.758", "lng": "-73.9855", "limit": "40"}).json()
    ids = [h["merchant_id"] for h in plain["results"]]
    lifted = 0
    for i, (lat, lng) in enumerate(POINTS):
        ctx = {"member": f"m-{i}"} if how == "member" else {"visits": ",".join(ids[30 + i :])}
        for headers in (IDENTITY, {}):
            fast, full = _both_ways(client, lat, lng, ctx, headers)
            assert fast.headers["cache-control"] == "private, no-store"
            if headers is IDENTITY:
                assert fast.headers.raw == full.headers.raw
        bare = client.get(URL, params={"lat": repr(lat), "lng": repr(lng)}).json()
        lifted += [h["merchant_id"] for h in bare["results"]] != [
            h["merchant_id"] for h in fast.json()["results"]
        ]
    # the lanes answered: below the app each identity request, the route's own lane each
    # gzip one (and the plain pages); the exponent-form twins reached the route itself
    assert sum(raw_calls) == len(POINTS)
    assert sum(lane_calls) == 1 + 2 * len(POINTS)
    if how == "visits":
        assert lifted >= 1, "recent visits lift the page"
