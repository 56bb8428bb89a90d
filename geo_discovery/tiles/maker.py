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
    merchant's table row; properties ``id`` (merchant_id), ``name``, ``category``,
    ``wom`` (word-of-mouth score, 0–1, to 0.001), ``district_id``, ``price``
    (price_level 1–4) and ``rating`` (stars 0–5, to 0.01), each left out when unknown.

    *Bins* — when the tile holds more than ``tiles_max_points`` merchants (setting,
    default 4,000: about one merchant per 16 px² of a 256-px tile) and its zoom is below
    :data:`FULL_DETAIL_ZOOM`, the same merchants are counted per H3 cell of
    :func:`~geo_discovery.tiles.grid.resolution_for_zoom` — exactly the bins of
    :meth:`~geo_discovery.engine.DiscoveryEngine.aggregate` (and ``GET /v1/aggregate``)
    over the tile's bounds — one point per bin at the mean position of its merchants;
    feature id = the H3 cell; properties ``count``, ``cell``, ``resolution`` and
    ``mean_wom``. A map tells the two apart by ``count``.

``districts``
    The business districts whose bounds touch the tile, their polygons projected,
    clipped to the tile grown by :data:`DISTRICT_BUFFER` units, snapped to the tile's
    integer grid (rounded; GEOS's validity-preserving precision reduction where rounding
    breaks a polygon) and oriented as the specification asks; feature id = the
    district's row; properties ``district_id``, ``name``, ``tier``, ``vitality`` and
    ``n_merchants``. Polygons that vanish at the
    tile's resolution are left out.

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

from ..cells import str_to_cell
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
        rows = np.flatnonzero(found.touching(tile.buffered_bbox(DISTRICT_BUFFER)))
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
        centroid of the most vital district (else the merchants' median) at zoom 14.
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
            facts["center"] = [float(np.median(lng)), float(np.median(lat)), 14]
        return facts


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
    projected = shapely.transform(shapes, project)
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


def _rounded(geom: Any) -> Any:
    """``geom`` with its coordinates rounded and repeats dropped; ``None`` when a ring
    collapses (fewer than 3 distinct points)."""
    try:
        return shapely.remove_repeated_points(shapely.transform(geom, np.rint))
    except shapely.errors.GEOSException:
        return None


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and value != value) else str(value)
