"""``/v1/merchants``: nearby (GET, or POST with a JSON body), search in a box or polygon,
and one merchant by id.

(No ``from __future__ import annotations`` here: the ``limit`` and ``radius_m``
parameters are built per app, inside :func:`build_router`, and FastAPI must see the
annotations that use them as objects, not strings it cannot resolve.)
"""

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import GeoDiscoveryError, InvalidQueryError
from geo_discovery.query import Filters, Limits, split_list
from geo_discovery.results import Results
from geo_discovery.settings import Settings
from geo_discovery.snapshot.rows import COMPUTED_FIELDS, HIT_FIELDS, parse_fields

from ..deps import (
    AreaSort,
    BBoxQuery,
    Categories,
    Cursor,
    EngineDep,
    ExcludeCategories,
    Fields,
    Format,
    IfNoneMatch,
    OriginLat,
    OriginLng,
    TextQ,
    check_bbox_order,
    limit_query,
    parse_bbox,
    parse_origin,
)
from ..errors import StrictQueryRoute
from ..fastpath import NearbyFastLane, with_fast_lane
from ..params import NearbyParams, nearby_body_model, nearby_params_model
from ..responses import (
    GEOJSON,
    cache_headers,
    nearby_json,
    not_modified,
    refusals_first,
    respond,
    unknown_categories,
    unshared,
)
from ..schemas import (
    MerchantDetail,
    NearbyResponse,
    PolygonBody,
    SearchResponse,
)
from . import ERRORS, NOT_MODIFIED, geojson_content

__all__ = [
    "NEARBY_PATH",
    "NearbyBodyRoute",
    "build_nearby_lane",
    "build_router",
    "nearby_response",
]

NEARBY_PATH = "/v1/merchants/nearby"

_EXAMPLE_POLYGON = {
    "type": "Polygon",
    "coordinates": [
        [
            [-73.9900, 40.7540],
            [-73.9800, 40.7540],
            [-73.9800, 40.7620],
            [-73.9900, 40.7620],
            [-73.9900, 40.7540],
        ]
    ],
}


def nearby_response(
    engine: DiscoveryEngine,
    res: Results,
    fields: str | None,
    fmt: str,
    max_age_s: int,
    unknown: list[str] | None = None,
) -> Response:
    """The nearby answer: the route and the fast lane both answer through this
    (``unknown``: the query's category filters no merchant has, :func:`unknown_categories`)."""
    if fmt != "geojson" and fields is None:  # every field: the cached JSON fragments
        return Response(
            nearby_json(engine, res, unknown or ()),
            media_type="application/json",
            headers=cache_headers(engine, max_age_s),
        )
    selected = parse_fields(fields)
    head: dict[str, Any] = {"snapshot": engine.version, "count": len(res),
                            "next_cursor": res.next_cursor}  # fmt: skip
    if res.dropped_words:  # the text's fallback left words out (nearby_json's rule)
        head["dropped_words"] = list(res.dropped_words)
    if unknown:  # a category filter naming no category here (the same)
        head["unknown_categories"] = unknown
    if visits := res.unknown_visits:  # visits= naming merchants not held here (the same)
        head["unknown_visits"] = visits
    if fmt == "geojson":
        body = {"type": "FeatureCollection", **head, **res.to_geojson(selected)}
        return respond(body, engine, max_age_s, media_type=GEOJSON)
    return respond({**head, "results": res.to_records(selected)}, engine, max_age_s)


def _search_answer(
    engine: DiscoveryEngine, res: Results, fields: str | None, fmt: str, max_age_s: int,
    where: Filters,
) -> Response:  # fmt: skip
    selected = parse_fields(fields)
    computed = [f for f in COMPUTED_FIELDS if fields and f in split_list(fields, "fields")]
    if computed:  # never made here: asked for, they would be left out without a word
        raise InvalidQueryError(
            f"fields={fields} asks for {', '.join(computed)}, which box and polygon search "
            f"do not make (they list by distance to the origin; nearby with sort=best_match "
            f"does); allowed: {', '.join(HIT_FIELDS)}"
        )
    head: dict[str, Any] = {"snapshot": engine.version, "count": len(res)}
    cursor = res.next_cursor
    tail: dict[str, Any] = {"total": res.total, "truncated": cursor is not None,
                            "next_cursor": cursor}  # fmt: skip
    if unknown := unknown_categories(engine, where):  # a filter naming no category here
        tail["unknown_categories"] = unknown
    if fmt == "geojson":
        body = {"type": "FeatureCollection", **head, **tail, **res.to_geojson(selected)}
        return respond(body, engine, max_age_s, media_type=GEOJSON)
    return respond({**head, **tail, "results": res.to_records(selected)}, engine, max_age_s)


