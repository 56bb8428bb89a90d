"""``/v1/districts/{district_id}/catchment``: a district's Huff market share and trade areas.

Built on :meth:`geo_discovery.engine.DiscoveryEngine.catchment`: every district of the
snapshot competes (attractiveness: its merchant count), demand lives on H3 cells within
``radius_m`` of the district's centroid, and each cell's share is the Huff probability
that its demand goes to this district. The demand comes from (``demand=``):

* ``population`` — the CSV named by the ``catchment_demand_path`` setting (e.g. census
  tract populations), spread over each point's cell and its neighbours;
* ``merchants`` — every merchant of the snapshot is one unit of demand (where commerce
  already is: a proxy for footfall that every snapshot has);
* ``uniform`` — every cell of the study area is one unit (pure geography);
* ``auto`` (default) — ``population`` when the setting names a file, else ``merchants``.

The answer says which in ``demand_source``. The computation (tens of milliseconds) runs
in a worker thread. (No ``from __future__ import annotations``: see
:mod:`geo_discovery_api.routes.merchants`.)
"""

import math
from typing import Annotated, Any, Literal

import anyio
import pandas as pd
from fastapi import APIRouter
from fastapi import Path as PathParam
from starlette.responses import Response

from geo_discovery.catchment.district import (
    MAX_RADIUS_M,
    MAX_RESOLUTION,
    MIN_RESOLUTION,
    CatchmentParams,
    DistrictCatchment,
)
from geo_discovery.cellsets import cells_geojson, geojson_geometry
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.settings import Settings

from ..deps import EngineDep, Format, IfNoneMatch, query
from ..errors import StrictQueryRoute
from ..responses import GEOJSON, not_modified, respond
from ..schemas import CatchmentResponse
from . import ERRORS, NOT_MODIFIED, geojson_content

__all__ = ["build_router"]


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _body(engine: DiscoveryEngine, out: DistrictCatchment, min_share: float) -> dict[str, Any]:
    """The JSON answer of one catchment (no server paths: the demand source is described)."""
    params = out.params or CatchmentParams()
    name = engine.district(out.district_id)["properties"].get("name")
    cells = out.cells[out.cells["share"] >= min_share].sort_values(
        "share", ascending=False, kind="stable"
    )
    areas = []
    for kind, ta in out.trade_areas.iterrows():
        areas.append(
            {
                "kind": kind,
                "min_share": float(ta["min_share"]),
                "max_share": params.primary if kind == "secondary" else None,
                "cells": int(ta["cells"]),
                "demand": float(ta["population"]),
                "expected": float(ta["expected"]),
                "area_km2": float(ta["area_km2"]),
                "geometry": geojson_geometry(ta["geometry"]),
            }
        )
    return {
        "snapshot": engine.version,
        "district_id": out.district_id,
        "name": None if name is None or pd.isna(name) else str(name),
        "demand_source": out.demand_source,
        "parameters": {
            "alpha": params.alpha,
            "beta": params.beta,
            "resolution": params.resolution,
            "radius_m": params.radius_m,
            "primary": params.primary,
            "secondary": params.secondary,
            "min_share": min_share,
        },
        "facilities": out.facilities,
        "demand_total": out.demand_total,
        "captured": out.captured,
        "share": _num(out.share),
        "trade_areas": areas,
        "competitors": [
            {
                "district_id": str(i),
                "name": None if pd.isna(c["name"]) else str(c["name"]),
                "captured": float(c["captured"]),
                "share": _num(float(c["share"])),
            }
            for i, c in out.competitors.iterrows()
        ],
        "count": len(cells),
        "cells": [
            {
                "cell": cid,
                "lat": float(c["lat"]),
                "lng": float(c["lng"]),
                "demand": float(c["population"]),
                "share": float(c["share"]),
                "expected": float(c["expected"]),
                "in_district": bool(c["in_district"]),
            }
            for cid, c in zip(cells.index, cells.to_dict("records"), strict=True)
        ],
    }


