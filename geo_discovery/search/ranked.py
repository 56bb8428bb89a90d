"""Compiled ranked top-k over a :class:`~geo_discovery.search.index.CellIndex`'s own trie.

A query asks for the ``k`` best eligible points by ``(score desc, distance_m asc, rank
asc)``, ``score = quality[p] / (1.0 + c2 * factor[p])``: ``best_match`` (the float
operations of :func:`geo_discovery.ranking.scoring.best_match_score`, so scores equal
numpy's bit for bit), a static sort (``factor = 0``: ``x / (1 + 0)`` is ``x``; ``-inf``
for a missing value) or plain distance (``quality = factor = 0``). ``c2`` is the squared
chord (the index's :func:`~geo_discovery.search.kernels.point_c2`), ``distance_m =
c2m_1(c2)``. Points must lie within ``max_c2``, pass a table-order ``mask`` and, when
paging, come strictly after an ``after`` key.

:func:`node_bounds` keeps per trie node the largest ``quality`` and smallest ``factor``
over its eligible points, and whether it has one (one reverse pass: children follow
their parent). :func:`topk_one` walks the trie best first: by the node's upper bound
``ub = node_q / (1.0 + lb * node_k)`` descending, then its lower bound ``lb``
(:func:`~geo_discovery.search.kernels.lower_c2`) ascending, so where bounds tie (plain
distance; many points sharing the top rating) the walk is a nearest-first kNN walk.

Exactness
---------
*The bound.* For a point ``p`` below a node, ``c2 >= lb`` (triangle inequality on the
node's cap, shrunk by a relative 1e-12: :mod:`geo_discovery.search.kernels`),
``quality[p] <= node_q`` and ``factor[p] >= node_k >= 0``. IEEE rounding is monotone,
so ``c2 * factor[p] >= lb * node_k``, ``1 + c2 * factor[p] >= 1 + lb * node_k >= 1``
and, when ``quality[p] >= 0`` or ``factor[p] = 0``, the computed score is ``<= ub`` bit
for bit (:meth:`NodeBounds.build` refuses a finite negative quality, which would grow).

*Pruning.* A heap holds the best ``k`` keys ``(score, c2)`` seen, worst on top: the
threshold ``(s_k, c_k)``. A point or node is dropped when its score (bound) is below
``s_k``, or equal while its squared chord (lower bound) exceeds ``c_k * (1 + 1e-12)``.
Then ``k`` points seen beat it by ``(score, distance_m)``: ``c2m_1`` is non-decreasing,
chords 1e-12 apart never share metres (closer ones may: they are kept), metre ties break by
rank as a full sort would. Nodes pop best bound first: the walk stops at the first failing.

*Ordering.* Candidates behind the final threshold are dropped (:func:`not_behind`), the
rest ordered as ``np.lexsort((rank, metres, -score))`` and cut at ``k``; tests compare
every answer with brute force bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from ..distance import c2m_1, xyz_1
from .borrow import borrowed
from .index import CellIndex
from .kernels import SLACK, lower_c2, point_c2
from .sparsebounds import sparse_node_bounds
from .textscore import as_int, relevance

__all__ = [
    "NodeBounds",
    "TextFilter",
    "after_key",
    "behind",
    "candidates_top_k",
    "collect",
    "finish",
    "keep_best",
    "node_bounds",
    "not_behind",
    "ranked_top_k",
    "topk_one",
]

_NO_MASK = np.zeros(0, dtype=np.bool_)
_EMPTY_I = np.empty(0, dtype=np.int64)
_EMPTY_F = np.empty(0, dtype=np.float64)
_INSERTION_MAX = 64  # candidates ordered by insertion sort up to this many


# ------------------------------------------------------------------ two-key heap
@njit(cache=True, nogil=True, inline="always")
def _pair_less(a1: float, b1: float, a2: float, b2: float) -> bool:  # pragma: no cover
    return a1 < a2 or (a1 == a2 and b1 < b2)


@njit(cache=True, nogil=True)
def _pair_push(
    ka: NDArray, kb: NDArray, vals: NDArray, n: int, a: float, b: float, v: int
) -> int:  # pragma: no cover - compiled
    """Push ``(a, b) -> v`` onto a min-heap ordered by ``(a, b)``; capacity is the caller's."""
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        if not _pair_less(a, b, ka[parent], kb[parent]):
            break
        ka[i], kb[i], vals[i] = ka[parent], kb[parent], vals[parent]
        i = parent
    ka[i], kb[i], vals[i] = a, b, v
    return n + 1


