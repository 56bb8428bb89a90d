"""``/v1/aggregate``: H3 bins with merchant counts, for heatmaps and marker clusters.

(No ``from __future__ import annotations``: see :mod:`api.routes.merchants`.)
"""

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from geo_discovery import cells
from geo_discovery.cellsets import cells_geojson
from geo_discovery.errors import InvalidQueryError
from geo_discovery.settings import Settings

from ..deps import BBoxQuery, EngineDep, Format, IfNoneMatch, Resolution, parse_bbox
from ..errors import StrictQueryRoute
from ..responses import GEOJSON, not_modified, respond, unshared
from ..schemas import AggregateResponse
from . import ERRORS, NOT_MODIFIED, geojson_content
from .tiles import TileFilters

__all__ = ["build_router"]


def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(
        prefix="/v1", tags=["aggregate"], route_class=StrictQueryRoute, responses=ERRORS
    )
    max_age = settings.api_cache_max_age_s
    max_cells = settings.api_max_aggregate_cells

    @router.get(
        "/aggregate",
        summary="Merchant counts in H3 bins (heatmaps, clusters)",
        response_model=AggregateResponse,
        responses={**NOT_MODIFIED, 200: geojson_content("AggregateFeatureCollection")},
    )
    async def aggregate(
        engine: EngineDep,
        bbox: BBoxQuery,
        resolution: Resolution,
        where: TileFilters,
        format: Format = "json",
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        """Merchants inside ``bbox`` counted per H3 cell of ``resolution``.

        Each bin carries the mean position of its merchants, where a map puts the
        cluster marker, and their mean word-of-mouth score (0–1; null when the snapshot
        has no reputation). With ``format=geojson`` each bin is a hexagon Feature.
        More than ``api_max_aggregate_cells`` bins is refused (422): zoom in or
        choose a coarser resolution.

        The filters are those of /v1/tiles (``q``, ``categories``, ``exclude_categories``,
        ``min_price``, ``max_price``, ``min_rating``, ``min_reviews``, ``open_now``), so
        a heat layer counts exactly the merchants the tiles draw: the bins' counts add up
        to the ``total`` of a box search with the same filters. An ``open_now`` answer
        changes with the clock: it carries no ETag.
        """
        live = where.needs_hours  # changes with the clock, not only with the snapshot
        bins = engine.aggregate(parse_bbox(bbox), resolution, where=where)
        if len(bins) > max_cells:
            raise InvalidQueryError(
                f"bbox={bbox!r} at resolution={resolution} gives {len(bins)} bins; "
                f"allowed: at most {max_cells} (api_max_aggregate_cells setting): use a "
                "coarser resolution or a smaller bbox"
            )
        # (a 304 only for what would be a 200: a bad bbox, text or size was one)
        if not live and (cached := not_modified(engine, if_none_match, max_age)) is not None:
            return cached
        rows: list[dict[str, Any]] = [
            {"cell": c, "count": int(n), "lat": a, "lng": b, "mean_wom": None if w != w else w}
            for c, n, a, b, w in zip(
                bins.index.tolist(),
                bins["count"].tolist(),
                bins["lat"].tolist(),
                bins["lng"].tolist(),
                bins["mean_wom"].tolist(),
                strict=True,
            )
        ]
        head = {
            "snapshot": engine.version,
            "resolution": resolution,
            "total": int(bins["count"].sum()),
        }
        if format == "geojson":
            hexagons = cells_geojson(cells.str_to_cell(c) for c in bins.index.tolist())
            features = [
                {"type": "Feature", "id": b["cell"], "geometry": hexagon, "properties": b}
                for b, hexagon in zip(rows, hexagons, strict=True)
            ]
            body = {"type": "FeatureCollection", **head, "features": features}
            response = respond(body, engine, max_age, media_type=GEOJSON)
        else:
            response = respond({**head, "cells": rows}, engine, max_age)
        return unshared(response, private=False) if live else response

    return router
