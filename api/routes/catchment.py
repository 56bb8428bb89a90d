"""``/v1/districts/{district_id}/catchment``: a district's Huff market share and trade areas.

Built on :func:`geo_discovery.catchment.district_catchment`: every district of the
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
:mod:`api.routes.merchants`.)
"""

import functools
import math
import os
import threading
import weakref
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import numpy as np
import pandas as pd
import shapely
from fastapi import APIRouter
from fastapi import Path as PathParam
from starlette.responses import Response

from geo_discovery import catchment as cm
from geo_discovery.cells import cell_to_boundary_lnglat
from geo_discovery.districts.detect import DistrictNotFoundError
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import InvalidQueryError, SnapshotError
from geo_discovery.settings import Settings

from ..deps import EngineDep, Format, IfNoneMatch, query
from ..errors import StrictQueryRoute
from ..responses import GEOJSON, check_not_modified, respond
from ..schemas import CatchmentResponse
from . import ERRORS, NOT_MODIFIED, geojson_content
from .districts import _districts

__all__ = ["DemandUnavailableError", "build_router", "warm"]

MIN_RESOLUTION, MAX_RESOLUTION = 6, 10
MAX_RADIUS_M = 50_000.0


class DemandUnavailableError(SnapshotError):
    """The configured demand file cannot be read (503: a server problem, not the client's)."""


