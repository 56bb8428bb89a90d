"""Vector tiles of one snapshot: what each layer holds, the density switch, the cache.

A :class:`TileMaker` belongs to one :class:`~geo_discovery.engine.DiscoveryEngine` (built
on first use, dropped with it when a new snapshot is swapped in) and answers
:meth:`DiscoveryEngine.tile`. Two layers:

``merchants``
    *Points* — every merchant inside the tile's bounds (edges included) that passes the
    filters (a :class:`~geo_discovery.query.Filters`: categories, price, rating, hours
    and ``text``, the search box's words, matched as box search matches them),
    found by the engine's exact box search over the snapshot's index
    (:meth:`~geo_discovery.engine.DiscoveryEngine.within_bbox`); feature id = the
    merchant's table row, its point at its position rounded to the tile's grid and kept to
    0 … ``EXTENT - 1`` (:meth:`~geo_discovery.tiles.grid.TileId.to_pixels`: one on the
    east or south edge is drawn a unit inside); properties ``id`` (merchant_id), ``name``,
    ``category``, ``wom`` (word-of-mouth score, 0–1, to 0.001), ``district_id``,
    ``price`` (price_level 1–4) and ``rating`` (stars 0–5, to 0.01), each left out when
    unknown.

    *Bins* — when the tile holds more than ``tiles_max_points`` merchants (setting,
    default 4,000: about one merchant per 16 px² of a 256-px tile) and its zoom is below
    :data:`FULL_DETAIL_ZOOM`, the same merchants are counted per H3 cell of
    :func:`~geo_discovery.tiles.grid.resolution_for_zoom` — exactly the bins of
    :meth:`~geo_discovery.engine.DiscoveryEngine.aggregate` (and ``GET /v1/aggregate``)
    over the tile's bounds — one point per bin at the mean position of its merchants (on
    the tile's side of the antimeridian, kept to the tile as points are); feature id =
    the H3 cell; properties ``count``, ``cell``, ``resolution`` and ``mean_wom``. A map
    tells the two apart by ``count``.

``districts``
    The business districts whose bounds touch the tile, their polygons projected,
    clipped to the tile grown by :data:`DISTRICT_BUFFER` units, snapped to the tile's
    integer grid (rounded; GEOS's validity-preserving precision reduction where rounding
    breaks a polygon) and oriented as the specification asks; feature id = the
    district's row; properties ``district_id``, ``name``, ``tier``, ``vitality`` and
    ``n_merchants``. Polygons that vanish at the tile's resolution are left out. On the
    tiles at either end of a row (and the buffer across the antimeridian), a district near
    the antimeridian is joined with its copy a turn away (one stored cut at ±180 continues
    into the buffer across it: the cut is no polygon edge a map would outline).

Tiles are cached per engine, up to ``tiles_cache_mb`` MB of MVT bytes (least recently
used first out), keyed by tile and filters; tiles filtered by ``open_now`` depend on the
clock and are never cached.
"""

from __future__ import annotations

import functools
import gzip
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from ..cells import grid_disks, latlngs_to_cells, parent_cells, str_to_cell
from ..distance import haversine_m, mean_lng
from ..models import BBox
from ..query import NO_FILTERS, Filters
from ..search.filterkey import checked_filters
from .grid import EXTENT, MAX_LAT, TileId, resolution_for_zoom
from .mvt import POINT, POLYGON, ValueColumn, encode_layer, encode_tile, point_geometry
from .mvt import polygon_geometry as _polygon_commands

if TYPE_CHECKING:
    from ..engine import DiscoveryEngine

__all__ = [
    "BIN_FIELDS",
    "DISTRICT_BUFFER",
    "DISTRICT_FIELDS",
    "FULL_DETAIL_ZOOM",
    "MERCHANT_FIELDS",
    "TileMaker",
    "VectorTile",
    "clip_to_tile",
    "merchants_centre",
]

