"""Exact top-k under a member's lift: the refine loop over the unboosted walk.

A member's lift (:class:`~geo_discovery.ranking.member.MemberBoost`) multiplies
``best_match`` by ``exp(b_i)``: large for the merchants the member visited (few, known),
at most ``exp(B)`` for every other merchant, ``B`` = :attr:`MemberBoost.max_unvisited`.
So the boosted top-k is found exactly from the *unboosted* ranked walk:

1. ask the walk for the unboosted top ``k'`` (``k' = max(4k, 64)``, then ×4);
   ``s'`` is the ``k'``-th score (the floor);
2. score the candidates — those ``k'`` plus every eligible visited merchant — with the
   lift, in the full order ``(score desc, metres asc, rank asc)``, and keep those after
   the cursor's key;
3. every other merchant is unvisited with an unboosted score ``<= s'``, so its boosted
   score is ``<= s' · exp(B)``. When the ``k``-th candidate scores strictly above that
   (with a relative margin of 1e-9 for rounding), no outsider can enter: the answer is
   exact. Otherwise grow ``k'``; when the walk returns fewer than ``k'`` every eligible
   merchant was a candidate.

Without text or opening hours the planner skips the loop: :func:`walk_lift` gives the
ranked walk itself the lift (:func:`~geo_discovery.search.ranked.collect`), each node's
bound multiplied by the largest lift below it — ``exp(B)``, or more above a visited
merchant — so one walk for the top ``k`` is exact. The cell shortlists take the same
lift without the nodes (:func:`member_lift`).

``tests/search/test_member_ranking.py`` checks every answer against a brute-force sort of
all merchants.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from ..ranking.member import MemberBoost
from .sparsebounds import CODE_BUCKETS, code_buckets, lift_nodes

__all__ = ["MemberLifts", "member_lift", "member_top_k", "walk_lift"]

Walk = Callable[[int], tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]]
Scores = Callable[[NDArray[np.int64]], tuple[NDArray[np.float64], NDArray[np.float64]]]
_MARGIN = 1e-9


def member_top_k(
    k: int,
    walk: Walk,
    scores: Scores,
    visited: NDArray[np.int64],
    boost: MemberBoost,
    codes: NDArray[np.integer],
    rank: NDArray[np.int64],
    after: tuple[float, float, int] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """The ``k`` best eligible rows under the lift (module doc).

    ``walk(k')`` is the unboosted top ``k'`` (rows, metres, scores) with every filter
    applied; ``scores(rows)`` the unboosted scores and metres of any rows; ``visited`` the
    member's eligible visited rows (filters applied by the caller); ``codes`` the category
    code and ``rank`` the tie-break rank of every row; ``after`` a cursor key
    ``(score, metres, rank)``.
    """
    want = max(4 * k, 64)
    lift = math.exp(boost.max_unvisited)
    while True:
        pos, _, prim = walk(want)
        exhausted = len(pos) < want
        cand = np.union1d(pos, visited).astype(np.int64)
        base, metres = scores(cand)
        score = base * np.exp(boost.log_boost(cand, codes[cand]))
        r = rank[cand]
        if after is not None:
            a_s, a_m, a_r = after
            later = (score < a_s) | (
                (score == a_s) & ((metres > a_m) | ((metres == a_m) & (r > a_r)))
            )
            cand, score, metres, r = cand[later], score[later], metres[later], r[later]
        order = np.lexsort((r, metres, -score))[:k]
        if exhausted:
            return cand[order], metres[order], score[order]
        floor = float(prim[-1]) * lift
        if len(order) == k and score[order[-1]] > floor * (1.0 + _MARGIN) + 0.0:
            return cand[order], metres[order], score[order]
        want *= 4


def member_lift(
    boost: MemberBoost,
    codes: NDArray[np.integer],
    cell_of_row: NDArray[np.int64],
    cell_codes: NDArray[np.integer],
) -> tuple:
    """The member's lift as the cell shortlists take it: ``(points, own, cell_codes,
    code_lift, unvisited)``, the visited points (sorted) and their lifts, each point's
    category code, each code's lift and the largest lift of an unvisited merchant.

    ``codes``: each row's category code; ``cell_of_row``: each row's point; ``cell_codes``:
    each point's code. The lifts are ``exp`` of :meth:`MemberBoost.log_boost`'s values
    (:meth:`MemberBoost.lift_logs`: the same bits), so scores equal the refine loop's.
    """
    n, table = len(boost.rows), _log1p_table()
    points, logs = _lift_logs(boost.rows, boost.visits, boost.code_visits, codes, cell_of_row,
                              boost.w_own, boost.w_cat, table)  # fmt: skip
    if len(logs) < n + len(boost.code_visits):  # a count past the table: NumPy's log1p
        rows = boost.rows
        cells = cell_of_row[rows]
        order = np.argsort(cells)
        points = np.ascontiguousarray(cells[order], dtype=np.int64)
        own_log, code_log = boost.lift_logs(codes[rows])
        logs = np.concatenate((own_log[order], code_log))
    lifts = np.exp(np.minimum(logs, boost.cap))  # (lift_logs' cap: the same bits)
    own, code_lift = lifts[:n], lifts[n:]
    unvisited = float(code_lift.max()) if len(code_lift) else 1.0
    return points, own, cell_codes, code_lift, unvisited


@functools.cache
def _log1p_table() -> NDArray[np.float64]:
    """``log1p(0 … 4095)`` by NumPy: the visit counts' logs, the same bits as
    :meth:`MemberBoost.log_boost`'s."""
    return np.log1p(np.arange(4096, dtype=np.float64))


