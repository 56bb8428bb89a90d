"""``/v1/tiles``: Mapbox Vector Tiles of the merchants and districts, and their TileJSON.

Tiles come from :meth:`DiscoveryEngine.tile <geo_discovery.engine.DiscoveryEngine.tile>`
(layers, exactness and the density switch: :mod:`geo_discovery.tiles.maker`). HTTP:

* ``200`` with ``application/vnd.mapbox-vector-tile``; an empty tile (nothing inside it
  passes the filters) is ``204 No Content``, which MapLibre and other clients treat as
  an empty tile;
* ``ETag`` = the snapshot version and ``Cache-Control: public, max-age=…``, ``304`` on
  ``If-None-Match``; tiles filtered by ``open_now`` change with the clock, so they carry
  no ETag and are never cached on the server;
* ``Content-Encoding: gzip`` when the client accepts it (compressed once per cached tile);
* a ``z``, ``x`` or ``y`` out of range is a 422 naming the value and the allowed range;
* ``v`` is a cache key the server ignores: the map page puts the snapshot version there,
  so after a hot swap it asks for new URLs rather than tiles a cache keeps for max-age.

(No ``from __future__ import annotations``: see :mod:`geo_discovery_api.routes.merchants`.)
"""

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Request
from starlette.responses import Response

from geo_discovery.errors import InvalidQueryError
from geo_discovery.query import Filters, split_list
from geo_discovery.settings import Settings
from geo_discovery.tiles import MAX_ZOOM, TileId

from ..deps import (
    Categories,
    EngineDep,
    ExcludeCategories,
    IfNoneMatch,
    MaxPrice,
    MinPrice,
    MinRating,
    MinReviews,
    OpenNow,
    TextQ,
    query,
)
from ..errors import StrictQueryRoute
from ..responses import accepts_gzip, cache_headers, not_modified, refusals_first, respond
from ..schemas import TileJSON
from . import ERRORS, NOT_MODIFIED

__all__ = ["MVT", "TILE_FILTERS", "TileFilters", "build_router", "tile_filters"]

MVT = "application/vnd.mapbox-vector-tile"
#: ``v`` of a tile URL: a cache key, never a filter (the map page puts the snapshot there).
TileVersion = Annotated[
    str | None,
    query(
        "000002-2025-01-01T00:00:00.000000Z",
        "Ignored by the server: a cache key. Clients put the snapshot version they last "
        "saw here (the map page does), so a new snapshot gives new tile URLs and no cache "
        "serves the old tiles; a tile always comes from the snapshot being served.",
        max_length=200,
    ),
]
#: The filters a tile takes (passed on from /v1/tiles.json into its tile URLs).
TILE_FILTERS = (
    "categories",
    "exclude_categories",
    "min_price",
    "max_price",
    "min_rating",
    "min_reviews",
    "open_now",
    "q",
)
_MAX_INDEX = 2**MAX_ZOOM - 1


async def tile_filters(
    categories: Categories = None,
    exclude_categories: ExcludeCategories = None,
    min_price: MinPrice = None,
    max_price: MaxPrice = None,
    min_rating: MinRating = None,
    min_reviews: MinReviews = None,
    open_now: OpenNow = False,
    q: TextQ = None,
) -> Filters:
    """The merchants a tile draws (validated once, by :class:`Filters`); ``q`` keeps
    the merchants matching the text, as box search does. /v1/aggregate takes the same
    filters, so a heat layer counts what the tiles draw."""
    return Filters(
        categories=split_list(categories, "categories"),
        exclude_categories=split_list(exclude_categories, "exclude_categories"),
        min_price=min_price,
        max_price=max_price,
        min_rating=min_rating,
        min_reviews=min_reviews,
        open_now=open_now,
        text=q,
    )


TileFilters = Annotated[Filters, Depends(tile_filters)]


def _path(example: int, description: str, maximum: int) -> Any:
    # The range is documented, not enforced here: TileId checks it, naming the bound of
    # the tile's own zoom (x=8 at z=3: 0 <= x <= 7) rather than of the deepest zoom.
    return Path(
        description=description,
        json_schema_extra={"minimum": 0, "maximum": maximum},
        examples=[example],
        openapi_examples={"example": {"summary": str(example), "value": example}},
    )