@njit(cache=True, nogil=True)
def _pair_sift(
    ka: NDArray, kb: NDArray, vals: NDArray, n: int, a: float, b: float, v: int
) -> None:  # pragma: no cover - compiled
    """Put ``(a, b) -> v`` at the top of the heap ``[:n]`` (replacing it) and sift it down."""
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and _pair_less(ka[c + 1], kb[c + 1], ka[c], kb[c]):
            c += 1
        if not _pair_less(ka[c], kb[c], a, b):
            break
        ka[i], kb[i], vals[i] = ka[c], kb[c], vals[c]
        i = c
    ka[i], kb[i], vals[i] = a, b, v


@njit(cache=True, nogil=True, inline="always")
def behind(s: float, c2: float, thr_s: float, thr_c: float) -> bool:  # pragma: no cover
    """A score (bound) ``s`` at squared chord (lower bound) ``c2`` is behind the threshold."""
    return s < thr_s or (s == thr_s and c2 > thr_c)


@njit(cache=True, nogil=True, inline="always")
def not_behind(cs: NDArray, cc: NDArray, cn: int, ts: float, tc: float) -> NDArray:
    """Indices of the first ``cn`` candidates (scores, squared chords) not behind ``(ts, tc)``."""
    keep = np.empty(cn, dtype=np.int64)
    m = 0
    for i in range(cn):
        if not behind(cs[i], cc[i], ts, tc):
            keep[m], m = i, m + 1
    return keep[:m]


@njit(cache=True, nogil=True, inline="always")
def keep_best(
    ka: NDArray, kb: NDArray, kv: NDArray, kn: int, k: int,
    s: float, c2: float, p: int, thr_s: float, thr_c: float,
) -> tuple[int, float, float]:  # pragma: no cover - compiled  # fmt: skip
    """Offer ``(s, c2) -> p`` to the heap of the best ``k`` keys (worst on top, ``kn``
    held); returns the new ``kn`` and threshold (the ``k``-th key, its squared chord
    loosened by the tie slack, once ``k`` are held)."""
    if kn < k:
        kn = _pair_push(ka, kb, kv, kn, s, -c2, p)
    elif _pair_less(ka[0], kb[0], s, -c2):
        _pair_sift(ka, kb, kv, kn, s, -c2, p)
    else:
        return kn, thr_s, thr_c
    if kn == k:
        thr_s, thr_c = ka[0], -kb[0] * (1.0 + SLACK)
    return kn, thr_s, thr_c


@njit(cache=True, nogil=True, inline="always")
def after_key(
    s: float, c2: float, r: int, after_score: float, after_m: float, after_rank: int
) -> bool:  # pragma: no cover - compiled
    """Whether key ``(s, metres of c2, r)`` comes strictly after the cursor's key."""
    if s < after_score:
        return True
    if s > after_score:
        return False
    m = c2m_1(c2)
    return m > after_m or (m == after_m and r > after_rank)


# ----------------------------------------------------------------------- bounds
@njit(cache=True, nogil=True)
def node_bounds(
    tree: NDArray, quality: NDArray, factor: NDArray, mask: NDArray, positions: NDArray
) -> tuple[NDArray, NDArray, NDArray]:  # pragma: no cover - compiled
    """Per trie node: max ``quality``, min ``factor`` over its eligible points, and "has one".

    ``quality``/``factor`` are cell-ordered; ``mask`` is table-ordered (empty: all
    eligible). A node without an eligible point keeps ``(-inf, inf, False)``.
    """
    n_nodes = tree.shape[0]
    use_mask = mask.shape[0] > 0
    nq = np.full(n_nodes, -np.inf)
    nk = np.full(n_nodes, np.inf)
    has = np.zeros(n_nodes, dtype=np.bool_)
    for j in range(n_nodes - 1, -1, -1):  # children always follow their parent
        lo, hi = tree[j, 2], tree[j, 3]
        if lo < 0:
            for p in range(-lo - 1, hi):
                if use_mask and not mask[positions[p]]:
                    continue
                has[j] = True
                nq[j] = max(nq[j], quality[p])
                nk[j] = min(nk[j], factor[p])
        else:
            for c in range(lo, hi):
                if has[c]:
                    has[j] = True
                    nq[j] = max(nq[j], nq[c])
                    nk[j] = min(nk[j], nk[c])
    return nq, nk, has


