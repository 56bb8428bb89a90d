"""A text query's direct plan in one compiled call: gather the rarest word's points, keep
those the other rare words can reach too, and score them (the search box's fast lane,
:meth:`~.textmatch.TextQuery.direct_top_k`).

The planner's direct plan one kernel call at a time is :func:`~.textvocab.gather_points`,
then :func:`~.ranked.candidates_top_k` with the query's relevance arrays, the rarest word
tried last. This does the same with the same arrays and the same float operations, in
one crossing into compiled code, and first drops the points that some other word
``also`` cannot reach: a word whose terms all keep postings (its ``term_df`` at most the
index's ``post_max``) reaches exactly its terms' postings and its categories' points, and
a merchant matching every word is among each word's; so the points dropped match
nothing, and the page is the same bit for bit, while a query like "bright farm" scores
the few merchants holding both words instead of every "bright".
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from .ranked import candidates_top_k
from .textscore import as_int
from .textvocab import gather_points

__all__ = ["reached_by_all", "text_direct_top_k"]


@njit(cache=True, nogil=True)
def _mark(
    bits: NDArray, tx: tuple, word: int, post_off: NDArray, postings: NDArray,
    by_code: NDArray, code_starts: NDArray,
) -> None:  # pragma: no cover - compiled  # fmt: skip
    """Set the bit of every point word ``word`` can reach: its terms' postings and its
    categories' points."""
    seg_off, seg_lo, seg_hi, code_q, n_codes = tx[5], tx[6], tx[7], tx[9], tx[10]
    for j in range(seg_off[word], seg_off[word + 1]):
        for i in range(as_int(post_off[seg_lo[j]]), as_int(post_off[seg_hi[j]])):
            p = as_int(postings[i])
            bits[p >> 6] |= np.uint64(1) << np.uint64(p & 63)
    for c in range(n_codes):
        if code_q[word * n_codes + c] > 0.0:
            for i in range(as_int(code_starts[c]), as_int(code_starts[c + 1])):
                p = as_int(by_code[i])
                bits[p >> 6] |= np.uint64(1) << np.uint64(p & 63)


@njit(cache=True, nogil=True)
def reached_by_all(
    points: NDArray, tx: tuple, also: NDArray, post_off: NDArray, postings: NDArray,
    by_code: NDArray, code_starts: NDArray, n_points: int,
) -> NDArray:  # pragma: no cover - compiled  # fmt: skip
    """The ``points`` (ascending) that every word of ``also`` reaches (module doc), in
    order; ``points`` itself is reused."""
    if also.shape[0] == 0 or points.shape[0] == 0:
        return points
    bits = np.zeros((n_points >> 6) + 1, dtype=np.uint64)
    for w in also:
        _mark(bits, tx, w, post_off, postings, by_code, code_starts)
        m = 0
        for i in range(points.shape[0]):
            p = points[i]
            if (bits[p >> 6] >> np.uint64(p & 63)) & np.uint64(1):
                points[m] = p
                m += 1
        points = points[:m]
        bits[:] = 0
    return points


@njit(cache=True, nogil=True)
def text_direct_top_k(
    tx: tuple, order: NDArray, word: int, also: NDArray,
    post_off: NDArray, postings: NDArray, by_code: NDArray, code_starts: NDArray,
    lat: float, lng: float, k: int, xyz: NDArray, rank: NDArray, positions: NDArray,
    quality: NDArray, factor: NDArray, wmax: float,
) -> tuple[NDArray, NDArray, NDArray]:  # pragma: no cover - compiled  # fmt: skip
    """The best_match top-k (table rows, metres, scores) of the points word ``word``
    reaches (its terms' postings and its categories' points: ``by_code`` grouped by
    ``code_starts``) that each word of ``also`` reaches too (module doc), scored with
    ``tx`` (:func:`~.textscore.relevance`'s arrays) with the words tried in ``order``;
    no mask, radius or cursor."""
    seg_off, n_codes = tx[5], tx[10]
    a, b = seg_off[word], seg_off[word + 1]
    cats = np.flatnonzero(tx[9][word * n_codes : (word + 1) * n_codes] > 0)
    points = gather_points(post_off, postings, tx[6][a:b], tx[7][a:b], by_code, code_starts,
                           cats)  # fmt: skip
    points = reached_by_all(points, tx, also, post_off, postings, by_code, code_starts,
                            xyz.shape[0])  # fmt: skip
    scored = (tx[0], tx[1], tx[2], tx[3], tx[4], tx[5], tx[6], tx[7], tx[8], tx[9], tx[10],
              tx[11], order, tx[13], tx[14], tx[15])  # fmt: skip
    return candidates_top_k(
        points, lat, lng, k, np.inf, xyz, rank, positions, np.zeros(0, dtype=np.bool_),
        quality, factor, 0.0, 0.0, 0, False, scored, True, wmax,
    )  # fmt: skip
