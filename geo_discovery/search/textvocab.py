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

Typo budget (:func:`typo_budget`, :func:`allowed_typos`): 0 below 5 characters, 1 from 5
to 8, 2 from 9, by the query word's length, except that a word under 5 letters gets one
typo against a term of 5 or more, so ``piza`` finds ``pizza`` (one letter left out of a
five-letter word) while ``bar`` never becomes ``car``. A typo match keeps
the first character (Elasticsearch's ``prefix_length=1``; Meilisearch counts a typo on
the first letter twice, which under this budget leaves it only to words of 9+ letters):
people rarely mistype the first letter, and the walk then visits one first letter's
subtree. The last word of a query also matches as a prefix, with :func:`typo_budget`
of its own length. Typos are looked for only when the word's own exact matches are rare
(:data:`TYPO_DF`): a word people type right and the data holds often ("restaurant",
"brooklyn") matches itself, not every word two letters away.

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
from .textscore import FIELD_WEIGHTS, as_int, completion, noisy_or

__all__ = [
    "TYPO_DF",
    "allowed_typos",
    "category_scores",
    "codes",
    "exact_df",
    "exact_terms",
    "fuzzy_terms",
    "gather_points",
    "lower_bound",
    "match_word",
    "match_words",
    "max_distance",
    "prefix_end",
    "segments",
    "typo_budget",
]

_BIG = 1 << 30
#: Typos are looked for only when the word's exact matches (the term itself, or every
#: term it begins for the last word) reach fewer merchants than this, as Typesense's
#: ``typo_tokens_threshold`` does: "pizza" finds the pizzerias, not "piazza".
TYPO_DF = 100


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


@njit(cache=True, nogil=True, inline="always")
def allowed_typos(m: int, n: int) -> int:  # pragma: no cover - compiled
    """Typos allowed between an ``m``-character word and an ``n``-character term: the
    word's :func:`typo_budget`, except that a word under 5 letters gets one against a
    term of 5 or more (``piza`` → ``pizza``: a letter left out of a five-letter word)."""
    own = typo_budget(m)
    if own == 0 and typo_budget(n) > 0:
        return 1
    return own


def max_distance(m: int) -> int:
    """The largest distance any term can be from an ``m``-character word
    (:func:`allowed_typos`; a term ``d`` letters longer needs ``d`` edits).

    Examples
    --------
    >>> [max_distance(m) for m in (3, 4, 6, 7, 9)]
    [0, 1, 1, 1, 2]
    """
    return max(d for d in range(3) if d == 0 or allowed_typos(m, m + d) >= d)


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
    many typos, as whole terms (``prefix`` 0: one term, within :func:`allowed_typos`)
    or as terms starting with a prefix within
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
            # Only cells within maxd of the diagonal can stay within maxd (Ukkonen's band);
            # the cells just outside it read as "too far".
            lo_i, hi_i = max(1, j - maxd), min(m, j + maxd)
            if lo_i > 1:
                rows[j, lo_i - 1] = _BIG
            for i in range(lo_i, hi_i + 1):
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
            if hi_i < m:
                rows[j, hi_i + 1] = _BIG
            recd[j] = recd[j - 1]
            d = rows[j, m] if m <= hi_i else _BIG
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
            d = rows[n, m] if m <= n + maxd else _BIG
            if d <= allowed_typos(m, n):
                if n_out == cap:
                    return -1
                out[n_out, 0], out[n_out, 1], out[n_out, 2], out[n_out, 3] = t, t + 1, d, 0
                n_out += 1
        t += 1
    return n_out


