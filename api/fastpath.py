"""The fast lane of ``GET /v1/merchants/nearby``: the common request without FastAPI's
parameter machinery.

Why: on the load benchmark (wrk, 2 shared cores) the plain FastAPI route spends more
time solving its declared parameters (pydantic) than the search itself takes.

What it takes: a GET whose query string has only ``lat``, ``lng``, ``limit``,
``radius_m``, ``sort``, ``q`` (the search box) and ``member``/``visits`` (a member's
context: an app's logged-in member panning the map), each given once, numbers in plain
decimal form, with no ``If-None-Match``. A member's answer is marked ``Cache-Control:
private, no-store``, without an ETag, as the route marks it (``open_now``, whose answer
carries no ETag either, is not a parameter it takes). It builds the same
:class:`~geo_discovery.query.NearbyQuery` the route would (defaults from the route's
parameter model, limits from the same :class:`~geo_discovery.query.Limits`, values
checked by the query object) and answers through the route's own
:func:`~geo_discovery_api.routes.merchants.nearby_response`.
Anything else — another parameter, a malformed value, a value the query refuses, no
snapshot, a conditional request — goes to the FastAPI route unchanged, so every error
message, status and the OpenAPI document are the route's. The fast lane only answers
what the route would answer with 200, with the same bytes
(``tests/api/test_api_fastpath.py`` compares them).

It answers at two places. :class:`FastLaneMiddleware` takes the request before the rest
of the middleware and FastAPI's routing, when nothing in between would change the
answer: a plain ``GET`` of the path without ``Accept-Encoding: gzip`` (gzip and ``HEAD``
stay with their middleware). It sends the same status, headers (in the same order, with
the ``Vary`` that :class:`~starlette.middleware.gzip.GZipMiddleware` adds to large
answers) and body as the route, and names the route in the scope so that the metrics
count it under its template. Everything else reaches the route, whose handler tries the
same lane first (:func:`with_fast_lane`).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import GeoDiscoveryError, InvalidQueryError
from geo_discovery.query import NO_FILTERS, SORTS, Filters, Limits, NearbyQuery
from geo_discovery.results import Results

from .metrics import ASGIApp, Receive, Scope, Send
from .params import NearbyParams, member_context
from .responses import PRIVATE, accepts_gzip, etag_for, nearby_json, unshared

__all__ = ["FastLaneMiddleware", "NearbyFastLane", "with_fast_lane"]

_SIMPLE = frozenset(("lat", "lng", "limit", "radius_m", "sort", "q", "member", "visits"))
_PRIVATE = PRIVATE.encode("latin-1")  # a member's answer: no shared cache may keep it
_DECIMAL = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,17})?")
_INTEGER = re.compile(r"[0-9]{1,9}")


Answer = Callable[[DiscoveryEngine, Results, str | None, str, int], Response]
RawHeaders = list[tuple[bytes, bytes]]


def query_items(query_string: bytes) -> list[tuple[str, str]]:
    """``query_string``'s (name, value) pairs, as Starlette's ``QueryParams`` reads them
    (``parse_qsl``, blank values kept); plain ``name=value`` lists are split directly."""
    text = query_string.decode("latin-1")
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True)
    return [
        (name, value)
        for name, _, value in (piece.partition("=") for piece in text.split("&") if piece)
    ]


class NearbyFastLane:
    """Answers the simple nearby requests; returns ``None`` for the route to handle."""

    def __init__(
        self, params: type[NearbyParams], limits: Limits, *, max_age_s: int, answer: Answer
    ) -> None:
        fields = params.model_fields
        self.default_limit = int(fields["limit"].default)
        self.max_length = {  # the route's own limits on the member's texts (422 beyond)
            name: min((m.max_length for m in fields[name].metadata if hasattr(m, "max_length")),
                      default=None)
            for name in ("member", "visits")
        }  # fmt: skip
        self.default_sort = str(fields["sort"].default)
        self.limits = limits
        self.max_age_s = max_age_s
        self.answer_with = answer
        self._cache_control = f"public, max-age={max_age_s}".encode("latin-1")
        # by engine, held weakly: a swapped-out engine (its snapshot's files and maps) must
        # not stay alive until the next plain request comes through here
        self._head: tuple[weakref.ref[DiscoveryEngine] | None, RawHeaders] = (None, [])

    def query(self, items: list[tuple[str, str]]) -> NearbyQuery | None:
        """The query of these parameters when it is a simple, valid one; else ``None``."""
        params = dict(items)
        if len(params) != len(items) or not params.keys() <= _SIMPLE:
            return None
        if any("\ufffd" in v for v in params.values()):  # maybe bytes that are not UTF-8
            return None
        if "lat" not in params or "lng" not in params:
            return None
        numbers = [params["lat"], params["lng"], params.get("radius_m", "0")]
        if not all(_DECIMAL.fullmatch(t) for t in numbers):
            return None
        limit = params.get("limit")
        if limit is not None and not _INTEGER.fullmatch(limit):
            return None
        sort = params.get("sort", self.default_sort)
        if sort not in SORTS:
            return None
        for name, most in self.max_length.items():
            if most is not None and len(params.get(name, "")) > most:
                return None
        try:
            member = member_context(params.get("visits"), params.get("member"))  # the route's
            query = NearbyQuery(
                float(params["lat"]),
                float(params["lng"]),
                self.default_limit if limit is None else int(limit),
                radius_m=float(params["radius_m"]) if "radius_m" in params else None,
                sort=sort,
                where=Filters(text=params["q"]) if "q" in params else NO_FILTERS,
                member=member,
            )
            return query.check(self.limits)
        except InvalidQueryError:
            return None  # the route says what is wrong, with its own message

    def parse(self, request: Request) -> NearbyQuery | None:
        """The request's query when it is a simple, valid one; else ``None``."""
        if request.method != "GET" or "if-none-match" in request.headers:
            return None
        return self.query(request.query_params.multi_items())

    def search(self, engine: DiscoveryEngine | None, query: NearbyQuery | None) -> Results | None:
        """``engine``'s answer, or ``None`` when there is no engine or it refuses the query."""
        if engine is None or query is None:  # no lazy open here: the route does that
            return None
        try:
            return engine.search(query)
        except GeoDiscoveryError:
            return None  # a refused query (q without words…): the route says why

    def answer(self, request: Request) -> Response | None:
        query = self.parse(request)
        engine = request.app.state.holder.current
        res = self.search(engine, query)
        if res is None or query is None:
            return None
        response = self.answer_with(engine, res, None, "json", self.max_age_s)
        return response if query.member is None else unshared(response, private=True)

    def answer_raw(
        self, engine: DiscoveryEngine | None, scope: Scope
    ) -> tuple[RawHeaders, bytes] | None:
        """The route's 200 answer to a plain ``GET`` ``scope`` as (headers, body): ETag and
        Cache-Control first, then Content-Length and Content-Type (as the route's
        ``Response`` orders them); ``None`` when the lane does not take it."""
        for name, value in _first_headers(scope["headers"]).items():
            if name == b"if-none-match" or (
                name == b"accept-encoding" and accepts_gzip(value.decode("latin-1"))
            ):
                return None
        query = self.query(query_items(scope["query_string"]))
        res = self.search(engine, query)
        if res is None or engine is None or query is None:
            return None
        body = nearby_json(engine, res)
        cached, head = self._head
        if cached is None or cached() is not engine:  # a new snapshot or ranking: its ETag
            etag = etag_for(engine).encode("latin-1")
            head = [(b"etag", etag), (b"cache-control", self._cache_control)]
            self._head = (weakref.ref(engine), head)
        if query.member is not None:  # no ETag: never revalidated (as the route answers)
            head = [(b"cache-control", _PRIVATE)]
        return [
            *head,
            (b"content-length", b"%d" % len(body)),
            (b"content-type", b"application/json"),
        ], body


