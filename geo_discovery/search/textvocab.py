"""Finding a query word's terms in the sorted vocabulary: exact, prefix and typo matches.

The vocabulary is the text index's terms sorted by code point (``chars``/``term_off``),
so the terms sharing a prefix form a range of ids, and walking the terms in order is a
depth-first walk of their trie. :func:`fuzzy_terms` does that walk with one row of the
edit-distance table per trie level, reused for the levels a term shares with the one
before it (its longest common prefix), and skips a whole subtree by binary search once
every cell of a row exceeds the budget (a row's minimum never decreases with depth, also
with transpositions: ``D[j+1][i] = D[j-1][i-2] + 1 >= D[j][i-1] >= min(row j)``). It
visits each trie node within reach once, like a Levenshtein automaton over a trie
(Lucene's FST walk, Typesense's ART walk), without storing the trie.

Distances are the optimal string alignment distance (Damerau–Levenshtein where an
adjacent transposition counts as one edit and no substring is edited twice: what
Typesense and Meilisearch count, and ``rapidfuzz.distance.OSA``, which the tests use as
the reference).

Typo budget (:func:`typo_budget`): 0 below 5 characters, 1 from 5 to 8, 2 from 9, judged
on the longer of the query word and the term, so ``piza`` finds ``pizza`` (one letter
left out of a five-letter word) while ``bar`` never becomes ``car``. A typo match keeps
the first character (Elasticsearch's ``prefix_length=1``; Meilisearch counts a typo on
the first letter twice, which under this budget leaves it only to words of 9+ letters):
people rarely mistype the first letter, and the walk then visits one first letter's
subtree. The last word of a query also matches as a prefix, with :func:`typo_budget`
of its own length.

Why not a library: rapidfuzz's ``process.extract`` compares the word with every term
(milliseconds for 100k terms); a SymSpell deletion dictionary at distance 2 stores tens
of entries per term (more than the whole index's budget per merchant); marisa-trie has
prefix search but no typo search. This walk needs only the sorted terms the index keeps
anyway.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from .textnorm import MAX_TERM_CHARS
from .textscore import as_int

__all__ = ["codes", "fuzzy_terms", "lower_bound", "max_distance", "prefix_end", "typo_budget"]

_BIG = 1 << 30


def codes(word: str) -> NDArray[np.uint32]:
    """A word as code points (the vocabulary's alphabet)."""
    return np.frombuffer(word.encode("utf-32-le"), dtype=np.uint32)


@njit(cache=True, nogil=True, inline="always")
def typo_budget(n: int) -> int:  # pragma: no cover - compiled
    """Typos allowed in a word of ``n`` characters: 0 (< 5), 1 (5–8), 2 (>= 9)."""
    if n < 5:
        return 0
    if n <= 8:
        return 1
    return 2


def max_distance(m: int) -> int:
    """The largest distance any term can be from an ``m``-character word under
    :func:`typo_budget` of the longer of the two (a term ``d`` longer needs ``d`` edits).

    Examples
    --------
    >>> [max_distance(m) for m in (3, 4, 6, 7, 9)]
    [0, 1, 1, 2, 2]
    """
    return max(d for d in range(3) if d == 0 or typo_budget(m + d) >= d)


@njit(cache=True, nogil=True)
def lower_bound(chars: NDArray, term_off: NDArray, w: NDArray, m: int) -> int:  # pragma: no cover
    """The first term id whose term is ``>= w[:m]`` (code point order)."""
    lo, hi = 0, term_off.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        a = as_int(term_off[mid])
        n = as_int(term_off[mid + 1]) - a
        less = n < m  # a proper prefix of w sorts first
        for i in range(min(n, m)):
            c = chars[a + i]
            if c != w[i]:
                less = c < w[i]
                break
        if less:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True, inline="always")
def _shares(chars: NDArray, term_off: NDArray, s: int, a: int, j: int) -> bool:  # pragma: no cover
    """Whether term ``s`` starts with the ``j`` characters at ``chars[a:]``."""
    b = as_int(term_off[s])
    if as_int(term_off[s + 1]) - b < j:
        return False
    for i in range(j):  # noqa: SIM110 - a compiled loop, no generator
        if chars[b + i] != chars[a + i]:
            return False
    return True


