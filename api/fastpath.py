"""The fast lane of ``GET /v1/merchants/nearby``: the common request without FastAPI's
per-parameter machinery, and its JSON written from per-merchant fragments.

Why: on the load benchmark (wrk, 2 shared cores) the plain FastAPI route spent more time
solving its 22 declared parameters (pydantic, one ``TypeAdapter`` each) and building
per-row dicts from the Arrow table (``take`` + ``to_pylist`` of 22 columns) than in the
search itself.

What it takes: a GET whose query string has only ``lat``, ``lng``, ``limit``,
``radius_m`` and ``sort``, each given once, in plain decimal form and inside the
documented range, with no ``If-None-Match``. Everything else — any other parameter, a
value that is malformed or out of range, an unknown parameter, no snapshot, a
conditional request — goes to the FastAPI route unchanged, so every error message,
status and the OpenAPI document are exactly those of the declared parameters. The fast
lane only ever answers requests that the route would answer with 200, with the same
bytes (``tests/test_api_fastpath.py`` compares them).

Rows: each merchant's fields except ``distance_m`` and ``score`` are serialised once
(orjson, as :func:`api.serialize.hit_records` + :class:`api.responses.JSONResponse`
would) into two fragments, the fields before ``distance_m`` and those after it, and
kept per snapshot, filled on first use: a per-*merchant* cache (at most one entry per
merchant, about 0.5 kB each), not a cache of answers; every request still runs its
own search. ``distance_m``, ``score`` and the cursor are computed per request.
"""

from __future__ import annotations

import math
import re
import threading
import weakref
from collections.abc import Awaitable, Callable

import orjson
import pyarrow as pa
from starlette.requests import Request
from starlette.responses import Response

from geo_discovery.engine import HIT_FIELDS, DiscoveryEngine, Results
from geo_discovery.ranking.scoring import SORTS

from .responses import cache_headers

__all__ = ["NearbyFastLane", "RowFragments"]

_SIMPLE = frozenset(("lat", "lng", "limit", "radius_m", "sort"))
_DECIMAL = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,17})?")
_INTEGER = re.compile(r"[0-9]{1,9}")
_BEFORE = HIT_FIELDS[: HIT_FIELDS.index("distance_m")]
_AFTER = HIT_FIELDS[HIT_FIELDS.index("distance_m") + 1 :]
_COLUMNS = [*_BEFORE, *_AFTER]
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class RowFragments:
    """Per-merchant JSON fragments of one snapshot's table (filled on first use)."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table.select(_COLUMNS)
        self._before: dict[int, bytes] = {}
        self._after: dict[int, bytes] = {}

    def get(self, positions: list[int]) -> tuple[list[bytes], list[bytes]]:
        before, after = self._before, self._after
        missing = [p for p in dict.fromkeys(positions) if p not in before]
        if missing:
            rows = self._table.take(pa.array(missing, pa.int64())).to_pylist()
            for pos, row in zip(missing, rows, strict=True):
                after[pos] = orjson.dumps({k: row[k] for k in _AFTER}, option=_OPTIONS)[1:-1]
                before[pos] = orjson.dumps({k: row[k] for k in _BEFORE}, option=_OPTIONS)[1:-1]
        return [before[p] for p in positions], [after[p] for p in positions]


_FRAGMENTS: weakref.WeakKeyDictionary[DiscoveryEngine, RowFragments] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def fragments_of(engine: DiscoveryEngine) -> RowFragments:
    got = _FRAGMENTS.get(engine)
    if got is None:
        with _LOCK:
            got = _FRAGMENTS.get(engine)
            if got is None:
                got = _FRAGMENTS[engine] = RowFragments(engine.merchants)
    return got


def _number(text: str, lo: float, hi: float) -> float | None:
    if not _DECIMAL.fullmatch(text):
        return None
    value = float(text)
    return value if lo <= value <= hi and math.isfinite(value) else None


def results_json(engine: DiscoveryEngine, res: Results) -> bytes:
    """The nearby answer body with every field (what the route gives without ``fields``)."""
    positions = res.positions.tolist()
    before, after = fragments_of(engine).get(positions)
    dists = res.distances_m.tolist()
    dumps = orjson.dumps
    if res.scores is not None:
        scores = res.scores.tolist()
        rows = [
            b'{%s,"distance_m":%s,%s,"score":%s}' % (b, dumps(d), a, dumps(s))
            for b, d, a, s in zip(before, dists, after, scores, strict=True)
        ]
    else:
        rows = [
            b'{%s,"distance_m":%s,%s}' % (b, dumps(d), a)
            for b, d, a in zip(before, dists, after, strict=True)
        ]
    return b'{"snapshot":%s,"count":%d,"next_cursor":%s,"results":[%s]}' % (
        dumps(engine.version),
        len(positions),
        dumps(res.next_cursor),
        b",".join(rows),
    )


class NearbyFastLane:
    """Answers the simple nearby requests; returns ``None`` for the route to handle."""

    def __init__(
        self,
        *,
        default_limit: int,
        max_k: int,
        max_radius_m: float,
        max_age_s: int,
        default_sort: str = "best_match",
    ) -> None:
        self.default_limit = default_limit
        self.max_k = max_k
        self.max_radius_m = max_radius_m
        self.max_age_s = max_age_s
        self.default_sort = default_sort

    def parse(self, request: Request) -> tuple[float, float, int, float | None, str] | None:
        if request.method != "GET":
            return None
        items = request.query_params.multi_items()
        params = dict(items)
        if len(params) != len(items) or not params.keys() <= _SIMPLE:
            return None
        if "lat" not in params or "lng" not in params:
            return None
        for name, _value in request.headers.items():
            if name == "if-none-match":
                return None
        lat = _number(params["lat"], -90.0, 90.0)
        lng = _number(params["lng"], -180.0, 180.0)
        if lat is None or lng is None:
            return None
        limit = self.default_limit
        if "limit" in params:
            text = params["limit"]
            if not _INTEGER.fullmatch(text) or not 1 <= int(text) <= self.max_k:
                return None
            limit = int(text)
        radius_m = None
        if "radius_m" in params:
            radius_m = _number(params["radius_m"], 0.0, self.max_radius_m)
            if radius_m is None:
                return None
        sort = params.get("sort", self.default_sort)
        if sort not in SORTS:
            return None
        return lat, lng, limit, radius_m, sort

    def answer(self, request: Request) -> Response | None:
        parsed = self.parse(request)
        if parsed is None:
            return None
        engine = request.app.state.holder._engine  # no lazy open here: the route does that
        if engine is None:
            return None
        lat, lng, limit, radius_m, sort = parsed
        res = engine.nearby(lat, lng, limit, radius_m=radius_m, sort=sort)
        return Response(
            results_json(engine, res),
            media_type="application/json",
            headers=cache_headers(engine, self.max_age_s),
        )


def with_fast_lane(
    lane: NearbyFastLane, handler: Callable[[Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` preceded by the fast lane."""

    async def fast_or_full(request: Request) -> Response:
        response = lane.answer(request)
        if response is not None:
            return response
        return await handler(request)

    return fast_or_full
