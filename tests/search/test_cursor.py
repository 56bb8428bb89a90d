"""Page cursors: opaque, signed, bound to one snapshot and one query; every bad one is a
clear ValueError."""

from __future__ import annotations

import base64
import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import InvalidCursorError, InvalidQueryError, StaleCursorError
from geo_discovery.search.cursor import (
    cursor_key,
    decode_cursor,
    encode_cursor,
    parse_instant,
    query_fingerprint,
)
from geo_discovery.settings import Settings

KEY = cursor_key(None)
PAYLOAD = {"v": "000003-t", "f": "fp", "p": 0.123456789012345678, "d": 12.5, "id": "m1"}
_MISSING_KEY = object()


def _engine(version: str = "v1", secret: str | None = None) -> DiscoveryEngine:
    n = 50
    rng = np.random.default_rng(0)
    lat, lng = 40.75 + rng.normal(0, 0.01, n), -73.98 + rng.normal(0, 0.01, n)
    ids = [f"m{i:03d}" for i in range(n)]
    table = pa.table(
        {"merchant_id": ids, "name": ids, "lat": lat, "lng": lng, "category": ["food/cafe"] * n}
    )
    engine = DiscoveryEngine.from_table(table, settings=Settings(cursor_secret=secret))
    engine.planner.version = version  # as if opened from that snapshot
    return engine


def test_round_trip_keeps_floats_exact() -> None:
    c = encode_cursor(KEY, PAYLOAD)
    assert "." in c and all(ch.isalnum() or ch in "-_." for ch in c)
    got = decode_cursor(KEY, c, version="000003-t", fingerprint="fp")
    assert got == PAYLOAD and got["p"] == PAYLOAD["p"]


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda c: c[:-3], "signature"),
        (lambda c: c[:10], "PAYLOAD.SIGNATURE"),
        (lambda c: "x" + c, "signature|base64"),
        (lambda c: c.replace(".", ""), "PAYLOAD.SIGNATURE"),
        (lambda c: "not a cursor", "PAYLOAD.SIGNATURE"),
        (lambda c: "@@@.###", "base64"),
        (lambda c: "", "PAYLOAD.SIGNATURE"),
        (lambda c: "a" * 5000, "characters long"),
    ],
)
def test_garbage_and_tampering_are_invalid_cursor_errors(mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    c = encode_cursor(KEY, PAYLOAD)
    with pytest.raises(InvalidCursorError, match=match) as info:
        decode_cursor(KEY, mutate(c), version="000003-t", fingerprint="fp")
    assert isinstance(info.value, ValueError) and isinstance(info.value, InvalidQueryError)
    assert "start again without a cursor" in str(info.value)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"p": _MISSING_KEY}, "sort key"),
        ({"p": 10**400}, "sort key"),
        ({"p": True}, "sort key"),
        ({"d": 10**400}, "distance"),
        ({"d": _MISSING_KEY}, "distance"),
        ({"d": -1}, "distance"),
        ({"id": 5}, "merchant_id"),
    ],
)
def test_a_forged_cursor_signed_with_the_default_key_is_refused(change, match: str) -> None:  # type: ignore[no-untyped-def]
    """The default key is public (cursor_secret unset): a payload without "p" or with a
    number no float holds got past the checks and answered 500 (KeyError, OverflowError)."""
    forged = {k: v for k, v in {**PAYLOAD, **change}.items() if v is not _MISSING_KEY}
    with pytest.raises(InvalidCursorError, match=match):
        decode_cursor(KEY, encode_cursor(KEY, forged), version="000003-t", fingerprint="fp")