def _to_geojson(body: dict[str, Any]) -> dict[str, Any]:
    features: list[dict[str, Any]] = []
    for area in body["trade_areas"]:
        props = {"layer": area["kind"], **{k: v for k, v in area.items() if k != "geometry"}}
        features.append({"type": "Feature", "geometry": area["geometry"], "properties": props})
    hexagons = cells_geojson(int(cell["cell"], 16) for cell in body["cells"])
    for cell, hexagon in zip(body["cells"], hexagons, strict=True):
        features.append(
            {
                "type": "Feature",
                "id": cell["cell"],
                "geometry": hexagon,
                "properties": {"layer": "cell", **cell},
            }
        )
    return {
        "type": "FeatureCollection",
        "snapshot": body["snapshot"],
        "district_id": body["district_id"],
        "demand_source": body["demand_source"],
        "share": body["share"],
        "features": features,
    }


# ------------------------------------------------------------------------- router
def build_router(settings: Settings) -> APIRouter:
    router = APIRouter(
        prefix="/v1/districts", tags=["districts"], route_class=StrictQueryRoute, responses=ERRORS
    )
    max_age = settings.api_cache_max_age_s

    @router.get(
        "/{district_id}/catchment",
        summary="A district's Huff catchment: market share and trade areas",
        response_model=CatchmentResponse,
        responses={
            **NOT_MODIFIED,
            200: geojson_content("CatchmentFeatureCollection"),
            404: ERRORS[422]
            | {"description": "Unknown district, or a snapshot without districts."},
            503: ERRORS[503]
            | {"description": "No snapshot, or the configured demand file is unreadable."},
        },
    )
    async def catchment(
        engine: EngineDep,
        district_id: Annotated[
            str,
            PathParam(
                description="A district_id from /v1/districts.",
                examples=["d892a100d67bffff"],
                openapi_examples={
                    "example": {"summary": "a district", "value": "d892a100d67bffff"}
                },
            ),
        ],
        demand: Annotated[
            Literal["auto", "population", "merchants", "uniform"],
            query(
                "auto",
                "Demand: population (the catchment_demand_path file), merchants (each one "
                "unit, a footfall proxy), uniform (each cell one unit), or auto: population "
                "when configured, else merchants.",
            ),
        ] = "auto",
        alpha: Annotated[
            float, query(1.0, "Huff attractiveness exponent (merchant count^alpha).", ge=0, le=5)
        ] = 1.0,
        beta: Annotated[
            float, query(2.0, "Huff distance-decay exponent (metres^-beta).", ge=0, le=5)
        ] = 2.0,
        resolution: Annotated[
            int,
            query(
                9,
                f"H3 resolution of the demand cells, {MIN_RESOLUTION} (about 36 km²) … "
                f"{MAX_RESOLUTION} (about 0.015 km²).",
                ge=MIN_RESOLUTION,
                le=MAX_RESOLUTION,
            ),
        ] = 9,
        radius_m: Annotated[
            float,
            query(
                5000,
                "Study area: demand cells whose centre is within this many metres of the "
                f"district's centroid, 100 … {MAX_RADIUS_M:g}.",
                ge=100,
                le=MAX_RADIUS_M,
            ),
        ] = 5000.0,
        primary: Annotated[
            float,
            query(0.5, "Primary trade area: cells where the share is at least this.", gt=0, le=1),
        ] = 0.5,
        secondary: Annotated[
            float,
            query(
                0.2,
                "Secondary trade area: cells with secondary <= share < primary (must be "
                "below primary).",
                gt=0,
                lt=1,
            ),
        ] = 0.2,
        min_share: Annotated[
            float,
            query(0.05, "List only the cells where the share is at least this.", ge=0, le=1),
        ] = 0.01,
        format: Format = "json",
        if_none_match: IfNoneMatch = None,
    ) -> Response:
        """The district's Huff market share against every other district, on demand cells
        around it: how much demand it captures, its primary and secondary trade areas
        (polygons), its strongest competitors (by the demand they capture), and the Huff
        probability of each cell where it reaches ``min_share`` (0: every cell).
        ``demand_source`` says where the demand came from."""
        engine.district(district_id)  # an unknown id: 404, never a 304
        if (cached := not_modified(engine, if_none_match, max_age)) is not None:
            return cached
        params = CatchmentParams(
            alpha=alpha,
            beta=beta,
            resolution=resolution,
            radius_m=radius_m,
            primary=primary,
            secondary=secondary,
        )
        out = await anyio.to_thread.run_sync(engine.catchment, district_id, demand, params)
        body = _body(engine, out, min_share)
        if format == "geojson":
            return respond(_to_geojson(body), engine, max_age, media_type=GEOJSON)
        return respond(body, engine, max_age)

    return router
