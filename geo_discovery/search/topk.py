"""Exact top-k by any score with per-cell upper bounds, over a :class:`CellIndex`.

A query asks for the ``k`` best points by the key ``(primary desc, distance_m asc,
merchant_id asc)``, where ``primary`` is a per-point float: the ``best_match`` score, a
rating, ``-price``… (``-inf`` sorts last), or a constant for plain distance order. Points
must lie within ``max_c2`` (a radius), pass an *eligible* mask fixed per query (category,
price, rating… filters), pass an optional per-row predicate (open at a time), and come
strictly after an optional cursor key.

Exactness
---------
Search in two phases, each of which only skips points it proves cannot enter the answer.

1. **Rings.** Walk H3 rings outward from the query cell like
   :meth:`CellIndex.knn <geo_discovery.search.index.CellIndex.knn>` (``_cell_slots``,
   ``_gather``), scoring every point met. After ring ``m`` the *fence* argument of
   :mod:`geo_discovery.search.index` says every unvisited point is at least ``rho`` away
   (``CellIndex._fence_c2`` of ring ``m + 1``). Once ``k`` candidates are known, let
   ``(p_k, d_k)`` be the key of the ``k``-th, and go to phase 2, where every node's
   smallest distance is raised to at least ``rho``.
2. **Bounds.** Descend a tree of cell caps (fine cells, then their H3 parents
   every two resolutions up to a few dozen top nodes). Each node stores a centre and a
   radius that no point of it exceeds (computed from the points themselves, so no
   assumption about cell shapes), and per-node maxima of the score parts over eligible
   points (``np.maximum.reduceat`` over the cell-ordered arrays). A node whose upper
   bound at its smallest possible distance is below ``p_k`` — or equal with its nearest
   possible point beyond ``d_k`` — holds no point that beats the ``k``-th candidate, so
   it is pruned with all its children. Surviving fine cells not visited in phase 1 are
   scored; the answer is the best ``k`` of all candidates.

An upper bound must never be below a point's computed primary. For ``best_match`` the
score is ``decay × W × X`` with every part monotone in its input
(:func:`geo_discovery.ranking.scoring.best_match_score`), computed by the same float operations
for points and bounds; IEEE rounding is monotone, so bounds built from per-node extremes
and a smaller distance dominate bit for bit. Distances carry a millimetre-scale margin.
Filters only remove points, so bounds over a superset stay valid; the eligible mask is
folded into the node maxima, which is where a filter prunes cells.

Ties break by distance, then merchant_id: the same rule as the index.

Compiled path
-------------
When the sort's primary is ``quality / (1 + c2 · factor)`` (``best_match``; the static
sorts with ``factor = 0``) and there is no row filter or cursor, :func:`top_k` runs
:func:`_best_first` instead: one best-first walk of the same cap tree (flattened), by
node upper bound, in numba — the same bounds and the same final ordering
(:func:`_ordered`), about 10x faster per query. ``tests/test_topk_kernel.py`` checks the
two paths bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from numpy.typing import NDArray

from .. import cells as h3cells
from ..distance import EARTH_RADIUS_M, chord2_to_m, latlng_to_xyz, m_to_chord2, xyz_1
from .index import CellIndex
from .kernels import _heap_pop, _heap_push, _point_c2  # shared compiled primitives

__all__ = ["CellTree", "Found", "NodeBounds", "SortSpec", "SpecArrays", "top_k"]

_LEVEL_STEP = 2  # resolutions between tree levels (49 children per node on average)
_TOP_NODES = 512  # stop adding levels once a level has at most this many nodes
_MAX_RINGS = 3  # rings per resolution in phase 1, as in the index
_RADIUS_MARGIN_REL = 1e-9
_RADIUS_MARGIN = 1e-3 / EARTH_RADIUS_M  # 1 mm, as a unit-sphere chord
_C2_MARGIN_REL = 1e-9
_RES_SHIFT = 52
_EMPTY_I = np.empty(0, dtype=np.int64)
_EMPTY_F = np.empty(0, dtype=np.float64)

RowFilter = Callable[[NDArray[np.int64]], NDArray[np.bool_]]
"""``row_ok(cell_order_idx) -> bool array``: a per-query predicate (e.g. open now)."""


def _parent_cells(cells: NDArray[np.uint64], res_from: int, res_to: int) -> NDArray[np.uint64]:
    """H3 parents by bit arithmetic: set the resolution field, fill finer digits with 7.

    Relies on the layout :mod:`geo_discovery.cells` documents (resolution at bits 52–55,
    one 3-bit digit per level below); order-preserving, so sorted cells give sorted,
    contiguous parents. Tests check it against ``h3.cell_to_parent``.
    """
    out = cells.astype(np.uint64, copy=True)
    out &= ~np.uint64(0xF << _RES_SHIFT)
    out |= np.uint64(res_to << _RES_SHIFT)
    fill = 0
    for level in range(res_to + 1, res_from + 1):
        fill |= 0x7 << (3 * (h3cells.MAX_RES - level))
    out |= np.uint64(fill)
    return out


@dataclass(frozen=True, eq=False)
class _Level:
    res: int
    cells: NDArray[np.uint64]
    cx: NDArray[np.float64]  # centre, a unit vector, one array per axis
    cy: NDArray[np.float64]
    cz: NDArray[np.float64]
    radius: NDArray[np.float64]  # chord (unit sphere): no point is farther from the centre
    lo: NDArray[np.int64]  # children: rows lo:hi of the next finer level (fine: points)
    hi: NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class CellTree:
    """Caps of every occupied fine cell and of its H3 parents, over one CellIndex.

    ``levels[0]`` are the index's cells (children = point ranges), ``levels[-1]`` the
    top. Built in O(n) per level from the index arrays; no h3 call at query time.
    """

    index: CellIndex
    levels: tuple[_Level, ...]
    xyz: NDArray[np.float64]  # plain-ndarray views of the index arrays (cell order)
    rank: NDArray[np.int64]
    # The same tree flattened for the compiled search, top level first: node j has cap
    # ``caps[j]`` (x, y, z, chord radius) and ``span[j]``: its children (rows of these
    # arrays) or, for the last ``len(levels[0])`` nodes (the fine cells), its points.
    caps: NDArray[np.float64] = field(default_factory=lambda: np.empty((0, 4)))
    span: NDArray[np.int64] = field(default_factory=lambda: np.empty((0, 2), np.int64))
    n_roots: int = 0

    @classmethod
    def build(cls, index: CellIndex) -> CellTree:
        n_cells = len(index.cells)
        if n_cells == 0:
            return cls(index, (), np.asarray(index.xyz), np.asarray(index.rank))
        xyz = np.asarray(index.xyz)  # plain ndarray views: memmap indexing is slow
        offsets = np.asarray(index.offsets)
        starts = offsets[:-1]
        sums = np.add.reduceat(xyz, starts, axis=0)
        cell_of_point = np.repeat(np.arange(n_cells, dtype=np.int64), np.diff(offsets))
        levels: list[_Level] = []
        res = index.resolution
        node_cells = np.asarray(index.cells, dtype=np.uint64)
        node_of_point = cell_of_point
        lo, hi = starts.astype(np.int64), offsets[1:].astype(np.int64)
        point_start = starts
        while True:
            centre = _normalise(sums, xyz, point_start)
            d = np.sqrt(((xyz - centre[node_of_point]) ** 2).sum(axis=1))
            radius = np.maximum.reduceat(d, point_start)
            radius = radius * (1.0 + _RADIUS_MARGIN_REL) + _RADIUS_MARGIN
            cx, cy, cz = (np.ascontiguousarray(centre[:, j]) for j in range(3))
            levels.append(_Level(res, node_cells, cx, cy, cz, radius, lo, hi))
            if len(node_cells) <= _TOP_NODES or res == 0:
                break
            new_res = max(res - _LEVEL_STEP, 0)
            parents = _parent_cells(node_cells, res, new_res)
            first = np.flatnonzero(np.r_[True, parents[1:] != parents[:-1]])
            lo = first.astype(np.int64)
            hi = np.r_[first[1:], len(node_cells)].astype(np.int64)
            group = np.repeat(np.arange(len(first), dtype=np.int64), hi - lo)
            node_of_point = group[node_of_point]
            sums = np.add.reduceat(sums, first, axis=0)
            point_start = point_start[first]
            node_cells = parents[first]
            res = new_res
        caps, span = _flatten(levels)
        return cls(
            index, tuple(levels), xyz, np.asarray(index.rank), caps, span, len(levels[-1].cells)
        )

    def reduce(
        self, values: NDArray, how: np.ufunc, fill: float, eligible: NDArray[np.bool_] | None
    ) -> tuple[NDArray[np.float64], ...]:
        """Per-level ``how`` (np.maximum / np.minimum) of cell-ordered ``values``.

        Ineligible points count as ``fill`` (the identity of ``how``).
        """
        v = np.asarray(values, dtype=np.float64)
        if eligible is not None:
            v = np.where(eligible, v, fill)
        out = []
        for level in self.levels:  # level.lo indexes the next finer level (or points)
            v = how.reduceat(v, level.lo)
            out.append(v)
        return tuple(out)

    def node_has(self, eligible: NDArray[np.bool_] | None) -> tuple[NDArray[np.bool_], ...]:
        """Per level: does the node hold at least one eligible point?"""
        if eligible is None:
            return tuple(np.ones(len(lv.cells), dtype=bool) for lv in self.levels)
        out = []
        v = np.asarray(eligible, dtype=bool)
        for level in self.levels:
            v = np.logical_or.reduceat(v, level.lo)
            out.append(v)
        return tuple(out)

    def lower(self, level: int, nodes: NDArray[np.int64], q: NDArray) -> NDArray[np.float64]:
        """Smallest possible squared chord from ``q`` to any point of each node.

        Chords are Euclidean distances in 3-D, so the triangle inequality gives
        ``|q - p| >= |q - centre| - radius``; all arithmetic, no trigonometry.
        """
        lv = self.levels[level]
        dx, dy, dz = lv.cx[nodes] - q[0], lv.cy[nodes] - q[1], lv.cz[nodes] - q[2]
        c = np.sqrt(dx * dx + dy * dy + dz * dz) - lv.radius[nodes]
        c = np.maximum(c, 0.0)
        return c * c * (1.0 - _C2_MARGIN_REL)


def _flatten(levels: list[_Level]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """``(caps, span)`` of :class:`CellTree`, top level first."""
    top_first = levels[::-1]
    base = np.cumsum([0, *(len(lv.cells) for lv in top_first)])
    caps = np.concatenate(
        [np.column_stack([lv.cx, lv.cy, lv.cz, lv.radius]) for lv in top_first]
    ).astype(np.float64)
    spans = []
    for t, lv in enumerate(top_first):
        shift = base[t + 1] if t + 1 < len(top_first) else 0  # leaves: point ranges
        spans.append(np.column_stack([lv.lo + shift, lv.hi + shift]))
    return np.ascontiguousarray(caps), np.ascontiguousarray(np.concatenate(spans), np.int64)


def _normalise(sums: NDArray, xyz: NDArray, point_start: NDArray) -> NDArray:
    norm = np.sqrt((sums**2).sum(axis=1))
    centre = np.empty_like(sums)
    ok = norm > 1e-9
    centre[ok] = sums[ok] / norm[ok, None]
    centre[~ok] = xyz[point_start[~ok]]  # points spread round the globe: any point will do
    return centre


@dataclass(frozen=True, eq=False)
class NodeBounds:
    """Per-level part extremes over eligible points, for one filter and scoring setup."""

    has: tuple[NDArray[np.bool_], ...]
    parts: tuple[tuple[NDArray[np.float64], ...], ...]  # parts[j][level] = per-node values
    top_nodes: NDArray[np.int64]  # top-level nodes holding an eligible point


@dataclass(frozen=True, eq=False)
class SpecArrays:
    """A primary of the form ``quality / (1 + c2 · factor)``, cell-ordered, for the kernel.

    ``best_match`` is exactly that (:func:`geo_discovery.ranking.scoring.best_match_score`); a
    static primary (rating, review_count, -price) is ``quality`` with ``factor = 0``
    (``x / (1 + 0)`` is ``x``, bit for bit).
    """

    quality: NDArray[np.float64]
    factor: NDArray[np.float64]


@dataclass(eq=False)
class SortSpec:
    """How one query scores points and bounds nodes.

    ``primary(idx, c2)`` gives the per-point primary for cell-order ``idx`` at squared
    chords ``c2``; ``upper(level, nodes, c2_lower, bounds)`` an upper bound of it for any
    eligible point of each node at squared chord at least ``c2_lower``. ``arrays``, when
    given, lets :func:`top_k` run the compiled search (:func:`_kernel_top_k`) instead;
    ``primary`` must then equal ``quality[idx] / (1 + c2 * factor[idx])``.
    """

    primary: Callable[[NDArray[np.int64], NDArray[np.float64]], NDArray[np.float64]]
    upper: Callable[[int, NDArray[np.int64], NDArray[np.float64], NodeBounds], NDArray]
    bounds: NodeBounds
    arrays: SpecArrays | None = None
    # Per-node bounds over the index's compiled tree, built on first use (one eligible
    # mask per spec: the ranker builds a spec per filter set).
    _node_bounds: tuple[NDArray, NDArray, NDArray] | None = field(default=None, repr=False)


@dataclass(frozen=True, eq=False)
class Found:
    """An answer: cell-order indices, primaries and metres, best first."""

    idx: NDArray[np.int64]
    primary: NDArray[np.float64]
    distance_m: NDArray[np.float64]
    stats: dict[str, int] = field(default_factory=dict)


@dataclass
class _Cands:
    idx: list[NDArray[np.int64]] = field(default_factory=list)
    prim: list[NDArray[np.float64]] = field(default_factory=list)
    c2: list[NDArray[np.float64]] = field(default_factory=list)
    have: int = 0

    def arrays(self) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
        if not self.idx:
            return _EMPTY_I, _EMPTY_F, _EMPTY_F
        if len(self.idx) > 1:
            self.idx = [np.concatenate(self.idx)]
            self.prim = [np.concatenate(self.prim)]
            self.c2 = [np.concatenate(self.c2)]
        return self.idx[0], self.prim[0], self.c2[0]


def top_k(
    tree: CellTree,
    lat: float,
    lng: float,
    k: int,
    spec: SortSpec,
    *,
    max_c2: float = math.inf,
    eligible: NDArray[np.bool_] | None = None,
    row_ok: RowFilter | None = None,
    after: tuple[float, float, int] | None = None,
) -> Found:
    """The ``k`` best eligible points by ``(primary desc, distance asc, merchant_id asc)``.

    ``eligible`` is a cell-ordered mask; ``after`` a key ``(primary, distance_m, rank)``:
    only points strictly after it count (cursor paging). See the module doc.
    """
    index = tree.index
    if len(index) == 0 or k <= 0:
        return Found(_EMPTY_I, _EMPTY_F, _EMPTY_F)
    if spec.arrays is not None and row_ok is None and after is None:
        return _kernel_top_k(tree, lat, lng, k, spec, max_c2, eligible)
    q = latlng_to_xyz(lat, lng)
    xyz, rank = tree.xyz, tree.rank
    stats = {"rings": 0, "scored": 0, "nodes": 0}

    def take(idx: NDArray[np.int64], cands: _Cands) -> None:
        if len(idx) == 0:
            return
        if eligible is not None:
            idx = idx[eligible[idx]]
        c2 = ((xyz[idx] - q) ** 2).sum(axis=1)  # the index's formula, bit for bit
        if max_c2 < math.inf:
            keep = c2 <= max_c2
            idx, c2 = idx[keep], c2[keep]
        if row_ok is not None and len(idx):
            ok = row_ok(idx)
            idx, c2 = idx[ok], c2[ok]
        stats["scored"] += len(idx)
        if len(idx) == 0:
            return
        prim = spec.primary(idx, c2)
        if after is not None:
            ok = _after(prim, chord2_to_m(c2), rank[idx], after)
            idx, prim, c2 = idx[ok], prim[ok], c2[ok]
        cands.idx.append(idx)
        cands.prim.append(prim)
        cands.c2.append(c2)
        cands.have += len(idx)

    per_cell = max(len(index) / max(len(index.cells), 1), 1.0)
    res = max(index.resolution - max(0, math.ceil(math.log(max(k / (3.0 * per_cell), 1.0), 7))), 0)
    while True:
        origin = h3cells.latlng_to_cell(lat, lng, res)
        # Where one cell is unlikely to hold k points, start with the whole first disk.
        first = 1 if per_cell * 7 ** (index.resolution - res) < k else 0
        ring = h3cells.grid_disk(origin, first) if first else np.array([origin], np.uint64)
        cands = _Cands()
        visited: list[NDArray[np.int64]] = []
        max_rings = _MAX_RINGS if res > 0 else 64
        for m in range(first, max_rings + 1):
            stats["rings"] += 1
            slots = index._cell_slots(ring, res)
            visited.append(slots)
            take(index._gather(slots), cands)
            ring = h3cells.grid_ring(origin, m + 1)
            rho_c2 = index._fence_c2(q, ring, coarse=res < index.resolution)
            if rho_c2 > max_c2 or len(ring) == 0:  # all in range, or the whole globe, seen
                return _finish(cands, rank, k, stats)
            if cands.have >= k:
                pk, ck = _kth_key(cands, rank, k)
                _descend(tree, spec, q, max_c2, rho_c2, pk, ck, visited, cands, take, stats)
                return _finish(cands, rank, k, stats)
        if res == 0:  # pragma: no cover - 64 rings at res 0 span the globe many times
            raise AssertionError("top-k ring search did not terminate at resolution 0")
        res = max(res - 2, 0)


def _after(
    prim: NDArray[np.float64], dist: NDArray[np.float64], rank: NDArray, after: tuple
) -> NDArray[np.bool_]:
    p, d, r = after
    return (prim < p) | ((prim == p) & ((dist > d) | ((dist == d) & (rank > r))))


def _ordered(
    idx: NDArray[np.int64], prim: NDArray, c2: NDArray, rank: NDArray, k: int
) -> tuple[NDArray[np.int64], NDArray, NDArray]:
    """The best ``k`` of the candidates in key order, with their metres."""
    if len(idx) > k:
        kth = -np.partition(-prim, k - 1)[k - 1]
        keep = prim >= kth  # every tie at the boundary stays
        idx, prim, c2 = idx[keep], prim[keep], c2[keep]
    dist = chord2_to_m(c2)  # elementwise: the same metres however the batch is cut
    order = np.lexsort((rank[idx], dist, -prim))[:k]
    return idx[order], prim[order], dist[order]


def _kth_key(cands: _Cands, rank: NDArray, k: int) -> tuple[float, float]:
    """Primary and squared chord (rounded up a hair) of the k-th candidate's key."""
    idx, prim, c2 = cands.arrays()
    _, p, d = _ordered(idx, prim, c2, rank, k)
    return float(p[-1]), float(m_to_chord2(d[-1])) * (1.0 + 1e-9) + 1e-30


