"""A member's pages from the cell shortlists (:mod:`.shortlist`), and each leaf's own list
under one member's lift.

A member's lift multiplies each score by a bounded factor (:mod:`.personal`): their
visited merchants' own, at most ``top`` for the rest. Lists of the :data:`~.shortlist.
MEMBER_K` best serve them: the visited points are scored wherever they are; a listed point
scores at most ``U_p · top``; an unlisted one has ``U_p`` below the leaf's threshold, so
below the list's last bound ``U_min``, and scores under ``U_min · top``. A page whose
``k``-th score is above that is exact; otherwise the lifted walk answers. On New York's
merchants with a profile's member weights, lists of 80 decide 99 % of a ten-visit
member's pages (of 20, 7 %); real members' long histories lift more: TSMC2014's, 82 % at
80, 95 % at 160. Each listed point's category code is kept beside the list (made on a
root's first member page), so a point whose ``U_p`` times its category's lift is below
the ``k``-th score is skipped without reading it; the visited points' rows are copied
once per member and lists (one block).

A member's leaf lists
---------------------
That scan reads the member's visited points and a leaf's list of hundreds: a member who
pans the map asks in the same leaf again and again. A leaf's list *under the member's
lift* is far shorter. In the leaf's ball each candidate (a visited point with its own
lift, a listed one with its category's) scores between ``L_p · lift`` and ``U_p · lift``
(:mod:`.shortlist`'s module doc). Let ``T`` be the :data:`LEAF_K`-th largest ``L_p · lift``:
at every query in the ball :data:`LEAF_K` candidates score at least ``T``, so one with
``U_p · lift < T`` is behind them and never on a page of ``k <= LEAF_K``; nor does it
move the ``k``-th score, so the unlisted points' bound is checked as before. The rest,
ordered by ``U_p · lift`` (loosened by 1e-9, as every bound), is the leaf's list for
this member: tens to a few hundred rows (fewer where merchants are dense and leaves
small), each the candidate's ``x, y, z, quality, factor, lift, point, bound`` in one
cache line. The scan stops at the first bound below its ``k``-th
score; its scores are the whole scan's expressions on the same values, bit for bit.

A leaf's list is made on the member's first page of at most :data:`LEAF_K` there, by
the page's own call, which then scores the page from it: reading the leaf's list once to
make it costs about what scoring the page from the whole list does. It is kept with the
member's arguments (:class:`LeafLists`: an open-addressing table of leaves and one pool
of rows, grown by doubling). At most :data:`LEAF_POOL` rows are kept per member and
root, and :data:`LEAF_BUDGET` over all members (counted now and then; once over it, no
list is made until evictions bring them under half of it); then the whole list answers
new leaves. A writer holds the lists' lock and writes a leaf's rows and extent before
its key, in arrays no query reads past their end: growing makes a new table and pool,
and the arguments are made again. A reader sees a leaf whole or not at all (a key read
before its extent reads an empty extent, and the walk answers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from numpy.typing import NDArray

from ..distance import xyz_1
from .listscan import LOOSE, WALK_OVER, lower_bound, ordered, scratch, upper_bound
from .quadcells import leaf_at
from .ranked import behind, keep_best

__all__ = ["LEAF_BUDGET", "LEAF_K", "LEAF_POOL", "LeafLists", "leaf_list", "member_leaf_top_k",
           "member_shortlist_top_k", "visited_block"]  # fmt: skip

LEAF_K = 20  #: the longest page a member's leaf list answers (the API's default page size)
LEAF_POOL = 1 << 12  #: rows of leaf lists kept per member and root (256 KiB)
LEAF_BUDGET = 1 << 19  #: rows of leaf lists kept over all members (32 MiB)


@njit(cache=True, nogil=True)
def visited_block(rec: NDArray, points: NDArray, own: NDArray) -> NDArray:  # pragma: no cover
    """:func:`member_shortlist_top_k`'s ``visited``: per visited point its row of ``rec``,
    its lift and the point (one call: a member's first query pays for each NumPy call)."""
    out = np.empty((len(points), 7))
    for i in range(len(points)):
        out[i, :5] = rec[points[i]]
        out[i, 5], out[i, 6] = own[i], points[i]
    return out


@njit(cache=True, nogil=True)
def member_leaf_top_k(
    lat: float, lng: float, k: int, keys: NDArray, starts: NDArray, uppers: NDArray,
    balls: NDArray, rank: NDArray, positions: NDArray, unvisited: float, table: NDArray,
    pool: NDArray,
) -> NDArray:  # pragma: no cover - compiled  # fmt: skip
    """A member's page of ``k <= LEAF_K`` from the leaf's list under their lift (rows,
    metres, scores); none (3 × 0): the walk answers; 0 × 0: the leaf has no list here
    (:func:`member_shortlist_top_k` answers). Its own entry, with only what a leaf's
    list needs: each argument a call reads costs (a member panning asks this most)."""
    qx, qy, qz = xyz_1(lat, lng)
    at = leaf_at(qx, qy, qz, lat, lng, keys, balls)
    if at < 0 or starts[at + 1] - starts[at] > WALK_OVER or starts[at + 1] == starts[at]:
        return np.empty((3, 0))
    h = _slot(table, at)
    if h < 0:
        return np.empty((0, 0))
    floor = uppers[starts[at + 1] - 1] * (unvisited * (1.0 + LOOSE))  # every unlisted point's
    return _leaf_scan(qx, qy, qz, k, pool, table[h, 1], table[h, 2], floor, rank, positions)


@njit(cache=True, nogil=True)
def member_shortlist_top_k(
    lat: float, lng: float, k: int,
    keys: NDArray, starts: NDArray, points: NDArray, uppers: NDArray, balls: NDArray,
    codes: NDArray, rec: NDArray, rank: NDArray, positions: NDArray,
    visited: NDArray, code_lift: NDArray, unvisited: float, room: bool,
) -> tuple[NDArray, NDArray, int]:  # pragma: no cover - compiled  # fmt: skip
    """:func:`~.shortlist.shortlist_top_k` under a member's lift: each score times the
    point's lift, as the lifted walk: the page (rows, metres, scores; none: the walk
    answers), and a leaf list made for it with its leaf (else none and -1).

    ``codes``: each listed point's category code (beside ``points``); ``visited``: per
    visited point (by point) its row of ``rec``, its lift and the point (as a float:
    exact below 2**53), in one block (the member's merchants are anywhere in the table);
    ``code_lift`` and ``unvisited``: :func:`~.personal.member_lift`'s (each code's lift,
    the largest lift of an unvisited point). ``room``: whether the member's leaf lists
    (:class:`LeafLists`) take another.

    A page of at most :data:`LEAF_K` in a leaf with no list for this member (while there
    is ``room``) makes the leaf's list and is scored from it; any other from the whole
    list (:func:`_whole_scan`)."""
    qx, qy, qz = xyz_1(lat, lng)
    at = leaf_at(qx, qy, qz, lat, lng, keys, balls)
    no_rows = np.empty((0, 8))
    if at < 0 or starts[at + 1] - starts[at] > WALK_OVER or starts[at + 1] == starts[at]:
        return np.empty((3, 0)), no_rows, -1
    hi = starts[at + 1]
    floor = uppers[hi - 1] * (unvisited * (1.0 + LOOSE))  # the bound of every unlisted point
    if k <= LEAF_K and room:
        rows = leaf_list(at, starts, points, uppers, balls, codes, rec, visited, code_lift,
                         unvisited)  # fmt: skip
        return _leaf_scan(qx, qy, qz, k, rows, 0, len(rows), floor, rank, positions), rows, at
    page = _whole_scan(qx, qy, qz, k, starts[at], hi, points, uppers, codes, rec, rank,
                       positions, visited, code_lift, unvisited, floor)  # fmt: skip
    return page, no_rows, -1


@njit(cache=True, nogil=True)
def _whole_scan(
    qx: float, qy: float, qz: float, k: int, lo: int, hi: int, points: NDArray,
    uppers: NDArray, codes: NDArray, rec: NDArray, rank: NDArray, positions: NDArray,
    visited: NDArray, code_lift: NDArray, unvisited: float, floor: float,
) -> NDArray:  # pragma: no cover - compiled  # fmt: skip
    """A member's page from the visited points and the leaf's whole list ``lo … hi``.

    The visited points are scored first (wherever they are). A listed point the member
    never visited scores at most ``U_p · top`` (``top``: ``unvisited``), so the scan stops
    there; below its category's lift it is skipped unread (its score is at most ``U_p``
    times that lift). One not listed has ``U_p`` under the leaf's threshold, itself at
    most the list's last bound ``U_min``, so it scores below ``U_min · top``: ``floor``.
    The page is exact when its ``k``-th score is above that (else none, and the walk
    answers): lists of ``K`` best hold the ``k``-th best of a lifted page well above it
    (module doc)."""
    top = unvisited * (1.0 + LOOSE)
    vis, m = visited[:, 6], visited.shape[0]
    seen = np.uint64(0)  # bit p % 64 of each visited point: most listed points skip the search
    for i in range(m):
        seen |= np.uint64(1) << np.uint64(int(vis[i]) & 63)
    cand_p, cand_s, cand_c, ka, kb, kv = scratch(hi - lo + m, k)
    kn, cn, thr_s, thr_c = 0, 0, -np.inf, np.inf
    for i in range(m + hi - lo):
        if i < m:
            p, lift = int(vis[i]), visited[i, 5]
            dx, dy, dz = visited[i, 0] - qx, visited[i, 1] - qy, visited[i, 2] - qz
            c2 = dx * dx + dy * dy + dz * dz  # kernels.point_c2
            s = visited[i, 3] / (1.0 + c2 * visited[i, 4]) * lift
        else:
            li = lo + i - m
            if uppers[li] * top < thr_s:
                break  # every listed point left is bounded below the k-th score
            lift = code_lift[codes[li]]  # ranked.point_lift of an unvisited point
            if uppers[li] * (lift * (1.0 + LOOSE)) < thr_s:
                continue  # its category's lift cannot take it to the k-th score
            p = int(points[li])
            if seen >> np.uint64(p & 63) & np.uint64(1):
                j = np.searchsorted(vis, float(p))
                if j < m and vis[j] == p:
                    continue  # visited: scored above
            dx, dy, dz = rec[p, 0] - qx, rec[p, 1] - qy, rec[p, 2] - qz
            c2 = dx * dx + dy * dy + dz * dz  # kernels.point_c2
            s = rec[p, 3] / (1.0 + c2 * rec[p, 4]) * lift
        if behind(s, c2, thr_s, thr_c):
            continue
        cand_p[cn], cand_s[cn], cand_c[cn] = p, s, c2
        cn += 1
        kn, thr_s, thr_c = keep_best(ka, kb, kv, kn, k, s, c2, p, thr_s, thr_c)
    if kn < k or not thr_s > floor:  # an unlisted point might score as high
        return np.empty((3, 0))
    return ordered(cand_p, cand_s, cand_c, cn, thr_s, thr_c, k, rank, positions)


@njit(cache=True, nogil=True, inline="always")
def _slot(table: NDArray, at: int) -> int:  # pragma: no cover - compiled
    """The row of ``table`` keyed ``at`` (linear probing from ``at``), or -1."""
    mask = table.shape[0] - 1
    h = at & mask
    while True:
        key = table[h, 0]
        if key == at:
            return h
        if key < 0:
            return -1
        h = (h + 1) & mask


@njit(cache=True, nogil=True)
def _leaf_scan(
    qx: float, qy: float, qz: float, k: int, pool: NDArray, first: int, n: int,
    floor: float, rank: NDArray, positions: NDArray,
) -> NDArray:  # pragma: no cover - compiled  # fmt: skip
    """:func:`member_shortlist_top_k`'s page from a leaf's list: ``pool[first:first + n]``."""
    cand_p, cand_s, cand_c, ka, kb, kv = scratch(n, k)
    kn, cn, thr_s, thr_c = 0, 0, -np.inf, np.inf
    for i in range(first, first + n):
        if pool[i, 7] < thr_s:
            break  # every row left is bounded below the k-th score
        dx, dy, dz = pool[i, 0] - qx, pool[i, 1] - qy, pool[i, 2] - qz
        c2 = dx * dx + dy * dy + dz * dz  # kernels.point_c2
        s = pool[i, 3] / (1.0 + c2 * pool[i, 4]) * pool[i, 5]
        if behind(s, c2, thr_s, thr_c):
            continue
        p = int(pool[i, 6])
        cand_p[cn], cand_s[cn], cand_c[cn] = p, s, c2
        cn += 1
        kn, thr_s, thr_c = keep_best(ka, kb, kv, kn, k, s, c2, p, thr_s, thr_c)
    if kn < k or not thr_s > floor:
        return np.empty((3, 0))
    return ordered(cand_p, cand_s, cand_c, cn, thr_s, thr_c, k, rank, positions)


@njit(cache=True, nogil=True, inline="always")
def _push(low: NDArray, lb: float) -> None:  # pragma: no cover - compiled
    """Offer ``lb`` to ``low``, a min-heap of the largest values seen."""
    if lb <= low[0]:
        return
    n, h = len(low), 0
    while True:  # the least goes; sift ``lb`` down from the top
        a, b = 2 * h + 1, 2 * h + 2
        s = a if b >= n or low[a] <= low[b] else b
        if s >= n or low[s] >= lb:
            break
        low[h], h = low[s], s
    low[h] = lb


@njit(cache=True, nogil=True)
def leaf_list(
    at: int, starts: NDArray, points: NDArray, uppers: NDArray, balls: NDArray,
    codes: NDArray, rec: NDArray, visited: NDArray, code_lift: NDArray, unvisited: float,
) -> NDArray:  # pragma: no cover - compiled  # fmt: skip
    """Leaf ``at``'s list under a member's lift (module doc): one row per candidate that can
    be on a page of :data:`LEAF_K` in the leaf's ball, best bound first.

    The :data:`LEAF_K` largest lower bounds seen so far (a heap) are a threshold that only
    rises, so the leaf's list is read as a query reads it: in its order (``U_p``, stored
    rounded up), stopping at the first ``U_p · top`` below the threshold, skipping one
    whose category's lift keeps it below; only the rows kept are copied."""
    cx, cy, cz, rho = balls[at, 0], balls[at, 1], balls[at, 2], balls[at, 3]
    lo, hi = starts[at], starts[at + 1]
    vis, m = visited[:, 6], visited.shape[0]
    top = unvisited * (1.0 + LOOSE)
    up, src = np.empty(m + hi - lo), np.empty(m + hi - lo, dtype=np.int64)
    low = np.full(LEAF_K, -np.inf)
    c = 0
    for i in range(m):
        dx, dy, dz = visited[i, 0] - cx, visited[i, 1] - cy, visited[i, 2] - cz
        d, q, f, lift = math.sqrt(dx * dx + dy * dy + dz * dz), visited[i, 3], visited[i, 4], \
            visited[i, 5]  # fmt: skip
        up[c], src[c] = upper_bound(q, f, d, rho) * lift * (1.0 + LOOSE), i
        _push(low, lower_bound(q, f, d, rho) * lift * (1.0 - LOOSE))
        c += 1
    for li in range(lo, hi):
        if uppers[li] * top < low[0]:
            break  # every listed point left is bounded below LEAF_K others
        lift = code_lift[codes[li]]
        u = uppers[li] * (lift * (1.0 + LOOSE))
        if u < low[0]:
            continue
        p = int(points[li])
        j = np.searchsorted(vis, float(p))
        if j < m and vis[j] == p:
            continue  # visited: its own lift, above
        dx, dy, dz = rec[p, 0] - cx, rec[p, 1] - cy, rec[p, 2] - cz
        d = math.sqrt(dx * dx + dy * dy + dz * dz)
        up[c], src[c] = u, m + li - lo
        _push(low, lower_bound(rec[p, 3], rec[p, 4], d, rho) * lift * (1.0 - LOOSE))
        c += 1
    keep = np.flatnonzero(up[:c] >= low[0])  # low[0]: -inf until LEAF_K are held
    by = keep[np.argsort(-up[keep], kind="mergesort")]
    out = np.empty((len(by), 8))
    for r in range(len(by)):
        i = src[by[r]]
        if i < m:
            out[r, :7] = visited[i]
        else:
            li = lo + i - m
            p = int(points[li])
            out[r, :5] = rec[p]
            out[r, 5], out[r, 6] = code_lift[codes[li]], p
        out[r, 7] = up[by[r]]
    return out


@njit(cache=True, nogil=True)
def _stored(
    table: NDArray, pool: NDArray, used: int, held: int, at: int, rows: NDArray, limit: int
) -> tuple[NDArray, NDArray, int, int]:  # pragma: no cover - compiled
    """:meth:`LeafLists.add`'s work: ``(table, pool, slot, used)`` with ``rows`` written
    after the pool's ``used`` and their extent in the slot, new arrays where they do not
    fit (the table's other leaves copied, keys and all); the caller writes the slot's key.
    Slot -1: ``at`` is kept already; -2: ``rows`` would take the pool past ``limit``."""
    if _slot(table, at) >= 0:
        return table, pool, -1, used
    end = used + rows.shape[0]
    if end > limit:
        return table, pool, -2, used
    fits, roomy = end <= pool.shape[0], 2 * (held + 1) <= table.shape[0]
    if not fits:  # a new pool (the first leaf's rows, made for it, are one)
        if used > 0:
            grown = np.empty((max(2 * pool.shape[0], end), 8))
            grown[:used] = pool[:used]
            grown[used:end] = rows
            pool = grown
        else:
            pool = rows
    else:
        pool[used:end] = rows
    if not (fits and roomy):  # a new table: the old one never points past the old pool
        old = table
        table = np.zeros((old.shape[0] if roomy else 2 * old.shape[0], 3), dtype=np.int64)
        table[:, 0] = -1
        for r in range(old.shape[0]):
            if old[r, 0] >= 0:
                h = _free(table, old[r, 0])
                table[h, 0], table[h, 1], table[h, 2] = old[r, 0], old[r, 1], old[r, 2]
    h = _free(table, at)
    table[h, 1], table[h, 2] = used, rows.shape[0]
    return table, pool, h, end


@njit(cache=True, nogil=True, inline="always")
def _free(table: NDArray, at: int) -> int:  # pragma: no cover - compiled
    """The first free slot of ``table`` on ``at``'s probe (linear, from ``at``)."""
    mask = table.shape[0] - 1
    h = at & mask
    while table[h, 0] >= 0:
        h = (h + 1) & mask
    return h


def _empty_table(size: int) -> NDArray[np.int64]:
    table = np.zeros((size, 3), dtype=np.int64)  # leaf, first row, rows (an empty extent)
    table[:, 0] = -1
    return table


@dataclass(eq=False)
class LeafLists:
    """One member's leaf lists in one root (module doc): ``table`` (per slot: leaf, first
    row, rows; power-of-two size, at most half full) and ``pool`` (the rows). Not
    thread-safe: the caller holds a lock around :meth:`add`."""

    table: NDArray[np.int64] = field(default_factory=lambda: _empty_table(8))
    pool: NDArray[np.float64] = field(default_factory=lambda: np.empty((0, 8)))
    used: int = 0  # rows of the pool in use
    held: int = 0  # leaves in the table
    closed: bool = False  # no more leaves (at LEAF_POOL, or all at LEAF_BUDGET)

    @property
    def room(self) -> bool:
        """Whether another leaf's list may be made (:data:`LEAF_POOL`)."""
        return self.used < LEAF_POOL and not self.closed

    def slot(self, at: int) -> int:
        """:func:`_slot` in Python."""
        mask, h = len(self.table) - 1, at & (len(self.table) - 1)
        while self.table[h, 0] >= 0 and self.table[h, 0] != at:
            h = (h + 1) & mask
        return h if self.table[h, 0] == at else -1

    def add(self, at: int, rows: NDArray[np.float64]) -> bool:
        """Keep leaf ``at``'s ``rows`` (a leaf kept already keeps its own); ``True`` when
        ``table``, ``pool`` or :attr:`room` changed: the kernel's arguments must be made
        again (a query reading the old arrays is unharmed: they are never written where
        it could look; the leaf's key is written last, here, after its rows and extent)."""
        if not self.room:
            return False
        table, pool, h, used = _stored(self.table, self.pool, self.used, self.held, at, rows,
                                       LEAF_POOL)  # fmt: skip
        if h == -2:  # no room for it: none from now on
            self.closed = True
            return True
        if h < 0:  # kept already
            return False
        table[h, 0] = at
        changed = table is not self.table
        self.table, self.pool, self.used, self.held = table, pool, used, self.held + 1
        return changed or not self.room