@njit(cache=True, nogil=True)
def prefix_end(chars: NDArray, term_off: NDArray, t: int, j: int) -> int:  # pragma: no cover
    """The first term id after ``t`` that does not start with term ``t``'s first ``j``
    characters (terms sharing a prefix are contiguous): a galloping search, cheap for the
    small subtrees a walk skips most."""
    a = as_int(term_off[t])
    n = term_off.shape[0] - 1
    lo, step = t + 1, 1  # every id below lo shares the prefix
    while True:
        hi = t + step
        if hi >= n:
            hi = n
            break
        if not _shares(chars, term_off, hi, a, j):
            break
        lo = hi + 1
        step *= 2
    while lo < hi:
        mid = (lo + hi) >> 1
        if _shares(chars, term_off, mid, a, j):
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def fuzzy_terms(
    chars: NDArray,
    term_off: NDArray,
    w: NDArray,
    maxd: int,
    prefix_budget: int,
    out: NDArray,
) -> int:  # pragma: no cover - compiled
    """Every term within reach of word ``w`` (starting with its first character);
    returns how many rows of ``out`` it filled (-1: ``out`` is full, call again with more
    rows).

    ``out`` rows are ``(lo, hi, typos, prefix)``: term ids ``[lo, hi)`` match with that
    many typos, as whole terms (``prefix`` 0: one term, ``typos <= typo_budget`` of the
    longer of word and term) or as terms starting with a prefix within
    ``prefix_budget`` typos (``prefix`` 1; ``prefix_budget < 0``: no prefix matching).
    ``maxd`` bounds the walk: at least :func:`max_distance` and ``prefix_budget``.
    """
    m = w.shape[0]
    if m == 0:
        return 0
    t = lower_bound(chars, term_off, w, 1)  # the subtree of w's first character
    n_terms = t
    if t < term_off.shape[0] - 1 and term_off[t + 1] > term_off[t] and chars[term_off[t]] == w[0]:
        n_terms = prefix_end(chars, term_off, t, 1)
    depth_max = MAX_TERM_CHARS + 1
    rows = np.empty((depth_max + 1, m + 1), dtype=np.int64)
    for i in range(m + 1):
        rows[0, i] = i
    recd = np.empty(depth_max + 1, dtype=np.int64)  # best prefix match recorded on the path
    recd[0] = _BIG
    n_out = 0
    cap = out.shape[0]
    stack_t = -1
    valid = 0
    while t < n_terms:
        a = as_int(term_off[t])
        n = min(as_int(term_off[t + 1]) - a, depth_max - 1)
        lcp = 0
        if stack_t >= 0:
            sa = as_int(term_off[stack_t])
            lim = min(valid, n)
            while lcp < lim and chars[sa + lcp] == chars[a + lcp]:
                lcp += 1
        pruned = 0
        j = lcp
        while j < n:
            j += 1
            c = chars[a + j - 1]
            rows[j, 0] = j
            rmin = j
            for i in range(1, m + 1):
                v = rows[j - 1, i] + 1
                x = rows[j, i - 1] + 1
                if x < v:
                    v = x
                x = rows[j - 1, i - 1] + (0 if w[i - 1] == c else 1)
                if x < v:
                    v = x
                if i > 1 and j > 1 and w[i - 1] == chars[a + j - 2] and w[i - 2] == c:
                    x = rows[j - 2, i - 2] + 1
                    if x < v:
                        v = x
                rows[j, i] = v
                if v < rmin:
                    rmin = v
            recd[j] = recd[j - 1]
            d = rows[j, m]
            if prefix_budget >= 0 and d <= prefix_budget and d < recd[j - 1]:
                if n_out == cap:
                    return -1
                out[n_out, 0], out[n_out, 1] = t, prefix_end(chars, term_off, t, j)
                out[n_out, 2], out[n_out, 3] = d, 1
                n_out += 1
                recd[j] = d
            if rmin > maxd:
                pruned = j
                break
        stack_t = t
        valid = j
        if pruned > 0:
            t = prefix_end(chars, term_off, t, pruned)
            continue
        if n > 0:
            d = rows[n, m]
            if d <= typo_budget(max(m, n)):
                if n_out == cap:
                    return -1
                out[n_out, 0], out[n_out, 1], out[n_out, 2], out[n_out, 3] = t, t + 1, d, 0
                n_out += 1
        t += 1
    return n_out
