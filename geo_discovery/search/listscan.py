"""The list scans' shared compiled parts (:mod:`.shortlist`, :mod:`.memberlists`).

A cell's ball bounds each point's score at every query inside it (``lower_bound``,
``upper_bound``: :mod:`.shortlist`'s module doc); a scan keeps its candidates in
``scratch`` arrays and returns the best ``k`` in the walk's order (``ordered``).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from ..distance import c2m_1
from .ranked import finish, not_behind

__all__ = ["LOOSE", "WALK_OVER", "lower_bound", "ordered", "scratch", "upper_bound"]

LOOSE = 1e-9  #: relative slack of every bound
WALK_OVER = 2048  #: a longer list is not scored: the walk answers


@njit(cache=True, nogil=True, inline="always")
def lower_bound(q: float, f: float, d: float, rho: float) -> float:  # pragma: no cover
    """``L_p``: the score at chord ``d + rho`` (the farthest a query in the ball can be)."""
    e = d + rho
    return q / (1.0 + e * e * f * (1.0 + LOOSE))


@njit(cache=True, nogil=True, inline="always")
def upper_bound(q: float, f: float, d: float, rho: float) -> float:  # pragma: no cover
    """``U_p`` (or a node's, with its best quality and factor): the score at ``d - rho``."""
    g = max(d - rho, 0.0) * (1.0 - LOOSE)
    return q / (1.0 + g * g * f)


@njit(cache=True, nogil=True, inline="always")
def scratch(n: int, k: int) -> tuple[NDArray, ...]:  # pragma: no cover - compiled
    """The scans' candidates (points, scores, squared chords: ``n``) and heap of the best
    ``k`` (two keys, points), as views of two allocations (not six: each costs ~60 ns)."""
    f, i = np.empty(2 * (n + k)), np.empty(n + k, dtype=np.int64)
    return i[:n], f[:n], f[n : 2 * n], f[2 * n : 2 * n + k], f[2 * n + k :], i[n:]


@njit(cache=True, nogil=True)
def ordered(
    cand_p: NDArray, cand_s: NDArray, cand_c: NDArray, cn: int, thr_s: float, thr_c: float,
    k: int, rank: NDArray, positions: NDArray,
) -> NDArray:  # pragma: no cover - compiled  # fmt: skip
    """The best ``k`` candidates in the walk's order: one array of rows, metres and scores
    (one array to return costs less than three; rows < 2**53 are exact as floats)."""
    keep = not_behind(cand_s, cand_c, cn, thr_s, thr_c)
    m = len(keep)
    if m > 64:  # many ties: ranked.finish's sorts
        got = finish(cand_p, cand_s, cand_c, cn, thr_s, thr_c, k, rank, positions)
        out = np.empty((3, len(got[0])))
        out[0], out[1], out[2] = got
        return out
    metres = np.empty(m)
    for a in range(m):
        metres[a] = c2m_1(cand_c[keep[a]])
    order = np.arange(m)  # insertion sort by (score desc, metres, rank): rank read on ties
    for a in range(1, m):
        o = order[a]
        b = a - 1
        while b >= 0 and _first(o, order[b], keep, cand_p, cand_s, metres, rank):
            order[b + 1] = order[b]
            b -= 1
        order[b + 1] = o
    out = np.empty((3, min(k, m)))
    for a in range(out.shape[1]):
        o = order[a]
        out[0, a], out[1, a], out[2, a] = positions[cand_p[keep[o]]], metres[o], cand_s[keep[o]]
    return out


@njit(cache=True, nogil=True, inline="always")
def _first(
    a: int, b: int, keep: NDArray, cand_p: NDArray, cand_s: NDArray, metres: NDArray,
    rank: NDArray,
) -> bool:  # pragma: no cover - compiled
    sa, sb = cand_s[keep[a]], cand_s[keep[b]]
    if sa != sb:
        return sa > sb
    if metres[a] != metres[b]:
        return metres[a] < metres[b]
    return rank[cand_p[keep[a]]] < rank[cand_p[keep[b]]]