def _in_body(exc: GeoDiscoveryError, fields: set[str]) -> GeoDiscoveryError:
    """``exc`` (raised answering a POST body) with its problems located in the body; the
    messages are the GET's, naming the same fields."""
    problems = getattr(exc, "problems", None)
    if isinstance(problems, list):
        if not problems:  # a message only: the field it starts with, else the body
            first = str(exc).split("=", 1)[0].split(" ", 1)[0].strip("'\"")
            name = first if first in fields else "body"
            problems.append({"parameter": name, "value": None, "message": str(exc)})
        for problem in problems:
            problem["location"] = "body"
    return exc


_BODY_FORM = 'a JSON object of the nearby parameters, e.g. {"lat": 40.758, "lng": -73.9855}'


def _bad_body(what: str) -> InvalidQueryError:
    message = f"request body {what}; allowed: {_BODY_FORM}"
    problem = {"parameter": "body", "location": "body", "value": None, "message": message}
    return InvalidQueryError(message, [problem])


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object of ``pairs``; a key given twice is refused (``json.loads`` keeps the
    last one without a word)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        key = next(k for k in out if sum(k == p for p, _ in pairs) > 1)
        times = sum(k == key for k, _ in pairs)
        message = (f"request body gives {key} {times} times; allowed: each key once (a JSON "
                   "reader would keep the last one without a word)")  # fmt: skip
        problem = {"parameter": key, "location": "body", "value": None, "message": message}
        raise InvalidQueryError(message, [problem])
    return out


class _ParsedBody(APIRoute):
    """Reads the body as JSON before FastAPI does (which then reuses it), so that a body
    that is empty or not JSON is refused without quoting it: it may hold a member's id
    and history. (Placed after :class:`StrictQueryRoute` in the MRO, it runs after that
    route's checks: the body is marked JSON and its depth bounded first.)"""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parsed(request: Request) -> Response:
            if not await request.body():
                raise _bad_body("is empty")
            try:  # kept where Request.json() caches it (FastAPI reads it there)
                request._json = json.loads(await request.body(), object_pairs_hook=_once)
            except InvalidQueryError:  # a key given twice (_once)
                raise
            except json.JSONDecodeError as exc:
                raise _bad_body(f"is not valid JSON: {exc.msg} at character {exc.pos}") from None
            except ValueError:  # not UTF-8 (nor UTF-16 or -32 with a BOM)
                raise _bad_body("is not valid JSON: it is not UTF-8 text") from None
            return await handler(request)

        return parsed


class NearbyBodyRoute(StrictQueryRoute, _ParsedBody):
    """``POST /v1/merchants/nearby``: the strict route, its body read as JSON first."""


def _where(categories: str | None, exclude: str | None, q: str | None) -> Filters:
    return Filters(
        categories=split_list(categories, "categories"),
        exclude_categories=split_list(exclude, "exclude_categories"),
        text=q,
    )


def build_nearby_lane(settings: Settings) -> NearbyFastLane:
    """The fast lane of the nearby route (:mod:`geo_discovery_api.fastpath`)."""
    return NearbyFastLane(
        nearby_params_model(settings),
        Limits.from_settings(settings),
        max_age_s=settings.api_cache_max_age_s,
        answer=nearby_response,
    )