def _beats(ub: NDArray, c2lb: NDArray, pk: float, ck: float) -> NDArray[np.bool_]:
    """Could a point with primary <= ub at squared chord >= c2lb come before (pk, ck)?"""
    return (ub > pk) | ((ub == pk) & (c2lb <= ck))


def _descend(
    tree: CellTree,
    spec: SortSpec,
    q: NDArray,
    max_c2: float,
    rho_c2: float,
    pk: float,
    ck: float,
    visited: list[NDArray[np.int64]],
    cands: _Cands,
    take: Callable[[NDArray[np.int64], _Cands], None],
    stats: dict[str, int],
) -> None:
    """Phase 2: every unvisited point is beyond the fence, so each node's smallest
    squared chord is at least ``rho_c2`` as well as its cap's."""
    has = spec.bounds.has
    top = len(tree.levels) - 1
    nodes = spec.bounds.top_nodes
    for level in range(top, -1, -1):
        if level != top:
            nodes = nodes[has[level][nodes]]
        stats["nodes"] += len(nodes)
        if len(nodes) == 0:
            return
        c2lb = np.maximum(tree.lower(level, nodes, q), rho_c2)
        keep = _beats(spec.upper(level, nodes, c2lb, spec.bounds), c2lb, pk, ck)
        if max_c2 < math.inf:
            keep &= c2lb <= max_c2
        nodes = nodes[keep]
        if level:
            lv = tree.levels[level]
            nodes = _ranges(lv.lo[nodes], lv.hi[nodes])
    fine = tree.levels[0]
    slots = np.concatenate(visited) if len(visited) > 1 else visited[0]
    if len(slots) and len(nodes):
        order = np.argsort(slots[:, 0])
        vs, ve = slots[order, 0], slots[order, 1]
        s = fine.lo[nodes]
        j = np.searchsorted(vs, s, side="right") - 1
        seen = (j >= 0) & (s < ve[np.maximum(j, 0)])
        nodes = nodes[~seen]
    if len(nodes):
        take(_ranges(fine.lo[nodes], fine.hi[nodes]), cands)


