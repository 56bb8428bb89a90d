"""Sets of H3 cells: neighbours, components, morphology, polygons and areas.

The district and catchment code works on *sets of cells at one resolution*, held as
sorted ``uint64`` arrays. Everything h3-specific goes through :mod:`geo_discovery.cells`
(the only module that imports h3); this module adds the set operations on top of it:

* :class:`CellGrid` — a sorted cell array with its 6-neighbour table (``-1`` where a
  neighbour is not in the set), for vectorised neighbour counts and graph components;
* :func:`add_connectors` — the "connector" passes of Macdonald, Dolega & Singleton
  (2022): a cell outside the set joins it when at least ``m`` of its six neighbours are
  in it, which bridges one-cell gaps between shopfronts and fills concave notches
  without growing the set outwards along straight edges;
* :func:`disk_counts` — point counts summed over each cell's ``k``-disk (a box kernel);
* :func:`cells_to_polygon` — the union of cells as one valid shapely geometry (GeoJSON
  ``(lng, lat)`` order), and :func:`cell_areas_m2` their exact spherical areas;
* :func:`rfc7946_oriented`, :func:`geojson_geometry`, :func:`cells_geojson` — the one
  place polygons are oriented for GeoJSON (RFC 7946 §3.1.6: exterior rings
  counter-clockwise, holes clockwise). Vector tiles (MVT) orient their own way
  (:mod:`geo_discovery.tiles`).

A cell whose edges cross the antimeridian is cut there into a MultiPolygon (RFC 7946
§3.1.9), and a cell around a pole reaches it along ±180, so no polygon wraps round the
world (Fiji, Kamchatka, the Chukchi Sea; the poles at coarse resolutions).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import shapely
import shapely.geometry
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from . import parallel
from .cells import (
    CHUNK,
    MAX_RES,
    cell_boundaries_lnglat,
    cell_centres,
    grid_disk,
    grid_disks,
    grid_rings,
    rings_or_disks,
)
from .distance import EARTH_RADIUS_M, latlng_to_xyz, wrap_lng

__all__ = [
    "CellGrid",
    "add_connectors",
    "cell_areas_m2",
    "cell_polygons",
    "cell_resolution",
    "cells_geojson",
    "cells_to_latlng",
    "cells_to_parent",
    "cells_to_polygon",
    "disk_cells",
    "disk_counts",
    "disk_counts_at",
    "geojson_geometry",
    "rfc7946_oriented",
    "union_of_cells",
    "within_180",
]

_RES_SHIFT = 52
_RES_MASK = 0xF << _RES_SHIFT


def cell_resolution(cell: int) -> int:
    """Resolution of one cell (bits 52-55 of the H3 index)."""
    return (int(cell) >> _RES_SHIFT) & 0xF


def cells_to_parent(cells: NDArray[np.uint64], res: int) -> NDArray[np.uint64]:
    """Parents at ``res`` of cells of one finer (or equal) resolution, vectorised.

    The H3 layout keeps one 3-bit digit per level; a parent has the child's digits up to
    ``res`` and the digit 7 below.

    Examples
    --------
    >>> from geo_discovery.cells import latlng_to_cell
    >>> c9, c7 = latlng_to_cell(40.75, -73.98, 9), latlng_to_cell(40.75, -73.98, 7)
    >>> int(cells_to_parent(np.array([c9], dtype=np.uint64), 7)[0]) == c7
    True
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if len(cells) == 0:
        return cells.copy()
    child_res = cell_resolution(int(cells[0]))
    if not 0 <= res <= child_res:
        raise ValueError(f"res={res} must be between 0 and the cells' resolution {child_res}")
    fill = 0
    for level in range(res + 1, MAX_RES + 1):
        fill |= 0x7 << (3 * (MAX_RES - level))
    out = (cells & np.uint64(~_RES_MASK & 0xFFFFFFFFFFFFFFFF)) | np.uint64(res << _RES_SHIFT)
    return out | np.uint64(fill)


