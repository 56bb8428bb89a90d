"""Numbers in query and path parameters are plain decimals: digits grouped with ``_``
(``lat=4_0.76``, ``/v1/tiles/1_4/3_099/6_157.mvt``), which pydantic, like Python's
``int()`` and ``float()``, reads as PEP 515 digit groups, are a 422 naming the value.

Every numeric parameter of every operation in the OpenAPI document is tried (the other
parameters at their documented examples): the check reads each route's declared types,
so a parameter added later is covered too. The nearby fast lane (both its places) hands
such a request to the route. Over the bundled Helsinki sample.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import app_client
from fastapi.testclient import TestClient

NEARBY = "/v1/merchants/nearby"
RING = [[24.93, 60.16], [24.94, 60.16], [24.94, 60.17], [24.93, 60.17], [24.93, 60.16]]
POLYGON = {"type": "Polygon", "coordinates": [RING]}


@pytest.fixture(scope="module")
def client(sample_data_dir: Path) -> Iterator[TestClient]:
    with app_client(sample_data_dir) as c:
        yield c


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def _types(schema: dict[str, Any]) -> set[str]:
    return {schema.get("type"), *(a.get("type") for a in schema.get("anyOf", []))} - {None}


def _example(param: dict[str, Any]) -> Any:
    if "examples" in param:
        return next(iter(param["examples"].values()))["value"]
    return param["schema"].get("examples", [param["schema"].get("default")])[0]


def _grouped(value: Any) -> str:
    """``value`` written with a ``_`` digit group: 40.758 → 4_0.758, 8 → 0_8."""
    text = str(value)
    i = next(i for i, ch in enumerate(text) if ch.isdigit())
    if text[i + 1 : i + 2].isdigit():
        return f"{text[: i + 1]}_{text[i + 1 :]}"
    return f"{text[:i]}0_{text[i:]}"


def _numeric_cases(spec: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(method, path, location, name)`` of every numeric query/path parameter."""
    return [
        (method, path, p["in"], p["name"])
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        for p in op.get("parameters", [])
        if p["in"] in ("query", "path") and _types(p["schema"]) & {"integer", "number"}
    ]


def _request(
    client: TestClient, spec: dict[str, Any], method: str, path: str, where: str, name: str
) -> tuple[Any, str]:
    """The operation with its required parameters at their examples, ``name`` grouped."""
    op = spec["paths"][path][method]
    query: dict[str, Any] = {}
    url = path
    bad = ""
    for p in op.get("parameters", []):
        if p["in"] not in ("query", "path") or not (p.get("required") or p["name"] == name):
            continue
        value = _example(p)
        if (p["in"], p["name"]) == (where, name):
            value = bad = _grouped(value)
        if p["in"] == "path":
            url = url.replace("{" + p["name"] + "}", str(value))
        else:
            query[p["name"]] = value
    if method == "post":
        return client.post(url, params=query, json=POLYGON), bad
    return client.request(method.upper(), url, params=query), bad


def test_grouped_numbers_are_refused_everywhere(client: TestClient, spec: dict[str, Any]) -> None:
    cases = _numeric_cases(spec)
    assert len(cases) >= 30
    assert ("get", "/v1/tiles/{z}/{x}/{y}.mvt", "path", "z") in cases
    for method, path, where, name in cases:
        r, bad = _request(client, spec, method, path, where, name)
        assert r.status_code == 422, (method, path, name, bad, r.text)
        problems = [e for e in r.json()["errors"] if e["parameter"] == name]
        assert problems, (path, name, r.text)
        message = problems[0]["message"]
        assert message.startswith(f"{name}={bad} is not ")
        assert ("an integer" in message) or ("a finite number" in message)
        assert problems[0]["location"] == where and problems[0]["value"] == bad


def test_the_reported_requests(client: TestClient) -> None:
    r = client.get(NEARBY + "?lat=4_0.76&lng=-11_1.89&limit=1_0&radius_m=1_000")
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "lat=4_0.76 is not a finite number; allowed: -90 <= lat <= 90" in detail
    assert [e["parameter"] for e in r.json()["errors"]] == ["lat", "lng", "limit", "radius_m"]
    r = client.get("/v1/tiles/1_4/3_099/6_157.mvt")
    assert r.status_code == 422
    assert "z=1_4 is not an integer; allowed: 0 <= z <= 24" in r.json()["detail"]
    assert [e["location"] for e in r.json()["errors"]] == ["path"] * 3
    r = client.get("/v1/aggregate?bbox=24.93,60.16,24.94,60.17&resolution=0_8")
    assert r.status_code == 422
    assert r.json()["detail"] == "resolution=0_8 is not an integer; allowed: 0 <= resolution <= 15"


@pytest.mark.parametrize("encoding", ["gzip", "identity"])  # the route's lane / the middleware
def test_nearby_fast_lane_leaves_grouped_numbers_to_the_route(
    client: TestClient, encoding: str
) -> None:
    plain = {"lat": "60.17", "lng": "24.94", "limit": "10", "radius_m": "1000"}
    headers = {"Accept-Encoding": encoding}
    assert client.get(NEARBY, params=plain, headers=headers).status_code == 200
    for name, value in plain.items():
        grouped = {**plain, name: _grouped(value)}
        r = client.get(NEARBY, params=grouped, headers=headers)
        assert r.status_code == 422, (name, r.text)
        assert r.json()["errors"][0]["parameter"] == name
        r = client.head(NEARBY, params=grouped, headers=headers)
        assert r.status_code == 422


def test_strings_with_underscores_are_left_alone(client: TestClient) -> None:
    r = client.get(NEARBY, params={"lat": "60.17", "lng": "24.94", "categories": "food/fast_food"})
    assert r.status_code == 200, r.text
    assert client.get("/v1/merchants/osm:no_such_id").status_code == 404
