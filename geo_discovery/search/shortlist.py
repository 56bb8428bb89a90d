"""Cell shortlists: a bare ``best_match`` top-k scored from a few precomputed candidates.

A bare ``best_match`` query (no filter, radius, cursor, member or text) walks the trie best
first with per-node bounds (:mod:`.ranked`). At a new point most of that time goes to
memory: the nodes and points the walk must touch. For a small region of the map a
*shortlist* holds every merchant that can be among the ``K`` best anywhere inside it; a
query there scores only those (tens, in a city), by the walk's own key.

Exactness
---------
A cell is bounded by a ball: centre ``c`` (a unit vector) and chord radius ``rho``; a query
outside its cell's ball falls back to the walk. For a query ``x`` in the ball and a point
``p``, ``|c-p| - rho <= |x-p| <= |c-p| + rho`` (the triangle inequality on chords), so with
``quality >= 0`` and ``factor >= 0`` the score ``q / (1 + c2 f)`` of ``p`` at ``x`` lies
between ``L_p = q / (1 + (|c-p| + rho)^2 f)`` and ``U_p = q / (1 + max(0, |c-p| - rho)^2 f)``.
Let ``T`` be the smallest ``L_p`` among the ``K`` best points at the centre: at every ``x``
in the ball those ``K`` points score at least ``T``, so a point with ``U_p < T`` is behind
``K`` others and never among the ``K`` best. The shortlist is every point with ``U_p >= T``
(a depth-first walk prunes a node by the same bound on its cap). Bounds are loosened by a
relative 1e-9, far above float rounding. A leaf's list is ordered by ``U_p`` (stored as float32
rounded up): a query stops at the first bound below its ``k``-th score. The best ``k <=
K`` are kept and ordered by :func:`~.ranked.finish`, exactly as the walk keeps and orders
them.

A member's pages
----------------
Deeper lists (:data:`MEMBER_K`) answer a member's pages under their lift, and a leaf
gets a short list of its own under one member's lift, made by their first page there
and read by the next (:mod:`.memberlists`).

Cells
-----
A quadtree on latitude and longitude (:mod:`.quadcells`): a level-``L`` cell spans ``180
/ 2^L`` degrees of latitude and ``360 / 2^L`` of longitude (its farthest point from its
centre is a corner). The roots are the level-:data:`~.quadcells.ROOT` cells that hold a
point; each is built the first time a query lands in it (or all at once:
:meth:`Shortlists.build_all`). A cell whose list is longer than :data:`LIMIT` is split
into its four children (breadth first, at most :data:`CELLS_PER_POINT` leaves per point)
while that shrinks a list or the cell is wider than the points it lists: a crowd of
merchants at one address, which no split shrinks, leaves its cells with longer lists
instead of splitting them forever. An empty cell four times its radius from the nearest
point is split only while its list is longer than ``4 × LIMIT``: few queries land there.
A leaf listing more than :data:`WALK_OVER` points (a budget ran out) leaves its queries
to the walk. The leaves of a root partition it, so a query finds its leaf by one binary
search over their first Z-order codes at the deepest level. Queries in a root cell with
no point use the walk, as do roots not built once one ranking's lists hold
:data:`MAX_BYTES` (about 0.45 KB per merchant in a city: 29 MiB for New York's 67k).
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit, typeof
from numpy.typing import NDArray

from ..distance import xyz_1
from ..ranking.derived import ByIdentity
from .index import CellIndex
from .kernels import point_c2
from .listscan import LOOSE, WALK_OVER, lower_bound, ordered, scratch, upper_bound
from .memberlists import (
    LEAF_BUDGET,
    LEAF_K,
    LeafLists,
    member_leaf_top_k,
    member_shortlist_top_k,
    visited_block,
)
from .quadcells import (
    DEEPEST,
    ROOT,
    ROOT_CELLS,
    ROOT_KEY,
    cell_ball,
    cell_ij,
    leaf_at,
    morton,
    root_keys,
)
from .ranked import NodeBounds, behind, keep_best, topk_one

__all__ = ["LIMIT", "MEMBER_K", "K", "Shortlists"]

K = 20  #: the longest page a shortlist answers (the API's default page size)
MEMBER_K = 160  #: the depth of the lists a member's pages are scored from
MEMBER_ENTRIES = 4096  #: (root, member lift) argument tuples kept (a member asks again)
LIMIT = 96  #: a longer list is split into its four children (while that shrinks it)
CELLS_PER_POINT = 4  #: a root splits into at most this many leaves per point in it (+ 64)
MAX_BYTES = 512 * 2**20  #: no new root once one ranking's lists hold this much
_NO_MASK = np.zeros(0, dtype=np.bool_)


# -------------------------------------------------------------------------- kernels
@njit(cache=True, nogil=True)
def _threshold(
    pts: NDArray, cx: float, cy: float, cz: float, rho: float, k: int,
    xyz: NDArray, quality: NDArray, factor: NDArray,
) -> float:  # pragma: no cover - compiled  # fmt: skip
    """The smallest ``L_p`` of the ``k`` best of ``pts`` at the centre (-inf: fewer)."""
    ka, kb, kv = np.empty(k), np.empty(k), np.empty(k, dtype=np.int64)
    kn, thr_s, thr_c = 0, -np.inf, np.inf
    for p in pts:
        c2 = point_c2(xyz, p, cx, cy, cz)
        s = quality[p] / (1.0 + c2 * factor[p])
        kn, thr_s, thr_c = keep_best(ka, kb, kv, kn, k, s, c2, p, thr_s, thr_c)
    if kn < k:
        return -np.inf
    thr = np.inf
    for p in kv:
        d = math.sqrt(point_c2(xyz, int(p), cx, cy, cz))
        thr = min(thr, lower_bound(quality[p], factor[p], d, rho))
    return thr * (1.0 - LOOSE) if thr > 0 else thr


@njit(cache=True, nogil=True)
def _walk_list(
    cx: float, cy: float, cz: float, rho: float, thr: float,
    caps: NDArray, tree: NDArray, xyz: NDArray, quality: NDArray, factor: NDArray,
    node_q: NDArray, node_k: NDArray, node_has: NDArray,
) -> NDArray:  # pragma: no cover - compiled  # fmt: skip
    """Every point with ``U_p >= thr`` (ascending), nodes pruned by their caps' bound."""
    out = np.empty(64, dtype=np.int64)
    n = 0
    stack = np.empty(64, dtype=np.int64)
    stack[0], sn = 0, 1
    while sn > 0:
        sn -= 1
        node = stack[sn]
        if not node_has[node]:
            continue
        d = math.sqrt(
            (cx - np.float64(caps[node, 0])) ** 2 + (cy - np.float64(caps[node, 1])) ** 2
            + (cz - np.float64(caps[node, 2])) ** 2
        ) - np.float64(caps[node, 3])  # fmt: skip
        if upper_bound(node_q[node], node_k[node], d, rho) < thr:
            continue
        lo, hi = tree[node, 2], tree[node, 3]
        if lo >= 0:
            if sn + (hi - lo) > stack.shape[0]:
                grown = np.empty(2 * stack.shape[0] + (hi - lo), dtype=np.int64)
                grown[:sn] = stack[:sn]
                stack = grown
            for c in range(lo, hi):
                stack[sn] = c
                sn += 1
            continue
        for p in range(-lo - 1, hi):
            e = math.sqrt(point_c2(xyz, int(p), cx, cy, cz))
            if upper_bound(quality[p], factor[p], e, rho) >= thr:
                if n == out.shape[0]:
                    grown = np.empty(2 * n, dtype=np.int64)
                    grown[:n] = out[:n]
                    out = grown
                out[n] = p
                n += 1
    return np.sort(out[:n])