def cells_to_latlng(cells: NDArray[np.uint64]) -> tuple[NDArray, NDArray]:
    """Cell centres as ``(lat, lng)`` degree arrays."""
    if len(cells) == 0:
        return np.empty(0), np.empty(0)
    xyz = cell_centres(np.asarray(cells, dtype=np.uint64))
    lat = np.degrees(np.arctan2(xyz[:, 2], np.hypot(xyz[:, 0], xyz[:, 1])))
    lng = np.degrees(np.arctan2(xyz[:, 1], xyz[:, 0]))
    return lat, lng


def cell_areas_m2(
    cells: Iterable[int], *, boundaries: tuple[NDArray, NDArray] | None = None
) -> NDArray[np.float64]:
    """Exact spherical area of each cell in square metres (triangle fan from the centre).

    Uses the same Earth radius as h3, so the areas agree with ``h3.cell_area``.
    ``boundaries``: the cells' :func:`~geo_discovery.cells.cell_boundaries_lnglat`, when
    the caller has them already.
    """
    arr = np.asarray(cells if isinstance(cells, np.ndarray) else list(cells), dtype=np.uint64)
    out = np.empty(len(arr), dtype=np.float64)
    if len(arr) == 0:
        return out
    centres = cell_centres(arr)
    rings, sizes = boundaries if boundaries is not None else cell_boundaries_lnglat(arr)
    groups = [np.nonzero(sizes == size)[0] for size in np.unique(sizes).tolist()]
    step = 1 << 16  # cells at a time: the (m, size, 3) temporaries stay small
    for sel in (g[lo : lo + step] for g in groups for lo in range(0, len(g), step)):
        size = int(sizes[sel[0]])  # hexagons, pentagons, distorted cells
        ll = rings[sel, :size]  # (m, size, 2)
        v = latlng_to_xyz(ll[..., 1], ll[..., 0])
        w = np.roll(v, -1, axis=1)
        a = centres[sel][:, None, :]
        triple = np.abs(np.einsum("mij,mij->mi", v, np.cross(w, a)))
        denom = (
            1.0
            + np.einsum("mij,mij->mi", v, a)
            + np.einsum("mij,mij->mi", w, a)
            + np.einsum("mij,mij->mi", v, w)
        )
        out[sel] = (2.0 * np.arctan2(triple, denom)).sum(axis=1)
    return out * EARTH_RADIUS_M**2


def cells_to_polygon(cells: Iterable[int]) -> shapely.Geometry:
    """Union of cells as one valid (Multi)Polygon in ``(lng, lat)``, its rings oriented as
    RFC 7946 asks (:func:`rfc7946_oriented`: GeoJSON made of it needs no fixing); empty
    for no cells.

    Examples
    --------
    >>> from geo_discovery.cells import latlng_to_cell
    >>> c = latlng_to_cell(40.75, -73.98, 9)
    >>> poly = cells_to_polygon(disk_cells([c], 1))
    >>> poly.geom_type, poly.is_valid, len(poly.interiors), poly.exterior.is_ccw
    ('Polygon', True, 0, True)
    """
    arr = np.asarray(cells if isinstance(cells, np.ndarray) else list(cells), dtype=np.uint64)
    return rfc7946_oriented(union_of_cells(cell_polygons(arr)))


def cell_polygons(
    cells: NDArray[np.uint64], *, boundaries: tuple[NDArray, NDArray] | None = None
) -> NDArray[np.object_]:
    """Each cell's hexagon (or pentagon) as a shapely Polygon in ``(lng, lat)``, made in
    one vectorised call per ring size (the rings of :func:`~.cells.cell_to_boundary_lnglat`).
    ``boundaries``: as for :func:`cell_areas_m2`."""
    rings, sizes = (
        boundaries
        if boundaries is not None
        else cell_boundaries_lnglat(np.asarray(cells, dtype=np.uint64))
    )
    out = np.empty(len(sizes), dtype=object)
    for size in np.unique(sizes).tolist():
        sel = np.nonzero(sizes == size)[0]
        closed = np.concatenate([rings[sel, :size], rings[sel, :1]], axis=1)
        out[sel] = shapely.polygons(closed)
        lng = rings[sel, :size, 0]
        for i in sel[lng.max(axis=1) - lng.min(axis=1) > 180.0].tolist():
            out[i] = _cut_at_antimeridian(rings[i, : sizes[i]])
    return out


