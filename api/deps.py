"""Dependencies as ``Annotated`` aliases: the engine, settings and shared query parameters.

Parameters whose bounds come from settings (``limit``, ``radius_m``) are built per app
by :func:`limit_query` and :func:`radius_query`, so the OpenAPI spec shows the real limits.
All dependencies are ``async``: FastAPI would run plain functions in a thread pool,
which costs more than the work they do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Header, Query, Request

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import InvalidQueryError, SnapshotNotFoundError
from geo_discovery.models import BBox
from geo_discovery.query import AREA_SORTS, CATEGORY_PATTERN, SORTS
from geo_discovery.search.shapes import swapped_bbox_hint
from geo_discovery.settings import Settings
from geo_discovery.snapshot.rows import COMPUTED_FIELDS, HIT_FIELDS

from .state import EngineHolder

__all__ = [
    "AreaSort",
    "BBoxQuery",
    "Categories",
    "Cursor",
    "DistrictId",
    "EngineDep",
    "ExcludeBrands",
    "ExcludeCategories",
    "ExcludeChains",
    "Explain",
    "Fields",
    "Format",
    "HolderDep",
    "IfNoneMatch",
    "Lat",
    "Lng",
    "MaxPrice",
    "MinPrice",
    "MinRating",
    "MinReviews",
    "OpenAt",
    "OpenNow",
    "OptBBoxQuery",
    "OriginLat",
    "OriginLng",
    "Resolution",
    "SettingsDep",
    "Sort",
    "TextQ",
    "check_bbox_order",
    "limit_query",
    "parse_bbox",
    "parse_origin",
    "query",
    "radius_query",
]


def query(example: Any, description: str, **constraints: Any) -> Any:
    """A documented query parameter with an example (shown in the docs' *Try it out*)."""
    return Query(
        description=description,
        examples=[example],
        openapi_examples={"example": {"summary": f"{example}", "value": example}},
        **constraints,
    )


# ----------------------------------------------------------------- app-level objects
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_holder(request: Request) -> EngineHolder:
    return request.app.state.holder


SettingsDep = Annotated[Settings, Depends(get_settings)]
HolderDep = Annotated[EngineHolder, Depends(get_holder)]


def _engine_of(request: Request) -> DiscoveryEngine:
    holder: EngineHolder = request.app.state.holder
    engine = holder.engine
    if engine is None:  # (no server path or load error for clients: /readyz has them)
        raise SnapshotNotFoundError(
            "no snapshot is being served yet: the operator publishes one with "
            "`geo-discovery load`; retry later (GET /readyz says why)"
        )
    return engine


async def get_engine(request: Request) -> DiscoveryEngine:
    """The engine this request answers from, taken once (a swap never mixes snapshots)."""
    return _engine_of(request)


EngineDep = Annotated[DiscoveryEngine, Depends(get_engine)]


IfNoneMatch = Annotated[
    str | None,
    Header(
        description="An ETag from an earlier answer to the same URL; 304 (no body) when "
        "the snapshot has not changed since.",
        examples=['W/"000001-2025-01-01T00:00:00.000000Z"'],
    ),
]


# ------------------------------------------------------------------ query parameters
# The forms of the string parameters, enforced (422) and published in the OpenAPI spec:
# a request the spec calls valid is one the server can parse. A list left empty
# (categories=) is no list, as an empty q= is no text: what a form sends with a blank box.
CATEGORIES_PATTERN = rf"^({CATEGORY_PATTERN}(,{CATEGORY_PATTERN})*)?$"
_FIELD = "(" + "|".join((*HIT_FIELDS, *COMPUTED_FIELDS)) + ")"
FIELDS_PATTERN = rf"^({_FIELD}(,{_FIELD})*)?$"
_NUMBER = r"\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*"
BBOX_PATTERN = rf"^{_NUMBER}(,{_NUMBER}){{3}}$"

Lat = Annotated[float, query(40.7580, "Latitude of the query point, WGS84 degrees.", ge=-90, le=90)]
Lng = Annotated[
    float, query(-73.9855, "Longitude of the query point, WGS84 degrees.", ge=-180, le=180)
]
OriginLat = Annotated[
    float | None,
    query(
        40.7580,
        "Latitude to order results by distance from (give lng too); default: the area's centre.",
        ge=-90,
        le=90,
    ),
]
OriginLng = Annotated[
    float | None,
    query(
        -73.9855,
        "Longitude to order results by distance from (give lat too); default: the area's centre.",
        ge=-180,
        le=180,
    ),
]
Categories = Annotated[
    str | None,
    query(
        "food/grocery",
        "Keep merchants under any of these comma-separated category paths "
        "(prefixes at a '/' boundary: 'food' matches 'food/grocery/bodega').",
        pattern=CATEGORIES_PATTERN,
        max_length=2000,
    ),
]
ExcludeCategories = Annotated[
    str | None,
    query(
        "food/restaurant",
        "Drop merchants under any of these comma-separated category paths.",
        pattern=CATEGORIES_PATTERN,
        max_length=2000,
    ),
]
TEXT_HELP = (
    "Free text, as typed in a search box: names, brands, categories and their labels "
    "('coffee' finds cafés, 'bodega' the bodegas), cuisines and street names. Case, "
    "accents and apostrophes do not matter; words of 5-8 letters forgive one typo, "
    "longer ones two; the last word also completes as a prefix; Chinese, Japanese and "
    "Korean match by characters. Every word must match"
)
#: Where the search box's fallback applies (nearby, autocomplete).
TEXT_FALLBACK = "; when no merchant matches them all, the last word is dropped."
TextQ = Annotated[
    str | None,
    query("pizza", TEXT_HELP + ". Here a filter: only the merchants matching every word (no "
          "word is dropped when none does).", max_length=200),
]
Format = Annotated[
    Literal["json", "geojson"],
    query(
        "geojson",
        "json: a results list; geojson: a FeatureCollection (application/geo+json) for maps.",
    ),
]
Fields = Annotated[
    str | None,
    query(
        "name,category,distance_m",
        "Comma-separated fields to return (merchant_id always comes); default: all of "
        + ", ".join(HIT_FIELDS)
        + "; score and explain when the query computes them.",
        pattern=FIELDS_PATTERN,
    ),
]
BBoxQuery = Annotated[
    str,
    query(
        "-73.9950,40.7500,-73.9750,40.7650",
        "Box as west,south,east,north in degrees (the order map clients use); "
        "west > east crosses the antimeridian.",
        pattern=BBOX_PATTERN,
        max_length=200,
    ),
]
Sort = Annotated[
    Literal[SORTS],  # type: ignore[valid-type]
    query(
        "best_match",
        "Order: distance (nearest first), best_match (distance decay × word of mouth × "
        "district strength), rating, review_count, or price (cheap first). Ties break by "
        "distance, then merchant_id.",
    ),
]
AreaSort = Annotated[
    Literal[AREA_SORTS],  # type: ignore[valid-type]
    query(
        "rating",
        "Order: distance (from the origin: lat/lng, else the box centre or a point inside "
        "the polygon), rating, review_count, or price (cheap first). Ties break by "
        "distance, then merchant_id.",
    ),
]
Explain = Annotated[bool, query(True, "Add each result's score parts (explain) to the answer.")]
MinPrice = Annotated[
    int | None, query(1, "Only merchants with price_level >= this (1 … 4).", ge=1, le=4)
]
MaxPrice = Annotated[
    int | None, query(2, "Only merchants with price_level <= this (1 … 4).", ge=1, le=4)
]
MinRating = Annotated[
    float | None,
    query(
        4.0, "Only merchants rated at least this, in stars 0 … 5 (any source scale).", ge=0, le=5
    ),
]
MinReviews = Annotated[
    int | None, query(10, "Only merchants with at least this many reviews.", ge=0)
]
OpenNow = Annotated[
    bool, query(True, "Only merchants whose known opening hours say open now (local time).")
]
OpenAt = Annotated[
    datetime | None,
    query(
        "2024-07-15T18:30:00-04:00",
        "Only merchants open at this ISO 8601 date-time (without an offset: the "
        "merchant's local wall-clock time).",
    ),
]
ExcludeBrands = Annotated[
    str | None,
    query("Starbucks,Dunkin'", "Drop merchants of these comma-separated brands.", max_length=2000),
]
ExcludeChains = Annotated[bool, query(True, "Drop every merchant that has a brand.")]
DistrictId = Annotated[
    str | None,
    query(
        "7",
        "Only merchants in these comma-separated business districts (needs a snapshot "
        "with districts).",
        max_length=2000,
    ),
]
#: A page cursor. No example: a cursor is only valid for the query and snapshot that made
#: it, so any example would be refused (422) by a client trying the documented examples.
Cursor = Annotated[
    str | None,
    Query(
        description="next_cursor of the previous page, with the same query: the next page "
        "(opaque text; a cursor from another query or an older snapshot is refused).",
        max_length=4000,
    ),
]
OptBBoxQuery = Annotated[
    str | None,
    query(
        "-73.9950,40.7500,-73.9750,40.7650",
        "Only those whose bounding box touches this box: west,south,east,north in degrees.",
        pattern=BBOX_PATTERN,
        max_length=200,
    ),
]
Resolution = Annotated[
    int,
    query(8, "H3 resolution of the bins: 0 (continents) … 15 (about a metre).", ge=0, le=15),
]


def limit_query(settings: Settings, example: int, what: str) -> Any:
    """``limit``: 1 … ``settings.max_k``; use as ``Annotated[int, limit_query(...)]``."""
    return query(
        example,
        f"Most {what} to return, 1 … {settings.max_k} (max_k setting).",
        ge=1,
        le=settings.max_k,
    )


def radius_query(settings: Settings) -> Any:
    """``radius_m``: 0 … ``settings.max_radius_m``; use as ``Annotated[float | None, …]``."""
    return query(
        800,
        f"Only merchants within this many metres, 0 … {settings.max_radius_m:g} "
        "(max_radius_m setting); default: no radius limit.",
        ge=0,
        le=settings.max_radius_m,
    )


# ------------------------------------------------------------------------- parsing
def parse_bbox(text: str) -> BBox:
    """``west,south,east,north`` → :class:`BBox`; errors name ``bbox`` and its value."""
    try:
        return BBox.from_string(text)
    except InvalidQueryError as exc:
        if str(exc).startswith("bbox="):
            raise
        raise InvalidQueryError(f"bbox={text!r}: {exc}") from None


def check_bbox_order(engine: DiscoveryEngine, text: str, box: BBox) -> None:
    """A 422 when ``box`` (the ``bbox`` parameter ``text``) lies off the data (so it holds
    nothing) and holds merchants read as ``south,west,north,east``: given as (lat, lng)
    by mistake, as a polygon's vertices can be. Cheap (the data's extent is cached): call
    it before the search and :func:`~.responses.not_modified` (a 422, never a 304)."""
    snap = engine.snapshot
    hint = swapped_bbox_hint(box, snap.lat, snap.lng, snap.extent)
    if hint is not None:
        raise InvalidQueryError(f"bbox={text} holds nothing: {hint}")


def parse_origin(lat: float | None, lng: float | None) -> tuple[float, float] | None:
    """``(lat, lng)`` when both are given, ``None`` when neither; one alone is an error."""
    if lat is None and lng is None:
        return None
    if lat is None or lng is None:
        given, missing = ("lat", "lng") if lng is None else ("lng", "lat")
        raise InvalidQueryError(
            f"{given} was given without {missing}; allowed: both lat and lng (the point "
            "to order by), or neither (order by distance from the area's centre)"
        )
    return lat, lng