@njit(cache=True, nogil=True)
def exact_terms(
    chars: NDArray, term_off: NDArray, w: NDArray, prefix: bool, out: NDArray
) -> int:  # pragma: no cover - compiled
    """:func:`fuzzy_terms`'s rows without typos (``maxd`` 0, ``prefix_budget`` 0 when
    ``prefix``, else -1), found by binary search: the terms ``w`` begins (one prefix
    row) and ``w`` itself (a whole-term row), in the order the walk emits them.
    ``out`` holds at least two rows."""
    m = w.shape[0]
    t, n = _first_with(chars, term_off, w)
    if m == 0 or t < 0:
        return 0
    k = 0
    if prefix:
        out[0, 0], out[0, 1], out[0, 2], out[0, 3] = t, prefix_end(chars, term_off, t, m), 0, 1
        k = 1
    if n == m:
        out[k, 0], out[k, 1], out[k, 2], out[k, 3] = t, t + 1, 0, 0
        k += 1
    return k


@njit(cache=True, nogil=True, inline="always")
def _first_with(
    chars: NDArray, term_off: NDArray, w: NDArray
) -> tuple[int, int]:  # pragma: no cover - compiled
    """``(t, n)``: the first term starting with ``w`` and its length; ``(-1, 0)``: none."""
    m = w.shape[0]
    t = lower_bound(chars, term_off, w, m)
    if t >= term_off.shape[0] - 1:
        return -1, 0
    a = as_int(term_off[t])
    n = as_int(term_off[t + 1]) - a
    if n < m:
        return -1, 0
    for i in range(m):
        if chars[a + i] != w[i]:
            return -1, 0  # the first term >= w does not start with it: none does
    return t, n


@njit(cache=True, nogil=True)
def exact_df(
    chars: NDArray, term_off: NDArray, cumdf: NDArray, w: NDArray, prefix: bool
) -> int:  # pragma: no cover - compiled
    """Merchants holding ``w`` itself, or (``prefix``) any term ``w`` begins."""
    t, n = _first_with(chars, term_off, w)
    if t < 0:
        return 0
    if not prefix:
        return as_int(cumdf[t + 1] - cumdf[t]) if n == w.shape[0] else 0
    return as_int(cumdf[prefix_end(chars, term_off, t, w.shape[0])] - cumdf[t])


@njit(cache=True, nogil=True, inline="always")
def _segment_arrays(n: int) -> tuple:  # pragma: no cover - compiled
    """Room for ``n`` segments: ``(lo, hi, quality, typed, typos, prefix)``."""
    return (
        np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.float64),
        np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.bool_),
    )  # fmt: skip


@njit(cache=True, nogil=True)
def segments(
    raw: NDArray, n_raw: int, m: int, term_off: NDArray, quality: NDArray
) -> tuple[NDArray, NDArray, NDArray, NDArray, NDArray, NDArray]:  # pragma: no cover
    """Disjoint ``[lo, hi)`` term ranges with the best of the matches covering them:
    ``(lo, hi, quality, typed, typos, prefix)`` (``quality[prefix, typos]``); ``typed > 0``
    marks prefix matches, whose quality the completion of each term scales. A single term
    matched whole (with typos) and as a prefix keeps the better of the two, fixed."""
    bounds = np.unique(np.concatenate((raw[:n_raw, 0], raw[:n_raw, 1])))
    k_max = max(bounds.shape[0] - 1, 0)
    whole = np.full(k_max, _BIG, dtype=np.int64)  # fewest typos, as a whole term
    pref = np.full(k_max, _BIG, dtype=np.int64)  # fewest typos, as a prefix
    for r in range(n_raw):
        k0 = np.searchsorted(bounds, raw[r, 0])
        k1 = np.searchsorted(bounds, raw[r, 1])
        for k in range(k0, k1):
            if raw[r, 3] == 1:
                pref[k] = min(pref[k], raw[r, 2])
            else:
                whole[k] = min(whole[k], raw[r, 2])
    lo, hi, q, typed, typos, is_prefix = _segment_arrays(k_max)
    n = 0
    for k in range(k_max):
        dw, dp = whole[k], pref[k]
        if dw == _BIG and dp == _BIG:
            continue
        a, b = bounds[k], bounds[k + 1]
        if dw == _BIG:
            sq, st, sd, sp = quality[1, dp], m, dp, True
        else:  # a whole-term match is one term: b == a + 1
            sq, st, sd, sp = quality[0, dw], 0, dw, False
            if dp != _BIG:
                qp = quality[1, dp] * completion(m, as_int(term_off[a + 1]) - as_int(term_off[a]))
                if qp > sq:
                    sq, sd, sp = qp, dp, True
        if (n > 0 and hi[n - 1] == a and q[n - 1] == sq and typed[n - 1] == st
                and typos[n - 1] == sd and is_prefix[n - 1] == sp):  # fmt: skip
            hi[n - 1] = b  # neighbours with the same match join
            continue
        lo[n], hi[n], q[n], typed[n], typos[n], is_prefix[n] = a, b, sq, st, sd, sp
        n += 1
    return lo[:n], hi[:n], q[:n], typed[:n], typos[:n], is_prefix[:n]