def _path_tile(z: int, x: int, y: int) -> TileId:
    """The tile, or a 422 whose problems say they are path parameters."""
    try:
        return TileId(z, x, y)
    except InvalidQueryError as exc:
        problems = [{**p, "location": "path"} for p in exc.problems]
        raise InvalidQueryError(str(exc), problems) from None


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["tiles"], route_class=StrictQueryRoute, responses=ERRORS)
    max_age = settings.api_cache_max_age_s

    @router.get(
        "/tiles/{z}/{x}/{y}.mvt",
        summary="A vector tile (MVT) of the merchants and districts",
        response_class=Response,
        responses={
            200: {
                "content": {MVT: {"schema": {"type": "string", "format": "binary"}}},
                "description": "Mapbox Vector Tile 2.1: layers merchants and districts.",
            },
            204: {"description": "Empty tile: no merchant or district on it."},
            **NOT_MODIFIED,
        },
    )
    async def tile(
        request: Request,
        engine: EngineDep,
        where: TileFilters,
        z: Annotated[int, _path(14, f"Zoom, 0 … {MAX_ZOOM}.", MAX_ZOOM)],
        x: Annotated[int, _path(4824, "Column from the antimeridian, 0 … 2^z - 1.", _MAX_INDEX)],
        y: Annotated[int, _path(6157, "Row from the north, 0 … 2^z - 1.", _MAX_INDEX)],
        v: TileVersion = None,
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        """Web-mercator tile ``z/x/y`` (XYZ, the scheme of web maps).

        Layer ``merchants``: every merchant inside the tile (edges included) passing the
        filters (``q``: only those matching the text, as box search with ``q``), with
        ``id`` (merchant_id), ``name``, ``category``, ``wom``, ``district_id``,
        ``price`` and ``rating``; below zoom 16, a tile holding more
        than ``tiles_max_points`` draws H3 bins instead, one point per bin with
        ``count`` (the bins of /v1/aggregate over the tile). Layer ``districts``:
        district polygons clipped to the tile, with ``district_id``, ``name``, ``tier``,
        ``vitality`` and ``n_merchants``. An empty tile is 204. ``v`` is ignored (a
        cache key: the snapshot version, so a hot swap changes the URLs).
        """
        _path_tile(z, x, y)
        refusals_first(engine, where)  # a q the tile refuses: 422, never a 304
        live = where.needs_hours
        if not live and (cached := not_modified(engine, if_none_match, max_age)) is not None:
            return cached
        got = engine.tile(z, x, y, where=where)
        headers = cache_headers(engine, max_age)
        if live:
            del headers["ETag"]
        if got.is_empty:
            return Response(status_code=204, headers=headers)
        if accepts_gzip(request.headers.get("accept-encoding", "")):
            # (GZipMiddleware adds the Vary header to the other answers.)
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
            return Response(got.gzipped, media_type=MVT, headers=headers)
        return Response(got.data, media_type=MVT, headers=headers)

    @router.get(
        "/tiles.json",
        summary="TileJSON 3.0 of the vector tiles (add them to a map by URL)",
        response_model=TileJSON,
        responses=NOT_MODIFIED,
    )
    async def tilejson(
        request: Request,
        engine: EngineDep,
        where: TileFilters,
        v: TileVersion = None,
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        """A TileJSON document whose ``tiles`` URL (absolute, from this request's host)
        carries the same filters; ``bounds`` cover the merchants, ``center`` is the most
        vital district; ``top_categories`` counts merchants per top-level category."""
        refusals_first(engine, where)  # a q every tile would refuse is refused here
        if (cached := not_modified(engine, if_none_match, max_age)) is not None:
            return cached
        passed = urlencode(  # the filters, and v (a client's cache key) for its tiles too
            [(k, v) for k, v in request.query_params.multi_items() if k in (*TILE_FILTERS, "v")]
        )
        base = str(request.base_url).rstrip("/")
        url = f"{base}/v1/tiles/{{z}}/{{x}}/{{y}}.mvt" + (f"?{passed}" if passed else "")
        return respond(engine.tiles.tilejson(url), engine, max_age)

    return router
