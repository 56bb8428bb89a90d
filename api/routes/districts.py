"""``/v1/districts``: business districts detected at load time (polygons and stats).

The snapshot owns its districts and their GeoJSON features (RFC 7946 ring orientation),
made once per snapshot; requests only filter and serialise. (No ``from __future__ import
annotations``: see :mod:`geo_discovery_api.routes.merchants`.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path
from starlette.responses import Response

from geo_discovery.settings import Settings

from ..deps import (
    EngineDep,
    Format,
    IfNoneMatch,
    Lat,
    Lng,
    OptBBoxQuery,
    check_bbox_order,
    parse_bbox,
)
from ..errors import StrictQueryRoute
from ..responses import GEOJSON, not_modified, respond
from ..schemas import DistrictAt, DistrictDetail, DistrictList
from . import ERRORS, NOT_MODIFIED, geojson_content

__all__ = ["build_router"]


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(
        prefix="/v1/districts", tags=["districts"], route_class=StrictQueryRoute, responses=ERRORS
    )
    max_age = settings.api_cache_max_age_s
    not_found: dict[int | str, dict[str, Any]] = {
        404: ERRORS[422] | {"description": "Unknown district, or a snapshot without districts."}
    }

    @router.get(
        "",
        summary="Business districts, optionally those touching a bbox",
        response_model=DistrictList,
        responses={**NOT_MODIFIED, **not_found, 200: geojson_content("DistrictFeatureCollection")},
    )
    async def districts(
        engine: EngineDep,
        bbox: OptBBoxQuery = None,
        format: Format = "json",
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        """Every district of the snapshot (whose polygon touches ``bbox`` if given),
        with its stats; ``format=geojson`` adds the polygons."""
        found = engine.snapshot.require_districts()  # none: 404, never a 304
        if (cached := not_modified(engine, if_none_match, max_age)) is not None:
            return cached
        collection = found.to_geojson()["features"]
        if bbox is not None:
            box = parse_bbox(bbox)
            keep = found.touching(box).tolist()
            collection = [f for f, k in zip(collection, keep, strict=True) if k]
            if not collection:  # none touches it: given as (lat, lng) by mistake?
                check_bbox_order(engine, bbox, box)
        chosen = collection
        head = {"snapshot": engine.version, "count": len(chosen)}
        if format == "geojson":
            body = {"type": "FeatureCollection", **head, "features": chosen}
            return respond(body, engine, max_age, media_type=GEOJSON)
        return respond({**head, "districts": [f["properties"] for f in chosen]}, engine, max_age)

    @router.get(
        "/at",
        summary="The district containing a point",
        response_model=DistrictAt,
        responses={**NOT_MODIFIED, **not_found},
    )
    async def district_at(
        engine: EngineDep, lat: Lat, lng: Lng, if_none_match: IfNoneMatch = None
    ) -> Response:
        """The district whose cells contain ``(lat, lng)``, or ``district: null``."""
        feature = engine.district_at(lat, lng)  # no districts: 404, never a 304
        if (cached := not_modified(engine, if_none_match, max_age)) is not None:
            return cached
        props = feature["properties"] if feature is not None else None
        body = {"snapshot": engine.version, "lat": lat, "lng": lng, "district": props}
        return respond(body, engine, max_age)

    @router.get(
        "/{district_id}",
        summary="One district: polygon and stats",
        response_model=DistrictDetail,
        responses={**NOT_MODIFIED, **not_found, 200: geojson_content("DistrictFeature")},
    )
    async def district(
        engine: EngineDep,
        district_id: Annotated[
            str,
            Path(
                description="A district_id from /v1/districts.",
                examples=["d892a100d67bffff"],
                openapi_examples={
                    "example": {"summary": "a district", "value": "d892a100d67bffff"}
                },
            ),
        ],
        format: Format = "json",
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        """The district's stats and its polygon (GeoJSON geometry)."""
        feature = engine.district(district_id)  # an unknown id: 404, never a 304
        if (cached := not_modified(engine, if_none_match, max_age)) is not None:
            return cached
        if format == "geojson":
            return respond(
                {**feature, "snapshot": engine.version}, engine, max_age, media_type=GEOJSON
            )
        body = {
            **feature["properties"],
            "geometry": feature["geometry"],
            "snapshot": engine.version,
        }
        return respond(body, engine, max_age)

    return router