@njit(cache=True, nogil=True)
def _build_root(
    level0: int, i0: int, j0: int, k: int, limit: int, deepest: int, budget: int,
    caps: NDArray, tree: NDArray, xyz: NDArray, rank: NDArray, positions: NDArray,
    quality: NDArray, factor: NDArray, node_q: NDArray, node_k: NDArray, node_has: NDArray,
    point_of_row: NDArray,
) -> tuple[NDArray, NDArray, NDArray, NDArray, NDArray]:  # pragma: no cover  # fmt: skip
    """One root's leaves: sorted keys (the first :data:`~.quadcells.DEEPEST`-level Morton code each
    covers), list bounds, points (cell order) by their bound ``U_p`` descending, those
    bounds (float32, rounded up) and balls.

    The root's list comes from the trie (its threshold from the walk's ``k`` best at its
    centre). A child inside its parent's ball takes the larger of its own threshold and
    the parent's (both hold anywhere in it) and keeps the parent's points that pass it: a
    point the parent dropped has ``U_p`` (smaller in the child's ball) below the parent's
    threshold. A child not inside (rare: far north or south) is listed from the trie.
    """
    clat, clng, cx, cy, cz, rho = cell_ball(level0, i0, j0)
    rows, _, _ = topk_one(
        clat, clng, k, math.inf, caps, tree, xyz, rank, positions, _NO_MASK,
        quality, factor, node_q, node_k, node_has, 0.0, 0.0, 0, False, None, False, 1.0, None,
    )  # fmt: skip
    thr = _threshold(point_of_row[rows], cx, cy, cz, rho, k, xyz, quality, factor)
    pts = _walk_list(cx, cy, cz, rho, thr, caps, tree, xyz, quality, factor, node_q, node_k,
                     node_has)  # fmt: skip
    todo = [(level0, i0, j0, thr, cx, cy, cz, rho, pts)]
    keys: list[np.int64] = []
    lists: list[NDArray] = []
    balls: list[tuple[float, float, float, float]] = []
    head = 0  # breadth first: the budget runs out evenly, level by level
    while head < len(todo):
        level, i, j, thr, cx, cy, cz, rho, pts = todo[head]
        todo[head] = (level, i, j, thr, cx, cy, cz, rho, np.empty(0, dtype=np.int64))  # freed
        head += 1
        pending = len(keys) + len(todo) - head
        if pts.shape[0] > limit and level < deepest and pending + 4 <= budget:
            kids = []
            smaller = False
            for a in range(2):
                for b in range(2):
                    ci, cj = 2 * i + a, 2 * j + b
                    _la, _ln, kx, ky, kz, kr = cell_ball(level + 1, ci, cj)
                    inside = math.sqrt((kx - cx) ** 2 + (ky - cy) ** 2 + (kz - cz) ** 2) + kr
                    if inside <= rho * (1.0 - LOOSE):
                        t = max(thr, _threshold(pts, kx, ky, kz, kr, k, xyz, quality, factor))
                        keep = np.empty(pts.shape[0], dtype=np.bool_)
                        for m in range(pts.shape[0]):
                            p = pts[m]
                            d = math.sqrt(point_c2(xyz, p, kx, ky, kz))
                            keep[m] = upper_bound(quality[p], factor[p], d, kr) >= t
                        kp = pts[keep]
                    else:
                        t = _threshold(pts, kx, ky, kz, kr, k, xyz, quality, factor)
                        kp = _walk_list(kx, ky, kz, kr, t, caps, tree, xyz, quality, factor,
                                        node_q, node_k, node_has)  # fmt: skip
                    smaller = smaller or kp.shape[0] < pts.shape[0]
                    kids.append((level + 1, ci, cj, t, kx, ky, kz, kr, kp))
            near, spread = np.inf, 0.0  # squared chords to the nearest and farthest listed
            for p in pts:
                c2 = point_c2(xyz, p, cx, cy, cz)
                near, spread = min(near, c2), max(spread, c2)
            far = near > 16.0 * rho * rho and pts.shape[0] <= 4 * limit  # empty, far, short
            if not far and (smaller or rho * rho > spread):  # wider than its points: go on
                todo.extend(kids)
                continue
        keys.append(morton(i, j, level) << 2 * (deepest - level))
        lists.append(pts)
        balls.append((cx, cy, cz, rho))
    order = np.argsort(np.array(keys))
    out_keys = np.empty(len(keys), dtype=np.int64)
    starts = np.zeros(len(keys) + 1, dtype=np.int64)
    out_balls = np.empty((len(keys), 4))
    for m in range(len(keys)):
        o = order[m]
        out_keys[m] = keys[o]
        starts[m + 1] = starts[m] + lists[o].shape[0]
        out_balls[m, 0], out_balls[m, 1], out_balls[m, 2], out_balls[m, 3] = balls[o]
    points = np.empty(starts[-1], dtype=np.int32)
    uppers = np.empty(starts[-1], dtype=np.float32)
    for m in range(len(keys)):
        pts = lists[order[m]]
        cx, cy, cz, rho = out_balls[m, 0], out_balls[m, 1], out_balls[m, 2], out_balls[m, 3]
        u = np.empty(pts.shape[0])
        for n in range(pts.shape[0]):
            p = int(pts[n])
            u[n] = upper_bound(quality[p], factor[p], math.sqrt(point_c2(xyz, p, cx, cy, cz)), rho)
        by = np.argsort(-u, kind="mergesort")  # best bound first: a query stops early
        points[starts[m]:starts[m + 1]] = pts[by]
        for n in range(pts.shape[0]):  # float32, rounded up: still a bound
            v = np.float32(u[by[n]])
            uppers[starts[m] + n] = np.nextafter(v, np.float32(np.inf)) if v < u[by[n]] else v
    return out_keys, starts, points, uppers, out_balls


