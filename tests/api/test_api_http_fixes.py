"""HTTP details a tester found wrong: caching of clock-dependent and member answers, JSON
bodies sent without a JSON Content-Type, empty list values, error values as sent, and
OpenAPI examples the API itself refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import app_client
from fastapi.testclient import TestClient

NEARBY = "/v1/merchants/nearby"
CENTRE = {"lat": 60.17, "lng": 24.94}  # Helsinki: the bundled sample
PLAIN = {"Accept-Encoding": "identity"}  # what the fast lane's middleware takes
POLYGON = {
    "type": "Polygon",
    "coordinates": [[[24.9, 60.1], [25.0, 60.1], [25.0, 60.2], [24.9, 60.2], [24.9, 60.1]]],
}


@pytest.fixture(scope="module")
def client(sample_data_dir: Path) -> Iterator[TestClient]:
    with app_client(sample_data_dir) as c:
        yield c


def _etag(client: TestClient) -> str:
    r = client.get(NEARBY, params={**CENTRE, "limit": 3})
    assert r.status_code == 200, r.text
    return r.headers["etag"]


# ------------------------------------------------------------------ 1. open_now and ETags
def test_open_now_answer_has_no_etag_and_never_304(client: TestClient) -> None:
    etag = _etag(client)
    params = {**CENTRE, "limit": 3, "open_now": "true"}
    r = client.get(NEARBY, params=params)
    assert r.status_code == 200, r.text
    assert "etag" not in r.headers  # the answer changes with the clock
    for tag in (etag, "*"):
        again = client.get(NEARBY, params=params, headers={"If-None-Match": tag})
        assert again.status_code == 200, tag
        assert "etag" not in again.headers
        assert again.json()["count"] == r.json()["count"]
    explained = client.get(NEARBY, params={**params, "explain": "true"},
                           headers={"If-None-Match": etag})  # fmt: skip
    assert explained.status_code == 200 and "etag" not in explained.headers


def test_open_at_answer_keeps_its_etag(client: TestClient) -> None:
    params = {**CENTRE, "limit": 3, "open_at": "2024-07-15T18:30:00Z"}
    r = client.get(NEARBY, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == _etag(client)  # a fixed instant: the snapshot decides
    again = client.get(NEARBY, params=params, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["cache-control"] == r.headers["cache-control"]


# ------------------------------------------------------------------ 2. members and 304s
@pytest.mark.parametrize(
    "extra",
    [
        {"member": "u1"},
        {"member": "u1", "explain": "true"},
        {"visits": "osm:node/1,osm:node/2@2024-05-01T18:00:00Z"},
        {"visits": "osm:node/1", "radius_m": "2000"},
    ],
)
def test_member_answer_has_no_etag_and_never_304(
    client: TestClient, extra: dict[str, str]
) -> None:
    etag = _etag(client)
    params = {**CENTRE, "limit": 3, **extra}
    for headers in ({}, PLAIN):  # the route, and the fast lane's middleware
        r = client.get(NEARBY, params=params, headers=headers)
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "private, no-store"
        assert "etag" not in r.headers
    for tag in (etag, "*"):  # a conditional request gets the full private answer
        again = client.get(NEARBY, params=params, headers={"If-None-Match": tag})
        assert again.status_code == 200, tag
        assert again.headers["cache-control"] == "private, no-store"
        assert "etag" not in again.headers


# ------------------------------------------------------------ 3. bodies and Content-Type
@pytest.mark.parametrize(
    "content_type",
    ["text/plain;charset=UTF-8", None, "application/x-www-form-urlencoded", "text/json"],
)
def test_polygon_body_is_json_whatever_its_content_type(
    client: TestClient, content_type: str | None
) -> None:
    url = "/v1/merchants/search?limit=3&fields=name"
    want = client.post(url, json=POLYGON)
    assert want.status_code == 200, want.text
    headers = {} if content_type is None else {"Content-Type": content_type}
    r = client.post(url, content=json.dumps(POLYGON).encode(), headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["results"] == want.json()["results"]


def test_body_that_is_not_json_is_named_as_sent(client: TestClient) -> None:
    url = "/v1/merchants/search?limit=3"
    r = client.post(url, content=b"hello", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    (err,) = r.json()["errors"]
    assert err["parameter"] == "body" and err["value"] == "hello"
    assert "not valid JSON" in err["message"]
    long = "x" * 5000
    r = client.post(url, content=long.encode(), headers={"Content-Type": "text/plain"})
    (err,) = r.json()["errors"]
    assert err["value"].startswith("xxx") and len(err["value"]) <= 130  # a bounded prefix
    assert "text/plain" in err["message"] and "read as JSON" in err["message"]
    assert "b'" not in r.json()["detail"]  # never a Python repr of bytes


def test_body_nested_too_deeply_says_so(client: TestClient) -> None:
    url = "/v1/merchants/search?limit=3"
    for depth in (101, 950, 5000):
        body = "[" * depth + "]" * depth
        r = client.post(url, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, depth
        detail = r.json()["detail"]
        assert "too deep" in detail and "at most 100" in detail, detail
    ok = {"type": "Feature", "properties": {"a": [[[["]]]]"]]]]}, "geometry": POLYGON}
    assert client.post(url, json=ok).status_code == 200


def test_polygon_body_documents_the_content_types(client: TestClient) -> None:
    post = client.get("/openapi.json").json()["paths"]["/v1/merchants/search"]["post"]
    text = json.dumps(post["requestBody"])
    assert "whatever its Content-Type" in text and "text/plain" in text


# ----------------------------------------------------------- 4. empty and odd list values
@pytest.mark.parametrize(
    ("query", "name", "says"),
    [
        ("visits=", "visits", "visits is empty"),
        ("visits=,,", "visits", "visits is empty"),
        ("visits=osm:node/1,,osm:node/2", "visits", "visits entry 2 is empty"),
        ("visits=osm:node/1@", "visits", "empty time"),
        ("visits=@2024-05-01T18:00:00Z", "visits", "no merchant id"),
        ("district_id=,", "district_id", "district_id is empty"),
        ("district_id=a,,b", "district_id", "empty entry"),
    ],
)
def test_empty_list_values_are_refused(
    client: TestClient, query: str, name: str, says: str
) -> None:
    for headers in ({}, PLAIN):  # the route, and the fast lane's middleware
        r = client.get(f"{NEARBY}?lat=60.17&lng=24.94&limit=1&{query}", headers=headers)
        assert r.status_code == 422, (query, r.text)
        (err,) = r.json()["errors"]
        assert err["parameter"] == name and says in err["message"], err
        assert "allowed:" in err["message"]
        assert "merchant_id" not in err["message"] and "(id, time)" not in err["message"]
        if name == "visits":
            assert err["value"] is None  # a member's history is never echoed


def test_a_blank_list_box_is_no_filter_as_for_categories(client: TestClient) -> None:
    """``district_id=`` and ``categories=`` are what a form sends with a blank box: no
    filter (an answer equal to the one without them), where ``,`` or an empty entry is
    a 422."""
    plain = client.get(NEARBY, params={**CENTRE, "limit": 5}).json()["results"]
    for name in ("district_id", "categories"):
        r = client.get(NEARBY, params={**CENTRE, "limit": 5, name: ""})
        assert r.status_code == 200 and r.json()["results"] == plain, (name, r.text)


def test_unknown_visit_ids_are_ignored_as_documented(client: TestClient) -> None:
    r = client.get(NEARBY, params={**CENTRE, "limit": 3, "visits": "not-a-merchant"})
    assert r.status_code == 200, r.text  # merchants come and go (Member's docstring, README)


# ------------------------------------------------------------- 5. values as they were sent
@pytest.mark.parametrize("sent", ["1e400", "-1e400", "nan", "inf", "NaN"])
@pytest.mark.parametrize(
    "url",
    [
        NEARBY + "?lng=24.94&lat={}",
        "/v1/merchants/search?bbox=24.9,60.1,25,60.2&lng=24.94&lat={}",
    ],
)
def test_non_finite_numbers_are_named_as_sent(client: TestClient, url: str, sent: str) -> None:
    r = client.get(url.format(sent))
    assert r.status_code == 422
    (err,) = r.json()["errors"]
    assert err["value"] == sent
    assert err["message"].startswith(f"lat={sent} is not a finite number"), err


def test_numbers_in_library_messages_are_shown_as_sent(client: TestClient) -> None:
    r = client.get(NEARBY, params={"lat": "90.00000000000000001", "lng": "24.94"})
    assert r.status_code == 200  # 90 exactly, once read
    r = client.get(NEARBY, params={"lat": "89.99999999999999999", "lng": "24.94"})
    assert r.status_code == 200
    district = client.get("/v1/districts").json()["districts"][0]["district_id"]
    r = client.get(
        f"/v1/districts/{district}/catchment",
        params={"primary": "0.5", "secondary": "0.9999999999999999"},
    )
    assert r.status_code == 422
    assert "secondary=0.9999999999999999 is not below primary=0.5" in r.json()["detail"]
    assert r.json()["errors"][0]["value"] == "0.9999999999999999"


# ------------------------------------------------------------------- 6. OpenAPI examples
def _examples(node: Any) -> list[Any]:
    """Every example value in a part of the OpenAPI document."""
    if isinstance(node, list):
        return [x for item in node for x in _examples(item)]
    if not isinstance(node, dict):
        return []
    found = [node["example"]] if "example" in node else []
    examples = node.get("examples")
    if isinstance(examples, list):
        found += examples
    elif isinstance(examples, dict):
        found += [e.get("value") for e in examples.values() if isinstance(e, dict)]
    return found + [x for k, v in node.items() if k not in ("example", "examples")
                    for x in _examples(v)]  # fmt: skip


def test_openapi_examples_are_requests_the_api_accepts(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    nearby = {p["name"]: p for p in spec["paths"][NEARBY]["get"]["parameters"]}
    assert not _examples(nearby["cursor"])  # no cursor is valid for every query
    search = {p["name"]: p for p in spec["paths"]["/v1/merchants/search"]["get"]["parameters"]}
    assert not _examples(search["cursor"])
    if _examples(nearby["open_at"]):  # open_now=true with open_at is refused
        assert True not in _examples(nearby["open_now"])
    # every documented example at once (but a district of another snapshot) is answered
    params = {
        name: _examples(p)[0] for name, p in nearby.items() if p["in"] == "query" and _examples(p)
    }
    params.pop("district_id", None)
    params = {k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()}
    r = client.get(NEARBY, params=params)
    assert r.status_code == 200, r.text
    highlight = json.dumps(spec["components"]["schemas"]["Suggestion"])
    assert "code points" in highlight and "Array.from(name)" in highlight


def test_nearby_body_with_a_key_given_twice_is_refused(client: TestClient) -> None:
    """A JSON reader keeps the last of two equal keys: ``{"lat": 60.17, "lat": 10}`` was
    answered at lat 10, while the GET refuses ``lat`` twice."""
    url = "/v1/merchants/nearby"
    body = '{"lat": 60.1699, "lng": 24.9384, "lat": 10, "limit": 2}'
    r = client.post(url, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    (err,) = r.json()["errors"]
    assert err["parameter"] == "lat" and err["location"] == "body"
    assert err["message"].startswith("request body gives lat 2 times; allowed: each key once")
    nested = ('{"lat": 60.1699, "lng": 24.9384, '
              '"visits": [{"merchant_id": "a", "merchant_id": "b"}]}')
    r = client.post(url, content=nested, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "gives merchant_id 2 times" in r.json()["detail"]
    once = client.post(url, json={"lat": 60.1699, "lng": 24.9384, "limit": 2})
    assert once.status_code == 200 and once.json()["count"] == 2


def test_error_values_are_json_not_python_reprs(client: TestClient) -> None:
    """A missing parameter showed the whole query as its value ("{'lng': '24'}"), a body
    a Python repr (body=None, {'type': 'Point', …}) and pydantic's tag wording."""
    r = client.get("/v1/merchants/nearby", params={"lng": "24"})
    assert r.status_code == 422
    (err,) = r.json()["errors"]
    assert err["parameter"] == "lat" and err["value"] is None
    url = "/v1/merchants/search?limit=3"
    point = client.post(url, json={"type": "Point", "coordinates": [1, 2]})
    assert point.status_code == 422
    (err,) = point.json()["errors"]
    assert err["message"] == ("body has 'type' = 'Point'; allowed: 'Polygon', 'MultiPolygon', "
                              "'Feature', 'FeatureCollection'")  # fmt: skip
    assert json.loads(err["value"]) == {"type": "Point", "coordinates": [1, 2]}
    null = client.post(url, content=b"null", headers={"Content-Type": "application/json"})
    assert null.status_code == 422 and null.json()["detail"] == "body=null is not a JSON object"
    assert "None" not in point.text + null.text and "'coordinates'" not in point.text