def _cut_at_antimeridian(ring: NDArray[np.float64]) -> shapely.Geometry:
    """A cell's ring (``(lng, lat)``, open) whose edges cross ±180, as its parts on
    either side; a ring around a pole (its longitudes go once round) closes along ±180 to
    the pole. Edges are straight in ``(lng, lat)``, as every cell polygon here.

    >>> from geo_discovery.cells import cell_to_boundary_lnglat, latlng_to_cell
    >>> fiji = _cut_at_antimeridian(cell_to_boundary_lnglat(latlng_to_cell(-16.5, 180.0, 2)))
    >>> fiji.geom_type, fiji.bounds[0], fiji.bounds[2], fiji.area < 20
    ('MultiPolygon', -180.0, 180.0, True)
    >>> pole = _cut_at_antimeridian(cell_to_boundary_lnglat(latlng_to_cell(90.0, 0.0, 1)))
    >>> pole.bounds[0], pole.bounds[2], pole.bounds[3]
    (-180.0, 180.0, 90.0)
    """
    ring = np.asarray(ring, dtype=np.float64)
    if len(ring) > 1 and (ring[0] == ring[-1]).all():
        ring = ring[:-1]
    lng, lat = ring[:, 0], ring[:, 1]
    steps = wrap_lng(np.diff(lng, append=lng[:1]))  # each edge the short way
    x = lng[0] + np.concatenate([[0.0], np.cumsum(steps[:-1])])  # no jump at ±180
    coords = np.column_stack([x, lat])
    turn = float(steps.sum())  # 0, or ±360 round a pole
    if abs(turn) > 180.0:
        pole = 90.0 if lat.mean() > 0 else -90.0
        end = x[0] + turn
        coords = np.vstack([coords, [[end, lat[0]], [end, pole], [x[0], pole]]])
    return within_180(shapely.Polygon(coords), multi=True)


def within_180(geom: shapely.Geometry, *, multi: bool = False) -> shapely.Geometry:
    """A polygon drawn with continuous longitudes (past ±180 where it crosses the
    antimeridian) as its parts within -180 … 180: each 360° band's part moved back, the
    parts of one band united (RFC 7946 §3.1.9). Unchanged when it stays within; ``multi``:
    a MultiPolygon even for one part.

    >>> within_180(shapely.box(178.0, 0.0, 182.0, 1.0)).bounds
    (-180.0, 0.0, 180.0, 1.0)
    >>> within_180(shapely.box(10.0, 0.0, 11.0, 1.0)).geom_type
    'Polygon'
    """
    lo, _, hi, _ = geom.bounds
    if lo >= -180.0 and hi <= 180.0 and not multi:
        return geom
    parts: list[shapely.Geometry] = []
    for shift in (-360.0, 0.0, 360.0):  # each 360° band, moved back into -180 … 180
        band = shapely.box(-180.0 - shift, -90.0, 180.0 - shift, 90.0)
        part = shapely.transform(shapely.intersection(geom, band), lambda c, s=(shift, 0.0): c + s)
        parts.extend(p for p in shapely.get_parts(part) if p.geom_type == "Polygon" and p.area)
    merged = shapely.union_all(parts)
    if merged.geom_type == "Polygon" and multi:
        return shapely.MultiPolygon([merged])
    return merged