# ------------------------------------------------------------------------- walk
@njit(cache=True, nogil=True, inline="always")
def _node_lift(lift: tuple, c: int) -> float:  # pragma: no cover - compiled
    """A bound on the member lift of any point below node ``c`` (:func:`collect`)."""
    nodes, top, hot = lift[4], 1.0, lift[8]
    for i in range(hot.shape[0]):  # the largest lift of a category below it
        if lift[7][c] & hot[i]:
            top = lift[9][i]
            break
    j = np.searchsorted(nodes, c)
    if j < nodes.shape[0] and nodes[j] == c:
        top = max(top, lift[5][j])
    return top


@njit(cache=True, nogil=True, inline="always")
def _point_lift(lift: tuple, p: int) -> float:  # pragma: no cover - compiled
    """Point ``p``'s member lift: its own when visited, else its category's."""
    pts = lift[0]
    j = np.searchsorted(pts, p)
    if j < pts.shape[0] and pts[j] == p:
        return lift[1][j]
    return lift[3][lift[2][p]]


@njit(cache=True, nogil=True)
def collect(
    qx: float, qy: float, qz: float, k: int, max_c2: float,
    caps: NDArray, tree: NDArray, xyz: NDArray, rank: NDArray, positions: NDArray,
    mask: NDArray, quality: NDArray, factor: NDArray,
    node_q: NDArray, node_k: NDArray, node_has: NDArray,
    after_score: float, after_m: float, after_rank: int, use_after: bool,
    tx: tuple | None, weigh: bool, wmax: float, scratch: NDArray,
    ha: NDArray, hb: NDArray, hv: NDArray, cand_p: NDArray, cand_s: NDArray, cand_c: NDArray,
    lift: tuple | None,
) -> tuple[int, int, float, float, int]:  # pragma: no cover - compiled  # fmt: skip
    """Best-first walk into caller-provided scratch: ``(status, n, thr_s, thr_c2, scored)``.

    With a text query ``tx`` (``None``: none; the branch is compiled away) a point must
    match it
    (:func:`~geo_discovery.search.textscore.relevance` > 0) and, when ``weigh``
    (``best_match``), its quality is multiplied by the relevance; node bounds are
    multiplied by ``wmax``, an upper bound of the relevance (1 when not weighing).

    ``status`` 1: the node heap ``ha, hb, hv`` is full; 2: the candidate buffers are full
    (the caller retries with more room; arrays reassigned inside the loop would cost
    numba reference counting on every iteration). 0: done, and the first ``n``
    candidates (cell-order points, scores, squared chords) include every point not behind
    the final threshold ``(thr_s, thr_c2)``: the ``k``-th key, its squared chord loosened
    by the tie slack (``-inf, inf`` while fewer than ``k``); some taken earlier may be
    behind it. ``scored`` counts the points scored.

    ``lift`` (``None``: none, compiled away): a member's lift on each score (its own or its
    category's: :func:`geo_discovery.search.personal.walk_lift`); a node's bound times a
    bound on the lifts below it (factors >= 0: still a bound, bit for bit).
    """
    use_mask = mask.shape[0] > 0
    hcap, ccap = ha.shape[0], cand_p.shape[0]
    btx, blift = borrowed(tx), borrowed(lift)  # bound per point by the helpers: .borrow
    ha, hb, hv, caps, xyz = borrowed((ha, hb, hv, caps, xyz))
    hn = 0  # the node heap: min on (-upper bound, lower bound)
    ka = np.empty(k, dtype=np.float64)  # the best k keys, worst on top: min on (score, -c2)
    kb = np.empty(k, dtype=np.float64)
    kv = np.empty(k, dtype=np.int64)
    kn = 0
    thr_s, thr_c = -np.inf, np.inf  # prunes nothing until k are known
    cn = 0
    scored = 0
    if node_has[0]:
        lb = lower_c2(qx, qy, qz, caps, 0)
        if lb <= max_c2:
            ub = (node_q[0] * wmax) / (1.0 + lb * node_k[0])
            if lift is not None:
                ub = ub * _node_lift(blift, 0)
            hn = _pair_push(ha, hb, hv, hn, -ub, lb, 0)
    while hn > 0:
        ub, lb, node = -ha[0], hb[0], hv[0]
        hn -= 1
        if hn > 0:
            _pair_sift(ha, hb, hv, hn, ha[hn], hb[hn], hv[hn])
        if behind(ub, lb, thr_s, thr_c):
            break  # every node left is bounded by (ub, lb) or worse
        lo, hi = tree[node, 2], tree[node, 3]
        if lo >= 0:
            for c in range(lo, hi):
                if not node_has[c]:
                    continue
                lb = lower_c2(qx, qy, qz, caps, c)
                if lb > max_c2:
                    continue
                ub = (node_q[c] * wmax) / (1.0 + lb * node_k[c])
                if lift is not None:
                    ub = ub * _node_lift(blift, c)
                if behind(ub, lb, thr_s, thr_c):
                    continue
                if hn == hcap:
                    return 1, cn, thr_s, thr_c, scored
                hn = _pair_push(ha, hb, hv, hn, -ub, lb, c)
            continue
        for p in range(-lo - 1, hi):  # a leaf
            if use_mask and not mask[positions[p]]:
                continue
            c2 = point_c2(xyz, p, qx, qy, qz)
            if c2 > max_c2:
                continue
            if tx is not None:
                w = relevance(p, btx, scratch)
                if w <= 0.0:
                    continue
                s = ((quality[p] * w) if weigh else quality[p]) / (1.0 + c2 * factor[p])
            else:
                s = quality[p] / (1.0 + c2 * factor[p])
            if lift is not None:
                s = s * _point_lift(blift, p)
            scored += 1
            if behind(s, c2, thr_s, thr_c):
                continue
            if use_after and not after_key(s, c2, rank[p], after_score, after_m, after_rank):
                continue
            if cn == ccap:
                return 2, cn, thr_s, thr_c, scored
            cand_p[cn], cand_s[cn], cand_c[cn] = p, s, c2
            cn += 1
            kn, thr_s, thr_c = keep_best(ka, kb, kv, kn, k, s, c2, p, thr_s, thr_c)
    return 0, cn, thr_s, thr_c, scored