@pytest.mark.parametrize("fields", ["score", "name,explain", "score,explain"])
def test_search_refuses_fields_it_never_makes(client: TestClient, fields: str) -> None:
    """Box and polygon search took fields=score,explain and left them out without a word."""
    r = client.get("/v1/merchants/search", params={"bbox": "24.9,60.1,25.0,60.2",
                                                    "fields": fields})  # fmt: skip
    assert r.status_code == 422, r.text
    assert f"fields={fields} asks for" in r.json()["detail"]
    assert "allowed: merchant_id, name" in r.json()["detail"]
    poly = client.post("/v1/merchants/search", params={"fields": fields}, json=POLYGON)
    assert poly.status_code == 422, poly.text
    ok = client.get("/v1/merchants/search", params={"bbox": "24.9,60.1,25.0,60.2",
                                                     "fields": "name"})  # fmt: skip
    assert ok.status_code == 200 and set(ok.json()["results"][0]) == {"merchant_id", "name"}


@pytest.mark.parametrize("path", [
    "/v1/merchants/nearby?lat=60.17&lng=24.94&q=caf%E9",  # the fast lane's request
    "/v1/merchants/nearby?lat=60.17&lng=24.94&q=caf%E9&fields=name",  # the route's
    "/v1/merchants/search?bbox=24.9,60.1,25,60.2&q=caf%E9",
    "/v1/autocomplete?lat=60.17&lng=24.94&q=caf%E9",
])  # fmt: skip
def test_a_query_string_that_is_not_utf8_is_refused(client: TestClient, path: str) -> None:
    """``q=caf%E9`` (Latin-1) was read with a replacement character, a separator: it
    searched ``caf`` and answered 200."""
    r = client.get(path, headers=PLAIN)  # plain: the fast lane's middleware sees it first
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == (
        "q='caf%E9' is not UTF-8 text (byte 0xe9); allowed: UTF-8, percent-encoded "
        "(é is %C3%A9)"
    )
    fine = client.get(path.replace("%E9", "%C3%A9"), headers=PLAIN)
    assert fine.status_code == 200, fine.text