@njit(cache=True, nogil=True)
def category_scores(
    lo: NDArray, hi: NDArray, q: NDArray, typed: NDArray,
    cw_term: NDArray, cw_code: NDArray, cw_weight: NDArray, cw_len: NDArray, n_codes: int,
) -> NDArray:  # pragma: no cover - compiled  # fmt: skip
    """Each category code's best ``quality [* completion] * weight`` over its words (sorted
    by term id in ``cw_term``) that fall in the segments ``[lo, hi)``."""
    out = np.zeros(n_codes, dtype=np.float64)
    for j in range(lo.shape[0]):
        a = np.searchsorted(cw_term, lo[j])
        b = np.searchsorted(cw_term, hi[j])
        for k in range(a, b):
            s = q[j]
            if typed[j] > 0:
                s = s * completion(typed[j], cw_len[k])
            s = s * cw_weight[k]
            if s > out[cw_code[k]]:
                out[cw_code[k]] = s
    return out


@njit(cache=True, nogil=True)
def match_word(
    chars: NDArray, term_off: NDArray, cumdf: NDArray, w: NDArray, prefix: bool,
    quality: NDArray, cw_term: NDArray, cw_code: NDArray, cw_weight: NDArray,
    cw_len: NDArray, code_count: NDArray,
) -> tuple:  # pragma: no cover - compiled  # fmt: skip
    """One query word's matches in one call: its term segments (:func:`segments`), its
    category scores (:func:`category_scores`), and the merchants its terms and its
    categories reach, and the most it can score (every field at its best: weights, norms
    and completion are <= 1; the kernel's own float operations). Typos count only while
    :func:`exact_df` is under :data:`TYPO_DF`."""
    m = w.shape[0]
    typos = exact_df(chars, term_off, cumdf, w, prefix) < TYPO_DF
    maxd = 0
    if typos:
        for d in range(1, 3):
            if allowed_typos(m, m + d) >= d:
                maxd = d
    pbud = -1
    if prefix:
        pbud = typo_budget(m) if typos else 0
    out = np.empty((256, 4), dtype=np.int64)
    if maxd == 0 and pbud <= 0:  # no typos to look for: two binary searches, no walk
        n = exact_terms(chars, term_off, w, pbud == 0, out)
    else:
        n = fuzzy_terms(chars, term_off, w, max(maxd, pbud), pbud, out)
    while n < 0:
        out = np.empty((4 * out.shape[0], 4), dtype=np.int64)
        n = fuzzy_terms(chars, term_off, w, max(maxd, pbud), pbud, out)
    lo, hi, q, typed, seg_typos, is_prefix = segments(out, n, m, term_off, quality)
    code_q = category_scores(lo, hi, q, typed, cw_term, cw_code, cw_weight, cw_len,
                             code_count.shape[0])  # fmt: skip
    term_df = 0
    for j in range(lo.shape[0]):
        term_df += as_int(cumdf[hi[j]] - cumdf[lo[j]])
    code_df = 0
    cat = 0.0
    for c in range(code_q.shape[0]):
        if code_q[c] > 0:
            code_df += code_count[c]
            cat = max(cat, code_q[c])
    top = q.max() if q.shape[0] else 0.0
    fw = FIELD_WEIGHTS
    best = noisy_or(cat, top * fw[0], top * fw[1], top * fw[2], top * fw[3])
    return lo, hi, q, typed, seg_typos, is_prefix, code_q, term_df, code_df, best


