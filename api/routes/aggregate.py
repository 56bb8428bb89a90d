"""``/v1/aggregate``: H3 bins with merchant counts, for heatmaps and marker clusters.

(No ``from __future__ import annotations``: see :mod:`api.routes.merchants`.)
"""

import threading
import weakref
from typing import Any

import numpy as np
from fastapi import APIRouter
from numpy.typing import NDArray
from starlette.responses import Response

from geo_discovery import cells
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import InvalidQueryError
from geo_discovery.settings import Settings

from ..deps import (
    BBoxQuery,
    Categories,
    EngineDep,
    ExcludeCategories,
    Format,
    IfNoneMatch,
    Resolution,
    parse_bbox,
)
from ..errors import StrictQueryRoute
from ..responses import GEOJSON, check_not_modified, respond
from ..schemas import AggregateResponse
from . import ERRORS, NOT_MODIFIED, geojson_content

__all__ = ["aggregate_bins", "build_router"]

# Coordinates of each engine's merchant table as numpy arrays, made once per snapshot.
_Coords = tuple[NDArray[np.float64], NDArray[np.float64]]
_COORDS: weakref.WeakKeyDictionary[DiscoveryEngine, _Coords] = weakref.WeakKeyDictionary()
_COORDS_LOCK = threading.Lock()


def _coords(engine: DiscoveryEngine) -> _Coords:
    with _COORDS_LOCK:
        got = _COORDS.get(engine)
        if got is None:
            table = engine.merchants
            got = (
                np.asarray(table.column("lat").to_numpy(), dtype=np.float64),
                np.asarray(table.column("lng").to_numpy(), dtype=np.float64),
            )
            _COORDS[engine] = got
        return got


def aggregate_bins(
    engine: DiscoveryEngine,
    positions: NDArray[np.int64],
    resolution: int,
) -> tuple[NDArray[np.uint64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Bin the merchants at ``positions`` into H3 cells of ``resolution``.

    Returns ``(cells, counts, mean_lat, mean_lng)`` sorted by cell. Each merchant falls
    in the cell that contains it at that resolution (not its index cell's parent, which
    can differ near cell edges).
    """
    lat_all, lng_all = _coords(engine)
    lat, lng = lat_all[positions], lng_all[positions]
    ids = cells.latlngs_to_cells(lat, lng, resolution)
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    mean_lat = np.bincount(inverse, weights=lat, minlength=len(uniq)) / np.maximum(counts, 1)
    mean_lng = np.bincount(inverse, weights=lng, minlength=len(uniq)) / np.maximum(counts, 1)
    return uniq, counts.astype(np.int64), mean_lat, mean_lng


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
        categories: Categories = None,
        exclude_categories: ExcludeCategories = None,
        format: Format = "json",
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        """Merchants inside ``bbox`` counted per H3 cell of ``resolution``.

        Each bin carries the mean position of its merchants, where a map puts the
        cluster marker. With ``format=geojson`` each bin is a hexagon Feature.
        More than ``api_max_aggregate_cells`` bins is refused (422): zoom in or
        choose a coarser resolution.
        """
        check_not_modified(engine, if_none_match, max_age)
        box = parse_bbox(bbox)
        res = engine.within_bbox(box, categories=categories, exclude_categories=exclude_categories)
        uniq, counts, mean_lat, mean_lng = aggregate_bins(engine, res.positions, resolution)
        if len(uniq) > max_cells:
            raise InvalidQueryError(
                f"bbox={bbox!r} at resolution={resolution} gives {len(uniq)} bins; allowed: at "
                f"most {max_cells} (api_max_aggregate_cells setting): use a coarser resolution "
                "or a smaller bbox"
            )
        bins: list[dict[str, Any]] = [
            {"cell": cells.cell_to_str(int(c)), "count": int(n), "lat": float(a), "lng": float(b)}
            for c, n, a, b in zip(
                uniq.tolist(), counts.tolist(), mean_lat.tolist(), mean_lng.tolist(), strict=True
            )
        ]
        head = {"snapshot": engine.version, "resolution": resolution, "total": int(counts.sum())}
        if format == "geojson":
            features = [
                {
                    "type": "Feature",
                    "id": b["cell"],
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [[list(p) for p in cells.cell_to_boundary_lnglat(int(c))]],
                    },
                    "properties": b,
                }
                for b, c in zip(bins, uniq.tolist(), strict=True)
            ]
            body = {"type": "FeatureCollection", **head, "features": features}
            return respond(body, engine, max_age, media_type=GEOJSON)
        return respond({**head, "cells": bins}, engine, max_age)

    return router