@njit(cache=True, nogil=True)
def shortlist_top_k(
    lat: float, lng: float, k: int,
    keys: NDArray, starts: NDArray, points: NDArray, uppers: NDArray, balls: NDArray,
    rec: NDArray, rank: NDArray, positions: NDArray,
) -> NDArray:  # pragma: no cover - compiled  # fmt: skip
    """The ``k`` best by the walk's key (rows, metres, scores: :func:`~.listscan.ordered`), scored
    from the shortlist of the leaf holding the point; none when the walk must answer.

    ``rec``: per point (cell order) ``x, y, z, quality, factor`` in one row, so a listed
    point costs one cache line; the squared chord and score are the walk's expressions
    on the same values, bit for bit."""
    qx, qy, qz = xyz_1(lat, lng)
    at = leaf_at(qx, qy, qz, lat, lng, keys, balls)
    if at < 0 or starts[at + 1] - starts[at] > WALK_OVER:
        return np.empty((3, 0))
    lo, hi = starts[at], starts[at + 1]
    cand_p, cand_s, cand_c, ka, kb, kv = scratch(hi - lo, k)
    kn, cn, thr_s, thr_c = 0, 0, -np.inf, np.inf
    for i in range(lo, hi):
        if uppers[i] < thr_s:
            break  # every point left is bounded below the k-th score
        p = int(points[i])
        dx, dy, dz = rec[p, 0] - qx, rec[p, 1] - qy, rec[p, 2] - qz
        c2 = dx * dx + dy * dy + dz * dz  # kernels.point_c2
        s = rec[p, 3] / (1.0 + c2 * rec[p, 4])
        if behind(s, c2, thr_s, thr_c):
            continue
        cand_p[cn], cand_s[cn], cand_c[cn] = p, s, c2
        cn += 1
        kn, thr_s, thr_c = keep_best(ka, kb, kv, kn, k, s, c2, p, thr_s, thr_c)
    return ordered(cand_p, cand_s, cand_c, cn, thr_s, thr_c, k, rank, positions)


