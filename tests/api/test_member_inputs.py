"""A member's inputs over HTTP: ``POST /v1/merchants/nearby`` (the GET's parameters in a
JSON body, so that the member id and history stay out of URLs and logs), the limits of
``visits``, a GET ``visits`` written as a JSON array, and errors that never quote a visit.

Testers found the member id and history could only travel in the query string (proxy
logs, browser history, Referer headers); ``visits`` capped at 20,000 characters while
the docs said 10,000 visits; ``visits=["a","b"]`` answered 200 without personalisation;
and a visit's bad time was echoed back (``detail`` and ``errors[].value``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import visit_log_data_dir
from fastapi.testclient import TestClient

from geo_discovery.settings import Settings
from geo_discovery_api import create_app

NEARBY = "/v1/merchants/nearby"
CENTRE = {"lat": 48.8566, "lng": 2.3522}
SECRET = "secret-member-4711"  # never in an answer that is not the member's own results


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return visit_log_data_dir(tmp_path_factory.mktemp("member-inputs"), seed=2)


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=data_dir, api_reload_interval_ms=0)
    with TestClient(create_app(settings, data_dir)) as c:
        yield c


@pytest.fixture(scope="module")
def merchant_ids(client: TestClient) -> list[str]:
    r = client.get(NEARBY, params={**CENTRE, "limit": 40, "sort": "distance"})
    assert r.status_code == 200, r.text
    return [row["merchant_id"] for row in r.json()["results"]]


def _query(params: dict[str, Any]) -> dict[str, str]:
    """``params`` as a GET query string writes them."""
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}


def _post(client: TestClient, body: Any, **kw: Any) -> Any:
    return client.post(NEARBY, content=json.dumps(body), **kw)


# ------------------------------------------------------------------ the POST route
@pytest.mark.parametrize(
    "case",
    ["anonymous", "member", "visits", "explain", "geojson_fields", "filters"],
)
def test_post_answers_as_the_get(client: TestClient, merchant_ids: list[str], case: str) -> None:
    visits = [merchant_ids[-1]] * 6 + [f"{merchant_ids[-2]}@2024-05-01T18:00:00Z"]
    params: dict[str, Any] = {
        "anonymous": {**CENTRE, "limit": 7},
        "member": {**CENTRE, "member": "u7", "limit": 12},
        "visits": {**CENTRE, "visits": ",".join(visits)},
        "explain": {**CENTRE, "member": "u7", "visits": ",".join(visits), "explain": True},
        "geojson_fields": {**CENTRE, "format": "geojson", "fields": "name,distance_m"},
        "filters": {**CENTRE, "sort": "distance", "radius_m": 900, "min_reviews": 3, "limit": 5},
    }[case]
    got = client.get(NEARBY, params=_query(params))
    assert got.status_code == 200, got.text
    sent = _post(client, params)
    assert sent.status_code == 200, sent.text
    assert sent.json() == got.json()
    assert sent.headers["content-type"] == got.headers["content-type"]
    personal = "member" in params or "visits" in params
    for r in (sent, got):
        if personal:
            assert r.headers["cache-control"] == "private, no-store"
            assert "etag" not in r.headers
        else:
            assert r.headers["cache-control"].startswith("public")
    if "visits" in params:  # the same visits as a JSON array: the same answer
        as_array = _post(client, {**params, "visits": visits})
        assert as_array.status_code == 200, as_array.text
        assert as_array.json() == got.json()
        assert as_array.headers["cache-control"] == "private, no-store"
        assert "etag" not in as_array.headers
        if case == "visits":  # six visits lift that merchant to the top
            assert got.json()["results"][0]["merchant_id"] == merchant_ids[-1]


@pytest.mark.parametrize(
    "content_type", [None, "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"]
)
def test_post_reads_the_body_as_json_whatever_its_content_type(
    client: TestClient, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    r = _post(client, {**CENTRE, "member": SECRET, "limit": 3}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "private, no-store" and "etag" not in r.headers
    assert r.json()["count"] == 3
    assert SECRET not in r.text


def test_post_takes_the_librarys_10000_visits(client: TestClient, merchant_ids: list[str]) -> None:
    """1,000 ids gave 422 and 10,000 gave 414 on the GET; the body takes 10,000."""
    visits = [f"{merchant_ids[i % 30]}@2024-05-01T18:00:00Z" for i in range(10_000)]
    for value in (visits, ",".join(visits)):
        r = _post(client, {**CENTRE, "visits": value, "limit": 5})
        assert r.status_code == 200, r.text[:300]
    r = _post(client, {**CENTRE, "visits": [*visits, merchant_ids[0]]})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"parameter": "visits", "location": "body", "value": None,
         "message": "visits has 10001 entries; allowed: at most 10000"}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "parameter", "needle"),
    [
        ({**CENTRE, "lat": 91}, "lat", "lat=91 is out of range; allowed: -90 <= lat <= 90"),
        ({"lng": 2.35, "member": SECRET}, "lat", "lat is required"),
        ({**CENTRE, "sort": "nope"}, "sort", "sort=nope is not allowed; allowed: 'best_match'"),
        ({**CENTRE, "limit": 0}, "limit", "limit=0 is out of range; allowed: 1 <= limit"),
        ({**CENTRE, "min_rating": False}, "min_rating", "min_rating=false is not a number"),
        ({**CENTRE, "explain": "yes"}, "explain", 'explain="yes" is not true or false'),
        ({**CENTRE, "lat": "48.85"}, "lat", 'lat="48.85" is not a number; allowed: a JSON'),
        ({**CENTRE, "radius": 500}, "radius", "radius (use radius_m (metres)) is not a field"),
        (
            {**CENTRE, "member": SECRET, "sort": "distance"},
            "member",
            "member ranks best_match only; got sort='distance'",
        ),
        ({**CENTRE, "member": SECRET * 20}, "member", "member is too long; allowed: at most 200"),
        ({**CENTRE, "member": 4711}, "member", "member is a number, not text"),
        ({**CENTRE, "visits": []}, "visits", "visits is an empty array; allowed:"),
        ({**CENTRE, "visits": {"id": SECRET}}, "visits", "visits is an object; allowed:"),
        ({**CENTRE, "visits": ["a", 4711]}, "visits", "visits entry 2 is a number, not text"),
        ({**CENTRE, "visits": [SECRET, ""]}, "visits", "visits entry 2 is empty; allowed:"),
        ([SECRET, "b"], "body", "request body is an array; allowed: a JSON object"),
    ],
)
def test_post_errors_are_422_naming_the_field(
    client: TestClient, body: Any, parameter: str, needle: str
) -> None:
    r = _post(client, body)
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert needle in r.json()["detail"], r.text
    assert [e["parameter"] for e in errors] == [parameter], errors
    assert all(e["location"] == "body" for e in errors), errors
    assert SECRET not in r.text  # a member's id or visit is never echoed
    if parameter in ("member", "visits", "body"):
        assert all(e["value"] is None for e in errors), errors


@pytest.mark.parametrize(
    "raw",
    [
        b'{"lat": 48.85, "lng": 2.35, "member": "' + SECRET.encode() + b'",}',  # a comma
        b'{"lat": 48.85, "lng": 2.35, "visits": ["' + SECRET.encode() + b'"',  # cut short
        b"",
    ],
)
def test_a_post_body_that_is_not_json_is_refused_without_quoting_it(
    client: TestClient, raw: bytes
) -> None:
    r = client.post(NEARBY, content=raw)
    assert r.status_code == 422, r.text
    assert SECRET not in r.text
    (error,) = r.json()["errors"]
    assert error["parameter"] == "body" and error["value"] is None, error
    assert "allowed: a JSON object of the nearby parameters" in error["message"]


def test_the_post_route_is_documented(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    post = spec["paths"][NEARBY]["post"]
    assert "out of URLs" in post["description"]
    body = post["requestBody"]["content"]["application/json"]
    assert set(body["examples"]) >= {"member", "visits"}
    schema = spec["components"]["schemas"]["NearbyBody"]
    assert schema["required"] == ["lat", "lng"] and schema["additionalProperties"] is False
    visits = schema["properties"]["visits"]
    assert {"type": "array", "items": {"type": "string"}, "maxItems": 10_000} in visits["anyOf"]
    assert "POST" in client.options(NEARBY).headers["allow"]


# ------------------------------------------------------------ visits over the GET
@pytest.mark.parametrize("value", ['["a","b"]', " [a] ", "[]"])
def test_a_get_visits_written_as_a_json_array_is_refused(client: TestClient, value: str) -> None:
    """It answered 200 unpersonalised: the entries read as the ids '["a"' and '"b"]'."""
    r = client.get(NEARBY, params={**CENTRE, "visits": value})
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    assert error["parameter"] == "visits" and error["value"] is None
    assert "comma-separated" in error["message"], error
    assert "POST /v1/merchants/nearby takes a JSON array" in error["message"], error


# ------------------------------------------------- errors never quote the history
BAD_TIMES = [
    (f"{SECRET}@not-a-time-{SECRET}", "visits entry {n} has a time that is not an ISO 8601"),
    (f"{SECRET}@0001-01-01T00:00:00+14:00", "visits entry {n} has a time out of range in UTC"),
    (f"{SECRET}@9999-12-31T23:59:59-12:00", "visits entry {n} has a time out of range in UTC"),
    (f"{SECRET}@2024-13-45", "visits entry {n} has a time that is not an ISO 8601"),
    (f"@{SECRET}", "visits entry {n} has no merchant id before '@'"),
]


@pytest.mark.parametrize(("entry", "message"), BAD_TIMES)
@pytest.mark.parametrize("method", ["GET", "POST text", "POST array"])
def test_visits_errors_name_the_position_never_the_entry(
    client: TestClient, merchant_ids: list[str], entry: str, message: str, method: str
) -> None:
    """The time after the last '@' (a visit time, or part of a merchant id) was echoed in
    ``detail`` and ``errors[].value``."""
    visits = [merchant_ids[0], merchant_ids[1], entry]
    if method == "GET":
        r = client.get(NEARBY, params={**CENTRE, "visits": ",".join(visits)})
    else:
        value: Any = visits if method == "POST array" else ",".join(visits)
        r = _post(client, {**CENTRE, "visits": value})
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    assert error["parameter"] == "visits" and error["value"] is None, error
    assert error["message"].startswith(message.format(n=3)), error
    assert "; allowed: " in error["message"], error
    assert SECRET not in r.text and "not-a-time" not in r.text and "2024-13-45" not in r.text


def test_every_wrong_visit_is_named_by_position(
    client: TestClient, merchant_ids: list[str]
) -> None:
    visits = [f"{SECRET}@bad{i}" if i % 2 else merchant_ids[i] for i in range(16)]
    r = _post(client, {**CENTRE, "visits": visits})
    assert r.status_code == 422
    messages = [e["message"] for e in r.json()["errors"]]
    assert [m.split(" has ")[0] for m in messages[:5]] == [
        f"visits entry {n}" for n in (2, 4, 6, 8, 10)
    ]
    assert messages[5].startswith("visits has 3 more entries that are not allowed; allowed:")
    assert SECRET not in r.text and "bad1" not in r.text


# -------------------------------------------------- what the docs now say of times
def test_visit_times_change_nothing_as_the_docs_say(
    client: TestClient, merchant_ids: list[str]
) -> None:
    target = merchant_ids[-1]
    answers = [
        _post(client, {**CENTRE, "visits": [f"{target}{when}"] * 4, "explain": True}).json()
        for when in ("", "@1970-01-01T00:00:00Z", "@9999-12-31T00:00:00Z", "@2024-05-01")
    ]
    assert all(a == answers[0] for a in answers)
    assert answers[0]["results"][0]["merchant_id"] == target
    spec = client.get("/openapi.json").json()
    get_visits = next(
        p for p in spec["paths"][NEARBY]["get"]["parameters"] if p["name"] == "visits"
    )
    body_visits = spec["components"]["schemas"]["NearbyBody"]["properties"]["visits"]
    for text in (get_visits["description"], body_visits["description"]):
        assert "a time is checked for its form only and changes nothing" in text
    get_text = get_visits["description"]
    assert "At most 20,000 characters" in get_text and "10,000 visits" in get_text
