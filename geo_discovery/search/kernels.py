"""Compiled search kernels (numba) over a :class:`~geo_discovery.search.index.CellIndex` tree.

The tree is an adaptive H3 trie over the points, which are stored sorted by their
resolution-15 cell (so every H3 cell's points are contiguous). Node 0 is the root; a node
splits at the first H3 resolution where its points' cells differ (7 children per level,
up to 122 at the base-cell level), until it holds at most a handful of points:

``tree``   int64 ``(N, 4)``, one 32-byte record per node (half a cache line: a node's
           bound and its links arrive together):
           columns 0–1 hold four float32 (read through ``caps = tree.view(float32)``): a
           bounding cap, centre ``x, y, z`` and a chord radius ``r`` that no point below
           the node exceeds (rounded up, with a margin);
           columns 2–3: an internal node's children are nodes ``lo:hi``; a leaf is stored
           as ``(-(first_point + 1), end_point)``.

Exactness: for any point ``p`` below a node, ``|p - q| >= |c - q| - r`` (triangle
inequality in R^3), so ``(|c - q| - r)^2`` is a lower bound on its squared chord; the bound
is shrunk by a relative ``1e-12`` against rounding. A node is skipped only when that bound
exceeds the current threshold, which is never below any answer's squared chord. Results
are ordered by ``(distance_m, merchant rank)`` where ``distance_m`` comes from
:func:`geo_discovery.distance.c2m_1` — the same routine every other path uses.

kNN is best-first (a binary min-heap of nodes by lower bound). It keeps a max-heap of the
``k`` smallest squared chords seen; the threshold is that heap's top times ``1 + 1e-12``,
loose enough that any point whose *metres* tie the k-th (squared chords an ulp or two
apart map to the same metres) is still collected, so ties break by rank exactly as a
full sort would.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange
from numpy.typing import NDArray

from ..distance import c2m_1, xyz_1

__all__ = ["build_trie", "knn_batch", "knn_one", "radius_one", "trie_caps", "zorder"]

#: kNN scratch: node heap keys and nodes, k-heap, candidate points, their squared chords,
#: metres and order (views into two arrays: :func:`_knn_scratch`).
Scratch = tuple[NDArray, NDArray, NDArray, NDArray, NDArray, NDArray, NDArray]
HEAP0 = 256  # first node-heap capacity (grown ×4 when a search needs more)
CAND0 = 256  # first candidate capacity (at least 4k)
SLACK = 1e-12  # relative: thresholds are loosened, lower bounds shrunk, by this much


# ---------------------------------------------------------------------------- helpers
@njit(cache=True, nogil=True, inline="always")
def lower_c2(qx: float, qy: float, qz: float, caps: NDArray, j: int) -> float:  # pragma: no cover
    # float32 caps, float64 arithmetic: the bound is exact for the stored centre/radius.
    dx = qx - np.float64(caps[j, 0])
    dy = qy - np.float64(caps[j, 1])
    dz = qz - np.float64(caps[j, 2])
    g = math.sqrt(dx * dx + dy * dy + dz * dz) - np.float64(caps[j, 3])
    if g <= 0.0:
        return 0.0
    return g * g * (1.0 - SLACK)


@njit(cache=True, nogil=True, inline="always")
def point_c2(xyz: NDArray, p: int, qx: float, qy: float, qz: float) -> float:  # pragma: no cover
    # (dx² + dy²) + dz²: the order numpy's ``((xyz - q) ** 2).sum(axis=1)`` adds in.
    dx = xyz[p, 0] - qx
    dy = xyz[p, 1] - qy
    dz = xyz[p, 2] - qz
    return dx * dx + dy * dy + dz * dz


@njit(cache=True, nogil=True, inline="always")
def heap_push(
    keys: NDArray, vals: NDArray, n: int, key: float, val: int
) -> int:  # pragma: no cover - compiled
    """Push onto a binary min-heap ``keys[:n]``/``vals[:n]`` (capacity checked by the caller)."""
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] <= key:
            break
        keys[i] = keys[parent]
        vals[i] = vals[parent]
        i = parent
    keys[i] = key
    vals[i] = val
    return n + 1


@njit(cache=True, nogil=True, inline="always")
def heap_pop(keys: NDArray, vals: NDArray, n: int) -> tuple[float, int, int]:  # pragma: no cover
    """Pop the smallest key of a binary min-heap; returns ``(key, val, new_n)``."""
    top_k = keys[0]
    top_v = vals[0]
    n -= 1
    if n > 0:
        key = keys[n]
        val = vals[n]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= n:
                break
            if c + 1 < n and keys[c + 1] < keys[c]:
                c += 1
            if keys[c] >= key:
                break
            keys[i] = keys[c]
            vals[i] = vals[c]
            i = c
        keys[i] = key
        vals[i] = val
    return top_k, top_v, n


@njit(cache=True, nogil=True, inline="always")
def _max_heap_replace(h: NDArray, n: int, key: float) -> None:  # pragma: no cover - compiled
    """Replace the top of a max-heap ``h[:n]`` with ``key`` and restore order."""
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and h[c + 1] > h[c]:
            c += 1
        if h[c] <= key:
            break
        h[i] = h[c]
        i = c
    h[i] = key


@njit(cache=True, nogil=True, inline="always")
def _max_heap_push(h: NDArray, n: int, key: float) -> None:  # pragma: no cover - compiled
    i = n
    while i > 0:
        parent = (i - 1) >> 1
        if h[parent] >= key:
            break
        h[i] = h[parent]
        i = parent
    h[i] = key


@njit(cache=True, nogil=True, inline="always")
def _less(
    a: int, b: int, dist: NDArray, cand_p: NDArray, rank: NDArray
) -> bool:  # pragma: no cover
    """Candidate ``a`` orders before ``b``: by metres, then merchant rank."""
    if dist[a] != dist[b]:
        return dist[a] < dist[b]
    return rank[cand_p[a]] < rank[cand_p[b]]


@njit(cache=True, nogil=True)
def _insertion(
    order: NDArray, lo: int, hi: int, dist: NDArray, cand_p: NDArray, rank: NDArray
) -> None:  # pragma: no cover - compiled
    """Insertion-sort ``order[lo:hi]`` by :func:`_less` (linear on nearly sorted input)."""
    for a in range(lo + 1, hi):
        o = order[a]
        b = a - 1
        while b >= lo and _less(o, order[b], dist, cand_p, rank):
            order[b + 1] = order[b]
            b -= 1
        order[b + 1] = o


@njit(cache=True, nogil=True)
def _order(dist: NDArray, cand_p: NDArray, rank: NDArray, m: int) -> NDArray:  # pragma: no cover
    """Permutation of ``m`` candidates by (metres, rank).

    Few candidates: a sort, then an insertion pass for ties. Many (radius answers): a
    bucket sort on metres — one bucket per candidate over [min, max], so a disk's answers
    spread evenly — then each bucket is insertion-sorted (or sorted, if it is crowded).
    Linear in expectation where a comparison sort of thousands of floats is not.
    """
    if m <= 64:
        order = np.argsort(dist[:m])
        _insertion(order, 0, m, dist, cand_p, rank)
        return order
    lo = dist[0]
    hi = dist[0]
    for i in range(1, m):
        lo = min(lo, dist[i])
        hi = max(hi, dist[i])
    scale = (m - 1) / (hi - lo) if hi > lo else 0.0
    start = np.zeros(m + 1, dtype=np.int64)
    bucket = np.empty(m, dtype=np.int64)
    for i in range(m):
        b = min(max(int((dist[i] - lo) * scale), 0), m - 1)
        bucket[i] = b
        start[b + 1] += 1
    for b in range(m):
        start[b + 1] += start[b]
    fill = start[:m].copy()
    order = np.empty(m, dtype=np.int64)
    for i in range(m):
        order[fill[bucket[i]]] = i
        fill[bucket[i]] += 1
    for b in range(m):
        s, e = start[b], start[b + 1]
        if e - s > 32:  # crowded (e.g. duplicates): sort it, then fix ties
            sub = order[s:e].copy()
            part = np.argsort(dist[sub])
            for j in range(e - s):
                order[s + j] = sub[part[j]]
        if e - s > 1:
            _insertion(order, s, e, dist, cand_p, rank)
    return order


@njit(cache=True, nogil=True)
def _finish(
    cand_p: NDArray,
    cand_c: NDArray,
    n: int,
    limit_c2: float,
    k: int,
    rank: NDArray,
    positions: NDArray,
) -> tuple[NDArray, NDArray]:  # pragma: no cover - compiled
    """Candidates with squared chord <= ``limit_c2`` by (metres, rank); first ``k`` (< 0: all)."""
    m = 0
    for i in range(n):
        if cand_c[i] <= limit_c2:
            cand_p[m] = cand_p[i]
            cand_c[m] = cand_c[i]
            m += 1
    dist = np.empty(m, dtype=np.float64)
    for i in range(m):
        dist[i] = c2m_1(cand_c[i])
    order = _order(dist, cand_p, rank, m)
    out_n = m if k < 0 else min(k, m)
    out_pos = np.empty(out_n, dtype=np.int64)
    out_dist = np.empty(out_n, dtype=np.float64)
    for i in range(out_n):
        o = order[i]
        out_pos[i] = positions[cand_p[o]]
        out_dist[i] = dist[o]
    return out_pos, out_dist


@njit(cache=True, nogil=True)
def _finish_into(
    scratch: Scratch,
    n: int,
    limit_c2: float,
    k: int,
    rank: NDArray,
    positions: NDArray,
    out_pos: NDArray,
    out_dist: NDArray,
) -> int:  # pragma: no cover - compiled
    """:func:`_finish` for kNN, written into ``out_pos``/``out_dist`` (``k`` long); returns
    how many. The metres and the order live in the scratch: no allocation unless more than
    64 candidates remain (then the bucket sort of :func:`_order`)."""
    _, _, _, cand_p, cand_c, dist, order = scratch
    m = 0
    for i in range(n):
        if cand_c[i] <= limit_c2:
            cand_p[m] = cand_p[i]
            dist[m] = c2m_1(cand_c[i])
            m += 1
    if m <= 64:  # the same total order as _order's: (metres, rank) never ties
        for i in range(m):
            order[i] = i
        _insertion(order, 0, m, dist, cand_p, rank)
    else:
        order = _order(dist, cand_p, rank, m)
    out_n = min(k, m)
    for i in range(out_n):
        o = order[i]
        out_pos[i] = positions[cand_p[o]]
        out_dist[i] = dist[o]
    return out_n


# ------------------------------------------------------------------------------ kNN
@njit(cache=True, nogil=True)
def _knn_search(
    qx: float,
    qy: float,
    qz: float,
    k: int,
    max_c2: float,
    caps: NDArray,
    tree: NDArray,
    xyz: NDArray,
    positions: NDArray,
    mask: NDArray,
    scratch: Scratch,
    limit0: float,
) -> tuple[int, int, float]:  # pragma: no cover - compiled
    """Best-first search into caller-provided scratch; ``(status, n_candidates, limit)``.
    ``limit0``: a squared chord known to be >= the k-th's times ``1 + SLACK`` (or inf).

    ``status`` 1: the node heap is full; 2: the candidate buffer is full (the caller
    retries with more room). 0: done.
    """
    hk, hv, kh, cand_p, cand_c, _, _ = scratch
    use_mask = mask.shape[0] > 0
    hcap = hk.shape[0]
    ccap = cand_p.shape[0]
    hn = heap_push(hk, hv, 0, lower_c2(qx, qy, qz, caps, 0), 0)
    kn = 0
    limit = min(max_c2, limit0)
    cn = 0
    while hn > 0:
        b, node, hn = heap_pop(hk, hv, hn)
        if b > limit:
            break
        lo = tree[node, 2]
        hi = tree[node, 3]
        if lo < 0:  # a leaf: points -lo - 1 : hi
            for p in range(-lo - 1, hi):
                if use_mask and not mask[positions[p]]:
                    continue
                c2 = point_c2(xyz, p, qx, qy, qz)
                if c2 > limit:
                    continue
                if cn == ccap:
                    return 2, cn, limit
                cand_p[cn] = p
                cand_c[cn] = c2
                cn += 1
                if kn < k:
                    _max_heap_push(kh, kn, c2)
                    kn += 1
                    if kn == k:
                        limit = min(limit, kh[0] * (1.0 + SLACK))
                elif c2 < kh[0]:
                    _max_heap_replace(kh, kn, c2)
                    limit = min(limit, kh[0] * (1.0 + SLACK))
        else:
            for c in range(lo, hi):
                b = lower_c2(qx, qy, qz, caps, c)
                if b <= limit:
                    if hn == hcap:
                        return 1, cn, limit
                    hn = heap_push(hk, hv, hn, b, c)
    return 0, cn, limit


@njit(cache=True, nogil=True)
def _knn_scratch(k: int, hcap: int, ccap: int) -> Scratch:  # pragma: no cover - compiled
    """Scratch for :func:`_knn_into` in two allocations: node heap keys and nodes, k-heap,
    candidate points, their squared chords, their metres and their order."""
    f = np.empty(hcap + max(k, 1) + 2 * ccap, dtype=np.float64)
    i = np.empty(hcap + 2 * ccap, dtype=np.int64)
    kh_end = hcap + max(k, 1)
    return (
        f[:hcap],
        i[:hcap],
        f[hcap:kh_end],
        i[hcap : hcap + ccap],
        f[kh_end : kh_end + ccap],
        f[kh_end + ccap :],
        i[hcap + ccap :],
    )


@njit(cache=True, nogil=True)
def _knn_into(
    qx: float,
    qy: float,
    qz: float,
    k: int,
    max_c2: float,
    caps: NDArray,
    tree: NDArray,
    xyz: NDArray,
    rank: NDArray,
    positions: NDArray,
    mask: NDArray,
    scratch: Scratch,
    out_pos: NDArray,
    out_dist: NDArray,
    limit0: float = math.inf,
) -> tuple[int, Scratch]:  # pragma: no cover - compiled
    """One kNN search in ``scratch``, retried with more room until it fits; the answer
    (rows, metres) goes to the start of ``out_pos``/``out_dist``.

    Returns its length and the (possibly grown) scratch for the next query. The search
    restarts from the root after growing, so the answer never depends on the scratch.
    """
    while True:
        status, cn, limit = _knn_search(
            qx, qy, qz, k, max_c2, caps, tree, xyz, positions, mask, scratch, limit0
        )  # fmt: skip
        if status == 0:
            n = _finish_into(scratch, cn, limit, k, rank, positions, out_pos, out_dist)
            return n, scratch
        hcap = scratch[0].shape[0]
        ccap = scratch[3].shape[0]
        if status == 1:
            hcap = min(4 * hcap, caps.shape[0] + 1)
        else:
            ccap = min(4 * ccap, xyz.shape[0] + 1)
        scratch = _knn_scratch(k, hcap, ccap)


@njit(cache=True, nogil=True)
def knn_one(
    lat: float,
    lng: float,
    k: int,
    max_c2: float,
    tree: NDArray,
    xyz: NDArray,
    rank: NDArray,
    positions: NDArray,
    mask: NDArray,
    out_pos: NDArray,
    out_dist: NDArray,
) -> int:  # pragma: no cover - compiled
    """The ``k`` nearest points with squared chord <= ``max_c2`` (``inf``: no radius).

    ``mask`` (aligned to the merchant table, or empty for none) filters rows. Writes table
    rows and metres ordered by (distance, rank) to the start of ``out_pos``/``out_dist``
    (``k`` long) and returns how many. Both choices are for the caller's clock: numpy
    arrays passed in cost less than arrays boxed on the way out, and the caps are read
    through a float32 view of ``tree`` rather than passed as one more argument.
    """
    qx, qy, qz = xyz_1(lat, lng)
    n, _ = _knn_into(
        qx, qy, qz, k, max_c2, tree.view(np.float32), tree, xyz, rank, positions, mask,
        _knn_scratch(k, HEAP0, max(4 * k, CAND0)), out_pos, out_dist,
    )  # fmt: skip
    return n


@njit(cache=True, nogil=True)
def zorder(lat: NDArray, lng: NDArray) -> NDArray:  # pragma: no cover - compiled
    """Indices of the query points in Z-order (16 bits each of latitude and longitude)."""
    m = lat.shape[0]
    key = np.empty(m, dtype=np.uint64)
    for i in range(m):
        a = np.uint64(min(max((lat[i] + 90.0) / 180.0, 0.0), 1.0) * 65535.0)
        b = np.uint64(min(max((lng[i] + 180.0) / 360.0, 0.0), 1.0) * 65535.0)
        z = np.uint64(0)
        for bit in range(16):
            z |= ((a >> np.uint64(bit)) & np.uint64(1)) << np.uint64(2 * bit + 1)
            z |= ((b >> np.uint64(bit)) & np.uint64(1)) << np.uint64(2 * bit)
        key[i] = z
    return np.argsort(key, kind="mergesort")


@njit(cache=True, nogil=True, parallel=True)
def knn_batch(
    lat: NDArray,
    lng: NDArray,
    k: int,
    max_c2: float,
    tree: NDArray,
    xyz: NDArray,
    rank: NDArray,
    positions: NDArray,
    mask: NDArray,
    threads: int,
) -> tuple[NDArray, NDArray]:  # pragma: no cover - compiled
    """:func:`knn_one` for many queries: ``(m, k)`` rows (−1 padded) and metres (inf padded).

    Queries run in Z-order of their coordinates, so consecutive searches walk the same
    nodes and points while they are still in cache. The ordered queries are cut into
    contiguous runs spread over ``threads`` numba threads (``prange``, the GIL released); each run
    keeps one scratch for all its queries, and starts each search's threshold at
    ``(d_prev + |q - q_prev|)²`` (grown by 1e-9 relative and 1e-15 absolute), where
    ``d_prev`` is the previous query's k-th chord: by the triangle inequality its k answers
    lie within that chord of ``q``, so the k-th nearest does too, and nodes are pruned from
    the first push. The final threshold, hence every answer, is the one :func:`knn_one`
    finds (same search, same final sort), written straight into its query's row.
    """
    m = lat.shape[0]
    out_pos = np.full((m, k), -1, dtype=np.int64)
    out_dist = np.full((m, k), np.inf, dtype=np.float64)
    caps = tree.view(np.float32)
    order = zorder(lat, lng)
    runs = min(m, 16 * threads)
    for r in prange(runs):
        scratch = _knn_scratch(k, HEAP0, max(4 * k, CAND0))
        px = py = pz = 0.0
        prev = -1.0  # the previous query's k-th chord (< 0: none)
        for t in range(r * m // runs, (r + 1) * m // runs):
            i = order[t]
            qx, qy, qz = xyz_1(lat[i], lng[i])
            up = prev + math.sqrt((qx - px) ** 2 + (qy - py) ** 2 + (qz - pz) ** 2)
            up = up * (1.0 + 1e-9) + 1e-15
            n, scratch = _knn_into(
                qx, qy, qz, k, max_c2, caps, tree, xyz, rank, positions, mask, scratch,
                out_pos[i], out_dist[i], up * up if prev >= 0.0 else math.inf,
            )  # fmt: skip
            px, py, pz = qx, qy, qz
            prev = math.sqrt(scratch[2][0]) if n == k else -1.0
    return out_pos, out_dist


# --------------------------------------------------------------------------- radius
@njit(cache=True, nogil=True)
def radius_one(
    lat: float,
    lng: float,
    max_c2: float,
    caps: NDArray,
    tree: NDArray,
    xyz: NDArray,
    rank: NDArray,
    positions: NDArray,
    mask: NDArray,
) -> tuple[NDArray, NDArray]:  # pragma: no cover - compiled
    """Every point with squared chord <= ``max_c2``, ordered by (distance, rank)."""
    qx, qy, qz = xyz_1(lat, lng)
    use_mask = mask.shape[0] > 0
    stack = np.empty(64, dtype=np.int64)
    stack[0] = 0
    sn = 1
    cand_p = np.empty(256, dtype=np.int64)
    cand_c = np.empty(256, dtype=np.float64)
    cn = 0
    while sn > 0:
        sn -= 1
        node = stack[sn]
        if lower_c2(qx, qy, qz, caps, node) > max_c2:
            continue
        lo = tree[node, 2]
        hi = tree[node, 3]
        if lo < 0:  # a leaf
            lo = -lo - 1
            if cn + (hi - lo) > cand_p.shape[0]:
                size = max(2 * cand_p.shape[0], cn + (hi - lo))
                p2 = np.empty(size, dtype=np.int64)
                c22 = np.empty(size, dtype=np.float64)
                p2[:cn] = cand_p[:cn]
                c22[:cn] = cand_c[:cn]
                cand_p, cand_c = p2, c22
            for p in range(lo, hi):
                if use_mask and not mask[positions[p]]:
                    continue
                c2 = point_c2(xyz, p, qx, qy, qz)
                if c2 <= max_c2:
                    cand_p[cn] = p
                    cand_c[cn] = c2
                    cn += 1
        else:
            if sn + (hi - lo) > stack.shape[0]:
                s2 = np.empty(max(2 * stack.shape[0], sn + (hi - lo)), dtype=np.int64)
                s2[:sn] = stack[:sn]
                stack = s2
            for c in range(lo, hi):
                stack[sn] = c
                sn += 1
    return _finish(cand_p, cand_c, cn, max_c2, -1, rank, positions)


# ------------------------------------------------------------------------ building
@njit(cache=True, nogil=True)
def build_trie(keys: NDArray, leaf_max: int) -> NDArray:  # pragma: no cover - compiled
    """Nodes ``(N, 2)`` of the adaptive H3 trie over sorted cell ``keys`` (one per point).

    Breadth first from the root (all points): a node with more than ``leaf_max`` points
    splits at the first resolution where its first and last keys' ancestors differ
    (sorted keys: then they all agree above it), into one child per ancestor there. A
    node whose points share one cell is a leaf whatever its size.
    """
    n = keys.shape[0]
    cap = max(16, n // 4)
    plo = np.empty(cap, dtype=np.int64)
    phi = np.empty(cap, dtype=np.int64)
    lvl = np.empty(cap, dtype=np.int64)
    out = np.empty((cap, 2), dtype=np.int64)
    plo[0], phi[0], lvl[0] = 0, n, -1
    count = 1
    i = 0
    while i < count:
        lo, hi = plo[i], phi[i]
        r = lvl[i] + 1
        if hi - lo > leaf_max:
            a, b = keys[lo], keys[hi - 1]
            while r <= 15 and (a >> np.uint64(45 - 3 * r)) == (b >> np.uint64(45 - 3 * r)):
                r += 1
        if hi - lo <= leaf_max or r > 15:
            out[i, 0] = -lo - 1
            out[i, 1] = hi
            i += 1
            continue
        shift = np.uint64(45 - 3 * r)
        first = count
        start = lo
        for p in range(lo + 1, hi + 1):
            if p == hi or (keys[p] >> shift) != (keys[start] >> shift):
                if count == cap:
                    cap *= 2
                    plo2 = np.empty(cap, dtype=np.int64)
                    phi2 = np.empty(cap, dtype=np.int64)
                    lvl2 = np.empty(cap, dtype=np.int64)
                    out2 = np.empty((cap, 2), dtype=np.int64)
                    plo2[:count] = plo[:count]
                    phi2[:count] = phi[:count]
                    lvl2[:count] = lvl[:count]
                    out2[:count] = out[:count]
                    plo, phi, lvl, out = plo2, phi2, lvl2, out2
                plo[count], phi[count], lvl[count] = start, p, r
                count += 1
                start = p
        out[i, 0] = first
        out[i, 1] = count
        i += 1
    return out[:count].copy()


@njit(cache=True, nogil=True)
def trie_caps(nodes: NDArray, xyz: NDArray) -> NDArray:  # pragma: no cover - compiled
    """float32 caps ``(N, 4)`` of :func:`build_trie` nodes, each exact over its points.

    A node's points are a contiguous range: its leaves' ranges, first to last. The centre
    is the (float32) normalised mean; the radius is the largest float64 chord from that
    stored centre to a point, grown by ``1e-6`` relative (covers float32 rounding) plus
    ``1e-12``.
    """
    m = nodes.shape[0]
    span = np.empty((m, 2), dtype=np.int64)
    for j in range(m - 1, -1, -1):  # children come after their parent
        if nodes[j, 0] < 0:
            span[j, 0] = -nodes[j, 0] - 1
            span[j, 1] = nodes[j, 1]
        else:
            span[j, 0] = span[nodes[j, 0], 0]
            span[j, 1] = span[nodes[j, 1] - 1, 1]
    caps = np.empty((m, 4), dtype=np.float32)
    for j in range(m):
        lo, hi = span[j, 0], span[j, 1]
        sx = sy = sz = 0.0
        for p in range(lo, hi):
            sx += xyz[p, 0]
            sy += xyz[p, 1]
            sz += xyz[p, 2]
        norm = math.sqrt(sx * sx + sy * sy + sz * sz)
        if norm > 1e-12:
            cx, cy, cz = np.float32(sx / norm), np.float32(sy / norm), np.float32(sz / norm)
        else:
            cx, cy, cz = np.float32(xyz[lo, 0]), np.float32(xyz[lo, 1]), np.float32(xyz[lo, 2])
        r2 = 0.0
        for p in range(lo, hi):
            dx = xyz[p, 0] - np.float64(cx)
            dy = xyz[p, 1] - np.float64(cy)
            dz = xyz[p, 2] - np.float64(cz)
            r2 = max(r2, dx * dx + dy * dy + dz * dz)
        caps[j, 0], caps[j, 1], caps[j, 2] = cx, cy, cz
        caps[j, 3] = np.float32(math.sqrt(r2) * (1.0 + 1e-6) + 1e-12)
    return caps
