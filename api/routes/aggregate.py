"""``/v1/aggregate``: H3 bins with merchant counts, for heatmaps and marker clusters.

(No ``from __future__ import annotations``: see :mod:`api.routes.merchants`.)
"""

import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import APIRouter
from numpy.typing import NDArray
from starlette.responses import Response

from geo_discovery import cells
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import InvalidQueryError, SnapshotError
from geo_discovery.ranking.reputation import load_reputation
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

__all__ = ["Bins", "aggregate_bins", "build_router", "warm"]

# Per snapshot, made once: coordinates as numpy arrays and the word-of-mouth scores
# (memory-mapped; None when the snapshot has no reputation).
_Columns = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64] | None]
_COLUMNS: weakref.WeakKeyDictionary[DiscoveryEngine, _Columns] = weakref.WeakKeyDictionary()
_COLUMNS_LOCK = threading.Lock()


def _columns(engine: DiscoveryEngine) -> _Columns:
    with _COLUMNS_LOCK:
        got = _COLUMNS.get(engine)
        if got is None:
            table = engine.merchants
            wom = None
            if engine.snapshot is not None:
                try:
                    wom = np.asarray(load_reputation(engine.snapshot.path)[0], dtype=np.float64)
                except SnapshotError:
                    wom = None
            got = (
                np.asarray(table.column("lat").to_numpy(), dtype=np.float64),
                np.asarray(table.column("lng").to_numpy(), dtype=np.float64),
                wom,
            )
            _COLUMNS[engine] = got
        return got


def warm(engine: DiscoveryEngine) -> None:
    """Build this snapshot's cached columns before it serves."""
    _columns(engine)


@dataclass(frozen=True)
class Bins:
    """H3 bins sorted by cell: counts, mean positions and mean word of mouth."""

    cells: NDArray[np.uint64]
    counts: NDArray[np.int64]
    mean_lat: NDArray[np.float64]
    mean_lng: NDArray[np.float64]
    mean_wom: NDArray[np.float64] | None


def aggregate_bins(engine: DiscoveryEngine, positions: NDArray[np.int64], resolution: int) -> Bins:
    """Bin the merchants at ``positions`` into H3 cells of ``resolution``.

    Each merchant falls in the cell that contains it at that resolution (not its index
    cell's parent, which can differ near cell edges). ``mean_wom`` averages the
    merchants' word-of-mouth scores (0–1) where the snapshot has them.
    """
    lat_all, lng_all, wom_all = _columns(engine)
    lat, lng = lat_all[positions], lng_all[positions]
    ids = cells.latlngs_to_cells(lat, lng, resolution)
    uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    n = np.maximum(counts, 1)
    mean_wom = None
    if wom_all is not None:
        mean_wom = np.bincount(inverse, weights=wom_all[positions], minlength=len(uniq)) / n
    return Bins(
        cells=uniq,
        counts=counts.astype(np.int64),
        mean_lat=np.bincount(inverse, weights=lat, minlength=len(uniq)) / n,
        mean_lng=np.bincount(inverse, weights=lng, minlength=len(uniq)) / n,
        mean_wom=mean_wom,
    )


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
        cluster marker, and their mean word-of-mouth score (0–1; null when the snapshot
        has no reputation). With ``format=geojson`` each bin is a hexagon Feature.
        More than ``api_max_aggregate_cells`` bins is refused (422): zoom in or
        choose a coarser resolution.
        """
        check_not_modified(engine, if_none_match, max_age)
        box = parse_bbox(bbox)
        res = engine.within_bbox(box, categories=categories, exclude_categories=exclude_categories)
        bins = aggregate_bins(engine, res.positions, resolution)
        if len(bins.cells) > max_cells:
            raise InvalidQueryError(
                f"bbox={bbox!r} at resolution={resolution} gives {len(bins.cells)} bins; "
                f"allowed: at most {max_cells} (api_max_aggregate_cells setting): use a "
                "coarser resolution or a smaller bbox"
            )
        woms = bins.mean_wom.tolist() if bins.mean_wom is not None else [None] * len(bins.cells)
        rows: list[dict[str, Any]] = [
            {"cell": cells.cell_to_str(int(c)), "count": int(n), "lat": a, "lng": b, "mean_wom": w}
            for c, n, a, b, w in zip(
                bins.cells.tolist(),
                bins.counts.tolist(),
                bins.mean_lat.tolist(),
                bins.mean_lng.tolist(),
                woms,
                strict=True,
            )
        ]
        head = {
            "snapshot": engine.version,
            "resolution": resolution,
            "total": int(bins.counts.sum()),
        }
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
                for b, c in zip(rows, bins.cells.tolist(), strict=True)
            ]
            body = {"type": "FeatureCollection", **head, "features": features}
            return respond(body, engine, max_age, media_type=GEOJSON)
        return respond({**head, "cells": rows}, engine, max_age)

    return router
