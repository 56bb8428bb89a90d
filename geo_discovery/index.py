"""CellIndex: an immutable, exact spatial index on H3 cells that returns positions.

Layout (struct of arrays, all in *cell order*):

``cells``      uint64, the occupied cells at ``resolution``, sorted as integers
``offsets``    int64, ``len(cells) + 1``: points of ``cells[i]`` are ``offsets[i]:offsets[i+1]``
``positions``  int64, row of each point in the merchant table
``xyz``        float64 ``(n, 3)`` unit vectors, for exact distances by arithmetic only
``lat, lng``   float64 degrees, for boxes and polygons
``rank``       int64, rank of each point's ``merchant_id``: ties break by it
``cell_bbox``  float64 ``(len(cells), 4)``: south, west, north, east of each cell's points

Within a cell, points are ordered by ``rank``.

Exactness
---------
Distances are exact great-circle metres (see :mod:`geo_discovery.distance`). Searches
expand by H3 grid rings around the query cell. The *fence* argument proves when to stop:
every point at grid distance greater than ``m + 1`` from the query cell lies beyond some
cell of ring ``m + 1`` — the great-circle segment from the query to that point starts in
ring 0, and walking along it the grid distance changes by at most one per cell crossed,
so it crosses ring ``m + 1``. Hence no unvisited point is closer than
``rho = min over ring m + 1 of (distance to cell centre - cell radius)``
(:func:`geo_discovery.cells.cell_caps`). kNN stops once ``k`` matches are strictly
closer than ``rho``; radius search once ``rho`` exceeds the radius. When rings grow large
(sparse data, far queries), the search restarts at a coarser resolution, whose cells map
to contiguous ranges of the fine ones; at resolution 0 the rings cover the globe, so
every search terminates. Ties break by ``(distance, merchant_id)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from . import cells as h3cells
from .distance import EARTH_RADIUS_M, chord2_to_m, latlng_to_xyz, m_to_chord2
from .errors import SnapshotError
from .models import BBox

__all__ = ["CellIndex", "build_cell_index"]

_ARRAYS = ("cells", "offsets", "positions", "xyz", "lat", "lng", "rank", "cell_bbox")
# Rings searched at one resolution before moving to a coarser one.
_MAX_RINGS = 3
# Searching at a coarser resolution r visits a cell's *descendants* at the index
# resolution (contiguous ranges), and those stick out of the coarse cell's own polygon:
# about 0.3% of points lie outside their ancestor's cap, by up to ~5% of it. Walking
# down the hierarchy, a child's centre is at most kappa * cap(parent) from the parent's
# and a child's cap at most lambda * cap(parent); so every descendant point lies within
# cap * kappa / (1 - lambda) of the ancestor's centre. Measured over every cell of
# resolutions 0-4, kappa <= 0.666 and lambda <= 0.470, giving 1.257; 1.31 leaves margin.
_COARSE_CAP_FACTOR = 1.31
_EMPTY_I = np.empty(0, dtype=np.int64)
_EMPTY_F = np.empty(0, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class CellIndex:
    """Points sorted by H3 cell, with a cell → offset table. Build with :func:`build_cell_index`.

    All query methods return ``(positions, distances_m)``: rows of the merchant table and
    exact great-circle metres, ordered by distance, then ``merchant_id``.
    """

    resolution: int
    cells: NDArray[np.uint64]
    offsets: NDArray[np.int64]
    positions: NDArray[np.int64]
    xyz: NDArray[np.float64]
    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    rank: NDArray[np.int64]
    cell_bbox: NDArray[np.float64]

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.positions)

    @property
    def nbytes(self) -> int:
        """Bytes held by the index arrays."""
        return int(sum(getattr(self, name).nbytes for name in _ARRAYS))

    def to_directory(self, path: str | Path) -> None:
        """Write the arrays as ``.npy`` files (memory-mappable) plus ``index.json``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for name in _ARRAYS:
            np.save(path / f"{name}.npy", np.ascontiguousarray(getattr(self, name)))
        meta = {"resolution": self.resolution, "n_points": len(self), "n_cells": len(self.cells)}
        (path / "index.json").write_text(json.dumps(meta))

    @classmethod
    def from_directory(cls, path: str | Path, *, mmap: bool = True) -> CellIndex:
        """Open an index written by :meth:`to_directory`, memory-mapped by default."""
        path = Path(path)
        try:
            meta = json.loads((path / "index.json").read_text())
            arrays = {
                # A plain ndarray view of the mapping: zero-copy and still shared between
                # processes, without np.memmap's per-indexing subclass overhead.
                name: np.load(path / f"{name}.npy", mmap_mode="r" if mmap else None).view(
                    np.ndarray
                )
                for name in _ARRAYS
            }
        except (OSError, ValueError) as exc:
            raise SnapshotError(f"index at {path} is unreadable: {exc}") from exc
        index = cls(resolution=int(meta["resolution"]), **arrays)
        if len(index) != int(meta["n_points"]) or len(index.offsets) != len(index.cells) + 1:
            raise SnapshotError(f"index at {path} is inconsistent with its index.json")
        return index

    # ----------------------------------------------------------------- queries
    def knn(
        self,
        lat: float,
        lng: float,
        k: int,
        *,
        radius_m: float | None = None,
        mask: NDArray[np.bool_] | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The ``k`` nearest points (optionally only within ``radius_m``).

        ``mask`` is a boolean array aligned to the merchant table: only rows where it is
        true can be returned. Inputs are assumed validated (the engine does that).
        """
        if len(self) == 0 or k <= 0:
            return _EMPTY_I, _EMPTY_F
        q = latlng_to_xyz(lat, lng)
        max_c2 = float(m_to_chord2(radius_m)) if radius_m is not None else math.inf
        # Start coarser when k needs more than a couple of cells' worth of points.
        per_cell = max(len(self) / max(len(self.cells), 1), 1.0)
        coarsen = max(0, math.ceil(math.log(max(k / (3.0 * per_cell), 1.0), 7)))
        if radius_m is not None:
            coarsen = max(coarsen, self._coarsen_for_radius(radius_m))
        idx, c2 = self._ring_search(lat, lng, q, k, max_c2, mask, coarsen)
        return self._finish(idx, c2, k)

    def within_radius(
        self,
        lat: float,
        lng: float,
        radius_m: float,
        *,
        mask: NDArray[np.bool_] | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Every point within ``radius_m`` (inclusive), nearest first."""
        if len(self) == 0:
            return _EMPTY_I, _EMPTY_F
        q = latlng_to_xyz(lat, lng)
        max_c2 = float(m_to_chord2(radius_m))
        coarsen = self._coarsen_for_radius(radius_m)
        idx, c2 = self._ring_search(lat, lng, q, None, max_c2, mask, coarsen)
        return self._finish(idx, c2, None)

    def within_bbox(
        self,
        bbox: BBox,
        *,
        origin: tuple[float, float] | None = None,
        mask: NDArray[np.bool_] | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Every point inside ``bbox`` (edges inclusive), nearest to ``origin`` first.

        ``origin`` defaults to the box centre. Boxes with ``west > east`` cross the
        antimeridian.
        """
        if len(self) == 0:
            return _EMPTY_I, _EMPTY_F
        sel = self._cells_touching(bbox)
        idx = self._gather(sel)
        keep = _in_bbox(self.lat[idx], self.lng[idx], bbox)
        idx = idx[keep]
        return self._by_origin(idx, origin or _bbox_centre(bbox), mask)

    def within_bounds_and(
        self,
        bbox: BBox,
        predicate: Callable[[NDArray, NDArray], NDArray[np.bool_]],
        *,
        origin: tuple[float, float],
        mask: NDArray[np.bool_] | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Points inside ``bbox`` for which ``predicate(lat, lng) -> bool array`` holds.

        Used for polygons: ``bbox`` is the polygon's bounds and the predicate its exact
        containment test.
        """
        if len(self) == 0:
            return _EMPTY_I, _EMPTY_F
        idx = self._gather(self._cells_touching(bbox))
        lat, lng = self.lat[idx], self.lng[idx]
        keep = _in_bbox(lat, lng, bbox)
        idx, lat, lng = idx[keep], lat[keep], lng[keep]
        if len(idx):
            idx = idx[np.asarray(predicate(lat, lng), dtype=np.bool_)]
        return self._by_origin(idx, origin, mask)

    # --------------------------------------------------------------- internals
    def _coarsen_for_radius(self, radius_m: float) -> int:
        """Levels to coarsen so the radius spans at most about two cell edges."""
        res = self.resolution
        while res > 0 and h3cells.average_edge_length_m(res) < radius_m / 2.0:
            res -= 1
        return self.resolution - res

    def _ring_search(
        self,
        lat: float,
        lng: float,
        q: NDArray,
        k: int | None,
        max_c2: float,
        mask: NDArray[np.bool_] | None,
        coarsen: int,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Core ring expansion; returns candidate cell-order indices and squared chords.

        With ``k`` set: stops once ``k`` matches are strictly inside the fence (or the
        fence passes ``max_c2``). With ``k=None``: collects everything within ``max_c2``.
        """
        res = max(self.resolution - coarsen, 0)
        while True:
            origin = h3cells.latlng_to_cell(lat, lng, res)
            ring = np.array([origin], dtype=np.uint64)
            parts_i: list[NDArray[np.int64]] = []
            parts_c: list[NDArray[np.float64]] = []
            have = 0
            max_rings = _MAX_RINGS if res > 0 else 64
            for m in range(max_rings + 1):
                idx = self._gather(self._cell_slots(ring, res))
                if len(idx):
                    c2 = ((self.xyz[idx] - q) ** 2).sum(axis=1)
                    keep = c2 <= max_c2
                    if mask is not None:
                        keep &= mask[self.positions[idx]]
                    if not keep.all():
                        idx, c2 = idx[keep], c2[keep]
                    parts_i.append(idx)
                    parts_c.append(c2)
                    have += len(idx)
                ring = h3cells.grid_ring(origin, m + 1)  # the fence, and the next ring
                rho_c2 = self._fence_c2(q, ring, coarse=res < self.resolution)
                if rho_c2 > max_c2 or len(ring) == 0:  # no fence: the whole globe was visited
                    return _cat(parts_i, parts_c)
                if k is not None and have >= k:
                    all_c = parts_c[0] if len(parts_c) == 1 else np.concatenate(parts_c)
                    if int(np.count_nonzero(all_c < rho_c2)) >= k:
                        return _cat(parts_i, parts_c)
            if res == 0:  # pragma: no cover - 64 rings at res 0 span the globe many times
                raise AssertionError("ring search did not terminate at resolution 0")
            res = max(res - 2, 0)

    def _fence_c2(self, q: NDArray, fence: NDArray[np.uint64], *, coarse: bool = False) -> float:
        """Squared chord of the smallest possible distance to any point beyond the fence.

        ``coarse``: the fence is coarser than the index, so its caps must also hold the
        descendants that stick out of each cell (``_COARSE_CAP_FACTOR``).
        """
        if len(fence) == 0:  # the disk covers the whole globe
            return math.inf
        centres, radii = h3cells.cell_caps(fence)
        if coarse:
            radii = radii * _COARSE_CAP_FACTOR
        d = chord2_to_m(((centres - q) ** 2).sum(axis=1))
        lb = float(np.maximum(d - radii, 0.0).min())
        return _m_to_chord2_scalar(lb)

    def _cell_slots(self, query_cells: NDArray[np.uint64], res: int) -> NDArray[np.int64]:
        """``(start, stop)`` point ranges, shape ``(n, 2)``, for cells at resolution ``res``."""
        if len(query_cells) == 0:
            return np.empty((0, 2), dtype=np.int64)
        if res == self.resolution:
            lo = hi = query_cells
        else:
            bounds = np.array(
                [h3cells.child_range(int(c), self.resolution) for c in query_cells.tolist()],
                dtype=np.uint64,
            )
            lo, hi = bounds[:, 0], bounds[:, 1]
        a = np.searchsorted(self.cells, lo, side="left")
        b = np.searchsorted(self.cells, hi, side="right")
        slots = np.stack([self.offsets[a], self.offsets[b]], axis=1)
        return slots[slots[:, 1] > slots[:, 0]]

    def _cells_touching(self, bbox: BBox) -> NDArray[np.int64]:
        """Point ranges of cells whose points' bounding box meets ``bbox``."""
        cb = self.cell_bbox
        lat_ok = (cb[:, 0] <= bbox.north) & (cb[:, 2] >= bbox.south)
        if bbox.crosses_antimeridian:
            lng_ok = (cb[:, 3] >= bbox.west) | (cb[:, 1] <= bbox.east)
        else:
            lng_ok = (cb[:, 1] <= bbox.east) & (cb[:, 3] >= bbox.west)
        which = np.flatnonzero(lat_ok & lng_ok)
        return np.stack([self.offsets[which], self.offsets[which + 1]], axis=1)

    @staticmethod
    def _gather(slots: NDArray[np.int64]) -> NDArray[np.int64]:
        """Concatenate ``arange(start, stop)`` over ``slots`` without a Python loop."""
        if len(slots) == 0:
            return _EMPTY_I
        lengths = slots[:, 1] - slots[:, 0]
        total = int(lengths.sum())
        if total == 0:
            return _EMPTY_I
        starts = np.repeat(slots[:, 0] - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
        return starts + np.arange(total, dtype=np.int64)

    def _by_origin(
        self,
        idx: NDArray[np.int64],
        origin: tuple[float, float],
        mask: NDArray[np.bool_] | None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        if mask is not None and len(idx):
            idx = idx[mask[self.positions[idx]]]
        q = latlng_to_xyz(origin[0], origin[1])
        c2 = ((self.xyz[idx] - q) ** 2).sum(axis=1) if len(idx) else _EMPTY_F
        return self._finish(idx, c2, None)

    def _finish(
        self, idx: NDArray[np.int64], c2: NDArray[np.float64], k: int | None
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Order by (distance, merchant_id), keep ``k``; return table rows and metres."""
        if len(idx) == 0:
            return _EMPTY_I, _EMPTY_F
        # Rank by the metres we report: squared chords a few ulps apart (one place given
        # as two longitudes: a pole, or lng -180 / 180) map to the same distance_m, and
        # those ties must break by merchant_id too.
        dist = chord2_to_m(c2)
        if k is not None and len(idx) > k:
            kth = np.partition(dist, k - 1)[k - 1]
            keep = dist <= kth  # keeps every tie at the boundary
            idx, dist = idx[keep], dist[keep]
        order = np.lexsort((self.rank[idx], dist))
        if k is not None:
            order = order[:k]
        return np.asarray(self.positions[idx[order]], dtype=np.int64), dist[order]


def _m_to_chord2_scalar(distance_m: float) -> float:
    """:func:`~geo_discovery.distance.m_to_chord2` for one float, without numpy overhead."""
    ang = min(max(distance_m / EARTH_RADIUS_M, 0.0), math.pi)
    return (2.0 * math.sin(ang / 2.0)) ** 2


def _cat(
    parts_i: list[NDArray[np.int64]], parts_c: list[NDArray[np.float64]]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    if not parts_i:
        return _EMPTY_I, _EMPTY_F
    return np.concatenate(parts_i), np.concatenate(parts_c)


def _in_bbox(lat: NDArray, lng: NDArray, bbox: BBox) -> NDArray[np.bool_]:
    lat_ok = (lat >= bbox.south) & (lat <= bbox.north)
    if bbox.crosses_antimeridian:
        return lat_ok & ((lng >= bbox.west) | (lng <= bbox.east))
    return lat_ok & (lng >= bbox.west) & (lng <= bbox.east)


def _bbox_centre(bbox: BBox) -> tuple[float, float]:
    east = bbox.east + 360.0 if bbox.crosses_antimeridian else bbox.east
    lng = (bbox.west + east) / 2.0
    if lng > 180.0:
        lng -= 360.0
    return (bbox.south + bbox.north) / 2.0, lng


def build_cell_index(
    lat: NDArray,
    lng: NDArray,
    merchant_ids: NDArray | list[str],
    *,
    resolution: int | None = None,
    target_per_cell: float = 8.0,
) -> CellIndex:
    """Build a :class:`CellIndex` over points given in merchant-table order.

    Parameters
    ----------
    lat, lng
        Degrees, validated (finite and in range).
    merchant_ids
        Unique ids aligned to ``lat``/``lng``; ties in distance break by them.
    resolution
        H3 resolution; ``None`` chooses it from the data's density
        (:func:`geo_discovery.cells.choose_resolution`).

    Examples
    --------
    >>> import numpy as np
    >>> idx = build_cell_index(np.array([40.70, 40.71]), np.array([-74.0, -74.0]), ["a", "b"])
    >>> pos, dist = idx.knn(40.709, -74.0, 1)
    >>> int(pos[0]), round(float(dist[0]))
    (1, 111)
    """
    lat = np.ascontiguousarray(lat, dtype=np.float64)
    lng = np.ascontiguousarray(lng, dtype=np.float64)
    n = len(lat)
    ids = np.asarray(merchant_ids, dtype=object)
    if len(ids) != n or len(lng) != n:
        raise ValueError(f"lat, lng and merchant_ids differ in length: {n}, {len(lng)}, {len(ids)}")
    if n and not (np.isfinite(lat).all() and np.isfinite(lng).all()):
        raise ValueError("lat/lng must be finite; validate the merchant table first")
    if resolution is None:
        resolution = h3cells.choose_resolution(lat, lng, target_per_cell)
    if not 0 <= resolution <= h3cells.MAX_RES:
        raise ValueError(f"resolution={resolution} is out of range; allowed: 0 <= resolution <= 15")
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(ids, kind="stable")] = np.arange(n, dtype=np.int64)
    point_cells = h3cells.latlngs_to_cells(lat, lng, resolution)
    order = np.lexsort((rank, point_cells))
    point_cells = point_cells[order]
    cells, starts = np.unique(point_cells, return_index=True)
    offsets = np.append(starts, n).astype(np.int64)
    s_lat, s_lng = lat[order], lng[order]
    if len(cells):
        cell_bbox = np.stack(
            [
                np.minimum.reduceat(s_lat, starts),
                np.minimum.reduceat(s_lng, starts),
                np.maximum.reduceat(s_lat, starts),
                np.maximum.reduceat(s_lng, starts),
            ],
            axis=1,
        )
    else:
        cell_bbox = np.empty((0, 4), dtype=np.float64)
    return CellIndex(
        resolution=int(resolution),
        cells=cells.astype(np.uint64),
        offsets=offsets,
        positions=order.astype(np.int64),
        xyz=np.ascontiguousarray(latlng_to_xyz(s_lat, s_lng)),
        lat=s_lat,
        lng=s_lng,
        rank=rank[order],
        cell_bbox=cell_bbox,
    )