#: From this zoom on a tile always holds individual merchants (TileJSON ``maxzoom``;
#: maps overzoom beyond it: a z16 tile unit is about 15 cm at the equator).
FULL_DETAIL_ZOOM = 16
#: Districts are clipped to the tile grown by this many units of 4096 on every side, so
#: fills and outlines meet seamlessly at tile edges.
DISTRICT_BUFFER = 64
MERCHANT_FIELDS = {
    "id": "String: merchant_id",
    "name": "String",
    "category": "String: category path",
    "wom": "Number: word-of-mouth score 0-1",
    "district_id": "String: the business district it lies in",
    "price": "Number: price_level 1-4",
    "rating": "Number: stars 0-5",
}
BIN_FIELDS = {
    "count": "Number: merchants in this H3 cell and tile (low zooms only)",
    "cell": "String: the H3 cell",
    "resolution": "Number: the H3 resolution of the bins",
    "mean_wom": "Number: mean word-of-mouth score of the bin",
}
DISTRICT_FIELDS = {
    "district_id": "String",
    "name": "String",
    "tier": "String: regional, major, neighbourhood or local",
    "vitality": "Number: 0-1",
    "n_merchants": "Number",
}


@dataclass(frozen=True)
class VectorTile:
    """One encoded tile and what it holds.

    ``data`` is the Mapbox Vector Tile 2.1 (``b""`` when empty); ``merchants`` the
    merchants on it (drawn one by one, or counted in ``bins`` bins of H3
    ``resolution``); ``districts`` the district polygons drawn.
    """

    tile: TileId
    data: bytes
    merchants: int
    bins: int
    resolution: int | None
    districts: int

    @property
    def is_empty(self) -> bool:
        return not self.data

    @functools.cached_property
    def gzipped(self) -> bytes:
        """``data`` gzip-compressed (level 1: a z14 tile in ~5 ms, 2.3× smaller; computed
        once, kept with the cached tile)."""
        return gzip.compress(self.data, compresslevel=1, mtime=0)