def union_of_cells(hexes: NDArray[np.object_]) -> shapely.Geometry:
    """Union of cell polygons of one resolution (:func:`cell_polygons`, in cell order)
    as one valid (Multi)Polygon; empty for none."""
    if len(hexes) == 0:
        return shapely.Polygon()
    # Cells of one resolution tile without overlap and share their edges: a coverage. Not
    # always to the bit (a distorted cell's extra vertex on an edge it shares, the cuts at
    # ±180): GEOS then refuses it ("incorrectly noded"), and the full overlay unites them.
    try:
        merged = shapely.coverage_union_all(hexes)
    except shapely.errors.GEOSException:
        merged = None
    if merged is None or not merged.is_valid or merged.geom_type not in ("Polygon", "MultiPolygon"):
        merged = shapely.union_all(hexes)
    if not merged.is_valid:  # pragma: no cover - defensive
        merged = shapely.make_valid(merged)
    return _without_sliver_holes(merged)


def _without_sliver_holes(geom: shapely.Geometry) -> shapely.Geometry:
    """``geom`` without holes that have no area for their extent: where cells meet at a
    pole, the union can leave a spike ring (a point, out and back; ~1e-16 deg² over a
    box of 0.1 deg²), which has no orientation for RFC 7946. A real hole is at least one
    cell, about half its box."""
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return geom
    parts = list(shapely.get_parts(geom))
    kept = []
    for part in parts:
        holes = [shapely.Polygon(h) for h in part.interiors]
        real = [h for h in holes if h.area > 1e-9 * h.envelope.area]
        kept.append(part if len(real) == len(holes) else
                    shapely.Polygon(part.exterior, [h.exterior for h in real]))  # fmt: skip
    if all(a is b for a, b in zip(kept, parts, strict=True)):
        return geom
    return kept[0] if geom.geom_type == "Polygon" else shapely.MultiPolygon(kept)


def disk_cells(cells: Iterable[int], k: int) -> NDArray[np.uint64]:
    """Sorted unique cells within grid distance ``k`` of any of ``cells``."""
    parts = [grid_disk(int(c), k) for c in cells]
    if not parts:
        return np.empty(0, dtype=np.uint64)
    return np.unique(np.concatenate(parts))


def disk_counts(
    cells: NDArray[np.uint64], weights: NDArray[np.float64] | None, k: int
) -> tuple[NDArray[np.uint64], NDArray[np.float64]]:
    """Sum of ``weights`` of ``cells`` over every cell's ``k``-disk.

    ``cells`` may repeat (one entry per point); ``weights`` defaults to ones. Returns
    ``(cells, sums)`` for every cell within distance ``k`` of an input cell, sorted.
    """
    cells = np.asarray(cells, dtype=np.uint64)
    if weights is None:
        uniq, counts = np.unique(cells, return_counts=True)
        w: NDArray[np.float64] = counts.astype(np.float64)
    else:
        uniq, inv = np.unique(cells, return_inverse=True)
        w = np.bincount(
            inv, weights=np.asarray(weights, dtype=np.float64), minlength=len(uniq)
        ).astype(np.float64)
    if len(uniq) == 0:
        return uniq, np.empty(0)
    flat, sizes = grid_disks(uniq, k)
    out_cells, where = np.unique(flat, return_inverse=True)
    sums = np.bincount(where, weights=np.repeat(w, sizes), minlength=len(out_cells))
    return out_cells, sums.astype(np.float64)


def disk_counts_at(
    cells: NDArray[np.uint64], k: int, query: NDArray[np.uint64], *, chunk: int = CHUNK
) -> NDArray[np.float64]:
    """Per cell of ``query``: how many entries of ``cells`` (one per point, may repeat)
    lie within grid distance ``k`` of it, as float64 (0 where none).

    The same numbers as :func:`disk_counts` looked up at ``query``, but computed in
    chunks of ``chunk`` source cells and kept only at the query cells, so the memory is
    bounded by the chunk (a million points at ``k = 4`` made ~60 M disk entries at once).
    The counts are integers, so the order they are summed in does not change a bit.

    Examples
    --------
    >>> from geo_discovery.cells import latlng_to_cell
    >>> a = latlng_to_cell(40.75, -73.98, 9)
    >>> pts = np.array([a, a, *grid_disk(a, 1)[1:3]], dtype=np.uint64)
    >>> disk_counts_at(pts, 1, np.array([a], dtype=np.uint64)).tolist()
    [4.0]
    """
    query = np.asarray(query, dtype=np.uint64)
    out = np.zeros(len(query), dtype=np.float64)
    uniq, counts = np.unique(np.asarray(cells, dtype=np.uint64), return_counts=True)
    if len(uniq) == 0 or len(query) == 0:
        return out
    order = np.argsort(query, kind="stable")
    keys = query[order]
    sums = np.zeros(len(query), dtype=np.float64)
    # the disks of ``chunk`` source cells at a time, each reduced to its hits on ``keys``
    for hits, weights in parallel.chunks(
        _disk_hits, len(uniq), lambda lo, hi: (uniq[lo:hi], counts[lo:hi], k), chunk,
        common=(keys,), at_least_one=False,
    ):
        sums[hits] += weights
    # duplicate query cells: every copy gets the count found at the first copy
    first = np.searchsorted(keys, keys)
    out[order] = sums[first]
    return out


