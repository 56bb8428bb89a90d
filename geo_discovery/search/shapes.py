"""Search areas from what callers have: boxes and polygons in every common form.

:func:`to_bbox` takes a :class:`~geo_discovery.models.BBox`, ``"west,south,east,north"``
text or a 4-number sequence. :func:`to_polygon` takes a shapely (Multi)Polygon, GeoJSON
(a geometry, a Feature or a FeatureCollection; a mapping or its JSON text; a ``crs``
member naming anything but WGS84 is refused), or a GeoSeries / GeoDataFrame, reprojected
to EPSG:4326. Every problem names the value and what is allowed.

The parts of a MultiPolygon or a FeatureCollection may overlap or share edges: the area
is their union, each part valid on its own (an invalid one is named). A GeoJSON ring
with an edge more than 180° of longitude long is read the short way, across the
antimeridian (what map draw tools mean), and the polygon is cut there into a
MultiPolygon (RFC 7946 §3.1.9); an area wider than 180° must come with no such edge
(e.g. already cut at ±180). Shapely and GeoPandas geometries stay planar.
:func:`swapped_bbox_hint` and :func:`swapped_hint` say when an empty box or polygon was
probably given in (lat, lng) order.

Examples
--------
>>> to_bbox("-74.02,40.70,-73.99,40.72").north
40.72
>>> to_polygon({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}).area
0.5
>>> fiji = [[[175, -20], [-175, -20], [-175, -10], [175, -10], [175, -20]]]
>>> to_polygon({"type": "Polygon", "coordinates": fiji}).bounds  # cut at ±180
(-180.0, -20.0, 180.0, -10.0)
>>> to_polygon({"type": "Polygon", "coordinates": fiji}).area  # 10° × 10°, not 350° × 10°
100.0
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import shapely
import shapely.geometry
from numpy.typing import NDArray

from ..errors import InvalidQueryError
from ..models import BBox, LatLng, validate_lat, validate_lng

__all__ = ["swapped_bbox_hint", "swapped_hint", "to_bbox", "to_origin", "to_polygon"]

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


def to_bbox(bbox: BBox | str | Sequence[float] | NDArray[np.float64]) -> BBox:
    """A :class:`BBox` from a box, ``"west,south,east,north"`` or 4 numbers.

    >>> import pandas as pd
    >>> to_bbox(pd.Series([24.9, 60.1, 25.0, 60.2])) == to_bbox("24.9,60.1,25,60.2")
    True
    """
    if isinstance(bbox, BBox):
        return bbox
    if isinstance(bbox, str):
        return BBox.from_string(bbox)
    if hasattr(bbox, "__array__") and not isinstance(bbox, np.ndarray):  # a pandas Series
        bbox = np.asarray(bbox)
    if not isinstance(bbox, Sequence | np.ndarray) or isinstance(bbox, bytes):  # (not a set)
        raise InvalidQueryError(
            f"bbox={bbox!r} is not a box; allowed: a BBox, 'west,south,east,north' or 4 numbers "
            "in that order (a list, a tuple or an array)"
        )
    values: list[Any] = list(bbox)
    if len(values) != 4:
        raise InvalidQueryError(f"bbox={bbox!r} must have 4 numbers: west, south, east, north")
    return BBox.from_numbers(*values)


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


#: ``(where, polygon)``: one polygon of the input and where it is in it (a JSON path such
#: as ``features[1].geometry.coordinates[0]``; empty for the input's only polygon).
Part = tuple[str, Any]


def _geojson_parts(obj: Mapping[str, Any]) -> list[Part]:
    """The polygons of a GeoJSON Polygon, MultiPolygon, Feature or FeatureCollection."""
    _check_crs(obj)
    kind = obj.get("type")
    if kind == "FeatureCollection":
        feats = obj.get("features")
        if not isinstance(feats, list) or not feats:
            raise InvalidQueryError("polygon FeatureCollection has no features")
        parts: list[Part] = []
        for i, feat in enumerate(feats):
            if not isinstance(feat, Mapping) or feat.get("type") != "Feature":
                raise InvalidQueryError(
                    f"polygon FeatureCollection: features[{i}] is not a Feature; allowed: "
                    "Features whose geometry is a Polygon or MultiPolygon"
                )
            try:
                found = _geojson_parts(feat)
            except InvalidQueryError as exc:
                raise InvalidQueryError(
                    f"polygon FeatureCollection: features[{i}]: {exc}"
                ) from None
            parts += [(f"features[{i}]" + (f".{w}" if w else ""), p) for w, p in found]
        return parts
    if kind == "Feature":
        geom = obj.get("geometry")
        if not isinstance(geom, Mapping):
            raise InvalidQueryError(
                "polygon Feature has no geometry; allowed: a Polygon or MultiPolygon geometry"
            )
        return [(f"geometry.{w}" if w else "", p) for w, p in _geojson_parts(geom)]
    if kind not in ("Polygon", "MultiPolygon"):
        raise InvalidQueryError(
            f"polygon type {kind!r} is not allowed; allowed: Polygon, MultiPolygon, or a "
            "Feature / FeatureCollection of them"
        )
    _check_numbers(obj.get("coordinates"))
    try:
        geom = shapely.geometry.shape(obj)
    except Exception as exc:  # shapely raises several types on malformed rings
        if not _finite(obj.get("coordinates")):  # NaN never closes a ring: say why
            raise InvalidQueryError("polygon has non-finite coordinates") from None
        raise InvalidQueryError(f"polygon coordinates are malformed: {exc}") from None
    if kind == "Polygon":
        return [("", geom)]
    return [(f"coordinates[{i}]", p) for i, p in enumerate(geom.geoms)]


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """``(path, value)`` of every non-list value in nested GeoJSON coordinates."""
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def _check_numbers(coordinates: Any) -> None:
    """Refuse a coordinate that is not a JSON number (``true`` or ``"1"`` would be read
    as 1 by shapely), naming the first one."""
    for path, value in _leaves(coordinates, "coordinates"):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            shown = json.dumps(value, default=repr)
            raise InvalidQueryError(
                f"polygon {path}={shown[:60]} is not a number; allowed: JSON numbers "
                "(each position is [lng, lat])"
            )


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


# ------------------------------------------------------------------ the antimeridian
def _short_way(polygon: Any, where: str) -> Any:
    """``polygon`` with its rings read the short way round when one of them has an edge
    more than 180° (and less than 360°) of longitude long: longitudes shifted by
    multiples of 360 so that every edge is at most 180° long (the result may reach
    beyond ±180: :func:`_cut` brings it back). Other polygons come back unchanged.

    >>> _short_way(shapely.box(-175, 0, 175, 1), "").bounds  # 175 … 185: across ±180
    (175.0, 0.0, 185.0, 1.0)
    >>> _short_way(shapely.box(-180, -90, 180, 90), "").bounds  # the whole world stays
    (-180.0, -90.0, 180.0, 90.0)
    """
    rings = [shapely.get_coordinates(r) for r in (polygon.exterior, *polygon.interiors)]
    steps = [np.diff(xy[:, 0]) for xy in rings]
    if not any(((np.abs(s) > 180) & (np.abs(s) < 360)).any() for s in steps):
        return polygon
    out = []
    for n, (xy, s) in enumerate(zip(rings, steps, strict=True)):
        turns = np.concatenate([[0], np.cumsum(np.where(np.abs(s) > 180, -np.sign(s), 0))])
        if turns[-1] != 0:
            what = "exterior ring" if n == 0 else f"hole {n}"
            raise InvalidQueryError(
                f"polygon{f' {where}' if where else ''}: its {what} goes round the earth "
                "(read the short way across the antimeridian, as an edge over 180° long "
                "is; it would enclose a pole); allowed: a ring whose every edge spans at "
                "most 180° of longitude, cut at the antimeridian (RFC 7946 §3.1.9)"
            )
        x = xy[:, 0] + 360.0 * turns
        if n == 0:  # the shell starts west of +180: [-180, 180) … east of it
            x -= 360.0 * math.floor((x.min() + 180.0) / 360.0)
            lo = float(x.min())
        else:  # a hole goes where the shell is
            x -= 360.0 * math.floor((x.min() - lo) / 360.0)
        out.append(np.column_stack([x, xy[:, 1]]))
    return shapely.Polygon(out[0], out[1:])


def _cut(polygon: Any) -> list[Any]:
    """The polygons of ``polygon`` (from :func:`_short_way`) cut at ±180 and moved back
    into -180 … 180 (a point on ±180 stays inside on both sides)."""
    west, _, east, _ = polygon.bounds
    if west >= -180 and east <= 180:
        return [polygon]
    pieces = []
    for k in range(math.floor((west + 180) / 360), math.floor((east + 180) / 360) + 1):
        window = shapely.box(360.0 * k - 180, -90, 360.0 * k + 180, 90)
        piece = shapely.intersection(polygon, window)
        piece = shapely.transform(piece, lambda xy, k=k: xy - [360.0 * k, 0.0])
        pieces += [p for p in shapely.get_parts(piece) if isinstance(p, shapely.Polygon)]
    return [p for p in pieces if p.area > 0]


def _union(pieces: list[Any]) -> Any:
    """The area of ``pieces``: themselves when they are one polygon or a valid
    MultiPolygon, else their union (they overlap or share an edge)."""
    if len(pieces) == 1:
        return pieces[0]
    multi = shapely.MultiPolygon(pieces)
    return multi if multi.is_valid else shapely.union_all(pieces)


def _invalid(polygon: Any, where: str, parts: int) -> InvalidQueryError:
    at = f" at {where}" if where else ""
    union = "; the parts may overlap or share edges: their union is searched" if parts > 1 else ""
    return InvalidQueryError(
        f"polygon is invalid{at}: {shapely.is_valid_reason(polygon)}; allowed: a valid "
        f"OGC polygon (no self-intersections){union}"
    )


def _vertices(shape: Any) -> int:
    """Distinct vertices: each ring's closing position (its first, repeated) not counted."""
    polygons = shapely.get_parts(shape)
    polygons = polygons[~shapely.is_empty(polygons)]
    rings = shapely.get_num_interior_rings(polygons) + 1
    return int((shapely.get_num_coordinates(polygons) - rings).sum())