@pytest.mark.parametrize("query", ["member=usr-0221-23d925d5%FF", "visits=osm:node/1,%FFsecret"])
def test_a_member_or_visits_that_is_not_utf8_is_refused_unshown(
    client: TestClient, query: str
) -> None:
    """The 422 for a member id or visits that are not UTF-8 quoted them whole: an error
    never shows a member's id or history."""
    r = client.get(f"/v1/merchants/nearby?lat=60.17&lng=24.94&sort=best_match&{query}",
                   headers=PLAIN)  # fmt: skip
    assert r.status_code == 422, r.text
    name = query.partition("=")[0]
    assert r.json()["detail"].startswith(f"{name} (its value unshown) is not UTF-8 text")
    for secret in ("usr-0221", "23d925d5", "secret", "node/1", "%FF", "0xff"):
        assert secret not in r.text, r.text


@pytest.mark.parametrize("path", [
    "/v1/merchants/nearby?lat=91&lng=24.94",  # the fast lane's request
    "/v1/merchants/nearby?lat=91&lng=24.94&q=cafe",  # the route's
    "/v1/autocomplete?q=a&lat=91&lng=24.94",
])  # fmt: skip
def test_an_errors_value_is_the_text_as_sent(client: TestClient, path: str) -> None:
    """Nearby's errors[].value was the number read (91.0) beside the message's lat=91,
    where every other endpoint gave the text as sent ("1001")."""
    r = client.get(path, headers=PLAIN)
    assert r.status_code == 422, r.text
    (err,) = r.json()["errors"]
    assert (err["parameter"], err["value"]) == ("lat", "91"), err
    assert err["message"].startswith("lat=91 is out of range")


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("categories", ["food/cafe", "shop"]),
        ("exclude_categories", ["food"]),
        ("fields", ["merchant_id", "name"]),
        ("categories", []),  # no filter, as a blank categories= is
    ],
)
def test_nearby_body_takes_list_parameters_as_json_arrays(
    client: TestClient, name: str, values: list[str]
) -> None:
    """POST nearby's ``visits`` took a JSON array but ``categories`` did not (a 422 "is not
    a string"); every list parameter takes one, answered as the GET's text is."""
    text = ",".join(values)
    get = client.get(NEARBY, params={**CENTRE, "limit": 8, **({name: text} if text else {})})
    post = client.post(NEARBY, json={**CENTRE, "limit": 8, name: values})
    assert get.status_code == post.status_code == 200, post.text
    assert post.json() == get.json()


@pytest.mark.parametrize("values", [["food", 3], ["food,shop"], [["food"]], [None], 3, {"a": 1}])
def test_a_list_array_with_a_non_text_or_a_comma_is_refused(
    client: TestClient, values: list[object]
) -> None:
    r = client.post(NEARBY, json={**CENTRE, "limit": 2, "categories": values})
    assert r.status_code == 422, r.text
    (err,) = r.json()["errors"]
    assert err["parameter"] == "categories" and err["location"] == "body"
    assert "allowed: a JSON array of texts without commas" in err["message"], err


def test_the_body_schema_offers_arrays_for_list_parameters(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["NearbyBody"]
    assert schema["additionalProperties"] is False and schema["required"] == ["lat", "lng"]
    for name in ("categories", "exclude_categories", "exclude_brands", "district_id", "fields"):
        kinds = [k.get("type") for k in schema["properties"][name]["anyOf"]]
        assert kinds[:2] == ["array", "string"], (name, kinds)