def test_a_forged_cursor_is_a_422_over_http(sample_data_dir) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from geo_discovery_api import create_app

    settings = Settings(data_dir=sample_data_dir, api_reload_interval_ms=0)
    point = {"lat": 60.1699, "lng": 24.9384, "limit": 5}
    with TestClient(create_app(settings, sample_data_dir)) as client:
        box = {"bbox": "24.9,60.15,25.0,60.2", "limit": 5}
        for path, params in (("/v1/merchants/nearby", point), ("/v1/merchants/search", box)):
            cursor = client.get(path, params=params).json()["next_cursor"]
            payload = json.loads(base64.urlsafe_b64decode(cursor.split(".")[0] + "=="))
            for change in ({"p": None, "d": 10**400}, {"p": 10**400}, {"d": None}):
                forged = {k: v for k, v in {**payload, **change}.items() if v is not None}
                r = client.get(path, params={**params, "cursor": encode_cursor(KEY, forged)})
                assert r.status_code == 422 and "cursor is not valid" in r.text, (path, r.text)


@pytest.mark.parametrize("text", ["2024-07-15T10:00:00", "0001-01-01T00:00:00+14:00", 5, None])
def test_an_open_now_instant_without_an_offset_or_out_of_range_is_refused(text: object) -> None:
    with pytest.raises(InvalidCursorError, match="open_now instant"):
        parse_instant(text)
    assert parse_instant("2024-07-15T10:00:00+02:00").isoformat() == "2024-07-15T08:00:00+00:00"


def test_a_changed_payload_fails_the_signature() -> None:
    c = encode_cursor(KEY, PAYLOAD)
    _body, sig = c.split(".")
    forged = dict(PAYLOAD, d=0.0)
    raw = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidCursorError, match="signature"):
        decode_cursor(KEY, f"{raw}.{sig}", version="000003-t", fingerprint="fp")
    with pytest.raises(InvalidCursorError, match="signature"):
        decode_cursor(cursor_key("other secret"), c, version="000003-t", fingerprint="fp")


def test_another_snapshot_is_refused_clearly() -> None:
    c = encode_cursor(KEY, PAYLOAD)
    with pytest.raises(StaleCursorError, match=r"snapshot '000003-t'.*'000004-u' is serving"):
        decode_cursor(KEY, c, version="000004-u", fingerprint="fp")


def test_another_query_is_refused() -> None:
    c = encode_cursor(KEY, PAYLOAD)
    with pytest.raises(InvalidCursorError, match="different query"):
        decode_cursor(KEY, c, version="000003-t", fingerprint="other")


@pytest.mark.parametrize("bad", [{"p": "x"}, {"d": -1.0}, {"d": None}, {"id": 5}, {"p": [1]}])
def test_signed_but_malformed_fields_are_refused(bad: dict) -> None:
    c = encode_cursor(KEY, {**PAYLOAD, **bad})
    with pytest.raises(InvalidCursorError):
        decode_cursor(KEY, c, version="000003-t", fingerprint="fp")


def test_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        decode_cursor(KEY, 42, version="v", fingerprint="f")


def test_fingerprint_is_stable_and_sensitive() -> None:
    a = query_fingerprint({"lat": 1.0, "lng": 2.0, "sort": "rating"})
    assert a == query_fingerprint({"sort": "rating", "lng": 2.0, "lat": 1.0})
    assert a != query_fingerprint({"lat": 1.0, "lng": 2.0000000001, "sort": "rating"})


@settings(max_examples=200, deadline=None)
@given(junk=st.text(max_size=300))
def test_no_junk_cursor_gets_past_the_engine(junk: str) -> None:
    engine = _ENGINE
    with pytest.raises(ValueError):
        engine.nearby(40.75, -73.98, 5, sort="rating", cursor=junk)


_ENGINE = _engine()


def test_engine_pages_refuse_other_snapshots_queries_and_secrets() -> None:
    engine = _engine("v1")
    first = engine.nearby(40.75, -73.98, 5, sort="best_match")
    assert first.next_cursor is not None
    second = engine.nearby(40.75, -73.98, 5, sort="best_match", cursor=first.next_cursor)
    assert not set(first.merchant_ids) & set(second.merchant_ids)
    with pytest.raises(StaleCursorError):
        _engine("v2").nearby(40.75, -73.98, 5, sort="best_match", cursor=first.next_cursor)
    with pytest.raises(InvalidCursorError, match="different query"):
        engine.nearby(40.75, -73.98, 5, sort="distance", cursor=first.next_cursor)
    with pytest.raises(InvalidCursorError, match="different query"):
        engine.nearby(40.75, -73.98, 5, sort="best_match", radius_m=900, cursor=first.next_cursor)
    with pytest.raises(InvalidCursorError, match="signature"):
        _engine("v1", secret="s3cret").nearby(
            40.75, -73.98, 5, sort="best_match", cursor=first.next_cursor
        )
    # the page size may change between pages: it is not part of the query
    third = engine.nearby(40.75, -73.98, 11, sort="best_match", cursor=first.next_cursor)
    assert third.merchant_ids[:5] == second.merchant_ids