@njit(cache=True, nogil=True, inline="always")
def _before(i: int, j: int, s: NDArray, m: NDArray, r: NDArray) -> bool:  # pragma: no cover
    """Candidate ``i`` comes before ``j``: score desc, metres asc, rank asc."""
    if s[i] != s[j]:
        return s[i] > s[j]
    if m[i] != m[j]:
        return m[i] < m[j]
    return r[i] < r[j]


@njit(cache=True, nogil=True)
def _key_order(s: NDArray, m: NDArray, r: NDArray) -> NDArray:  # pragma: no cover - compiled
    """``np.lexsort((r, m, -s))``: insertion sort when few, else three stable sorts."""
    n = s.shape[0]
    if n <= _INSERTION_MAX:
        order = np.arange(n)
        for a in range(1, n):
            o = order[a]
            b = a - 1
            while b >= 0 and _before(o, order[b], s, m, r):
                order[b + 1] = order[b]
                b -= 1
            order[b + 1] = o
        return order
    order = np.argsort(r, kind="mergesort")
    order = order[np.argsort(m[order], kind="mergesort")]
    return order[np.argsort(-s[order], kind="mergesort")]


@njit(cache=True, nogil=True)
def finish(
    cand_p: NDArray, cand_s: NDArray, cand_c: NDArray, cn: int, thr_s: float, thr_c: float,
    k: int, rank: NDArray, positions: NDArray,
) -> tuple[NDArray, NDArray, NDArray]:  # pragma: no cover - compiled  # fmt: skip
    """The first ``k`` of the first ``cn`` candidates (cell-order points, scores, squared
    chords) not behind ``(thr_s, thr_c)``, in key order: table rows, metres, scores."""
    keep = not_behind(cand_s, cand_c, cn, thr_s, thr_c)
    m = len(keep)
    p, s, c2 = cand_p[keep], cand_s[keep], cand_c[keep]
    dist = np.empty(m, dtype=np.float64)
    r = np.empty(m, dtype=np.int64)
    for i in range(m):
        dist[i], r[i] = c2m_1(c2[i]), rank[p[i]]
    order = _key_order(s, dist, r)[:k]
    return positions[p[order]].astype(np.int64), dist[order], s[order]