# ------------------------------------------------------------------------- demand
_MERCHANT_DEMAND: weakref.WeakKeyDictionary[DiscoveryEngine, dict[int, pd.DataFrame]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


def _merchant_demand(engine: DiscoveryEngine, resolution: int) -> pd.DataFrame:
    with _LOCK:
        per_res = _MERCHANT_DEMAND.setdefault(engine, {})
        got = per_res.get(resolution)
        if got is None:
            lat = np.asarray(engine.merchants.column("lat").to_numpy(), dtype=np.float64)
            lng = np.asarray(engine.merchants.column("lng").to_numpy(), dtype=np.float64)
            got = cm.demand_cells(lat, lng, np.ones(len(lat)), resolution=resolution)
            per_res[resolution] = got
        return got


def warm(engine: DiscoveryEngine) -> None:
    """Count the merchant demand at the default resolution before the snapshot serves
    (nothing when the snapshot has no districts)."""
    try:
        _districts(engine)
    except DistrictNotFoundError:
        return
    _merchant_demand(engine, 9)


@functools.lru_cache(maxsize=16)
def _population_demand(path: str, stamp: tuple[int, int], resolution: int) -> pd.DataFrame:
    points = cm.read_demand(path)
    return cm.demand_cells(
        points["lat"].to_numpy(),
        points["lng"].to_numpy(),
        points["population"].to_numpy(),
        resolution=resolution,
        spread_k=1,
    )


def _demand(
    engine: DiscoveryEngine,
    settings: Settings,
    kind: str,
    resolution: int,
    centre: tuple[float, float],
    radius_m: float,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    path = settings.catchment_demand_path
    if kind == "auto":
        kind = "population" if path is not None else "merchants"
    if kind == "population":
        if path is None:
            raise InvalidQueryError(
                "demand=population needs the catchment_demand_path setting (a CSV of "
                "population points), which this server does not have; allowed: auto, "
                "merchants, uniform"
            )
        try:
            st = os.stat(path)
            frame = _population_demand(str(path), (st.st_mtime_ns, st.st_size), resolution)
        except (OSError, ValueError, KeyError) as exc:
            raise DemandUnavailableError(
                f"the demand file catchment_demand_path={str(path)!r} cannot be read: {exc}"
            ) from None
        return frame, {
            "kind": "population",
            "description": f"population points from {Path(path).name}, each spread over its "
            "H3 cell and the cells around it",
            "path": str(path),
        }
    if kind == "merchants":
        return _merchant_demand(engine, resolution), {
            "kind": "merchants",
            "description": "no population source is configured (catchment_demand_path): "
            "each merchant of the snapshot counts as one unit of demand, a proxy for footfall",
            "path": None,
        }
    k = cm.uniform_disk_k(radius_m, resolution)
    cap = settings.api_max_catchment_cells
    if 3 * k * (k + 1) + 1 > cap:
        raise InvalidQueryError(
            f"radius_m={radius_m:g} at resolution={resolution} needs about "
            f"{3 * k * (k + 1) + 1} cells; allowed: at most {cap} (api_max_catchment_cells "
            "setting): use a coarser resolution or a smaller radius_m"
        )
    return cm.uniform_demand(centre[0], centre[1], radius_m, resolution), {
        "kind": "uniform",
        "description": "every H3 cell within radius_m of the district counts as one unit "
        "of demand (geography only)",
        "path": None,
    }


# ------------------------------------------------------------------------- answer
def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _catchment(
    engine: DiscoveryEngine,
    settings: Settings,
    district_id: str,
    demand: str,
    params: dict[str, Any],
) -> dict[str, Any]:
    cached = _districts(engine)
    if district_id not in cached.by_id:
        raise DistrictNotFoundError(
            f"district_id={district_id!r} is not in snapshot {engine.version}"
        )
    districts = cached.districts
    row = districts.get(district_id)
    centre = (float(row["centroid_lat"]), float(row["centroid_lng"]))
    frame, source = _demand(
        engine, settings, demand, params["resolution"], centre, params["radius_m"]
    )
    out = cm.district_catchment(
        districts,
        district_id,
        frame,
        radius_m=params["radius_m"],
        alpha=params["alpha"],
        beta=params["beta"],
        primary=params["primary"],
        secondary=params["secondary"],
    )
    if len(out.cells) > settings.api_max_catchment_cells:
        raise InvalidQueryError(
            f"radius_m={params['radius_m']:g} at resolution={params['resolution']} holds "
            f"{len(out.cells)} demand cells; allowed: at most {settings.api_max_catchment_cells} "
            "(api_max_catchment_cells setting): use a coarser resolution or a smaller radius_m"
        )
    cells = out.cells[out.cells["share"] >= params["min_share"]].sort_values(
        "share", ascending=False, kind="stable"
    )
    areas = []
    for kind, ta in out.trade_areas.iterrows():
        areas.append(
            {
                "kind": kind,
                "min_share": float(ta["min_share"]),
                "max_share": params["primary"] if kind == "secondary" else None,
                "cells": int(ta["cells"]),
                "demand": float(ta["population"]),
                "expected": float(ta["expected"]),
                "geometry": shapely.geometry.mapping(ta["geometry"]),
            }
        )
    return {
        "district_id": district_id,
        "name": None if pd.isna(row["name"]) else str(row["name"]),
        "demand_source": {**source, "resolution": params["resolution"], "cells": len(out.cells)},
        "parameters": params,
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
    for cell in body["cells"]:
        ring = cell_to_boundary_lnglat(int(cell["cell"], 16))
        features.append(
            {
                "type": "Feature",
                "id": cell["cell"],
                "geometry": {"type": "Polygon", "coordinates": [ring]},
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
        (polygons), its closest competitors, and each cell's Huff probability.
        ``demand_source`` says where the demand came from."""
        check_not_modified(engine, if_none_match, max_age)
        if not secondary < primary:
            raise InvalidQueryError(
                f"secondary={secondary:g} is not below primary={primary:g}; allowed: "
                "0 < secondary < primary <= 1"
            )
        params = {
            "alpha": alpha,
            "beta": beta,
            "resolution": resolution,
            "radius_m": radius_m,
            "primary": primary,
            "secondary": secondary,
            "min_share": min_share,
        }
        body = await anyio.to_thread.run_sync(
            _catchment, engine, settings, district_id, demand, params
        )
        body = {"snapshot": engine.version, **body}
        if format == "geojson":
            return respond(_to_geojson(body), engine, max_age, media_type=GEOJSON)
        return respond(body, engine, max_age)

    return router