@njit(cache=True, nogil=True)
def match_words(
    chars: NDArray, term_off: NDArray, cumdf: NDArray, w_all: NDArray, w_off: NDArray,
    prefix_last: bool, quality: NDArray, cw_term: NDArray, cw_code: NDArray,
    cw_weight: NDArray, cw_len: NDArray, code_count: NDArray,
) -> tuple:  # pragma: no cover - compiled  # fmt: skip
    """:func:`match_word` of every word of a query in one call (word ``i`` is
    ``w_all[w_off[i]:w_off[i + 1]]``; the last matches as a prefix when
    ``prefix_last``), packed: ``(seg_off, lo, hi, quality, typed, typos, prefix,
    code_q, term_df, code_df, best)`` with word ``i``'s segments at
    ``seg_off[i]:seg_off[i + 1]`` and its category scores at ``code_q[i * n_codes:]``
    (the layout the relevance kernel reads)."""
    nw = w_off.shape[0] - 1
    n_codes = code_count.shape[0]
    seg_off = np.zeros(nw + 1, dtype=np.int64)
    code_q = np.empty(nw * n_codes, dtype=np.float64)
    term_df = np.empty(nw, dtype=np.int64)
    code_df = np.empty(nw, dtype=np.int64)
    best = np.empty(nw, dtype=np.float64)
    got = []
    for i in range(nw):
        r = match_word(chars, term_off, cumdf, w_all[w_off[i] : w_off[i + 1]],
                       prefix_last and i == nw - 1, quality, cw_term, cw_code, cw_weight,
                       cw_len, code_count)  # fmt: skip
        got.append((r[0], r[1], r[2], r[3], r[4], r[5]))
        code_q[i * n_codes : (i + 1) * n_codes] = r[6]
        term_df[i], code_df[i], best[i] = r[7], r[8], r[9]
        seg_off[i + 1] = seg_off[i] + r[0].shape[0]
    total = seg_off[nw]
    lo, hi, q, typed, typos, is_prefix = _segment_arrays(total)
    for i in range(nw):
        a, b = seg_off[i], seg_off[i + 1]
        g = got[i]
        lo[a:b], hi[a:b], q[a:b], typed[a:b], typos[a:b], is_prefix[a:b] = (
            g[0], g[1], g[2], g[3], g[4], g[5]
        )
    return seg_off, lo, hi, q, typed, typos, is_prefix, code_q, term_df, code_df, best


@njit(cache=True, nogil=True)
def gather_points(
    post_off: NDArray, postings: NDArray, lo: NDArray, hi: NDArray,
    order: NDArray, starts: NDArray, codes: NDArray,
) -> NDArray:  # pragma: no cover - compiled  # fmt: skip
    """The points of terms ``[lo[j], hi[j])`` (``postings`` by ``post_off``) and of category
    ``codes`` (``order`` by ``starts``), ascending, each once."""
    size = 0
    for j in range(lo.shape[0]):
        size += as_int(post_off[hi[j]]) - as_int(post_off[lo[j]])
    for c in codes:
        size += as_int(starts[c + 1]) - as_int(starts[c])
    out = np.empty(size, dtype=np.int64)
    n = 0
    for j in range(lo.shape[0]):
        for i in range(as_int(post_off[lo[j]]), as_int(post_off[hi[j]])):
            out[n] = postings[i]
            n += 1
    for c in codes:
        for i in range(as_int(starts[c]), as_int(starts[c + 1])):
            out[n] = order[i]
            n += 1
    out.sort()
    m = 0
    for i in range(n):  # a point may hold many of the terms
        if m == 0 or out[i] != out[m - 1]:
            out[m] = out[i]
            m += 1
    return out[:m]
