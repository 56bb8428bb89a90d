"""``/v1/merchants``: nearby, search in a box or polygon, and one merchant by id.

(No ``from __future__ import annotations`` here: the ``limit`` and ``radius_m``
parameters are built per app, inside :func:`build_router`, and FastAPI must see the
annotations that use them as objects, not strings it cannot resolve.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from starlette.responses import Response

from geo_discovery.engine import DiscoveryEngine, Results
from geo_discovery.settings import Settings

from ..deps import (
    BBoxQuery,
    Categories,
    Cursor,
    DistrictId,
    EngineDep,
    ExcludeBrands,
    ExcludeCategories,
    ExcludeChains,
    Explain,
    Fields,
    Format,
    IfNoneMatch,
    Lat,
    Lng,
    MaxPrice,
    MinPrice,
    MinRating,
    MinReviews,
    OpenAt,
    OpenNow,
    OriginLat,
    OriginLng,
    Sort,
    limit_query,
    parse_bbox,
    parse_origin,
    radius_query,
)
from ..errors import StrictQueryRoute
from ..fastpath import NearbyFastLane, with_fast_lane
from ..responses import GEOJSON, check_not_modified, respond
from ..schemas import (
    MerchantDetail,
    NearbyResponse,
    PolygonBody,
    SearchResponse,
)
from ..serialize import hit_features, hit_records, parse_fields, record_to_feature
from . import ERRORS, NOT_MODIFIED, geojson_content

__all__ = ["build_router"]

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


def _split(text: str | None) -> list[str] | None:
    """``"a,b"`` → ``["a", "b"]`` (blank items dropped); ``None`` stays ``None``."""
    if text is None:
        return None
    return [item.strip() for item in text.split(",") if item.strip()]


def _search_answer(
    engine: DiscoveryEngine,
    res: Results,
    limit: int,
    fields: tuple[str, ...],
    fmt: str,
    max_age_s: int,
) -> Response:
    total = len(res)
    page = Results(res.positions[:limit], res.distances_m[:limit], res.table, res.snapshot_version)
    head: dict[str, Any] = {"snapshot": engine.version, "count": len(page)}
    tail = {"total": total, "truncated": total > len(page)}
    if fmt == "geojson":
        body = {"type": "FeatureCollection", **head, **tail, "features": hit_features(page, fields)}
        return respond(body, engine, max_age_s, media_type=GEOJSON)
    return respond({**head, **tail, "results": hit_records(page, fields)}, engine, max_age_s)


def build_router(settings: Settings) -> APIRouter:
    """The merchant routes, with limits from ``settings`` in their OpenAPI schema."""
    router = APIRouter(
        prefix="/v1/merchants",
        tags=["merchants"],
        route_class=StrictQueryRoute,
        responses=ERRORS,
    )
    nearby_limit = limit_query(settings, 20, "results")
    search_limit = limit_query(settings, 100, "results (the rest is counted in total)")
    radius = radius_query(settings)
    max_age = settings.api_cache_max_age_s
    nearby_default = min(settings.api_default_limit, settings.max_k)
    search_default = min(settings.api_default_search_limit, settings.max_k)

    lane = NearbyFastLane(
        default_limit=nearby_default,
        max_k=settings.max_k,
        max_radius_m=settings.max_radius_m,
        max_age_s=max_age,
    )

    class NearbyRoute(StrictQueryRoute):
        """The nearby route, preceded by its fast lane (:mod:`api.fastpath`)."""

        def get_route_handler(self) -> Any:
            return with_fast_lane(lane, super().get_route_handler())

    async def nearby(
        engine: EngineDep,
        lat: Lat,
        lng: Lng,
        limit: Annotated[int, nearby_limit] = nearby_default,
        radius_m: Annotated[float | None, radius] = None,
        categories: Categories = None,
        exclude_categories: ExcludeCategories = None,
        sort: Sort = "best_match",
        explain: Explain = False,
        min_price: MinPrice = None,
        max_price: MaxPrice = None,
        min_rating: MinRating = None,
        min_reviews: MinReviews = None,
        open_now: OpenNow = False,
        open_at: OpenAt = None,
        exclude_brands: ExcludeBrands = None,
        exclude_chains: ExcludeChains = False,
        district_id: DistrictId = None,
        cursor: Cursor = None,
        format: Format = "json",
        fields: Fields = None,
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
        adds the score parts.
        """
        check_not_modified(engine, if_none_match, max_age)
        selected = parse_fields(fields)
        res = engine.nearby(
            lat,
            lng,
            limit,
            radius_m=radius_m,
            categories=categories,
            exclude_categories=exclude_categories,
            sort=sort,
            explain=explain,
            min_price=min_price,
            max_price=max_price,
            min_rating=min_rating,
            min_reviews=min_reviews,
            open_now=open_now,
            open_at=open_at,
            exclude_brands=_split(exclude_brands),
            exclude_chains=exclude_chains,
            district_id=_split(district_id),
            cursor=cursor,
        )
        head = {"snapshot": engine.version, "count": len(res), "next_cursor": res.next_cursor}
        if format == "geojson":
            body = {"type": "FeatureCollection", **head, "features": hit_features(res, selected)}
            return respond(body, engine, max_age, media_type=GEOJSON)
        return respond({**head, "results": hit_records(res, selected)}, engine, max_age)

    router.add_api_route(
        "/nearby",
        nearby,
        methods=["GET"],
        summary="The merchants near a point worth the walk (best_match by default)",
        response_model=NearbyResponse,
        responses={**NOT_MODIFIED, 200: geojson_content("HitFeatureCollection")},
        route_class_override=NearbyRoute,
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
        format: Format = "json",
        fields: Fields = None,
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        """Every merchant inside ``bbox`` (edges included), nearest to the origin first.

        ``total`` counts all matches; at most ``limit`` are returned.
        """
        check_not_modified(engine, if_none_match, max_age)
        selected = parse_fields(fields)
        box = parse_bbox(bbox)
        res = engine.within_bbox(
            box,
            origin=parse_origin(lat, lng),
            categories=categories,
            exclude_categories=exclude_categories,
        )
        return _search_answer(engine, res, limit, selected, format, max_age)

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
                description="A GeoJSON Polygon, MultiPolygon, or a Feature holding one, "
                "in (lng, lat) order.",
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
                },
            ),
        ],
        lat: OriginLat = None,
        lng: OriginLng = None,
        limit: Annotated[int, search_limit] = search_default,
        categories: Categories = None,
        exclude_categories: ExcludeCategories = None,
        format: Format = "json",
        fields: Fields = None,
    ) -> Response:
        """Every merchant inside the polygon (boundary included), nearest to the origin first.

        Containment is planar in lng/lat, as GeoJSON defines it. The origin defaults to
        a point inside the polygon. At most ``max_polygon_vertices`` vertices.
        """
        selected = parse_fields(fields)
        res = engine.within_polygon(
            polygon.model_dump(),
            origin=parse_origin(lat, lng),
            categories=categories,
            exclude_categories=exclude_categories,
        )
        return _search_answer(engine, res, limit, selected, format, max_age)

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
        check_not_modified(engine, if_none_match, max_age)
        record = engine.get(merchant_id)
        if format == "geojson":
            feature = record_to_feature(record, record["lat"], record["lng"])
            return respond(
                {**feature, "snapshot": engine.version}, engine, max_age, media_type=GEOJSON
            )
        return respond({**record, "snapshot": engine.version}, engine, max_age)

    return router