def _ranges(lo: NDArray[np.int64], hi: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenated ``arange(lo, hi)`` (``CellIndex._gather`` on two arrays, unstacked)."""
    if len(lo) == 0:
        return _EMPTY_I
    lengths = hi - lo
    ends = np.cumsum(lengths)
    total = int(ends[-1])
    if total == 0:
        return _EMPTY_I
    return np.repeat(lo - (ends - lengths), lengths) + np.arange(total, dtype=np.int64)


def _finish(cands: _Cands, rank: NDArray, k: int, stats: dict[str, int]) -> Found:
    idx, prim, dist = _ordered(*cands.arrays(), rank, k)
    return Found(idx, prim, dist, stats)


def build_bounds(
    tree: CellTree,
    eligible: NDArray[np.bool_] | None,
    maxima: Sequence[NDArray] = (),
    minima: Sequence[NDArray] = (),
) -> NodeBounds:
    """:class:`NodeBounds` with per-node maxima of ``maxima`` then minima of ``minima``."""
    parts = [tree.reduce(v, np.maximum, -np.inf, eligible) for v in maxima]
    parts += [tree.reduce(v, np.minimum, np.inf, eligible) for v in minima]
    has = tree.node_has(eligible)
    top = np.flatnonzero(has[-1]) if has else _EMPTY_I
    return NodeBounds(has, tuple(parts), top)


# --------------------------------------------------------------------- compiled path
def _kernel_top_k(
    tree: CellTree,
    lat: float,
    lng: float,
    k: int,
    spec: SortSpec,
    max_c2: float,
    eligible: NDArray[np.bool_] | None,
) -> Found:
    """:func:`top_k` without a row filter or cursor, by a compiled best-first search.

    Walks the index's own cap tree (:mod:`geo_discovery.search.kernels`), nodes in order of
    their score upper bound ``max quality / (1 + lower_c2 · min factor)`` over eligible
    points, and keeps every point whose key could still reach the top ``k`` (a point
    equal to the ``k``-th score is kept while its squared chord is not beyond the
    ``k``-th's, loosened by 1e-12). The bounds are exact upper bounds under IEEE
    rounding (same argument as the module doc); the candidates are then ordered by the
    same :func:`_ordered` as the Python path, so the answer is identical.
    """
    arrays = spec.arrays
    assert arrays is not None
    if spec._node_bounds is None:
        spec._node_bounds = _node_bounds(
            tree.span,
            len(tree.levels[0].cells),
            arrays.quality,
            arrays.factor,
            _NO_MASK if eligible is None else eligible,
        )
    node_q, node_k, node_has = spec._node_bounds
    idx, prim, c2, scored = _best_first(
        float(lat),
        float(lng),
        int(k),
        float(max_c2),
        tree.caps,
        tree.span,
        tree.n_roots,
        len(tree.levels[0].cells),
        tree.xyz,
        arrays.quality,
        arrays.factor,
        _NO_MASK if eligible is None else eligible,
        node_q,
        node_k,
        node_has,
    )
    out_idx, out_prim, out_dist = _ordered(idx, prim, c2, tree.rank, k)
    return Found(out_idx, out_prim, out_dist, {"rings": 0, "scored": int(scored), "nodes": 0})


_NO_MASK = np.zeros(0, dtype=np.bool_)
_LOWER_SLACK = 1 - _C2_MARGIN_REL  # as CellTree.lower
_TIE_SLACK = 1e-12  # relative, on squared chords: equal metres may differ by an ulp or two


@njit(cache=True, nogil=True)
def _node_bounds(
    span: NDArray, n_cells: int, quality: NDArray, factor: NDArray, elig: NDArray
) -> tuple[NDArray, NDArray, NDArray]:  # pragma: no cover - compiled
    """Per tree node: max quality, min factor over eligible points, and "has one"."""
    n_nodes = span.shape[0]
    n_internal = n_nodes - n_cells
    use = elig.shape[0] > 0
    nq = np.full(n_nodes, -np.inf)
    nk = np.full(n_nodes, np.inf)
    has = np.zeros(n_nodes, dtype=np.bool_)
    for leaf in range(n_cells):
        j = n_internal + leaf
        for p in range(span[j, 0], span[j, 1]):
            if use and not elig[p]:
                continue
            has[j] = True
            if quality[p] > nq[j]:
                nq[j] = quality[p]
            if factor[p] < nk[j]:
                nk[j] = factor[p]
    for j in range(n_internal - 1, -1, -1):  # children always follow their parent
        for c in range(span[j, 0], span[j, 1]):
            if has[c]:
                has[j] = True
                if nq[c] > nq[j]:
                    nq[j] = nq[c]
                if nk[c] < nk[j]:
                    nk[j] = nk[c]
    return nq, nk, has


@njit(cache=True, nogil=True, inline="always")
def _lower_c2(qx: float, qy: float, qz: float, caps: NDArray, j: int) -> float:  # pragma: no cover
    """:meth:`CellTree.lower` of one node."""
    dx = caps[j, 0] - qx
    dy = caps[j, 1] - qy
    dz = caps[j, 2] - qz
    c = math.sqrt(dx * dx + dy * dy + dz * dz) - caps[j, 3]
    if c <= 0.0:
        return 0.0
    return c * c * _LOWER_SLACK


@njit(cache=True, nogil=True, inline="always")
def _worse(s1: float, c1: float, s2: float, c2: float) -> bool:  # pragma: no cover
    """Is key (s1, c1) after (s2, c2) in (score desc, chord asc) order?"""
    return s1 < s2 or (s1 == s2 and c1 > c2)


@njit(cache=True, nogil=True)
def _kth_sift_down(hs: NDArray, hc: NDArray, n: int) -> None:  # pragma: no cover - compiled
    """Restore a heap whose top is the *worst* key after its top was replaced."""
    i = 0
    s, c = hs[0], hc[0]
    while True:
        ch = 2 * i + 1
        if ch >= n:
            break
        if ch + 1 < n and _worse(hs[ch + 1], hc[ch + 1], hs[ch], hc[ch]):
            ch += 1
        if not _worse(hs[ch], hc[ch], s, c):
            break
        hs[i], hc[i] = hs[ch], hc[ch]
        i = ch
    hs[i], hc[i] = s, c


@njit(cache=True, nogil=True)
def _kth_push(hs: NDArray, hc: NDArray, n: int, s: float, c: float) -> None:  # pragma: no cover
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        if not _worse(s, c, hs[parent], hc[parent]):
            break
        hs[i], hc[i] = hs[parent], hc[parent]
        i = parent
    hs[i], hc[i] = s, c


@njit(cache=True, nogil=True)
def _best_first(
    lat: float,
    lng: float,
    k: int,
    max_c2: float,
    caps: NDArray,
    span: NDArray,
    n_roots: int,
    n_leaves: int,
    xyz: NDArray,
    quality: NDArray,
    factor: NDArray,
    elig: NDArray,
    node_q: NDArray,
    node_k: NDArray,
    node_has: NDArray,
) -> tuple[NDArray, NDArray, NDArray, int]:  # pragma: no cover - compiled
    """Candidates (cell-order idx, primary, squared chord) that may be in the top ``k``."""
    qx, qy, qz = xyz_1(lat, lng)
    use = elig.shape[0] > 0
    n_internal = span.shape[0] - n_leaves
    # node heap: a min-heap on -upper bound
    hk = np.empty(256, dtype=np.float64)
    hv = np.empty(256, dtype=np.int64)
    hn = 0
    # the k best keys so far; top = the worst of them
    ks = np.empty(k, dtype=np.float64)
    kc = np.empty(k, dtype=np.float64)
    kn = 0
    thr_s = -np.inf  # the k-th key once k are known
    thr_c = np.inf
    cand_i = np.empty(max(4 * k, 256), dtype=np.int64)
    cand_p = np.empty(cand_i.shape[0], dtype=np.float64)
    cand_c = np.empty(cand_i.shape[0], dtype=np.float64)
    cn = 0
    scored = 0
    for j in range(n_roots):
        if not node_has[j]:
            continue
        lb = _lower_c2(qx, qy, qz, caps, j)
        if lb > max_c2:
            continue
        ub = node_q[j] / (1.0 + lb * node_k[j])
        if hn == hk.shape[0]:
            hk = np.concatenate((hk, np.empty(hn, dtype=np.float64)))
            hv = np.concatenate((hv, np.empty(hn, dtype=np.int64)))
        hn = _heap_push(hk, hv, hn, -ub, j)
    while hn > 0:
        neg_ub, node, hn = _heap_pop(hk, hv, hn)
        ub = -neg_ub
        if kn == k and ub < thr_s:
            break  # every node left is bounded by at most this
        if node >= n_internal:
            for p in range(span[node, 0], span[node, 1]):
                if use and not elig[p]:
                    continue
                c2 = _point_c2(xyz, p, qx, qy, qz)
                if c2 > max_c2:
                    continue
                scored += 1
                s = quality[p] / (1.0 + c2 * factor[p])
                if kn == k and (s < thr_s or (s == thr_s and c2 > thr_c * (1.0 + _TIE_SLACK))):
                    continue
                if cn == cand_i.shape[0]:
                    cand_i = np.concatenate((cand_i, np.empty(cn, dtype=np.int64)))
                    cand_p = np.concatenate((cand_p, np.empty(cn, dtype=np.float64)))
                    cand_c = np.concatenate((cand_c, np.empty(cn, dtype=np.float64)))
                cand_i[cn] = p
                cand_p[cn] = s
                cand_c[cn] = c2
                cn += 1
                if kn < k:
                    _kth_push(ks, kc, kn, s, c2)
                    kn += 1
                    if kn == k:
                        thr_s, thr_c = ks[0], kc[0]
                elif _worse(ks[0], kc[0], s, c2):
                    ks[0], kc[0] = s, c2
                    _kth_sift_down(ks, kc, kn)
                    thr_s, thr_c = ks[0], kc[0]
        else:
            for c in range(span[node, 0], span[node, 1]):
                if not node_has[c]:
                    continue
                lb = _lower_c2(qx, qy, qz, caps, c)
                if lb > max_c2:
                    continue
                ub = node_q[c] / (1.0 + lb * node_k[c])
                if kn == k and (ub < thr_s or (ub == thr_s and lb > thr_c * (1.0 + _TIE_SLACK))):
                    continue
                if hn == hk.shape[0]:
                    hk = np.concatenate((hk, np.empty(hn, dtype=np.float64)))
                    hv = np.concatenate((hv, np.empty(hn, dtype=np.int64)))
                hn = _heap_push(hk, hv, hn, -ub, c)
    # Drop candidates that fell behind the final k-th key (the ordering step keeps ties).
    m = 0
    for i in range(cn):
        s = cand_p[i]
        if kn == k and (s < thr_s or (s == thr_s and cand_c[i] > thr_c * (1.0 + _TIE_SLACK))):
            continue
        cand_i[m] = cand_i[i]
        cand_p[m] = cand_p[i]
        cand_c[m] = cand_c[i]
        m += 1
    return cand_i[:m].copy(), cand_p[:m].copy(), cand_c[:m].copy(), scored