def to_polygon(polygon: Any, *, max_vertices: int = 10_000) -> Any:
    """A valid shapely (Multi)Polygon in lng/lat from any accepted form (module doc)."""
    if isinstance(polygon, str | bytes):
        try:
            polygon = json.loads(polygon)
        except ValueError as exc:
            raise InvalidQueryError(f"polygon is not valid JSON: {exc}") from None
    geojson = isinstance(polygon, Mapping)
    if geojson:
        parts = _geojson_parts(polygon)
    else:
        if hasattr(polygon, "geometry") or type(polygon).__name__ == "GeoSeries":
            polygon = _from_frame(polygon)
        if not isinstance(polygon, shapely.Polygon | shapely.MultiPolygon):
            raise InvalidQueryError(
                f"polygon of type {type(polygon).__name__} is not allowed; allowed: a shapely "
                "Polygon/MultiPolygon, GeoJSON Polygon/MultiPolygon/Feature/FeatureCollection, "
                "or a GeoSeries/GeoDataFrame"
            )
        if isinstance(polygon, shapely.Polygon):
            parts = [("", polygon)]
        else:
            parts = [(f"geoms[{i}]", p) for i, p in enumerate(polygon.geoms)]
    n = sum(_vertices(p) for _, p in parts)
    if n > max_vertices:
        raise InvalidQueryError(
            f"polygon has {n} vertices; allowed: at most {max_vertices} "
            "(max_polygon_vertices setting)"
        )
    parts = [(w, p) for w, p in parts if not p.is_empty]
    if not parts:
        raise InvalidQueryError("polygon is empty; allowed: a polygon with area")
    coords = np.concatenate([shapely.get_coordinates(p) for _, p in parts])
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
    pieces = []
    for where, part in parts:
        if geojson:
            part = _short_way(part, where)
        if not part.is_valid:
            raise _invalid(part, where, len(parts))
        pieces += _cut(part)
    if not pieces:
        raise InvalidQueryError("polygon is empty; allowed: a polygon with area")
    polygon = _union(pieces)
    if not polygon.is_valid:  # (never: valid pieces make a valid union)
        raise _invalid(polygon, "", 1)
    return polygon