@njit(cache=True, nogil=True)
def _lift_logs(
    rows: NDArray, visits: NDArray, code_visits: NDArray, codes: NDArray, cell_of_row: NDArray,
    w_own: float, w_cat: float, table: NDArray,
) -> tuple[NDArray, NDArray]:  # pragma: no cover - compiled  # fmt: skip
    """:func:`member_lift`'s visited points (sorted) and the logs of their lifts, then of
    each code's (:meth:`MemberBoost.lift_logs`'s operations on ``table``'s ``log1p``, so
    the same bits) in one call: a member's first query pays for each NumPy call. The logs
    are empty when a count is past the table."""
    n, n_codes = rows.shape[0], code_visits.shape[0]
    big = table.shape[0]
    if (n > 0 and visits.max() >= big) or (n_codes > 0 and code_visits.max() >= big):
        return np.empty(0, dtype=np.int64), np.empty(0)
    cat = np.empty(n_codes)
    for c in range(n_codes):
        cat[c] = w_cat * table[code_visits[c]]
    cells = np.empty(n, dtype=np.int64)
    for i in range(n):
        cells[i] = cell_of_row[rows[i]]
    order = np.argsort(cells)  # a row is one point: no ties
    points, logs = np.empty(n, dtype=np.int64), np.empty(n + n_codes)
    for i in range(n):
        r = order[i]
        points[i] = cells[r]
        logs[i] = w_own * table[visits[r]] + cat[codes[rows[r]]]
    for c in range(n_codes):
        logs[n + c] = cat[c] + w_own * 0.0  # w_own · log(1 + 0): what log_boost adds
    return points, logs


def walk_lift(
    head: tuple, links: tuple[NDArray[np.int64], NDArray[np.int64]], buckets: NDArray[np.uint64]
) -> tuple:
    """:func:`member_lift` as the ranked walk takes it (:func:`~.ranked.collect`):
    ``(points, own, cell_codes, code_lift, nodes, node_lift, unvisited, buckets, hot_bits,
    hot_lift)``: the trie nodes above the visited points with the largest lift below each;
    each node's category bits (``buckets``: :func:`~.sparsebounds.code_buckets`); the
    member's lifted bits (a bit's lift: the largest of its codes'), largest first. A
    node's unvisited points are lifted by at most its first lifted bit's lift, else 1.
    ``links``: :func:`~.sparsebounds.trie_links` of the index."""
    points, own, cell_codes, code_lift, unvisited = head
    nodes, node_lift = lift_nodes(*links, points, own)
    per_bit = np.ones(CODE_BUCKETS)
    np.maximum.at(per_bit, np.arange(len(code_lift)) % CODE_BUCKETS, code_lift)
    hot = np.flatnonzero(per_bit > 1.0)
    hot = hot[np.argsort(-per_bit[hot], kind="stable")]
    hot_bits = np.left_shift(np.uint64(1), hot.astype(np.uint64))
    return (points, own, cell_codes, code_lift, nodes, node_lift, unvisited, buckets,
            hot_bits, np.ascontiguousarray(per_bit[hot]))  # fmt: skip


class MemberLifts:
    """A member's lift as the lists and the walk take it (:func:`member_lift`,
    :func:`walk_lift`), kept in its :class:`MemberBoost`'s ``derived``: the snapshot hands a
    member's next queries the same object (its cache), so a member panning the map pays
    for the lift once. The walk's form (its trie nodes) is built only when a walk needs it.
    ``arrays()``: the rest of :func:`member_lift`'s arguments and the trie links (the
    planner's, the same for every call)."""

    def __init__(self, arrays: Callable[[], tuple[Any, ...]]) -> None:
        self._arrays = arrays
        self._walk = (self, "walk")

    def lists(self, boost: MemberBoost) -> tuple:
        """:func:`member_lift`: the shortlists' form."""
        got = boost.derived.get(self)  # (a dict read: a member's pages ask on every query)
        if got is None:
            got = boost.derived[self] = member_lift(boost, *self._arrays()[:3])
        return got

    def __call__(self, boost: MemberBoost) -> tuple:
        """:func:`walk_lift`: the walk's form."""
        got = boost.derived.get(self._walk)
        if got is None:
            got = walk_lift(self.lists(boost), self._arrays()[3], self._buckets)
            boost.derived[self._walk] = got
        return got

    @functools.cached_property
    def _buckets(self) -> NDArray[np.uint64]:
        """Each trie node's category bits (:func:`~.sparsebounds.code_buckets`)."""
        _, _, cell_codes, links = self._arrays()
        return code_buckets(*links, cell_codes)  # type: ignore[call-arg]