def build_router(settings: Settings, lane: NearbyFastLane | None = None) -> APIRouter:
    """The merchant routes, with limits from ``settings`` in their OpenAPI schema;
    ``lane``: the nearby fast lane (built here when not given)."""
    router = APIRouter(
        prefix="/v1/merchants",
        tags=["merchants"],
        route_class=StrictQueryRoute,
        responses=ERRORS,
    )
    limits = Limits.from_settings(settings)
    search_limit = limit_query(settings, 100, "results (the rest is counted in total)")
    max_age = settings.api_cache_max_age_s
    search_default = min(settings.api_default_search_limit, settings.max_k)
    Params = nearby_params_model(settings)
    fast_lane = lane or build_nearby_lane(settings)

    class NearbyRoute(StrictQueryRoute):
        """The nearby route, preceded by its fast lane (:mod:`geo_discovery_api.fastpath`)."""

        def get_route_handler(self) -> Any:
            return with_fast_lane(fast_lane, super().get_route_handler())

    def answer_nearby(
        engine: DiscoveryEngine, params: NearbyParams, if_none_match: str | None
    ) -> Response:
        """The nearby answer of ``params``: the GET's and the POST's."""
        query = params.to_query(limits)  # an invalid request never gets a 304
        private = query.member is not None  # personal: no shared cache may keep it
        live = query.where.open_now  # changes with the clock, not only with the snapshot
        cursor = query.cursor is not None  # its page: searched first (a bad one: 422)
        if not (private or live or cursor):
            refusals_first(engine, query.where)
            if (cached := not_modified(engine, if_none_match, max_age)) is not None:
                return cached
        res = engine.search(query)
        if cursor and not (private or live) and (
            cached := not_modified(engine, if_none_match, max_age)
        ) is not None:
            return cached
        response = nearby_response(engine, res, params.fields, params.format, max_age,
                                   unknown_categories(engine, query.where))  # fmt: skip
        return unshared(response, private=private) if private or live else response

    async def nearby(
        engine: EngineDep,
        params: Annotated[NearbyParams, Query()],
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        """One page of up to ``limit`` merchants near ``(lat, lng)``, in ``sort`` order.

        The default order is ``best_match`` (distance decay × word of mouth × district
        strength), as app frontends want; ``sort=distance`` gives the plain k nearest.

        Distances are exact great-circle metres; every order is exact and breaks ties by
        distance, then ``merchant_id``. With ``radius_m`` only merchants within that
        distance come back. Filters leave out merchants missing the filtered value.
        ``next_cursor`` is set when the page is full: pass it back as ``cursor`` with
        the same query for the next page (a cursor from an older snapshot is refused).
        With ``sort=best_match`` each result carries its ``score``; ``explain=true``
        adds the score parts. ``q`` searches by text (the search box): under
        ``best_match`` its relevance joins the score, under the other sorts it filters.
        ``member`` (an id whose history the snapshot holds) or ``visits`` (recent
        merchant ids) lift the places this member returns to; their answers are marked
        ``Cache-Control: private, no-store`` and carry no ETag (never a 304);
        ``POST /v1/merchants/nearby`` takes the same parameters in a JSON body, which
        keeps the member's id and visits out of URLs and logs. An ``open_now`` answer
        changes with the clock: it carries no ETag either.
        """
        return answer_nearby(engine, params, if_none_match)

    nearby.__annotations__["params"] = Annotated[Params, Query()]  # this server's limits
    router.add_api_route(
        "/nearby",
        nearby,
        methods=["GET"],
        summary="The merchants near a point worth the walk (best_match by default)",
        response_model=NearbyResponse,
        responses={
            **NOT_MODIFIED,
            200: geojson_content("HitFeatureCollection"),
            404: ERRORS[422] | {"description": "A district_id that is not a known district."},
        },
        route_class_override=NearbyRoute,
    )

    BodyModel = nearby_body_model(settings)
    body_fields = set(BodyModel.model_fields)

    async def nearby_post(engine: EngineDep, params: NearbyParams) -> Response:
        """The GET's answer to the same parameters, sent as a JSON object in the body, so
        that a member's ``member`` and ``visits`` stay out of URLs (proxy and access logs,
        browser history, Referer headers).

        Same names, defaults, checks, limits, answer and errors as ``GET
        /v1/merchants/nearby`` (errors are located in the body); ``visits`` may also be a
        JSON array of ids and ``"id@time"`` texts, up to 10,000 (the body at most
        ``api_max_body_bytes``). A field the GET does not have is refused. An answer with
        a member is ``Cache-Control: private, no-store`` with no ETag. The body is read as
        JSON whatever its Content-Type.
        """
        try:
            params.check_fields()  # type: ignore[attr-defined]  # NearbyBody's
            return answer_nearby(engine, params, None)
        except GeoDiscoveryError as exc:
            raise _in_body(exc, body_fields) from None

    nearby_post.__annotations__["params"] = Annotated[
        BodyModel,
        Body(
            description="The nearby parameters as one JSON object (the GET's names and "
            "defaults; lat and lng required). visits may be a JSON array.",
            openapi_examples={
                "plain": {
                    "summary": "Best match near Times Square",
                    "value": {"lat": 40.7580, "lng": -73.9855, "limit": 5},
                },
                "member": {
                    "summary": "A member, their id kept out of the URL",
                    "value": {"lat": 40.7580, "lng": -73.9855, "member": "member-8d1f"},
                },
                "visits": {
                    "summary": "Recent visits as a JSON array",
                    "value": {
                        "lat": 40.7580,
                        "lng": -73.9855,
                        "visits": ["nysfood:744237", "nysfood:744237@2024-05-01T18:00:00Z"],
                        "explain": True,
                    },
                },
            },
        ),
    ]
    router.add_api_route(
        "/nearby",
        nearby_post,
        methods=["POST"],
        summary="The nearby answer, its parameters in a JSON body (member history off URLs)",
        response_model=NearbyResponse,
        responses={
            200: geojson_content("HitFeatureCollection"),
            404: ERRORS[422] | {"description": "A district_id that is not a known district."},
        },
        route_class_override=NearbyBodyRoute,
    )

    @router.get(
        "/search",
        summary="Merchants inside a bounding box",
        response_model=SearchResponse,
        responses={**NOT_MODIFIED, 200: geojson_content("SearchFeatureCollection")},
    )
    async def search_bbox(
        engine: EngineDep,
        bbox: BBoxQuery,
        lat: OriginLat = None,
        lng: OriginLng = None,
        limit: Annotated[int, search_limit] = search_default,
        categories: Categories = None,
        exclude_categories: ExcludeCategories = None,
        q: TextQ = None,
        sort: AreaSort = "distance",
        cursor: Cursor = None,
        format: Format = "json",
        fields: Fields = None,
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        """Every merchant inside ``bbox`` (edges included), in ``sort`` order (default:
        nearest to the origin first).

        ``total`` counts all matches; a page holds at most ``limit``. ``next_cursor`` is
        set when more follow: pass it back as ``cursor`` with the same query for the next
        page (a walk of pages visits every match exactly once). ``q`` keeps the merchants
        matching the text. A box that holds nothing and lies off the data, but holds
        merchants read as ``south,west,north,east``, gets a 422 saying the numbers look
        like (lat, lng).
        """
        box, where = parse_bbox(bbox), _where(categories, exclude_categories, q)
        origin = parse_origin(lat, lng)
        check_bbox_order(engine, bbox, box)  # given as (lat, lng) by mistake?
        if cursor is None:  # a cursor's page: searched first (a bad one: 422, never a 304)
            refusals_first(engine, where)
            if (cached := not_modified(engine, if_none_match, max_age)) is not None:
                return cached
        res = engine.within_bbox(box, origin=origin, where=where, limit=limit, sort=sort,
                                 cursor=cursor)  # fmt: skip
        if cursor is not None and (
            cached := not_modified(engine, if_none_match, max_age)
        ) is not None:
            return cached
        return _search_answer(engine, res, fields, format, max_age, where)

    @router.post(
        "/search",
        summary="Merchants inside a GeoJSON polygon",
        response_model=SearchResponse,
        responses={200: geojson_content("SearchFeatureCollection")},
    )
    async def search_polygon(
        engine: EngineDep,
        polygon: Annotated[
            PolygonBody,
            Body(
                description="A GeoJSON Polygon, MultiPolygon, a Feature holding one, or a "
                "FeatureCollection of them (what map draw tools send: the union of its "
                "polygons), in (lng, lat) order, coordinates JSON numbers. An edge longer "
                "than 180° of longitude crosses the antimeridian (the short way). A crs "
                "member is honoured when it names WGS84 (CRS84, EPSG:4326) and refused "
                "otherwise. The body is read as JSON whatever its Content-Type (application/json, "
                "application/geo+json, text/plain as fetch() sends a string body, or none).",
                openapi_examples={
                    "polygon": {"summary": "Around Times Square", "value": _EXAMPLE_POLYGON},
                    "feature": {
                        "summary": "A Feature",
                        "value": {
                            "type": "Feature",
                            "geometry": _EXAMPLE_POLYGON,
                            "properties": {},
                        },
                    },
                    "collection": {
                        "summary": "A FeatureCollection (a draw tool's output)",
                        "value": {
                            "type": "FeatureCollection",
                            "features": [
                                {"type": "Feature", "geometry": _EXAMPLE_POLYGON, "properties": {}}
                            ],
                        },
                    },
                },
            ),
        ],
        lat: OriginLat = None,
        lng: OriginLng = None,
        limit: Annotated[int, search_limit] = search_default,
        categories: Categories = None,
        exclude_categories: ExcludeCategories = None,
        q: TextQ = None,
        sort: AreaSort = "distance",
        cursor: Cursor = None,
        format: Format = "json",
        fields: Fields = None,
    ) -> Response:
        """Every merchant inside the polygon (boundary included), in ``sort`` order
        (default: nearest to the origin first); ``cursor`` pages as in the box search.

        Containment is planar in lng/lat, as GeoJSON defines it, with one exception: an
        edge spanning more than 180° of longitude is read the short way, across the
        antimeridian (what map draw tools mean; an area wider than 180° must have no
        such edge, e.g. be cut at ±180 as RFC 7946 asks). The origin defaults to a
        point inside the polygon. At most ``max_polygon_vertices`` vertices; every
        coordinate a JSON number. ``q`` keeps the merchants matching the text. A
        FeatureCollection or MultiPolygon searches the union of its polygons (they may
        overlap or share edges; an invalid one is named); a polygon that holds nothing
        and only overlaps the data when read as (lat, lng) gets a 422 saying so.
        """
        where = _where(categories, exclude_categories, q)
        res = engine.within_polygon(polygon.model_dump(exclude_none=True),
                                    origin=parse_origin(lat, lng), where=where, limit=limit,
                                    sort=sort, cursor=cursor)  # fmt: skip
        return _search_answer(engine, res, fields, format, max_age, where)

    @router.get(
        "/{merchant_id:path}",
        summary="One merchant by id",
        response_model=MerchantDetail,
        responses={
            **NOT_MODIFIED,
            200: geojson_content("MerchantFeature"),
            404: ERRORS[422] | {"description": "No merchant with that id in the snapshot."},
        },
    )
    async def merchant(
        engine: EngineDep,
        merchant_id: Annotated[
            str,
            Path(
                description="The merchant's id, as returned by the queries.",
                examples=["nysfood:744237"],
                openapi_examples={
                    "example": {"summary": "a food store", "value": "nysfood:744237"}
                },
            ),
        ],
        format: Format = "json",
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        """The merchant's full record, with its untouched source attributes."""
        record = engine.get(merchant_id)  # an unknown id: 404, never a 304
        if (cached := not_modified(engine, if_none_match, max_age)) is not None:
            return cached
        if format == "geojson":
            feature = {
                "type": "Feature",
                "id": record["merchant_id"],
                "geometry": {"type": "Point", "coordinates": [record["lng"], record["lat"]]},
                "properties": {k: v for k, v in record.items() if k not in ("lat", "lng")},
            }
            return respond(
                {**feature, "snapshot": engine.version}, engine, max_age, media_type=GEOJSON
            )
        return respond({**record, "snapshot": engine.version}, engine, max_age)

    return router