def swapped_hint(polygon: Any, lat: NDArray[np.float64], lng: NDArray[np.float64]) -> str | None:
    """Why a polygon that matched nothing was probably given in (lat, lng) order, or
    ``None``: it lies outside the bounds of the data points ``(lat, lng)`` while its
    swapped reading (every vertex's two numbers exchanged) holds some of them (overlapping
    their bounds is not enough: a polygon just past the data's edge is empty, not swapped).

    >>> lat, lng = np.array([40.5, 40.71, 40.9]), np.array([-74.3, -74.0, -73.7])  # New York
    >>> swapped = shapely.box(40.70, -74.02, 40.72, -73.99)  # (lat, lng) by mistake
    >>> swapped_hint(swapped, lat, lng) is not None
    True
    >>> swapped_hint(shapely.box(40.70, -74.5, 40.72, -74.4), lat, lng) is None  # holds none
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
    held = int(np.count_nonzero(shapely.intersects_xy(mirrored, lng, lat)))
    if not held:
        return None
    west, south, east, north = polygon.bounds
    return (
        f"polygon (lng {west:g}…{east:g}, lat {south:g}…{north:g}) lies outside the data "
        f"(lng {data.west:g}…{data.east:g}, lat {data.south:g}…{data.north:g}), but read as "
        f"(lat, lng) it holds {held} merchant{'s' if held > 1 else ''}: the vertices look "
        "like (lat, lng); allowed: GeoJSON (lng, lat) order"
    )


def swapped_bbox_hint(
    box: BBox, lat: NDArray[np.float64], lng: NDArray[np.float64],
    extent: tuple[float, float, float, float] | None = None,
) -> str | None:  # fmt: skip
    """Why a box was probably given in (lat, lng) order (``south,west,north,east``), or
    ``None``: it lies outside the bounds of the data points ``(lat, lng)`` (so it holds
    none of them) while its swapped reading holds some. ``extent``: the points'
    ``(south, north, west, east)`` if known (then only a box off the data reads them).

    >>> lat, lng = np.array([52.36, 52.37]), np.array([4.89, 4.90])  # Amsterdam
    >>> swapped = BBox(south=4.88, west=52.36, north=4.92, east=52.38)  # by mistake
    >>> print(swapped_bbox_hint(swapped, lat, lng))  # doctest: +NORMALIZE_WHITESPACE
    the box (lng 52.36…52.38, lat 4.88…4.92) lies outside the data (lng 4.89…4.9, lat
    52.36…52.37), but read as south,west,north,east it holds 2 merchants: the numbers
    look like (lat, lng); allowed: west,south,east,north (lng, lat order), e.g.
    4.88,52.36,4.92,52.38
    >>> swapped_bbox_hint(BBox(south=52.36, west=4.88, north=52.38, east=4.92), lat, lng)
    """
    if not len(lat) or box.crosses_antimeridian or not -90 <= box.west <= box.east <= 90:
        return None  # the first numbers cannot be south and north
    south, north, west, east = extent or (lat.min(), lat.max(), lng.min(), lng.max())
    lng_apart = box.west > east or box.east < west
    if not (lng_apart or box.south > north or box.north < south):
        return None  # the box overlaps the data: it is empty for another reason
    held = int(
        np.count_nonzero(
            (lat >= box.west) & (lat <= box.east) & (lng >= box.south) & (lng <= box.north)
        )
    )
    if not held:
        return None
    return (
        f"the box (lng {box.west:g}…{box.east:g}, lat {box.south:g}…{box.north:g}) lies "
        f"outside the data (lng {west:g}…{east:g}, lat {south:g}…{north:g}), but read as "
        f"south,west,north,east it holds {held} merchant{'s' if held > 1 else ''}: the "
        "numbers look like (lat, lng); allowed: west,south,east,north (lng, lat order), "
        f"e.g. {box.south:.15g},{box.west:.15g},{box.north:.15g},{box.east:.15g}"
    )


def to_origin(origin: tuple[float, float] | None) -> tuple[float, float] | None:
    """A ``(lat, lng)`` origin checked (``None`` stays ``None``: the area's own centre).

    Examples
    --------
    >>> to_origin((40.7, -74.0)), to_origin(LatLng(40.7, -74.0)), to_origin(np.array([40.7, -74]))
    ((40.7, -74.0), (40.7, -74.0), (40.7, -74.0))
    """
    if origin is None:
        return None
    if isinstance(origin, LatLng):
        return origin.lat, origin.lng
    if isinstance(origin, np.ndarray) and origin.shape == (2,):
        origin = tuple(origin.tolist())
    if not isinstance(origin, Sequence) or isinstance(origin, str) or len(origin) != 2:
        raise InvalidQueryError(f"origin={origin!r:.80} is not a point; allowed: a (lat, lng) "
                                "pair (a tuple, list or array) or a LatLng")  # fmt: skip
    return validate_lat(origin[0], "origin lat"), validate_lng(origin[1], "origin lng")
