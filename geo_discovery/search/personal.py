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

``tests/search/test_member_ranking.py`` checks every answer against a brute-force sort of
all merchants.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from ..ranking.member import MemberBoost

__all__ = ["member_top_k"]

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
