"""Search areas from what callers have: boxes and polygons in every common form.

:func:`to_bbox` takes a :class:`~geo_discovery.models.BBox`, ``"west,south,east,north"``
text or a 4-number sequence. :func:`to_polygon` takes a shapely (Multi)Polygon, GeoJSON
(a geometry, a Feature or a FeatureCollection; a mapping or its JSON text; a ``crs``
member naming anything but WGS84 is refused), or a GeoSeries / GeoDataFrame, reprojected
to EPSG:4326. Every problem names the value and what is allowed.

Examples
--------
>>> to_bbox("-74.02,40.70,-73.99,40.72").north
40.72
>>> to_polygon({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}).area
0.5
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely
import shapely.geometry
from numpy.typing import NDArray

from ..errors import InvalidQueryError
from ..models import BBox, validate_lat, validate_lng

__all__ = ["swapped_hint", "to_bbox", "to_origin", "to_polygon"]

_WGS84_NAMES = frozenset(
    {
        "urn:ogc:def:crs:ogc:1.3:crs84",
        "urn:ogc:def:crs:epsg::4326",
        "epsg:4326",
        "crs84",
        "wgs84",
    }
)


_WGS84_URN = re.compile(
    r"(urn:ogc:def:crs:(ogc:[\d.]*:crs84|epsg:[\d.]*:4326))"
    r"|(https?://www\.opengis\.net/def/crs/(ogc/[\d.]+/crs84|epsg/\d+/4326))"
)


def to_bbox(bbox: BBox | str | Sequence[float]) -> BBox:
    """A :class:`BBox` from a box, ``"west,south,east,north"`` or 4 numbers."""
    if isinstance(bbox, BBox):
        return bbox
    if isinstance(bbox, str):
        return BBox.from_string(bbox)
    values = list(bbox)
    if len(values) != 4:
        raise InvalidQueryError(f"bbox={bbox!r} must have 4 numbers: west, south, east, north")
    west, south, east, north = values
    return BBox(south=south, west=west, north=north, east=east)


def _is_wgs84(name: str) -> bool:
    """CRS84 or EPSG:4326 in any of its spellings (OGC URNs with or without a version,
    ``EPSG:4326``, ``http://www.opengis.net/def/crs/…``)."""
    text = name.strip().lower()
    return text in _WGS84_NAMES or bool(_WGS84_URN.fullmatch(text))


def _check_crs(obj: Mapping[str, Any]) -> None:
    crs = obj.get("crs")
    if crs is None:
        return
    name = None
    if isinstance(crs, Mapping):
        props = crs.get("properties")
        name = props.get("name") if isinstance(props, Mapping) else None
    if not isinstance(name, str) or not _is_wgs84(name):
        raise InvalidQueryError(
            f"polygon crs {name or crs!r} is not allowed; allowed: WGS84 longitude/latitude "
            "(RFC 7946 GeoJSON has no crs member; reproject to EPSG:4326 first)"
        )


def _from_geojson(obj: Mapping[str, Any]) -> Any:
    _check_crs(obj)
    kind = obj.get("type")
    if kind == "FeatureCollection":
        feats = obj.get("features")
        if not isinstance(feats, list) or not feats:
            raise InvalidQueryError("polygon FeatureCollection has no features")
        parts = []
        for i, feat in enumerate(feats):
            if not isinstance(feat, Mapping) or feat.get("type") != "Feature":
                raise InvalidQueryError(
                    f"polygon FeatureCollection: features[{i}] is not a Feature; allowed: "
                    "Features whose geometry is a Polygon or MultiPolygon"
                )
            try:
                parts.append(_from_geojson(feat))
            except InvalidQueryError as exc:
                raise InvalidQueryError(
                    f"polygon FeatureCollection: features[{i}]: {exc}"
                ) from None
        return shapely.union_all(parts) if len(parts) > 1 else parts[0]
    if kind == "Feature":
        geom = obj.get("geometry")
        if not isinstance(geom, Mapping):
            raise InvalidQueryError(
                "polygon Feature has no geometry; allowed: a Polygon or MultiPolygon geometry"
            )
        return _from_geojson(geom)
    if kind not in ("Polygon", "MultiPolygon"):
        raise InvalidQueryError(
            f"polygon type {kind!r} is not allowed; allowed: Polygon, MultiPolygon, or a "
            "Feature / FeatureCollection of them"
        )
    try:
        return shapely.geometry.shape(obj)
    except Exception as exc:  # shapely raises several types on malformed rings
        if not _finite(obj.get("coordinates")):  # NaN never closes a ring: say why
            raise InvalidQueryError("polygon has non-finite coordinates") from None
        raise InvalidQueryError(f"polygon coordinates are malformed: {exc}") from None


def _finite(value: Any) -> bool:
    """Whether every number in nested GeoJSON coordinates is finite."""
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


def _from_frame(frame: Any) -> Any:
    crs = getattr(frame, "crs", None)
    if crs is not None and crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    geoms = frame.geometry if hasattr(frame, "geometry") else frame
    if len(geoms) == 0:
        raise InvalidQueryError("polygon GeoSeries/GeoDataFrame is empty")
    return shapely.union_all(np.asarray(geoms, dtype=object))


def to_polygon(polygon: Any, *, max_vertices: int = 10_000) -> Any:
    """A valid shapely (Multi)Polygon in lng/lat from any accepted form (module doc)."""
    if isinstance(polygon, str | bytes):
        try:
            polygon = json.loads(polygon)
        except ValueError as exc:
            raise InvalidQueryError(f"polygon is not valid JSON: {exc}") from None
    if isinstance(polygon, Mapping):
        polygon = _from_geojson(polygon)
    elif hasattr(polygon, "geometry") or type(polygon).__name__ == "GeoSeries":
        polygon = _from_frame(polygon)
    if not isinstance(polygon, shapely.Polygon | shapely.MultiPolygon):
        raise InvalidQueryError(
            f"polygon of type {type(polygon).__name__} is not allowed; allowed: a shapely "
            "Polygon/MultiPolygon, GeoJSON Polygon/MultiPolygon/Feature/FeatureCollection, "
            "or a GeoSeries/GeoDataFrame"
        )
    n = shapely.get_num_coordinates(polygon)
    if n > max_vertices:
        raise InvalidQueryError(
            f"polygon has {n} vertices; allowed: at most {max_vertices} "
            "(max_polygon_vertices setting)"
        )
    if polygon.is_empty:
        raise InvalidQueryError("polygon is empty; allowed: a polygon with area")
    coords = shapely.get_coordinates(polygon)
    if not np.isfinite(coords).all():
        raise InvalidQueryError("polygon has non-finite coordinates")
    bad_lng = coords[(coords[:, 0] < -180) | (coords[:, 0] > 180), 0]
    bad_lat = coords[(coords[:, 1] < -90) | (coords[:, 1] > 90), 1]
    if len(bad_lng) or len(bad_lat):
        hint = ""
        if len(bad_lat) and not len(bad_lng) and (np.abs(coords[:, 0]) <= 90).all():
            hint = " (the vertices look like (lat, lng); GeoJSON wants (lng, lat))"
        raise InvalidQueryError(
            f"polygon vertex out of range (lng {bad_lng[:1].tolist()}, lat "
            f"{bad_lat[:1].tolist()}); allowed: -180 <= lng <= 180, -90 <= lat <= 90, "
            f"in GeoJSON (lng, lat) order{hint}"
        )
    if not polygon.is_valid:
        raise InvalidQueryError(
            f"polygon is invalid: {shapely.is_valid_reason(polygon)}; allowed: a valid "
            "OGC polygon (no self-intersections)"
        )
    return polygon


def swapped_hint(polygon: Any, lat: NDArray[np.float64], lng: NDArray[np.float64]) -> str | None:
    """Why a polygon that matched nothing was probably given in (lat, lng) order, or
    ``None``: it lies outside the bounds of the data points ``(lat, lng)`` while its
    swapped reading (every vertex's two numbers exchanged) overlaps them.

    >>> lat, lng = np.array([40.5, 40.9]), np.array([-74.3, -73.7])  # New York
    >>> swapped = shapely.box(40.70, -74.02, 40.72, -73.99)  # (lat, lng) by mistake
    >>> swapped_hint(swapped, lat, lng) is not None
    True
    >>> swapped_hint(shapely.box(-74.02, 40.70, -73.99, 40.72), lat, lng) is None
    True
    """
    if not len(lat):
        return None
    data = BBox(
        south=float(lat.min()), west=float(lng.min()), north=float(lat.max()), east=float(lng.max())
    )
    area = shapely.box(data.west, data.south, data.east, data.north)
    if polygon.intersects(area):
        return None
    coords = shapely.get_coordinates(polygon)
    if (np.abs(coords[:, 0]) > 90).any():
        return None  # the first numbers cannot be latitudes
    mirrored = shapely.transform(polygon, lambda xy: xy[:, ::-1])
    if not mirrored.intersects(area):
        return None
    west, south, east, north = polygon.bounds
    return (
        f"polygon (lng {west:g}…{east:g}, lat {south:g}…{north:g}) lies outside the data "
        f"(lng {data.west:g}…{data.east:g}, lat {data.south:g}…{data.north:g}), but read as "
        "(lat, lng) it overlaps it: the vertices look like (lat, lng); allowed: GeoJSON "
        "(lng, lat) order"
    )


def to_origin(origin: tuple[float, float] | None) -> tuple[float, float] | None:
    """A ``(lat, lng)`` origin checked (``None`` stays ``None``: the area's own centre).

    Examples
    --------
    >>> to_origin((40.7, -74.0))
    (40.7, -74.0)
    """
    if origin is None:
        return None
    if not isinstance(origin, Sequence) or len(origin) != 2:
        raise InvalidQueryError(f"origin={origin!r} must be a (lat, lng) pair")
    return validate_lat(origin[0], "origin lat"), validate_lng(origin[1], "origin lng")
