"""CellIndex: an immutable, exact spatial index on H3 cells that returns positions.

Layout (struct of arrays, all in *cell order*):

``cells``      uint64, the occupied cells at ``resolution``, sorted as integers
``offsets``    int64, ``len(cells) + 1``: points of ``cells[i]`` are ``offsets[i]:offsets[i+1]``
``positions``  int32 (int64 from 2**31 points), row of each point in the merchant table
``xyz``        float64 ``(n, 3)`` unit vectors, for exact distances by arithmetic only
``lat, lng``   float64 degrees, for boxes and polygons
``rank``       int32 (or int64), rank of each point's ``merchant_id``: ties break by it
``cell_bbox``  float64 ``(len(cells), 4)``: south, west, north, east of each cell's points
``tree``       int64 ``(n_nodes, 4)``: the search trie, one 32-byte record per node: a
               float32 bounding cap and the node's children or points
               (layout in :mod:`geo_discovery.search.kernels`)

Points are sorted by their resolution-15 H3 cell, then ``rank``, so every cell at every
resolution, the index's included, holds a contiguous run of points.

Search
------
kNN and radius searches run in compiled kernels (:mod:`geo_discovery.search.kernels`): a
best-first / depth-first walk of an adaptive H3 trie (a node splits at the first
resolution where its points' cells differ, until it holds at most ``_LEAF_MAX`` points),
each node bounded by a cap (centre + chord radius) computed from its points at build
time. No h3 call runs at query time. Node ``(|c - q| - r)^2`` is a proven lower bound on the squared
chord of every point below it, so pruning never drops an answer.

Ranked sorts (``best_match``, rating…) walk the same trie best-first by a per-node upper
bound on the score (:mod:`geo_discovery.search.ranked`): one tree answers every query.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from .. import cells as h3cells
from ..distance import chord2_to_m, latlng_to_xyz
from ..errors import SnapshotError
from ..models import BBox
from . import aot, kernels

__all__ = [
    "CellIndex",
    "build_cell_index",
    "build_tree",
    "index_from_sorted",
    "merchant_ranks",
    "sort_partition",
    "sort_points",
]

_ARRAYS = (
    "cells",
    "offsets",
    "positions",
    "xyz",
    "lat",
    "lng",
    "rank",
    "cell_bbox",
    "tree",
)
# Trie leaves hold at most this many points (unless they all share one res-15 cell).
_LEAF_MAX = 32
_EMPTY_I = np.empty(0, dtype=np.int64)
_EMPTY_F = np.empty(0, dtype=np.float64)
_NO_MASK = np.zeros(0, dtype=np.bool_)


@dataclass(frozen=True, eq=False)
class CellIndex:
    """Points sorted by H3 cell, with a cell → offset table. Build with :func:`build_cell_index`.

    All query methods return ``(positions, distances_m)``: rows of the merchant table and
    exact great-circle metres, ordered by distance, then ``merchant_id``.
    """

    resolution: int
    cells: NDArray[np.uint64]
    offsets: NDArray[np.int64]
    positions: NDArray[np.signedinteger]
    xyz: NDArray[np.float64]
    lat: NDArray[np.float64]
    lng: NDArray[np.float64]
    rank: NDArray[np.signedinteger]
    cell_bbox: NDArray[np.float64]
    tree: NDArray[np.int64]
    #: The arrays every search kernel takes, in its order: caps (a float32 view of the
    #: same records), tree, xyz, rank, positions.
    search_arrays: tuple[NDArray, ...] = field(init=False, repr=False)
    #: The kNN kernels' arrays: ``search_arrays`` without the caps (they view ``tree``).
    knn_arrays: tuple[NDArray, ...] = field(init=False, repr=False)

    #: :func:`kernels.knn_one` and :func:`kernels.radius_one` for these arrays' exact types:
    #: compiled ahead of time when built (:mod:`.aot`: no numba start-up), else jitted.
    knn_kernel: Callable[..., int] = field(init=False, repr=False)
    radius_kernel: Callable[..., tuple[NDArray, NDArray]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        caps = self.tree.view(np.float32)
        arrays = (caps, self.tree, self.xyz, self.rank, self.positions)
        object.__setattr__(self, "search_arrays", arrays)
        object.__setattr__(self, "knn_arrays", arrays[1:])
        key = aot.signature_key(self.rank, self.positions, self.tree, self.xyz)
        object.__setattr__(self, "knn_kernel", aot.kernel("knn_one", key) or kernels.knn_one)
        radius = aot.kernel("radius_one", key) or kernels.radius_one
        object.__setattr__(self, "radius_kernel", radius)

    @property
    def tree_caps(self) -> NDArray[np.float32]:
        """Each trie node's cap ``(x, y, z, chord radius)`` (a view into ``tree``)."""
        return self.search_arrays[0][:, :4]

    @property
    def tree_nodes(self) -> NDArray[np.int64]:
        """Each trie node's ``(lo, hi)``: children, or ``(-(first point + 1), end)``."""
        return self.tree[:, 2:]

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
        meta = {
            "resolution": self.resolution,
            "n_points": len(self),
            "n_cells": len(self.cells),
            "n_nodes": len(self.tree),
        }
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
                if name != "tree" or "n_nodes" in meta
            }
        except (OSError, ValueError) as exc:
            raise SnapshotError(f"index at {path} is unreadable: {exc}") from exc
        if "n_nodes" not in meta:  # written before the trie existed: build it in memory
            # Points there are in (cell, rank) order, so the trie stops at the index's cells.
            cells, offsets = arrays["cells"], arrays["offsets"]
            keys = np.repeat(np.asarray(cells, dtype=np.uint64), np.diff(offsets))
            arrays["tree"] = build_tree(keys, arrays["xyz"])
        index = cls(resolution=int(meta["resolution"]), **arrays)
        if (
            len(index) != int(meta["n_points"])
            or len(index.offsets) != len(index.cells) + 1
            or index.tree.ndim != 2
            or index.tree.shape[1] != 4
            or (len(index) > 0) != (len(index.tree) > 0)
        ):
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
        if k <= 0 or not len(self.positions):
            return _EMPTY_I, _EMPTY_F
        pos, dist = np.empty(k, np.int64), np.empty(k, np.float64)
        n = (self.knn_kernel if mask is None else kernels.knn_one)(  # type: ignore[call-arg]
            float(lat),
            float(lng),
            int(k),
            math.inf if radius_m is None else aot.m2c2(float(radius_m)),
            *self.knn_arrays,
            _NO_MASK if mask is None else mask,
            pos,
            dist,
        )
        return pos[:n], dist[:n]

    def nearest(
        self, lat: float, lng: float, k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """:meth:`knn` without radius or mask, for a caller that has already checked the
        values (Python floats in range, ``1 <= k``): the engine's plain kNN path, where
        every conversion saved is a measurable part of the call."""
        if not len(self.positions):
            return _EMPTY_I, _EMPTY_F
        pos, dist = np.empty(k, np.int64), np.empty(k, np.float64)
        n = self.knn_kernel(lat, lng, k, math.inf, *self.knn_arrays, _NO_MASK, pos, dist)
        return pos[:n], dist[:n]

    def knn_many(
        self,
        lat: NDArray,
        lng: NDArray,
        k: int,
        *,
        radius_m: float | None = None,
        mask: NDArray[np.bool_] | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """:meth:`knn` for arrays of query points, in parallel over numba's threads.

        Returns ``(positions, distances_m)`` of shape ``(len(lat), k)``; rows with fewer
        than ``k`` answers are padded with ``-1`` and ``inf``.
        """
        qlat = np.ascontiguousarray(lat, dtype=np.float64).reshape(-1)
        qlng = np.ascontiguousarray(lng, dtype=np.float64).reshape(-1)
        if len(qlat) != len(qlng):
            raise ValueError(f"lat and lng differ in length: {len(qlat)} != {len(qlng)}")
        if k <= 0 or len(self) == 0:
            k = max(int(k), 0)
            return np.full((len(qlat), k), -1, np.int64), np.full((len(qlat), k), np.inf)
        max_c2 = math.inf if radius_m is None else aot.m2c2(float(radius_m))
        threads = numba.get_num_threads()
        return kernels.knn_batch(  # type: ignore[call-arg]  # numba stub vs *args
            qlat,
            qlng,
            int(k),
            max_c2,
            *self.knn_arrays,  # type: ignore[arg-type]
            _NO_MASK if mask is None else mask,
            threads,
        )

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
        return (self.radius_kernel if mask is None else kernels.radius_one)(  # type: ignore[call-arg]
            float(lat),
            float(lng),
            aot.m2c2(float(radius_m)),
            *self.search_arrays,
            _NO_MASK if mask is None else mask,
        )

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


def build_tree(keys: NDArray[np.uint64], xyz: NDArray) -> NDArray[np.int64]:
    """The search trie's records ``(n_nodes, 4)`` over points sorted by H3 cell ``keys``.

    ``keys`` holds one cell per point, all at one resolution, sorted (see
    :func:`geo_discovery.search.kernels.build_trie`).
    """
    if len(keys) == 0:
        return np.empty((0, 4), np.int64)
    nodes = kernels.build_trie(np.ascontiguousarray(keys, dtype=np.uint64), _LEAF_MAX)
    caps = kernels.trie_caps(nodes, np.ascontiguousarray(xyz, dtype=np.float64))
    tree = np.empty((len(nodes), 4), dtype=np.int64)
    tree[:, 2:] = nodes
    tree.view(np.float32)[:, :4] = caps
    return tree


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
    merchant_ids: NDArray | list[str] | pa.Array | pa.ChunkedArray,
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
    ids = merchant_ids if _is_arrow(merchant_ids) else np.asarray(merchant_ids, dtype=object)
    if len(ids) != n or len(lng) != n:
        raise ValueError(f"lat, lng and merchant_ids differ in length: {n}, {len(lng)}, {len(ids)}")
    if n and not (np.isfinite(lat).all() and np.isfinite(lng).all()):
        raise ValueError("lat/lng must be finite; validate the merchant table first")
    if resolution is not None and not 0 <= resolution <= h3cells.MAX_RES:
        raise ValueError(f"resolution={resolution} is out of range; allowed: 0 <= resolution <= 15")
    rank = merchant_ranks(ids)
    fine = h3cells.latlngs_to_cells(lat, lng, h3cells.MAX_RES)
    order, s_fine, s_lat, s_lng, xyz = sort_partition(np.arange(n), fine, rank, lat, lng)
    if resolution is None:
        resolution = h3cells.choose_resolution(lat, lng, target_per_cell, sorted_fine=s_fine)
    return index_from_sorted(order, s_fine, (s_lat, s_lng, xyz), rank, int(resolution))


def merchant_ranks(
    merchant_ids: NDArray | list[str] | pa.Array | pa.ChunkedArray,
) -> NDArray[np.int64]:
    """Rank of each (unique) id in code-point order: distance ties break by it.

    An Arrow string column is ranked by Arrow's sort, without making a Python string
    per id: UTF-8's byte order is the code-point order, so the ranks are the same.

    >>> merchant_ranks(["b", "é", "a"]).tolist(), merchant_ranks(pa.array(["b", "é", "a"])).tolist()
    ([1, 2, 0], [1, 2, 0])
    """
    if _is_arrow(merchant_ids):
        order = np.asarray(pc.sort_indices(merchant_ids), dtype=np.int64)
    else:
        order = np.argsort(np.asarray(merchant_ids, dtype=object), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return rank


def _is_arrow(values: object) -> bool:
    return isinstance(values, (pa.Array, pa.ChunkedArray))


def sort_points(fine: NDArray[np.uint64], rank: NDArray[np.int64]) -> NDArray[np.int64]:
    """The index's point order: by resolution-15 cell, then rank.

    The points of any H3 cell form one run of this order, so a set of cells that covers
    the points (a cluster's partitions) can be sorted one cell at a time and the runs
    concatenated in cell order.
    """
    return np.lexsort((rank, fine))


def sort_partition(
    rows: NDArray[np.int64],
    fine: NDArray[np.uint64],
    rank: NDArray[np.int64],
    lat: NDArray[np.float64],
    lng: NDArray[np.float64],
) -> tuple[NDArray[np.int64], NDArray[np.uint64], NDArray, NDArray, NDArray]:
    """Sort some points (table ``rows`` with their cells, ranks and coordinates) into
    the index order; returns ``(rows, fine, lat, lng, xyz)`` in that order.

    The whole table in one call for a single-process build; one H3 cell's points per
    call on a cluster (:func:`geo_discovery.snapshot.cluster.build_index_on`).
    """
    local = sort_points(fine, rank)
    s_lat, s_lng = lat[local], lng[local]
    xyz = np.ascontiguousarray(latlng_to_xyz(s_lat, s_lng))
    return np.asarray(rows)[local], fine[local], s_lat, s_lng, xyz


def index_from_sorted(
    order: NDArray[np.int64],
    fine: NDArray[np.uint64],
    points: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
    rank: NDArray[np.int64],
    resolution: int,
) -> CellIndex:
    """A :class:`CellIndex` from points already in :func:`sort_points` order.

    ``order`` holds table rows in that order, ``fine`` their resolution-15 cells,
    ``points`` their ``(lat, lng, xyz)``; ``rank`` is per table row
    (:func:`merchant_ranks`). The single-process and the cluster build both end here.
    """
    s_lat, s_lng, xyz = points
    n = len(order)
    point_cells = h3cells.parent_cells(fine, h3cells.MAX_RES, int(resolution))
    cells, starts = np.unique(point_cells, return_index=True)
    offsets = np.append(starts, n).astype(np.int64)
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
    tree = build_tree(fine, xyz)
    # Row numbers and ranks fit 32 bits below 2**31 merchants: 8 bytes per point saved.
    row_dtype = np.int32 if n < 2**31 else np.int64
    return CellIndex(
        resolution=int(resolution),
        cells=cells.astype(np.uint64),
        offsets=offsets,
        positions=order.astype(row_dtype),
        xyz=xyz,
        lat=s_lat,
        lng=s_lng,
        rank=rank[order].astype(row_dtype),
        cell_bbox=cell_bbox,
        tree=tree,
    )