class CellGrid:
    """A sorted set of cells at one resolution with its neighbour table.

    ``neighbours[i]`` holds the positions (in ``cells``) of the cells adjacent to
    ``cells[i]``, ``-1`` where that neighbour is outside the set.
    """

    def __init__(self, cells: Iterable[int] | NDArray[np.uint64]) -> None:
        arr = np.unique(
            np.asarray(cells if isinstance(cells, np.ndarray) else list(cells), dtype=np.uint64)
        )
        self.cells: NDArray[np.uint64] = arr
        rows = list(parallel.chunks(_neighbour_rows, len(arr), lambda lo, hi: (lo, hi), CHUNK,
                                    common=(arr,), at_least_one=False))
        self.neighbours: NDArray[np.int64] = (
            np.concatenate(rows) if rows else np.full((0, 6), -1, dtype=np.int64)
        )

    def __len__(self) -> int:
        return len(self.cells)

    def positions(self, cells: NDArray[np.uint64]) -> NDArray[np.int64]:
        """Position of each of ``cells`` in the grid, ``-1`` where absent."""
        cells = np.asarray(cells, dtype=np.uint64)
        if len(self.cells) == 0:
            return np.full(len(cells), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.cells, cells), len(self.cells) - 1)
        return np.where(self.cells[pos] == cells, pos, -1).astype(np.int64)

    def components(self, mask: NDArray[np.bool_] | None = None) -> NDArray[np.int64]:
        """Connected-component label of every cell (``-1`` outside ``mask``).

        Labels are numbered by each component's smallest cell, so they do not depend on
        the order the cells were given in.
        """
        n = len(self.cells)
        keep = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        rows = np.repeat(np.arange(n), 6)
        cols = self.neighbours.ravel()
        ok = (cols >= 0) & keep[rows] & keep[np.maximum(cols, 0)]
        graph = coo_matrix(
            (np.ones(int(ok.sum()), dtype=np.int8), (rows[ok], cols[ok])), shape=(n, n)
        )
        _, raw = connected_components(graph, directed=False)
        labels = np.full(n, -1, dtype=np.int64)
        if not keep.any():
            return labels
        raw_kept = raw[keep]
        # cells are sorted, so the first occurrence of a raw label is its smallest cell
        _, first = np.unique(raw_kept, return_index=True)
        order = np.argsort(first, kind="stable")
        remap = np.empty(raw.max() + 1, dtype=np.int64)
        remap[np.unique(raw_kept)[order]] = np.arange(len(order))
        labels[keep] = remap[raw_kept]
        return labels