# --------------------------------------------------------------------------- Python
_NO_LEAF = np.empty((0, 0))  # member_leaf_top_k's "no list here"


def _leaf_args(args: tuple, leaves: LeafLists) -> tuple:
    """:func:`~.memberlists.member_leaf_top_k`'s arguments from the member kernel's."""
    keys, starts, _p, uppers, balls, _c, _r, rank, positions, _v, _l, top = args[:12]
    return (keys, starts, uppers, balls, rank, positions, top, leaves.table, leaves.pool)


def _entry(kernel: Any, args: tuple) -> Any:
    """``kernel``'s compiled entry point for ``(lat, lng, k, *args)``'s exact types (compiled
    or loaded from numba's cache now, as a first call would). A query calls it directly:
    numba's dispatcher would type every argument again on every call (~25 ns each, a
    fifth of a member page's overhead). The arguments are kept with it, so they keep
    those types."""
    return kernel.compile(tuple(typeof(a) for a in (0.0, 0.0, 0, *args)))


@dataclass(frozen=True, eq=False)
class _Root:
    """The leaves of one root: :func:`_build_root`'s arrays."""

    keys: NDArray[np.int64]
    starts: NDArray[np.int64]
    points: NDArray[np.int32]
    uppers: NDArray[np.float32]
    balls: NDArray[np.float64]
    args: tuple[Any, ...] = ()  # the scan's arrays after (lat, lng, k), read once per query
    scan: Any = None  # shortlist_top_k's compiled entry for them (:func:`_entry`)


