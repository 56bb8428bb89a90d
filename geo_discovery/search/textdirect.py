"""A text query's direct plan in one compiled call: gather the rarest word's points and
score them (the search box's fast lane, :meth:`~.textmatch.TextQuery.direct_top_k`).

The same two steps the planner takes one kernel call at a time
(:func:`~.textvocab.gather_points`, then :func:`~.ranked.candidates_top_k` with the
query's relevance arrays, the rarest word tried last), with the same arrays and the
same float operations, so the page is the same bit for bit; one crossing into compiled
code instead of several, and no arrays built in between.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from .ranked import candidates_top_k
from .textvocab import gather_points

__all__ = ["text_direct_top_k"]


@njit(cache=True, nogil=True)
def text_direct_top_k(
    tx: tuple, order: NDArray, word: int,
    post_off: NDArray, postings: NDArray, by_code: NDArray, code_starts: NDArray,
    lat: float, lng: float, k: int, xyz: NDArray, rank: NDArray, positions: NDArray,
    quality: NDArray, factor: NDArray, wmax: float,
) -> tuple[NDArray, NDArray, NDArray]:  # pragma: no cover - compiled  # fmt: skip
    """The best_match top-k (table rows, metres, scores) of the points word ``word``
    reaches (its terms' postings and its categories' points: ``by_code`` grouped by
    ``code_starts``), scored with ``tx`` (:func:`~.textscore.relevance`'s arrays) with
    the words tried in ``order``; no mask, radius or cursor."""
    seg_off, n_codes = tx[5], tx[10]
    a, b = seg_off[word], seg_off[word + 1]
    cats = np.flatnonzero(tx[9][word * n_codes : (word + 1) * n_codes] > 0)
    points = gather_points(post_off, postings, tx[6][a:b], tx[7][a:b], by_code, code_starts,
                           cats)  # fmt: skip
    scored = (tx[0], tx[1], tx[2], tx[3], tx[4], tx[5], tx[6], tx[7], tx[8], tx[9], tx[10],
              tx[11], order, tx[13], tx[14], tx[15])  # fmt: skip
    return candidates_top_k(
        points, lat, lng, k, np.inf, xyz, rank, positions, np.zeros(0, dtype=np.bool_),
        quality, factor, 0.0, 0.0, 0, False, scored, True, wmax,
    )  # fmt: skip