@njit(cache=True, nogil=True)
def topk_one(
    lat: float,
    lng: float,
    k: int,
    max_c2: float,
    caps: NDArray,
    tree: NDArray,
    xyz: NDArray,
    rank: NDArray,
    positions: NDArray,
    mask: NDArray,
    quality: NDArray,
    factor: NDArray,
    node_q: NDArray,
    node_k: NDArray,
    node_has: NDArray,
    after_score: float,
    after_m: float,
    after_rank: int,
    use_after: bool,
    tx: tuple | None,
    weigh: bool,
    wmax: float,
    lift: tuple | None,
) -> tuple[NDArray, NDArray, NDArray]:  # pragma: no cover - compiled
    """The ``k`` best eligible points: table rows, metres and scores in key order.

    See the module doc. ``mask`` is table-ordered (empty: none); ``node_*`` come from
    :func:`node_bounds` over a mask that admits at least every row ``mask`` admits.
    The tree must not be empty. ``tx`` … ``wmax``: the text query; ``lift``: a member's
    lift (:func:`collect`).
    """
    if k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64), np.empty(0)
    qx, qy, qz = xyz_1(lat, lng)
    hcap, ccap = 256, max(4 * k, 256)
    if tx is None:
        scratch = np.empty(1, dtype=np.float64)
    else:
        scratch = np.empty(max(tx[11].shape[0], 1), dtype=np.float64)
    while True:
        ha, hb = np.empty(hcap, dtype=np.float64), np.empty(hcap, dtype=np.float64)
        hv = np.empty(hcap, dtype=np.int64)
        cand_p = np.empty(ccap, dtype=np.int64)
        cand_s, cand_c = np.empty(ccap, dtype=np.float64), np.empty(ccap, dtype=np.float64)
        status, cn, thr_s, thr_c, _ = collect(
            qx, qy, qz, k, max_c2, caps, tree, xyz, rank, positions, mask, quality, factor,
            node_q, node_k, node_has, after_score, after_m, after_rank, use_after,
            tx, weigh, wmax, scratch, ha, hb, hv, cand_p, cand_s, cand_c, lift,
        )  # fmt: skip
        if status == 0:
            break
        if status == 1:
            hcap = min(4 * hcap, tree.shape[0] + 1)
        else:
            ccap = min(4 * ccap, xyz.shape[0] + 1)
    return finish(cand_p, cand_s, cand_c, cn, thr_s, thr_c, k, rank, positions)


@njit(cache=True, nogil=True, inline="always")
def _sift_down(heap: NDArray, key: NDArray, i: int, size: int) -> None:  # pragma: no cover
    """Restore the min-heap ``heap[:size]`` (of indices into ``key``) below ``i``."""
    v = heap[i]
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and key[heap[c + 1]] < key[heap[c]]:
            c += 1
        if key[heap[c]] >= key[v]:
            break
        heap[i] = heap[c]
        i = c
    heap[i] = v


