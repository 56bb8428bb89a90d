"""``/v1/districts``: business districts detected at load time (polygons and stats).

The districts of a snapshot are read once per snapshot (memory-mapped arrays, one small
GeoParquet) and turned into GeoJSON features once; requests then only filter and
serialise. (No ``from __future__ import annotations``: see :mod:`api.routes.merchants`.)
"""

import contextlib
import json
import threading
import weakref
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Path
from numpy.typing import NDArray
from starlette.responses import Response

from geo_discovery.districts.detect import DistrictNotFoundError, Districts, load_districts
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.models import BBox
from geo_discovery.settings import Settings

from ..deps import EngineDep, Format, IfNoneMatch, Lat, Lng, OptBBoxQuery, parse_bbox
from ..errors import StrictQueryRoute
from ..responses import GEOJSON, check_not_modified, respond
from ..schemas import DistrictAt, DistrictDetail, DistrictList
from . import ERRORS, NOT_MODIFIED, geojson_content

__all__ = ["build_router", "warm"]


@dataclass(frozen=True)
class _SnapshotDistricts:
    districts: Districts
    features: list[dict[str, Any]]  # GeoJSON Features, properties with district_id + bbox
    by_id: dict[str, int]
    bounds: NDArray[np.float64]  # (n, 4): west, south, east, north


_CACHE: weakref.WeakKeyDictionary[DiscoveryEngine, _SnapshotDistricts] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _plain(props: dict[str, Any]) -> dict[str, Any]:
    mix = props.get("category_mix")
    if isinstance(mix, str) and mix.startswith("{"):
        with contextlib.suppress(ValueError):
            props["category_mix"] = json.loads(mix)
    return props


def _districts(engine: DiscoveryEngine) -> _SnapshotDistricts:
    with _LOCK:
        got = _CACHE.get(engine)
        if got is not None:
            return got
        if engine.snapshot is None:
            raise DistrictNotFoundError("this engine has no snapshot, so no districts")
        districts = load_districts(engine.snapshot.path)
        collection = districts.to_geojson()
        bounds = np.asarray(districts.frame.geometry.bounds, dtype=np.float64).reshape(-1, 4)
        features = []
        for feature, box in zip(collection["features"], bounds.tolist(), strict=True):
            props = _plain(dict(feature["properties"]))
            props["bbox"] = box
            features.append(
                {
                    "type": "Feature",
                    "id": props["district_id"],
                    "geometry": feature["geometry"],
                    "properties": props,
                }
            )
        got = _SnapshotDistricts(
            districts=districts,
            features=features,
            by_id={f["id"]: i for i, f in enumerate(features)},
            bounds=bounds,
        )
        _CACHE[engine] = got
        return got


def warm(engine: DiscoveryEngine) -> None:
    """Read this snapshot's districts before it serves (nothing when it has none)."""
    with contextlib.suppress(DistrictNotFoundError):
        _districts(engine)


def _in_box(bounds: NDArray[np.float64], box: BBox) -> NDArray[np.bool_]:
    west, south, east, north = bounds.T
    lat_ok = (north >= box.south) & (south <= box.north)
    if box.crosses_antimeridian:
        lng_ok = (east >= box.west) | (west <= box.east)
    else:
        lng_ok = (east >= box.west) & (west <= box.east)
    return np.asarray(lat_ok & lng_ok, dtype=bool)


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
        """Every district of the snapshot (whose bounding box touches ``bbox`` if given),
        with its stats; ``format=geojson`` adds the polygons."""
        check_not_modified(engine, if_none_match, max_age)
        box = parse_bbox(bbox) if bbox is not None else None
        cached = _districts(engine)
        keep = (
            _in_box(cached.bounds, box) if box is not None else np.ones(len(cached.features), bool)
        )
        chosen = [f for f, k in zip(cached.features, keep.tolist(), strict=True) if k]
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
        check_not_modified(engine, if_none_match, max_age)
        cached = _districts(engine)
        found = cached.districts.at(lat, lng)
        props = cached.features[cached.by_id[found]]["properties"] if found is not None else None
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
        check_not_modified(engine, if_none_match, max_age)
        cached = _districts(engine)
        i = cached.by_id.get(district_id)
        if i is None:
            raise DistrictNotFoundError(
                f"district_id={district_id!r} is not in snapshot {engine.version}"
            )
        feature = cached.features[i]
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