def test_cursor_naming_a_merchant_not_in_the_snapshot_is_refused() -> None:
    """Forged with the default key and the query's fingerprint (recomputed from the query:
    the cursor holds it only in its signature, and its key sealed)."""
    from geo_discovery.query import Filters, NearbyQuery
    from geo_discovery.search.cursor import page_fingerprint

    engine = _engine("v1")
    first = engine.nearby(40.75, -73.98, 5, sort="rating")
    f = page_fingerprint(NearbyQuery(40.75, -73.98, 5, sort="rating"), Filters(), None)
    payload = decode_cursor(KEY, first.next_cursor, version="v1", fingerprint=f)
    forged = encode_cursor(KEY, {**payload, "id": "nobody"})
    with pytest.raises(InvalidCursorError, match="nobody"):
        engine.nearby(40.75, -73.98, 5, sort="rating", cursor=forged)


def _reference_page_fingerprint(q, where, ranking, member):  # type: ignore[no-untyped-def]
    """The fingerprint as first written: sha256 of repr() of the tuple (cursors issued by
    earlier servers of the same snapshot must stay valid)."""
    import hashlib
    from dataclasses import replace

    parts = (
        member,
        q.lat,
        q.lng,
        q.radius_m,
        q.sort,
        replace(where, open_now=False, open_at=None),
        where.open_now,
        None if where.open_at is None else where.open_at.isoformat(),
        ranking,
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:24]


@settings(max_examples=60, deadline=None)
@given(
    lat=st.floats(-90, 90),
    lng=st.floats(-180, 180),
    radius=st.none() | st.floats(1, 1e6),
    sort=st.sampled_from(["best_match", "distance", "rating"]),
    text=st.none() | st.sampled_from(["pizza", "joe's", "星巴克"]),
    min_rating=st.none() | st.sampled_from([4, 4.5]),
    instant=st.sampled_from(["none", "now", "at"]),
    member=st.none() | st.just("abc123"),
    weighted=st.booleans(),
)
def test_page_fingerprint_equals_the_reference_formula(  # type: ignore[no-untyped-def]
    lat, lng, radius, sort, text, min_rating, instant, member, weighted
) -> None:
    from datetime import UTC, datetime

    from geo_discovery.query import Filters, NearbyQuery, Ranking
    from geo_discovery.search.cursor import page_fingerprint

    where = Filters(
        text=text,
        min_rating=min_rating,
        open_now=instant == "now",
        open_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC) if instant == "at" else None,
    )
    q = NearbyQuery(lat, lng, 20, radius_m=radius, sort=sort, where=where)
    ranking = Ranking(wom=0.5) if weighted else None
    for _ in range(2):  # the second time from the remembered parts
        got = page_fingerprint(q, where, ranking, member)
        assert got == _reference_page_fingerprint(q, where, ranking, member)


def test_a_cursor_of_one_table_engine_is_refused_by_another() -> None:
    """Every engine built from a table was version "unversioned": a cursor of one paged
    another's different data."""
    one, other = _engine("v1"), _engine("v1")
    one.planner.version, other.planner.version = one.version, other.version  # as built
    assert one.version != other.version and one.version.startswith("unversioned")
    cursor = one.nearby(40.75, -73.98, 3).next_cursor
    assert len(one.nearby(40.75, -73.98, 3, cursor=cursor)) == 3
    with pytest.raises(StaleCursorError):
        other.nearby(40.75, -73.98, 3, cursor=cursor)