def _first_headers(headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """The first value of each header (what Starlette's ``Headers.get`` returns)."""
    first: dict[bytes, bytes] = {}
    for name, value in headers:
        first.setdefault(name, value)
    return first


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


class FastLaneMiddleware:
    """Pure ASGI middleware answering ``GET`` of ``route.path`` through ``lane`` before
    the app; ``route`` (the nearby route) is named in the scope for the metrics.

    ``vary_from_bytes``: answers of at least this many bytes carry ``Vary:
    Accept-Encoding``, as the app's GZip middleware (``minimum_size``) marks them.
    """

    def __init__(
        self, app: ASGIApp, lane: NearbyFastLane, route: Any, vary_from_bytes: int
    ) -> None:
        self.app = app
        self.lane = lane
        self.route = route
        self.path = route.path
        self.vary_from_bytes = vary_from_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == self.path
            and scope["method"] == "GET"
            and not scope.get("root_path")
        ):
            holder = getattr(getattr(scope.get("app"), "state", None), "holder", None)
            answer = self.lane.answer_raw(getattr(holder, "current", None), scope)
            if answer is not None:
                headers, body = answer
                if len(body) >= self.vary_from_bytes:
                    headers.append((b"vary", b"Accept-Encoding"))
                scope["route"] = self.route
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