def _neighbour_rows(arr: NDArray[np.uint64], lo: int, hi: int) -> NDArray[np.int64]:
    """Rows ``lo:hi`` of :class:`CellGrid`'s neighbour table over the sorted ``arr``."""
    # every cell's ring in h3's order; column j of a row is the j-th ring cell
    ring, sizes = rings_or_disks("ring", arr[lo:hi], 1)
    pos = np.minimum(np.searchsorted(arr, ring), len(arr) - 1)
    row = np.repeat(np.arange(hi - lo, dtype=np.int64), sizes)
    col = np.arange(len(ring), dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    keep = col < 6
    nb = np.full((hi - lo, 6), -1, dtype=np.int64)
    nb[row[keep], col[keep]] = np.where(arr[pos] == ring, pos, -1)[keep]
    return nb


def _disk_hits(
    keys: NDArray[np.uint64], cells: NDArray[np.uint64], counts: NDArray[np.int64], k: int
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Where the ``k``-disks of ``cells`` (with ``counts`` points each) land in the sorted
    ``keys``, and the points each such key gets: the chunk step of :func:`disk_counts_at`."""
    flat, sizes = rings_or_disks("disk", cells, k)
    pos = np.minimum(np.searchsorted(keys, flat), len(keys) - 1)
    hit = keys[pos] == flat
    w = np.repeat(counts.astype(np.float64), sizes)
    sums = np.bincount(pos[hit], weights=w[hit], minlength=len(keys))
    where = np.flatnonzero(sums).astype(np.int64)
    return where, np.asarray(sums[where], dtype=np.float64)


def add_connectors(cells: NDArray[np.uint64], min_neighbours: Sequence[int]) -> NDArray[np.uint64]:
    """Grow a cell set by connector passes; pass ``i`` adds every outside cell with at
    least ``min_neighbours[i]`` of its six neighbours inside the set.

    A pass with 2 bridges one-cell gaps along a street; a pass with 4 fills notches
    (three-sided bays) without growing straight edges. Returns the sorted union.
    """
    current = np.unique(np.asarray(cells, dtype=np.uint64))
    rings = np.empty(0, dtype=np.uint64)  # the rings of every cell in ``current``
    new = current
    for m in min_neighbours:
        if not 1 <= m <= 6:
            raise ValueError(f"min_neighbours={m} is out of range; allowed: 1..6")
        if len(current) == 0:
            break
        # a cell's ring never changes: compute it once, for the cells added since
        rings = np.concatenate([rings, grid_rings(new, 1)[0]])
        new = np.empty(0, dtype=np.uint64)
        cand, counts = np.unique(rings, return_counts=True)
        pos = np.minimum(np.searchsorted(current, cand), len(current) - 1)
        outside = current[pos] != cand
        add = cand[outside & (counts >= m)]
        if len(add) == 0:
            continue
        new = add
        current = np.union1d(current, add)
    return current


# ------------------------------------------------------------------ GeoJSON edge
def rfc7946_oriented(geoms: Any) -> Any:
    """Polygons (one geometry or an array of them) with RFC 7946 ring orientation in
    ``(lng, lat)``: exterior rings counter-clockwise, holes clockwise. Other geometry
    types pass unchanged.

    >>> sq = shapely.Polygon([(0, 0), (0, 1), (1, 1), (1, 0)])  # clockwise
    >>> rfc7946_oriented(sq).exterior.is_ccw
    True
    """
    return shapely.orient_polygons(geoms, exterior_cw=False)


def geojson_geometry(geom: Any) -> dict[str, Any]:
    """A shapely geometry as a GeoJSON geometry mapping, polygons oriented per RFC 7946.

    >>> geojson_geometry(shapely.box(0, 0, 1, 1))["coordinates"][0][:2]
    ((1.0, 0.0), (1.0, 1.0))
    """
    return dict(shapely.geometry.mapping(rfc7946_oriented(geom)))


def cells_geojson(cells: Iterable[int]) -> list[dict[str, Any]]:
    """Each cell as a GeoJSON geometry oriented per RFC 7946: a Polygon, or a MultiPolygon
    cut at the antimeridian (:func:`cell_polygons`; pentagons and distorted cells too).

    >>> from geo_discovery.cells import latlng_to_cell
    >>> [g["type"] for g in cells_geojson([latlng_to_cell(52.37, 4.89, 0),
    ...                                    latlng_to_cell(-16.5, 180.0, 2)])]
    ['Polygon', 'MultiPolygon']
    """
    arr = np.fromiter((int(c) for c in cells), dtype=np.uint64)
    if not len(arr):
        return []
    return [geojson_geometry(h) for h in cell_polygons(arr)]
