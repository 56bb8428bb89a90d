"""Schemathesis against the OpenAPI spec, on the real NYC snapshot.

Every operation gets generated requests, valid and invalid (positive and negative
modes); every answer must be a non-5xx, documented status with a documented content
type, match its documented schema, and an invalid request must be refused.

One default check is left out: "schema-valid request rejected". Some rules cannot be
written in JSON Schema (a bbox's south <= north and its numbers in range, lat and lng
given together, a polygon's rings valid, the aggregate bin limit); the server answers
them with 422, and test_api.py tests each. Everything that can be written (ranges,
enums, the forms of bbox, categories and fields) is in the spec and enforced.

Normal runs are bounded: at most ``GEO_DISCOVERY_FUZZ_EXAMPLES`` examples per operation
and mode (default 30; 15 operations, positive and negative: a few hundred cases). The
longer run (≥ 2,000 cases)::

    GEO_DISCOVERY_FUZZ_EXAMPLES=250 python -m pytest tests/test_api_fuzz.py -s

prints the number of cases sent at the end.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import positive_data_acceptance

from geo_discovery.settings import Settings
from geo_discovery_api import create_app

pytestmark = pytest.mark.real_data

EXAMPLES = int(os.environ.get("GEO_DISCOVERY_FUZZ_EXAMPLES", "30"))
# Cases that must have been sent in a normal run ("a few hundred").
MIN_CASES = 200 if EXAMPLES >= 30 else 0
SENT: Counter[str] = Counter()


@pytest.fixture(scope="module")
def app(nyc_data_dir: Path) -> Iterator[FastAPI]:
    data_dir = nyc_data_dir
    yield create_app(Settings(data_dir=data_dir, api_reload_interval_ms=0), data_dir)


@pytest.fixture(scope="module")
def api_schema(app: FastAPI) -> BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


# Every operation of the spec; a test below fails when the spec gains one not listed here.
OPERATIONS = [
    ("GET", "/v1/merchants/nearby"),
    ("POST", "/v1/merchants/nearby"),
    ("GET", "/v1/merchants/search"),
    ("POST", "/v1/merchants/search"),
    ("GET", "/v1/merchants/{merchant_id}"),
    ("GET", "/v1/aggregate"),
    ("GET", "/v1/districts"),
    ("GET", "/v1/districts/at"),
    ("GET", "/v1/districts/{district_id}"),
    ("GET", "/v1/districts/{district_id}/catchment"),
    ("GET", "/v1/tiles/{z}/{x}/{y}.mvt"),
    ("GET", "/v1/tiles.json"),
    ("GET", "/v1/autocomplete"),
    ("GET", "/v1/categories"),
    ("POST", "/v1/admin/reload"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
]


def test_every_operation_is_fuzzed(api_schema: BaseSchema) -> None:
    found = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_server_errors_and_schema_conformance(
    api_schema: BaseSchema, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]
    if mode is GenerationMode.NEGATIVE and not _has_inputs(operation):
        pytest.skip("no parameters or body to make invalid")

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        if _has_inputs(operation):  # one without has one request to make: not counted
            SENT[f"{method} {path} {mode.value}"] += 1
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    run()


def _has_inputs(operation: Any) -> bool:
    """Whether a request can be made invalid: any parameter but a free-form header
    (If-None-Match takes any string), or a body."""
    spec = operation.definition.raw
    params = [p for p in spec.get("parameters", []) if p.get("name") != "if-none-match"]
    return bool(params or spec.get("requestBody"))


def test_enough_cases_were_sent() -> None:
    """At least ``MIN_CASES`` over every (operation, mode), in proportion to those run in
    this process: pytest-xdist may run some of them in another worker."""
    total = sum(SENT.values())
    print(f"\nschemathesis cases sent: {total} over {len(SENT)} operations: {dict(SENT)}")
    if not SENT:
        pytest.skip("the fuzz test did not run (deselected or skipped)")
    least = MIN_CASES * len(SENT) / (2 * len(OPERATIONS))
    assert total >= least, f"only {total} cases were sent; expected at least {least:.0f}"