class _TileCache:
    """Least-recently-used tiles up to a byte budget (thread-safe)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._items: OrderedDict[Any, VectorTile] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_build(self, key: Any, build: Callable[[], VectorTile]) -> VectorTile:
        with self._lock:
            got = self._items.get(key)
            if got is not None:
                self._items.move_to_end(key)
                return got
        tile = build()
        size = len(tile.data)
        if size > self.max_bytes:
            return tile
        with self._lock:
            if key not in self._items:
                self._items[key] = tile
                self.nbytes += size
            while self.nbytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self.nbytes -= len(old.data)
        return tile

    def __len__(self) -> int:
        return len(self._items)


class TileMaker:
    """The vector tiles of one engine's snapshot (see the module docstring).

    Parameters
    ----------
    engine
        The engine whose snapshot, filters and aggregation the tiles use. Settings:
        ``tiles_max_points`` (the density switch) and ``tiles_cache_mb``.
    """

    def __init__(self, engine: DiscoveryEngine) -> None:
        self.engine = engine
        self.max_points = engine.settings.tiles_max_points
        self.cache = _TileCache(engine.settings.tiles_cache_mb * 2**20)

    # ---------------------------------------------------------------- tiles
    def tile(self, z: int, x: int, y: int, *, where: Filters | None = None) -> VectorTile:
        """Tile ``z/x/y`` of the merchants passing ``where`` (cached unless ``open_now``)."""
        tile = TileId(z, x, y)
        where = checked_filters(where)
        if where.open_now:
            return self.build(tile, where)
        return self.cache.get_or_build((tile, where), lambda: self.build(tile, where))

    def build(self, tile: TileId, where: Filters = NO_FILTERS) -> VectorTile:
        """Encode one tile now (no cache)."""
        engine = self.engine
        positions = engine.within_bbox(tile.bbox, where=where).positions
        if len(positions) > self.max_points and tile.z < FULL_DETAIL_ZOOM:
            resolution = resolution_for_zoom(tile.z)
            bins = engine.aggregate(tile.bbox, resolution, where=where)
            merchants = self._bin_layer(tile, bins, resolution)
            n_bins: int = len(bins)
        else:
            resolution, n_bins = None, 0
            merchants = self._point_layer(tile, positions)
        districts, n_districts = self._district_layer(tile)
        return VectorTile(
            tile=tile,
            data=encode_tile([merchants, districts]),
            merchants=len(positions),
            bins=n_bins,
            resolution=resolution,
            districts=n_districts,
        )

    def _point_layer(self, tile: TileId, positions: NDArray[np.int64]) -> bytes:
        snap = self.engine.snapshot
        x, y = tile.to_pixels(snap.lat[positions], snap.lng[positions])
        geometry, offsets = point_geometry(x, y)
        return encode_layer(
            "merchants",
            geometry=geometry,
            offsets=offsets,
            geom_type=POINT,
            columns=[(key, column, positions) for key, column in self._merchant_columns],
            point_ids=positions,
        )

    def _bin_layer(self, tile: TileId, bins: pd.DataFrame, resolution: int) -> bytes:
        # a bin's mean longitude comes in -180 … 180: to_pixels brings it to the tile's
        # side of the antimeridian (a bin at 180 on the last column, not at -180)
        x, y = tile.to_pixels(bins["lat"].to_numpy(), bins["lng"].to_numpy())
        geometry, offsets = point_geometry(x, y)
        cells = bins.index.tolist()
        columns = [
            ("count", ValueColumn.of_numbers(bins["count"].to_numpy(), integer=True), None),
            ("cell", ValueColumn.of_strings(cells), None),
            (
                "resolution",
                ValueColumn.of_numbers(np.full(len(bins), resolution), integer=True),
                None,
            ),
            ("mean_wom", ValueColumn.of_numbers(bins["mean_wom"].to_numpy(), decimals=3), None),
        ]
        return encode_layer(
            "merchants",
            geometry=geometry,
            offsets=offsets,
            geom_type=POINT,
            columns=columns,
            point_ids=np.array([str_to_cell(c) for c in cells], dtype=np.uint64),
        )

    def _district_layer(self, tile: TileId) -> tuple[bytes, int]:
        found = self.engine.snapshot.districts
        if found is None or len(found) == 0:
            return b"", 0
        rows = np.flatnonzero(found.touching(_buffer_box(tile)))
        if len(rows) == 0:
            return b"", 0
        shapes = clip_to_tile(tile, self._district_shapes[rows])
        keep = np.array([s is not None for s in shapes], dtype=bool)
        if not keep.any():
            return b"", 0
        rows = rows[keep]
        geometry, offsets = _polygon_commands([s for s in shapes if s is not None])
        return encode_layer(
            "districts",
            geometry=geometry,
            offsets=offsets,
            geom_type=POLYGON,
            columns=[(key, column, rows) for key, column in self._district_columns],
            point_ids=rows,
        ), len(rows)

    # ----------------------------------------------------- per-snapshot state
    @functools.cached_property
    def _merchant_columns(self) -> list[tuple[str, ValueColumn]]:
        engine = self.engine
        snap, planner = engine.snapshot, engine.planner
        table = snap.merchants
        out = [
            ("id", ValueColumn.of_strings(table.column("merchant_id"))),
            ("name", ValueColumn.of_strings(table.column("name"))),
            ("category", ValueColumn.of_strings(table.column("category"))),
        ]
        if snap.wom is not None:
            out.append(("wom", ValueColumn.of_numbers(snap.wom[0], decimals=3)))
        if planner.district_id is not None:
            out.append(("district_id", ValueColumn.of_strings(list(planner.district_id))))
        out.append(("price", ValueColumn.of_numbers(planner.price, integer=True)))
        out.append(("rating", ValueColumn.of_numbers(planner.stars, decimals=2)))
        return out

    @functools.cached_property
    def _district_shapes(self) -> NDArray[np.object_]:
        return np.asarray(self.engine.snapshot.require_districts().frame.geometry.to_numpy())

    @functools.cached_property
    def _district_columns(self) -> list[tuple[str, ValueColumn]]:
        found = self.engine.snapshot.require_districts()
        frame = found.frame
        out = [("district_id", ValueColumn.of_strings(found.ids))]
        for key in ("name", "tier"):
            if key in frame.columns:
                out.append((key, ValueColumn.of_strings([_text(v) for v in frame[key]])))
        for key, integer in (("vitality", False), ("n_merchants", True)):
            if key in frame.columns:
                values = pd.to_numeric(frame[key], errors="coerce").to_numpy(dtype=np.float64)
                out.append((key, ValueColumn.of_numbers(values, integer=integer, decimals=4)))
        return out

    # -------------------------------------------------------------- TileJSON
    def tilejson(self, tiles_url: str, *, name: str = "geo-discovery") -> dict[str, Any]:
        """A TileJSON 3.0.0 document for ``tiles_url`` (a ``{z}/{x}/{y}`` template).

        ``bounds`` cover the merchants (clamped to web mercator), ``center`` is the
        centroid of the most vital district at zoom 14; without districts, the place
        :func:`merchants_centre` finds (among the merchants, where they are densest) at a
        zoom that shows half of them.
        Extensions: ``snapshot`` (the version), ``top_categories`` (merchants per
        top-level category) and ``bin_resolutions`` (the H3 resolution of the bins at
        each zoom, 0 … ``maxzoom``).
        """
        return {
            "tilejson": "3.0.0",
            "name": name,
            "version": "1.0.0",
            "scheme": "xyz",
            "tiles": [tiles_url],
            "minzoom": 0,
            "maxzoom": FULL_DETAIL_ZOOM,
            **self._tilejson_facts,
            "bin_resolutions": [resolution_for_zoom(z) for z in range(FULL_DETAIL_ZOOM + 1)],
            "vector_layers": [
                {
                    "id": "merchants",
                    "description": "Merchants as points; H3 bins with count where a tile "
                    "holds more than tiles_max_points",
                    "minzoom": 0,
                    "maxzoom": FULL_DETAIL_ZOOM,
                    "fields": {**MERCHANT_FIELDS, **BIN_FIELDS},
                },
                {
                    "id": "districts",
                    "description": "Business districts, clipped to each tile",
                    "minzoom": 0,
                    "maxzoom": FULL_DETAIL_ZOOM,
                    "fields": DISTRICT_FIELDS,
                },
            ],
        }

    @functools.cached_property
    def _tilejson_facts(self) -> dict[str, Any]:
        engine = self.engine
        snap = engine.snapshot
        stats = engine.stats()
        facts: dict[str, Any] = {
            "snapshot": engine.version,
            "top_categories": stats["top_categories"],
        }
        inside = np.abs(snap.lat) <= MAX_LAT
        if not inside.any():
            facts["center"] = [0.0, 0.0, 1]
            return facts
        lat, lng = snap.lat[inside], snap.lng[inside]
        facts["bounds"] = [float(lng.min()), float(lat.min()), float(lng.max()), float(lat.max())]
        found = snap.districts
        if found is not None and len(found) and "vitality" in found.frame.columns:
            top = found.frame.sort_values("vitality", ascending=False, kind="stable").iloc[0]
            facts["center"] = [float(top["centroid_lng"]), float(top["centroid_lat"]), 14]
        else:
            facts["center"] = merchants_centre(lat, lng)
        return facts


#: The H3 resolutions :func:`merchants_centre` narrows down through (average edge about
#: 1,300 km, 180 km, 26 km, 3.7 km, 530 m: a part of the world, a region, a city, a
#: quarter, a few blocks).
CENTRE_RESOLUTIONS = (0, 2, 4, 6, 8)
#: The view :func:`merchants_centre` fits half the merchants in: this many CSS pixels
#: across (MapLibre draws the world 512·2**zoom pixels wide), up to zoom 14.
CENTRE_VIEW_PX = 600
#: Tables larger than this are looked at through this many of their merchants.
CENTRE_SAMPLE = 100_000
_CENTRE_MAX_ZOOM = 14
_EQUATOR_M = 40_075_016.685578488  # the web-mercator sphere's circumference


def merchants_centre(lat: NDArray[np.float64], lng: NDArray[np.float64]) -> list[float]:
    """``[lng, lat, zoom]`` of a map's first view of the merchants at ``lat``, ``lng``
    (at least one): a merchant where they are densest, and the zoom that shows half
    of them around it.

    The H3 1-disk (a cell and its neighbours) holding the most merchants at each of
    :data:`CENTRE_RESOLUTIONS` in turn (the finer ones among the merchants of the coarser
    chosen: the busiest region, its busiest town, …) gives the place; the centre is the
    merchant nearest the mean position of its merchants (across the antimeridian too).
    ``zoom`` is the largest (≤ 14) at which a view :data:`CENTRE_VIEW_PX` pixels across
    still holds the circle round the centre whose radius is the merchants' median
    distance from it. Larger tables are looked at through :data:`CENTRE_SAMPLE` of
    their merchants (evenly spaced rows).

    Examples
    --------
    >>> lat = np.array([60.17, 60.171, 60.2, 60.25, 40.75])  # Helsinki, one in New York
    >>> lng = np.array([24.94, 24.941, 24.99, 24.8, -73.98])
    >>> merchants_centre(lat, lng)
    [24.941, 60.171, 11]
    >>> lat[2:4], lng[2:4] = (-33.9, 35.7), (151.2, 139.7)  # most far away: the world
    >>> merchants_centre(lat, lng)
    [24.941, 60.171, 0]
    """
    lat = np.asarray(lat, dtype=np.float64)
    lng = np.asarray(lng, dtype=np.float64)
    if len(lat) > CENTRE_SAMPLE:  # evenly spaced rows: ~0.1 s, whatever the table
        every = np.linspace(0, len(lat) - 1, CENTRE_SAMPLE).astype(np.int64)
        lat, lng = lat[every], lng[every]
    finest = CENTRE_RESOLUTIONS[-1]
    cells = latlngs_to_cells(lat, lng, finest)
    rows = np.arange(len(lat))
    for res in CENTRE_RESOLUTIONS:
        here = cells[rows] if res == finest else parent_cells(cells[rows], finest, res)
        rows = rows[_busiest_disk(here)]
    mean_lat, mean_lng_ = float(lat[rows].mean()), mean_lng(lng[rows])
    best = int(rows[np.argmin(haversine_m(lat[rows], lng[rows], mean_lat, mean_lng_))])
    c_lat, c_lng = float(lat[best]), float(lng[best])
    radius = float(np.median(haversine_m(lat, lng, c_lat, c_lng)))
    zoom = _CENTRE_MAX_ZOOM
    if radius > 0:
        view_m = CENTRE_VIEW_PX / 512.0 * _EQUATOR_M * np.cos(np.radians(c_lat))
        zoom = int(np.clip(np.floor(np.log2(view_m / (2.0 * radius))), 0, _CENTRE_MAX_ZOOM))
    return [c_lng, c_lat, zoom]


def _busiest_disk(cells: NDArray[np.uint64]) -> NDArray[np.bool_]:
    """Which of ``cells`` (one per merchant) lie in the 1-disk (a cell and its
    neighbours) holding the most of them: a town split by a cell edge counts whole."""
    uniq, inverse, counts = np.unique(cells, return_inverse=True, return_counts=True)
    disks, sizes = grid_disks(uniq, 1)
    at = np.minimum(np.searchsorted(uniq, disks), len(uniq) - 1)
    held = np.where(uniq[at] == disks, counts[at], 0)
    score = np.add.reduceat(held, np.r_[0, np.cumsum(sizes)[:-1]])
    best = int(np.lexsort((-counts, -score))[0])  # ties: the busier cell, the lower id
    disk = disks[int(sizes[:best].sum()) :][: int(sizes[best])]
    return np.isin(uniq, disk)[inverse.reshape(-1)]


def clip_to_tile(tile: TileId, shapes: NDArray[np.object_]) -> list[Any]:
    """(Multi)polygons in lng/lat → tile units, clipped to the tile grown by
    :data:`DISTRICT_BUFFER`, snapped to integers (validity kept) and oriented for MVT;
    ``None`` where nothing is left.

    Examples
    --------
    >>> square = shapely.box(-10, -10, 10, 10)  # lng/lat, across the tile's corner
    >>> (clipped,) = clip_to_tile(TileId(1, 1, 1), np.array([square]))
    >>> clipped.bounds, clipped.is_valid
    ((-64.0, -64.0, 228.0, 229.0), True)
    """

    def project(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        fx, fy = tile.project(coords[:, 1], coords[:, 0])
        return np.column_stack([fx, fy])

    b = DISTRICT_BUFFER
    projected = shapely.transform(_joined_across_antimeridian(tile, shapes), project)
    clipped = shapely.clip_by_rect(projected, -b, -b, EXTENT + b, EXTENT + b)
    # Rounding to the grid keeps most polygons valid; the few it breaks (or collapses)
    # go through GEOS's precision reduction, which is slower but always valid.
    snapped = np.array([_rounded(g) for g in clipped], dtype=object)
    broken = ~shapely.is_valid(snapped)
    if broken.any():
        snapped[broken] = shapely.set_precision(clipped[broken], 1.0)
    out: list[Any] = []
    for geom in snapped:
        if isinstance(geom, shapely.Polygon):
            polygons = [geom]
        elif isinstance(geom, shapely.MultiPolygon):
            polygons = list(geom.geoms)
        else:  # a collection (or nothing): its polygons
            parts = shapely.get_parts(shapely.get_parts(geom))
            polygons = [p for p in parts if isinstance(p, shapely.Polygon)]
        polygons = [p for p in polygons if not p.is_empty and p.area > 0]
        if not polygons:
            out.append(None)
            continue
        shape = polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)
        out.append(shapely.orient_polygons(shape, exterior_cw=False))
    return out


def _buffer_box(tile: TileId) -> BBox:
    """The tile grown by :data:`DISTRICT_BUFFER` units, its buffer continued across the
    antimeridian (``west > east``) where the tile touches it."""
    n = 2**tile.z
    inner = tile.buffered_bbox(DISTRICT_BUFFER)
    pad = DISTRICT_BUFFER / EXTENT * 360.0 / n
    if n == 1:
        return inner  # the whole row already
    west, east = inner.west, inner.east
    if tile.x == 0:
        west = 180.0 - pad
    if tile.x == n - 1:
        east = -180.0 + pad
    return BBox(south=inner.south, west=west, north=inner.north, east=east)


def _joined_across_antimeridian(tile: TileId, shapes: NDArray[np.object_]) -> NDArray[np.object_]:
    """``shapes`` (lng/lat) for a tile touching the antimeridian: each one near the other
    side joined with its copy moved by a whole turn onto the tile's side.

    A district over ±180 is stored cut there into parts (RFC 7946 §3.1.9); clipped part
    by part, the cut would be a polygon edge along the tile's east (or west) edge, and a
    map would outline it. Joined, the parts over the seam continue into the buffer as one
    polygon, as they do across any other tile edge.
    """
    n = 2**tile.z
    shapes = np.asarray(shapes, dtype=object)
    if len(shapes) == 0 or 0 < tile.x < n - 1:
        return shapes
    pad = (DISTRICT_BUFFER + 1) / EXTENT * 360.0 / n  # a unit more: rounding's reach
    bounds = np.asarray(shapely.bounds(shapes), dtype=np.float64).reshape(-1, 4)
    shifts = np.zeros((len(shapes), 2), dtype=np.float64)
    if tile.x == n - 1:  # the east end: parts just east of -180 continue past 180
        shifts[:, 0] = np.where(bounds[:, 0] <= -180.0 + pad, 360.0, 0.0)
    if tile.x == 0:  # the west end: parts just west of 180 continue before -180
        shifts[:, 1] = np.where(bounds[:, 2] >= 180.0 - pad, -360.0, 0.0)
    out = shapes.copy()
    for i in np.flatnonzero(shifts.any(axis=1)).tolist():
        copies = [shapely.transform(shapes[i], lambda c, k=k: c + np.array([k, 0.0]))
                  for k in shifts[i].tolist() if k]  # fmt: skip
        out[i] = _union([shapes[i], *copies])
    return out


def _union(geoms: list[Any]) -> Any:
    """The union of polygons (made valid first where GEOS refuses them as they are)."""
    try:
        return shapely.union_all(geoms)
    except shapely.errors.GEOSException:
        return shapely.union_all(shapely.make_valid(np.asarray(geoms, dtype=object)))


def _rounded(geom: Any) -> Any:
    """``geom`` with its coordinates rounded and repeats dropped; ``None`` when a ring
    collapses (fewer than 3 distinct points)."""
    try:
        return shapely.remove_repeated_points(shapely.transform(geom, np.rint))
    except shapely.errors.GEOSException:
        return None


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and value != value) else str(value)
