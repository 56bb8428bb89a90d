"""The fast lane of ``GET /v1/merchants/nearby``: the common request without FastAPI's
parameter machinery.

Why: on the load benchmark (wrk, 2 shared cores) the plain FastAPI route spends more
time solving its declared parameters (pydantic) than the search itself takes.

What it takes: a GET whose query string has only ``lat``, ``lng``, ``limit``,
``radius_m``, ``sort`` and ``q`` (the search box), each given once, numbers in plain
decimal form, with no ``If-None-Match``. It builds the same
:class:`~geo_discovery.query.NearbyQuery` the route would (defaults from the route's
parameter model, limits from the same :class:`~geo_discovery.query.Limits`, values
checked by the query object) and answers through the route's own
:func:`~geo_discovery_api.routes.merchants.nearby_response`.
Anything else — another parameter, a malformed value, a value the query refuses, no
snapshot, a conditional request — goes to the FastAPI route unchanged, so every error
message, status and the OpenAPI document are the route's. The fast lane only answers
what the route would answer with 200, with the same bytes
(``tests/api/test_fastpath.py`` compares them).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import GeoDiscoveryError, InvalidQueryError
from geo_discovery.query import SORTS, Filters, Limits, NearbyQuery
from geo_discovery.results import Results

from .params import NearbyParams

__all__ = ["NearbyFastLane", "with_fast_lane"]

_SIMPLE = frozenset(("lat", "lng", "limit", "radius_m", "sort", "q"))
_DECIMAL = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,17})?")
_INTEGER = re.compile(r"[0-9]{1,9}")

_NO_FILTERS = Filters()

Answer = Callable[[DiscoveryEngine, Results, str | None, str, int], Response]


class NearbyFastLane:
    """Answers the simple nearby requests; returns ``None`` for the route to handle."""

    def __init__(
        self, params: type[NearbyParams], limits: Limits, *, max_age_s: int, answer: Answer
    ) -> None:
        fields = params.model_fields
        self.default_limit = int(fields["limit"].default)
        self.default_sort = str(fields["sort"].default)
        self.limits = limits
        self.max_age_s = max_age_s
        self.answer_with = answer

    def parse(self, request: Request) -> NearbyQuery | None:
        """The request's query when it is a simple, valid one; else ``None``."""
        if request.method != "GET":
            return None
        items = request.query_params.multi_items()
        params = dict(items)
        if len(params) != len(items) or not params.keys() <= _SIMPLE:
            return None
        if "lat" not in params or "lng" not in params:
            return None
        if "if-none-match" in request.headers:
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
        try:
            query = NearbyQuery(
                float(params["lat"]),
                float(params["lng"]),
                self.default_limit if limit is None else int(limit),
                radius_m=float(params["radius_m"]) if "radius_m" in params else None,
                sort=sort,
                where=Filters(text=params["q"]) if "q" in params else _NO_FILTERS,
            )
            return query.check(self.limits)
        except InvalidQueryError:
            return None  # the route says what is wrong, with its own message

    def answer(self, request: Request) -> Response | None:
        query = self.parse(request)
        if query is None:
            return None
        engine = request.app.state.holder.current  # no lazy open here: the route does that
        if engine is None:
            return None
        try:
            res = engine.search(query)
        except GeoDiscoveryError:
            return None  # a refused query (q without words…): the route says why
        return self.answer_with(engine, res, None, "json", self.max_age_s)


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
