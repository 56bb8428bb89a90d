"""Member context over HTTP: ``member`` and ``visits`` on nearby, private answers, and no
endpoint that gives a history away."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from api_support import visit_log_data_dir
from fastapi.testclient import TestClient

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.query import Member
from geo_discovery.settings import Settings
from geo_discovery_api import create_app

CENTRE = {"lat": 48.8566, "lng": 2.3522}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = visit_log_data_dir(tmp_path_factory.mktemp("member-api"), seed=2)
    return data


@pytest.fixture(scope="module")
def engine(data_dir: Path) -> DiscoveryEngine:
    return DiscoveryEngine.from_snapshot(data_dir, settings=Settings(data_dir=data_dir))


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=data_dir, api_reload_interval_ms=0)
    with TestClient(create_app(settings, data_dir)) as c:
        yield c


def ids(body: dict) -> list[str]:  # type: ignore[type-arg]
    return [r["merchant_id"] for r in body["results"]]


def test_member_and_visits_answer_as_the_engine(
    client: TestClient, engine: DiscoveryEngine
) -> None:
    r = client.get("/v1/merchants/nearby", params={**CENTRE, "member": "u7", "explain": "true"})
    assert r.status_code == 200, r.text
    want = engine.nearby(**CENTRE, k=20, sort="best_match", member=Member(member_id="u7"))
    assert ids(r.json()) == want.merchant_ids
    assert r.headers["cache-control"] == "private, no-store"
    assert all("member" in row["explain"] for row in r.json()["results"])
    visits = ",".join([want.merchant_ids[-1]] * 30)
    r = client.get("/v1/merchants/nearby", params={**CENTRE, "visits": visits})
    assert r.status_code == 200, r.text
    assert ids(r.json())[0] == want.merchant_ids[-1]  # thirty visits lift it to the top
    plain = client.get("/v1/merchants/nearby", params=CENTRE)
    assert plain.headers["cache-control"].startswith("public")


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"member": "u7", "sort": "distance"}, "member ranks best_match only"),
        ({"visits": "a@not-a-time"}, "visits entry 1 has a time that is not an ISO 8601 date-time"),
        ({"visits": "a@0001-01-01T00:00:00+14:00"},
         "visits entry 1 has a time out of range in UTC"),
        ({"member": "x" * 201}, "member is too long; allowed: at most 200 characters"),
        ({"member": " "}, "member is empty; allowed: 1 … 200 characters"),
        ({"visits": "x" * 20_001}, "visits is too long; allowed: at most 20000 characters"),
        ([("member", "xxxxxxxxxxxxxxxxxxxxa"), ("member", "xxxxxxxxxxxxxxxxxxxxb")],
         "member is given 2 times; allowed: once"),
    ],
)
def test_bad_member_context_is_a_4xx_naming_it(
    client: TestClient, params: dict[str, str] | list[tuple[str, str]], needle: str
) -> None:
    given = [*CENTRE.items(), *(params.items() if isinstance(params, dict) else params)]
    r = client.get("/v1/merchants/nearby", params=given)
    assert 400 <= r.status_code < 500 and needle in r.text, r.text
    assert "x" * 20 not in r.text  # an id or a history is never echoed back, even cut short
    assert "member_id" not in r.text  # the library's name; here the parameter is member


def test_a_member_sent_where_it_is_not_taken_is_not_echoed(client: TestClient) -> None:
    r = client.get("/v1/merchants/search", params={"q": "a", "member": "member-secret-7"})
    assert r.status_code == 422 and "member is not a parameter" in r.text
    assert "member-secret-7" not in r.text


def test_no_endpoint_returns_a_history(client: TestClient, engine: DiscoveryEngine) -> None:
    history = engine.snapshot.members.visits("u7")
    assert history
    merchant = next(iter(history))
    # The stored histories are keyed by a keyed hash, never the raw id. (Checked on the
    # decoded values: the file's compressed bytes hold any two-byte sequence by chance.)
    stored = pq.read_table(engine.snapshot.path / "members.parquet")  # type: ignore[operator]
    keys = [str(k) for k in stored.column("member").to_pylist()]
    assert keys and all(re.fullmatch(r"[0-9a-f]{32,64}", k) for k in keys)
    values = {str(v) for column in stored.columns for v in column.to_pylist()}
    assert "u7" not in values
    for path in ("/readyz", "/metrics", f"/v1/merchants/{merchant}", "/openapi.json"):
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)
        assert '"u7"' not in r.text and "members.parquet" not in r.text, path
