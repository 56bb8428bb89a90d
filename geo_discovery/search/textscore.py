"""Text relevance of one merchant for one query: the formula, its constants, its kernel.

A query is a list of words (:func:`~geo_discovery.search.textnorm.query_words`); each
must match (AND). A word matches an indexed term exactly, as a prefix (the last word
only: autocomplete), or with typos (:mod:`geo_discovery.search.textvocab` finds the
terms). A merchant's terms sit in *fields*: per merchant ``name``, ``brand``,
``cuisine`` and street ``address`` (the forward index of
:class:`~geo_discovery.search.textindex.TextIndex`), and its category's words (path
segments and their source labels, the leaf level weighing more than its parents).

For word ``i`` and merchant ``m``, each field's best matching term scores::

    s_i,f(m) = max over the field's terms  Q(match) * W(field) [* L(name length)]

and the fields combine as independent evidence (a noisy OR, as BM25F adds fields up
before it saturates): a word found in the name *and* the category is stronger than in
either alone, so "pizza" puts the pizzerias called pizza first, then the other
pizzerias and the places that only say pizza in their name::

    s_i(m) = 1 - (1 - s_i,category)(1 - s_i,name)(1 - s_i,brand)(1 - s_i,cuisine)(1 - s_i,address)

(float64, left to right, in that order).

* ``Q``: 1 for an exact match, :data:`PREFIX_QUALITY` for a prefix, times
  :data:`TYPO_QUALITY` per typo (:data:`MATCH_QUALITY` tabulates it); a prefix match
  is also scaled by how much of the term was typed, :func:`completion` (``deli``
  completes ``delightful`` less than ``delis``);
* ``W``: :data:`FIELD_WEIGHTS` (name 0.8, brand 0.7, cuisine 0.6, address 0.25),
  :data:`CATEGORY_WEIGHT` / :data:`CATEGORY_PARENT_WEIGHT` (0.8 / 0.5) for the
  category's own words and its parents';
* ``L``: BM25's length normalisation of the name field with one occurrence, capped at 1
  (names no longer than average score 1, longer ones less):
  ``min(1, (1 + k1) / (1 + k1 (1 - b + b dl / avgdl)))``, ``k1 = 1.2``, ``b = 0.75``.

The relevance, in ``(0, 1]``, squares the idf-weighted mean of the words' scores (so
text outweighs a few hundred metres: a name matched whole beats a word found in a
street name next door) and scales it by the name's coverage ``E``
(:func:`exactness`: 1 when the query is the whole name, as Typesense's
``prioritize_exact_match`` and Meilisearch's exactness rule reward)::

    mean(m) = (Σ_i idf_i · s_i(m)) / (Σ_i idf_i)        (sums in word order)
    relevance(m) = mean(m) · mean(m) · E(m)
    idf_i = ln(1 + N / (1 + df_i))

with ``df_i`` the merchants the word's matched terms and categories reach (the sum of
their counts). Any word without a match makes it 0: the merchant does not match.
``best_match`` multiplies its score by the relevance; other sorts use it as a filter.
The kernel (:func:`relevance`) and the oracle in the tests compute the same float
operations in the same order, so scores agree bit for bit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from .borrow import borrowed

__all__ = [
    "BM25_B",
    "BM25_K1",
    "CATEGORY_PARENT_WEIGHT",
    "CATEGORY_WEIGHT",
    "FIELDS",
    "FIELD_ADDRESS",
    "FIELD_BRAND",
    "FIELD_CUISINE",
    "FIELD_NAME",
    "FIELD_WEIGHTS",
    "MATCH_QUALITY",
    "MAX_WORDS",
    "PREFIX_QUALITY",
    "TYPO_QUALITY",
    "as_int",
    "category_order",
    "completion",
    "exactness",
    "idf",
    "kernel_args",
    "length_norm",
    "length_norms",
    "match_quality",
    "name_matches",
    "noisy_or",
    "relevance",
    "relevances",
    "static_args",
]

FIELDS = ("name", "brand", "cuisine", "address")
FIELD_NAME, FIELD_BRAND, FIELD_CUISINE, FIELD_ADDRESS = range(4)
#: Weight of a match per field, in :data:`FIELDS` order.
FIELD_WEIGHTS = np.array([0.8, 0.7, 0.6, 0.25], dtype=np.float64)
FIELD_WEIGHTS.flags.writeable = False
#: Weight of a match on the words of a merchant's own category level, and of its parents.
CATEGORY_WEIGHT = 0.8
CATEGORY_PARENT_WEIGHT = 0.5
PREFIX_QUALITY = 0.9
TYPO_QUALITY = 0.5
BM25_K1 = 1.2
BM25_B = 0.75
#: At most this many words count in a query (the rest are refused).
MAX_WORDS = 16


@njit(cache=True, nogil=True, inline="always")
def as_int(x: Any) -> int:  # pragma: no cover - compiled
    """``x`` as a signed 64-bit integer in compiled code (sums with unsigned ones turn
    into floats in numba)."""
    return np.int64(x)  # type: ignore[return-value]


def match_quality(typos: int, prefix: bool) -> float:
    """``Q``: 1 (exact), 0.9 (prefix), times 0.5 per typo: a word typed right beats one
    off by a letter (``sushi``'s sushi bars come before a ``sunshield`` nearer by, as
    Meilisearch and Algolia rank fewer typos first), while when every match has a typo
    (``piza``) their order is unchanged.

    Examples
    --------
    >>> match_quality(0, False), match_quality(0, True), match_quality(1, False)
    (1.0, 0.9, 0.5)
    """
    q = PREFIX_QUALITY if prefix else 1.0
    for _ in range(typos):
        q = q * TYPO_QUALITY
    return q


#: ``MATCH_QUALITY[prefix][typos]`` for 0, 1, 2 typos.
MATCH_QUALITY = np.array(
    [[match_quality(d, p) for d in range(3)] for p in (False, True)], dtype=np.float64
)


@njit(cache=True, nogil=True, inline="always")
def completion(typed: int, length: int) -> float:  # pragma: no cover - compiled
    """How much of a term of ``length`` characters ``typed`` characters complete:
    ``(min(typed, length) + length) / (2 length)``, 0.5 … 1 (a prefix match's scale)."""
    return (min(typed, length) + length) / (2.0 * length)


def length_norm(dl: int, avgdl: float) -> float:
    """``L``: BM25 length normalisation of a name of ``dl`` tokens, capped at 1.

    Examples
    --------
    >>> length_norm(2, 4.0), round(length_norm(5, 4.0), 4), round(length_norm(12, 4.0), 4)
    (1.0, 0.9072, 0.55)
    """
    return min(1.0, (1.0 + BM25_K1) / (1.0 + BM25_K1 * (1.0 - BM25_B + BM25_B * dl / avgdl)))


def length_norms(avgdl: float) -> NDArray[np.float64]:
    """:func:`length_norm` for every stored name length 0 … 255."""
    avg = avgdl if avgdl > 0 else 1.0
    return np.array([length_norm(d, avg) for d in range(256)], dtype=np.float64)


def idf(n: int, df: int) -> float:
    """``ln(1 + N / (1 + df))``: rarer words weigh more in the mean."""
    return math.log(1.0 + n / (1.0 + df))


@njit(cache=True, nogil=True, inline="always")
def _segment(t: int, seg_lo: NDArray, seg_hi: NDArray, s0: int, s1: int) -> int:  # pragma: no cover
    """The segment of ``[s0, s1)`` holding term ``t`` (the last starting at or before
    it), or -1."""
    lo, hi = s0, s1
    while lo < hi:
        mid = (lo + hi) >> 1
        if seg_lo[mid] <= t:
            lo = mid + 1
        else:
            hi = mid
    j = lo - 1
    return j if j >= s0 and t < seg_hi[j] else -1


@njit(cache=True, nogil=True, inline="always")
def exactness(covered: int, named: int) -> float:  # pragma: no cover - compiled
    """``E``: how much of the merchant's name the query covers. ``0.5 + 0.5 covered /
    named`` when a word matched the name (1: the query is the whole name), else 0.75 (a
    match by category, brand, cuisine or street alone)."""
    if covered == 0:
        return 0.75
    return 0.5 + 0.5 * covered / named


@njit(cache=True, nogil=True, inline="always")
def noisy_or(c: float, f0: float, f1: float, f2: float, f3: float) -> float:  # pragma: no cover
    """``1 - (1 - c)(1 - f0)(1 - f1)(1 - f2)(1 - f3)``, left to right: a word's score
    from its category, name, brand, cuisine and address scores."""
    return 1.0 - (1.0 - c) * (1.0 - f0) * (1.0 - f1) * (1.0 - f2) * (1.0 - f3)


@njit(cache=True, nogil=True)
def relevance(p: int, tx: tuple, scratch: NDArray) -> float:  # pragma: no cover
    """The relevance of point ``p`` (cell order), 0 when a word misses.

    ``tx`` = ``(fwd_off, fwd, name_len, lnorm, field_w, seg_off, seg_lo, seg_hi, seg_q,
    code_q, n_codes, idf, order, codes, seg_m, term_off)``: the forward index (entries
    ``term << 2 | field``), name lengths and their norms, field weights, per word its
    disjoint term-id segments ``[lo, hi)`` with qualities (scaled by :func:`completion`
    of ``seg_m`` typed characters when ``seg_m > 0``: prefix matches), its category
    scores ``code_q[i * n_codes + code]``, its idf, the order words are tried in
    (rarest first: misses end early), each point's category code, and the
    vocabulary's term offsets (term lengths). ``scratch`` holds one float per word.
    """
    fwd_off, fwd, name_len, lnorm, field_w = tx[0], tx[1], tx[2], tx[3], tx[4]
    seg_off, seg_lo, seg_hi, seg_q = tx[5], tx[6], tx[7], tx[8]
    code_q, n_codes, idf_w, order = tx[9], tx[10], tx[11], tx[12]
    code = as_int(tx[13][p])
    seg_m, term_off = tx[14], tx[15]
    a, b = as_int(fwd_off[p]), as_int(fwd_off[p + 1])
    nw = idf_w.shape[0]
    for oi in range(nw):
        i = order[oi]
        f0 = f1 = f2 = f3 = 0.0  # each field's best: name, brand, cuisine, address
        s0, s1 = seg_off[i], seg_off[i + 1]
        if s1 > s0:
            for e in range(a, b):
                ent = fwd[e]
                t = as_int(ent >> 2)
                j = _segment(t, seg_lo, seg_hi, s0, s1)
                if j >= 0:
                    q = seg_q[j]
                    if seg_m[j] > 0:
                        n = as_int(term_off[t + 1]) - as_int(term_off[t])
                        q = q * completion(seg_m[j], n)
                    f = ent & 3
                    s = q * field_w[f]
                    if f == 0:
                        s = s * lnorm[name_len[p]]
                        f0 = max(f0, s)
                    elif f == 1:
                        f1 = max(f1, s)
                    elif f == 2:
                        f2 = max(f2, s)
                    else:
                        f3 = max(f3, s)
        best = noisy_or(code_q[i * n_codes + code], f0, f1, f2, f3)
        if best <= 0.0:
            return 0.0
        scratch[i] = best
    total = 0.0
    norm = 0.0
    for i in range(nw):
        total += idf_w[i] * scratch[i]
        norm += idf_w[i]
    mean = total / norm
    named = 0  # the name's terms, and how many of them a word matched
    covered = 0
    for e in range(a, b):
        ent = fwd[e]
        if ent & 3 != 0:
            continue
        named += 1
        t = as_int(ent >> 2)
        for i in range(nw):
            if _segment(t, seg_lo, seg_hi, seg_off[i], seg_off[i + 1]) >= 0:
                covered += 1
                break
    return mean * mean * exactness(covered, named)


@njit(cache=True, nogil=True)
def relevances(points: NDArray, tx: tuple) -> NDArray:  # pragma: no cover - compiled
    """:func:`relevance` of each of ``points``."""
    tx = borrowed(tx)  # relevance binds them per point: no reference counts
    scratch = np.empty(max(tx[11].shape[0], 1), dtype=np.float64)
    out = np.empty(points.shape[0], dtype=np.float64)
    for i in range(points.shape[0]):
        out[i] = relevance(as_int(points[i]), tx, scratch)
    return out


@njit(cache=True, nogil=True)
def name_matches(points: NDArray, tx: tuple) -> tuple[NDArray, NDArray]:  # pragma: no cover
    """``(which, term)``: each name term of ``points[which]`` that some word's segments
    hold (the terms :func:`relevance` counts as covered), in forward-index order."""
    fwd_off, fwd = tx[0], tx[1]
    seg_off, seg_lo, seg_hi = tx[5], tx[6], tx[7]
    nw = seg_off.shape[0] - 1
    size = 0
    for i in range(points.shape[0]):
        p = as_int(points[i])
        size += as_int(fwd_off[p + 1]) - as_int(fwd_off[p])
    which = np.empty(size, dtype=np.int64)
    term = np.empty(size, dtype=np.int64)
    n = 0
    for i in range(points.shape[0]):
        p = as_int(points[i])
        for e in range(as_int(fwd_off[p]), as_int(fwd_off[p + 1])):
            ent = fwd[e]
            if ent & 3 != 0:
                continue
            t = as_int(ent >> 2)
            for w in range(nw):
                if _segment(t, seg_lo, seg_hi, seg_off[w], seg_off[w + 1]) >= 0:
                    which[n], term[n] = i, t
                    n += 1
                    break
    return which[:n], term[:n]


@njit(cache=True, nogil=True)
def category_order(
    code_q: NDArray, n_codes: int, idf_w: NDArray, path_rank: NDArray, code_count: NDArray
) -> tuple[NDArray, NDArray]:  # pragma: no cover - compiled
    """``(codes, scores)`` of the category codes every word matches (``code_q[i * n_codes
    + code] > 0``), best first: score (the idf-weighted mean of the words' category
    scores, summed in word order) descending, then more merchants, then path rank."""
    nw = idf_w.shape[0]
    norm = 0.0
    for i in range(nw):
        norm += idf_w[i]
    hit = np.empty(n_codes, dtype=np.int64)
    score = np.empty(n_codes, dtype=np.float64)
    n = 0
    for c in range(n_codes):
        total = 0.0
        for i in range(nw):
            q = code_q[i * n_codes + c]
            if not q > 0.0:
                break
            total = total + idf_w[i] * q
        else:
            hit[n], score[n] = c, total / norm
            n += 1
    hit, score = hit[:n], score[:n]
    order = np.argsort(path_rank[hit], kind="mergesort")
    order = order[np.argsort(-code_count[hit][order], kind="mergesort")]
    order = order[np.argsort(-score[order], kind="mergesort")]
    return hit[order], score[order]


def _frozen(a: NDArray) -> NDArray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def static_args(
    fwd_off: NDArray,
    fwd: NDArray,
    name_len: NDArray,
    lnorm: NDArray,
    codes: NDArray,
    term_off: NDArray,
) -> tuple:
    """The index's part of :func:`relevance`'s ``tx``, read-only, one dtype each."""
    return (
        _frozen(np.asarray(fwd_off, dtype=np.uint32)),
        _frozen(np.asarray(fwd, dtype=np.uint32)),
        _frozen(np.asarray(name_len, dtype=np.uint8)),
        _frozen(np.asarray(lnorm, dtype=np.float64)),
        _frozen(np.asarray(codes, dtype=np.int32)),
        _frozen(np.asarray(term_off, dtype=np.uint32)),
    )


def kernel_args(
    static: tuple,
    seg_off: NDArray[np.int64],
    seg_lo: NDArray[np.int64],
    seg_hi: NDArray[np.int64],
    seg_q: NDArray[np.float64],
    code_q: NDArray[np.float64],
    n_codes: int,
    idf_w: NDArray[np.float64],
    order: NDArray[np.int64],
    seg_m: NDArray[np.int64],
) -> tuple:
    """The ``tx`` tuple :func:`relevance` reads: the index's arrays (:func:`static_args`)
    and one query's (new, writable, of the dtypes annotated: one compiled signature)."""
    fwd_off, fwd, name_len, lnorm, codes, term_off = static
    return (
        fwd_off, fwd, name_len, lnorm, FIELD_WEIGHTS, seg_off, seg_lo, seg_hi, seg_q, code_q,
        int(n_codes), idf_w, order, codes, seg_m, term_off,
    )  # fmt: skip