@njit(cache=True, nogil=True)
def candidates_top_k(
    points: NDArray, lat: float, lng: float, k: int, max_c2: float,
    xyz: NDArray, rank: NDArray, positions: NDArray, mask: NDArray,
    quality: NDArray, factor: NDArray,
    after_score: float, after_m: float, after_rank: int, use_after: bool,
    tx: tuple, weigh: bool, wmax: float,
) -> tuple[NDArray, NDArray, NDArray]:  # pragma: no cover - compiled  # fmt: skip
    """:func:`topk_one` over an explicit set of ``points`` (a text query's few matches):
    each is scored directly, nearest first, the best ``k`` kept by the same heap and
    ordered by the same key. A point whose bound ``quality * wmax / (1 + c2 * factor)``
    is already behind the ``k``-th key skips the relevance, and the loop stops once the
    bound of the best quality and smallest factor among them at the current distance is
    (every point left is as far or farther); points failing the mask, the radius, the
    text or the cursor drop."""
    if k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64), np.empty(0)
    qx, qy, qz = xyz_1(lat, lng)
    use_mask = mask.shape[0] > 0
    tx, xyz = borrowed((tx, xyz))  # bound per candidate by the helpers: .borrow
    scratch = np.empty(max(tx[11].shape[0], 1), dtype=np.float64)
    n = points.shape[0]
    near_p = np.empty(n, dtype=np.int64)  # the eligible points in range, then nearest first
    near_c = np.empty(n, dtype=np.float64)
    m = 0
    q_max, f_min = -np.inf, np.inf
    for i in range(n):
        p = as_int(points[i])
        if use_mask and not mask[positions[p]]:
            continue
        c2 = point_c2(xyz, p, qx, qy, qz)
        if c2 > max_c2:
            continue
        near_p[m], near_c[m] = p, c2
        m += 1
        q_max = max(q_max, quality[p])
        f_min = min(f_min, factor[p])
    cand_p = np.empty(m, dtype=np.int64)
    cand_s, cand_c = np.empty(m, dtype=np.float64), np.empty(m, dtype=np.float64)
    ka, kb, kv = np.empty(k), np.empty(k), np.empty(k, dtype=np.int64)
    kn, cn = 0, 0
    thr_s, thr_c = -np.inf, np.inf
    heap = np.arange(m)  # nearest first, popped lazily: the loop rarely reaches the end
    for i in range(m // 2 - 1, -1, -1):
        _sift_down(heap, near_c, i, m)
    size = m
    while size > 0:
        j = heap[0]
        size -= 1
        heap[0] = heap[size]
        _sift_down(heap, near_c, 0, size)
        p, c2 = near_p[j], near_c[j]
        if behind((q_max * wmax) / (1.0 + c2 * f_min), c2, thr_s, thr_c):
            break  # every point left is at least this far: none can come in front
        den = 1.0 + c2 * factor[p]
        if behind((quality[p] * wmax) / den, c2, thr_s, thr_c):
            continue  # wmax is 1 when not weighing: then this is the score itself
        w = relevance(p, tx, scratch)
        if w <= 0.0:
            continue
        s = ((quality[p] * w) if weigh else quality[p]) / den
        if behind(s, c2, thr_s, thr_c):
            continue
        if use_after and not after_key(s, c2, rank[p], after_score, after_m, after_rank):
            continue
        cand_p[cn], cand_s[cn], cand_c[cn] = p, s, c2
        cn += 1
        kn, thr_s, thr_c = keep_best(ka, kb, kv, kn, k, s, c2, p, thr_s, thr_c)
    return finish(cand_p, cand_s, cand_c, cn, thr_s, thr_c, k, rank, positions)


# ------------------------------------------------------------------------ Python
@dataclass(frozen=True, eq=False)
class NodeBounds:
    """:func:`node_bounds` of one ``(quality, factor, mask)``: per trie node max quality,
    min factor and "holds an eligible point". Valid for any query mask inside ``mask``."""

    q: NDArray[np.float64]
    k: NDArray[np.float64]
    has: NDArray[np.bool_]

    @classmethod
    def build(
        cls,
        index: CellIndex,
        quality: NDArray,
        factor: NDArray,
        mask: NDArray[np.bool_] | None = None,
    ) -> NodeBounds:
        """Bounds over ``index``'s trie; ``quality``/``factor`` cell-ordered, ``mask`` by row.

        Refuses what would break the upper bound (module doc): NaN, a negative or
        non-finite factor, a finite negative quality with a positive factor.
        """
        quality, factor, mask = _checked(index, quality, factor, mask)
        bad = np.isnan(quality) | ~np.isfinite(factor) | (factor < 0)
        bad |= np.isfinite(quality) & (quality < 0) & (factor > 0)
        if bad.any():
            raise ValueError(
                "quality must not be NaN and factor must be finite and >= 0, with "
                "quality >= 0 wherever factor > 0"
            )
        if len(index) == 0:
            return cls(_EMPTY_F, _EMPTY_F, np.zeros(0, dtype=np.bool_))
        return cls(*node_bounds(index.tree, quality, factor, mask, index.positions))

    @classmethod
    def over_points(
        cls,
        index: CellIndex,
        links: tuple[NDArray, NDArray],
        quality: NDArray,
        factor: NDArray,
        points: NDArray,
        mask: NDArray[np.bool_] | None = None,
    ) -> NodeBounds:
        """:meth:`build` over only ``points`` (cell order) that ``mask`` admits, in
        O(points × depth); ``links`` = :func:`trie_links` of the index. Quality and
        factor are those of a spec :meth:`build` already checked."""
        quality, factor, mask = _checked(index, quality, factor, mask)
        pts = np.ascontiguousarray(points, dtype=np.int64)
        return cls(*sparse_node_bounds(*links, pts, quality, factor, mask, index.positions))


def _checked(
    index: CellIndex, quality: NDArray, factor: NDArray, mask: NDArray[np.bool_] | None
) -> tuple[NDArray, NDArray, NDArray]:
    """float64 ``quality``, ``factor`` and a bool mask (empty: none), all one per point."""
    q = np.ascontiguousarray(quality, dtype=np.float64)
    f = np.ascontiguousarray(factor, dtype=np.float64)
    m = _NO_MASK if mask is None else np.ascontiguousarray(mask, dtype=np.bool_)
    n = len(index)
    if q.shape != (n,) or f.shape != (n,) or m.shape not in ((0,), (n,)):
        raise ValueError(f"quality {q.shape}, factor {f.shape} and mask must be ({n},)")
    return q, f, m


@dataclass(frozen=True, eq=False)
class TextFilter:
    """A text query as the kernels take it (:mod:`geo_discovery.search.textmatch`).

    ``tx``: :func:`~geo_discovery.search.textscore.relevance`'s arrays; ``weigh``:
    multiply the quality by the relevance (``best_match``) or only filter by it;
    ``wmax``: an upper bound of the relevance (multiplies the node bounds; 1 when not
    weighing). ``points``: when the matches are few, a superset of them (cell order,
    ascending), scored directly by :func:`candidates_top_k` instead of walking the trie.
    """

    tx: tuple
    weigh: bool
    wmax: float
    points: NDArray[np.int64] | None = None


def ranked_top_k(
    index: CellIndex,
    lat: float,
    lng: float,
    k: int,
    quality: NDArray,
    factor: NDArray,
    bounds: NodeBounds,
    *,
    mask: NDArray[np.bool_] | None = None,
    max_c2: float = math.inf,
    after: tuple[float, float, int] | None = None,
    text: TextFilter | None = None,
    lift: tuple | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """The ``k`` best points by ``(score desc, distance_m asc, rank asc)`` (module doc).

    ``quality``/``factor`` are cell-ordered (aligned to ``index.xyz``), ``bounds`` built
    from them with a mask admitting at least ``mask`` (table-ordered; ``None``: all rows).
    ``after`` is a key ``(score, distance_m, rank)``: only points strictly after it count.
    ``text``: only points matching it, scored with its relevance when it weighs.
    ``lift``: a member's lift (:func:`collect`; not with ``text.points``).
    Returns table rows, metres and scores, best first.
    """
    if k <= 0 or len(index) == 0:
        return _EMPTY_I, _EMPTY_F, _EMPTY_F
    quality, factor, table_mask = _checked(index, quality, factor, mask)
    a_s, a_m, a_r = (0.0, 0.0, 0) if after is None else after
    if text is not None and text.points is not None:
        _caps, _tree, xyz, rank, positions = index.search_arrays
        return candidates_top_k(
            text.points, float(lat), float(lng), int(k), float(max_c2),
            xyz, rank, positions, table_mask, quality, factor,
            float(a_s), float(a_m), int(a_r), after is not None, text.tx, text.weigh,
            float(text.wmax),
        )  # fmt: skip
    return topk_one(  # type: ignore[call-arg]  # numba stub vs *args
        float(lat), float(lng), int(k), float(max_c2),
        *index.search_arrays,  # type: ignore[arg-type]
        table_mask, quality, factor, bounds.q, bounds.k, bounds.has,
        float(a_s), float(a_m), int(a_r), after is not None,
        None if text is None else text.tx,
        text is not None and text.weigh,
        1.0 if text is None or not text.weigh else float(text.wmax),
        lift,
    )  # fmt: skip