@dataclass(eq=False)
class Shortlists:
    """Shortlists of one ranking's ``(quality, factor)`` (cell order, as the walk's spec),
    built per root on first use; :meth:`top_k` answers ``k <= k_max`` or says to walk.

    ``limit``: the list length over which a cell splits. ``background``: a root's first
    query starts its build on a thread (the kernels release the GIL) and is answered by
    the walk, as are the next ones until it is done; else the first query builds it.
    Thread-safe: a root is built under a lock, and readers see it whole or not at all.
    """

    index: CellIndex
    quality: NDArray[np.float64]
    factor: NDArray[np.float64]
    bounds: NodeBounds
    k_max: int = K
    limit: int = LIMIT
    background: bool = False
    codes: NDArray[np.int32] | None = None  # each point's category code (a member's pages)
    _roots: dict[int, _Root] = field(default_factory=dict, init=False, repr=False)
    _started: set[int] = field(default_factory=set, init=False, repr=False)
    _walked: set[int] = field(default_factory=set, init=False, repr=False)
    _member_roots: dict[int, tuple[NDArray, Any, Any]] = field(  # per root: codes, entries
        default_factory=dict, init=False, repr=False
    )
    _member_args: ByIdentity[tuple] = field(  # per (lift, root): a member asks again
        default_factory=lambda: ByIdentity(MEMBER_ENTRIES), init=False, repr=False
    )
    error: BaseException | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _start_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _leaf_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _leaf_rows: int = field(default=0, init=False, repr=False)  # made since the last count
    _leaf_full: bool = field(default=False, init=False, repr=False)  # at LEAF_BUDGET
    _leaf_asks: int = field(default=0, init=False, repr=False)  # new lifts while full

    @staticmethod
    def usable(quality: NDArray[np.float64], factor: NDArray[np.float64]) -> bool:
        """Whether the bounds hold: every quality and factor finite and >= 0."""
        return bool(
            np.all(np.isfinite(quality) & (quality >= 0))
            and np.all(np.isfinite(factor) & (factor >= 0))
        )

    def __post_init__(self) -> None:
        lat, lng = self.index.lat, self.index.lng
        self._root_of_point = root_keys(np.asarray(lat, np.float64), np.asarray(lng, np.float64))
        self._occupied = frozenset(int(k) for k in np.unique(self._root_of_point))
        self._misses = 0  # queries the walk answered for want of a root (background)

    @functools.cached_property
    def _rec(self) -> tuple[NDArray[np.float64], NDArray, NDArray]:
        """The scan's arrays: ``(x, y, z, quality, factor)`` per point, rank, positions."""
        _c, _t, xyz, rank, positions = self.index.search_arrays
        rec = np.column_stack([xyz, self.quality, self.factor]).astype(np.float64)
        return np.ascontiguousarray(rec), rank, positions

    @functools.cached_property
    def _point_of_row(self) -> NDArray[np.int64]:
        out = np.empty(len(self.index), dtype=np.int64)
        out[np.asarray(self.index.positions)] = np.arange(len(self.index))
        return out

    def top_k(
        self, lat: float, lng: float, k: int, patience: int = 1, lift: tuple | None = None
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]] | None:
        """The walk's answer (rows, metres, scores) from a shortlist, or ``None``.

        ``patience`` (background builds): start a root's build only once this many queries
        of this ranking found none, so a ranking asked for once builds nothing. ``lift``:
        a member's, as :func:`~.personal.member_lift` makes it (:func:`member_shortlist_top_k`)."""
        if not 0 < k <= self.k_max:
            return None
        # cell_ij and cell_key at ROOT, in Python (no numba call per query); int() is floor
        # for what is >= 0, and out of 0 … n-1 only at lat 90, lng 180 (or past them)
        i, j = int((lat + 90.0) / 180.0 * ROOT_CELLS), int((lng + 180.0) / 360.0 * ROOT_CELLS)
        if not (0 <= i < ROOT_CELLS and 0 <= j < ROOT_CELLS):
            i, j = cell_ij(lat, lng, ROOT)
        key = ROOT_KEY | i << 26 | j
        root = self._roots.get(key)
        if root is None:
            if key not in self._occupied:
                return None
            if self.background:  # the walk answers until the root is built
                self._misses += 1
                if self._misses >= patience:
                    self._start(key)
                return None
            root = self._build(key)
            if root is None:
                return None
        if lift is None:
            out = root.scan(lat, lng, k, *root.args)
        elif self.codes is None:
            return None  # no categories: the walk answers
        else:
            hit, hit_args, scan, args, leaves = (self._member_args.find(lift, key)
                                                 or self._lifted_args(key, lift))  # fmt: skip
            out = hit(lat, lng, k, *hit_args) if k <= LEAF_K and leaves.held else _NO_LEAF
            if out.shape[0] == 0:  # no leaf list here: the whole list (and the leaf's made)
                out, rows, at = scan(lat, lng, k, *args)
                if at >= 0:
                    self._keep_leaf(lift, key, at, rows)
        return (out[0].astype(np.int64), out[1], out[2]) if out.shape[1] else None

    def build_all(self) -> int:
        """Build every root now; returns how many points the lists hold in all."""
        for key in sorted(self._occupied):
            self._build(key)
        return sum(len(r.points) for r in tuple(self._roots.values()))

    @property
    def cells(self) -> int:
        """Leaves built so far."""
        return sum(len(r.keys) for r in tuple(self._roots.values()))  # a copy: a thread adds

    @property
    def leaf_lists(self) -> list[LeafLists]:
        """The members' leaf lists kept now (:mod:`.memberlists`; one per member and root)."""
        return [kept[4] for kept in self._member_args.values()]

    def leaf_rows(self) -> int:
        """Rows the members' leaf lists kept now hold (64 bytes each)."""
        return sum(leaves.used for leaves in self.leaf_lists)

    @property
    def nbytes(self) -> int:
        """Bytes the built roots hold."""
        roots = tuple(self._roots.values())
        codes = sum(m[0].nbytes for m in tuple(self._member_roots.values()))
        return codes + sum(
            a.nbytes for r in roots for a in vars(r).values() if isinstance(a, np.ndarray)
        )

    def _start(self, key: int) -> None:
        with self._start_lock:  # not the build's lock: a query never waits for a build
            if key in self._started:
                return
            self._started.add(key)
        name = "geo-discovery-shortlists"
        threading.Thread(target=self._build, args=(key,), name=name, daemon=True).start()

    def _build(self, key: int) -> _Root | None:
        """Build a root (``None``: over :data:`MAX_BYTES`, or failed: the walk answers)."""
        with self._lock:
            root = self._roots.get(key)
            if root is None and key not in self._walked:
                if self.nbytes > MAX_BYTES:
                    self._walked.add(key)
                    return None
                try:
                    root = self._roots[key] = self._build_root(key)
                except MemoryError as exc:  # never take a query down
                    self._walked.add(key)
                    self.error = exc
            return root

    def _build_root(self, key: int) -> _Root:
        caps, tree, xyz, rank, positions = self.index.search_arrays
        budget = CELLS_PER_POINT * int(np.count_nonzero(self._root_of_point == key)) + 64
        mask26 = (1 << 26) - 1
        built = _build_root(
            ROOT, (key >> 26) & mask26, key & mask26, self.k_max, self.limit, DEEPEST, budget,
            caps, tree, xyz, rank, positions, self.quality, self.factor,
            self.bounds.q, self.bounds.k, self.bounds.has, self._point_of_row,
        )  # fmt: skip
        args = (*built, *self._rec)
        return _Root(*built, args=args, scan=_entry(shortlist_top_k, args))

    def _lifted_args(self, key: int, lift: tuple) -> tuple:
        """The member kernels' entries and arguments for a root and a member's lift
        (:func:`~.memberlists.member_leaf_top_k`'s, then :func:`member_shortlist_top_k`'s),
        and the member's leaf lists there (:class:`~.memberlists.LeafLists`, none yet),
        kept with the lift (by identity). Made on a root's first member page: the lists'
        category codes and the kernels' entries (typing the arguments costs ~70 µs). The
        visited points' block: each one's row of ``rec``, lift and point (one array, one
        read). Made here as C-contiguous float64 (``code_lift`` too), so every lift's
        arguments have the types the entries were compiled for."""
        root, made = self._roots[key], self._member_roots.get(key)
        assert self.codes is not None
        listed = made[0] if made else np.ascontiguousarray(self.codes[root.points], np.int32)
        visited = visited_block(self._rec[0], lift[0], lift[1])
        code_lift = np.ascontiguousarray(lift[3], dtype=np.float64)
        if self._leaf_full:  # count again now and then: evicted members free theirs
            self._leaf_asks += 1
            if self._leaf_asks % 256 == 0:
                self._leaf_full = self.leaf_rows() >= LEAF_BUDGET // 2
        leaves = LeafLists(closed=self._leaf_full)
        args = (*root.args[:5], listed, *root.args[5:], visited, code_lift, float(lift[-1]),
                leaves.room)  # fmt: skip
        hit_args = _leaf_args(args, leaves)
        if made is None:
            made = self._member_roots[key] = (listed, _entry(member_leaf_top_k, hit_args),
                                              _entry(member_shortlist_top_k, args))  # fmt: skip
        return self._member_args.put(lift, key, (made[1], hit_args, made[2], args, leaves))

    def _keep_leaf(self, lift: tuple, key: int, at: int, rows: NDArray[np.float64]) -> None:
        """Keep leaf ``at``'s list under ``lift`` (:mod:`.memberlists`); new arrays replace
        the kept arguments (a query reading the old ones is unharmed)."""
        with self._leaf_lock:
            kept = self._member_args.find(lift, key)
            if kept is None:
                return
            hit, _, scan, args, leaves = kept
            self._leaf_rows += len(rows)
            if self._leaf_rows >= LEAF_BUDGET // 8:  # count all members' lists now and then
                self._leaf_rows = 0
                self._leaf_full = self.leaf_rows() + len(rows) > LEAF_BUDGET
            if self._leaf_full:
                leaves.closed = True  # no more for this member here (the arguments say so)
            elif not leaves.add(at, rows):
                return
            args = (*args[:-1], leaves.room)
            self._member_args.put(lift, key, (hit, _leaf_args(args, leaves), scan, args, leaves))
