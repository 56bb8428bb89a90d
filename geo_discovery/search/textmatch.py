"""Text queries: from the search box's words to what the ranked walk needs, and back to
explanations and highlights.

:class:`TextSearcher` holds one snapshot's text state (the :class:`~.textindex.TextIndex`
and each category code's words); :meth:`TextSearcher.query` turns a text into a
:class:`TextQuery`: per word the term-id segments it matches (exact, prefix, typos:
:mod:`.textvocab`) with their match quality, the category codes it matches, its document
frequency and idf (:mod:`.textscore` has the formula).

How a text query stays exact and fast
-------------------------------------
The blended score is ``quality × relevance / (1 + c2 · K)``; the relevance depends on
the query, so the per-node bounds of the walk cannot be precomputed. Two plans, chosen
per query by the number of merchants the rarest word can reach (``df``, an upper bound
of the matches):

* **few** (``df <= post_max`` of the index, at least 4,096 and ``n / 64``): the rarest
  word's postings (and its categories' points) are a superset of the matches; every
  one is scored directly (:func:`~.ranked.candidates_top_k`), O(matches), exact by
  construction (the same score, heap and key order as the walk);
* **many**: the trie walk (:func:`~.ranked.topk_one`) with node bounds multiplied by
  ``wmax``, an upper bound of the relevance over all merchants (the idf-weighted mean of
  each word's best possible score). A node's bound still bounds every matching point
  below it (relevance ≤ ``wmax``, rounding is monotone), so the walk's pruning argument
  (:mod:`.ranked`) holds unchanged; a point that does not match is skipped like a masked
  one. When a frequent word owes its count to categories ("grocery": thousands of
  stores) while its own terms are few, the matches split in two: the few term matches
  are scored directly, and the walk runs over that word's categories only, with node
  bounds built for them (cached per category set, like a category filter's), so a node
  full of better-rated merchants of other kinds no longer holds the walk up. Every match
  is in one part or both, each part's top-k is exact, so the merged top-k is too.
  Otherwise the walk uses the query's static bounds over every merchant.

Either way the answer is the exact top-k of brute force (``tests/search/test_text*``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidQueryError
from ..models import TextExplanation, WordMatch
from .ranked import TextFilter
from .textindex import TextIndex
from .textnorm import query_words, token_spans
from .textscore import (
    FIELD_NAME,
    FIELD_WEIGHTS,
    FIELDS,
    MATCH_QUALITY,
    MAX_WORDS,
    completion,
    idf,
    kernel_args,
    length_norms,
    noisy_or,
    relevances,
)
from .textvocab import codes, fuzzy_terms, max_distance, typo_budget

__all__ = ["TextQuery", "TextSearcher", "WordTerms"]

_NONE = 99  # "no match of this kind" while building segments


@dataclass(frozen=True, eq=False)
class WordTerms:
    """One query word's matches: disjoint term-id segments ``[lo, hi)`` with their match
    quality (``seg_m > 0``: a prefix match, scaled by the completion of a term by
    ``seg_m`` typed characters), typos and kind, each category code's score, and the
    merchants reached (``df``)."""

    word: str
    prefix: bool
    seg_lo: NDArray[np.int64]
    seg_hi: NDArray[np.int64]
    seg_q: NDArray[np.float64]
    seg_m: NDArray[np.int64]
    seg_typos: NDArray[np.int64]
    seg_prefix: NDArray[np.bool_]
    code_q: NDArray[np.float64]
    term_df: int
    df: int
    idf: float

    @property
    def best(self) -> float:
        """The most this word can score (every field at its best; weights, norms and
        completion are ≤ 1), by the kernel's own float operations."""
        top = float(self.seg_q.max()) if len(self.seg_q) else 0.0
        cat = float(self.code_q.max()) if len(self.code_q) else 0.0
        return noisy_or(cat, *(top * float(w) for w in FIELD_WEIGHTS))

    def segment_of(self, t: int) -> int:
        """The segment holding term ``t``, or -1."""
        j = int(np.searchsorted(self.seg_lo, t, side="right")) - 1
        return j if j >= 0 and t < self.seg_hi[j] else -1

    def quality_of(self, t: int, term_off: NDArray) -> float:
        """The match quality of term ``t`` (0: no match), as the kernel computes it."""
        j = self.segment_of(t)
        if j < 0:
            return 0.0
        q = float(self.seg_q[j])
        m = int(self.seg_m[j])
        if m > 0:
            q = q * completion(m, int(term_off[t + 1]) - int(term_off[t]))
        return q


@dataclass(frozen=True, eq=False)
class TextQuery:
    """A parsed text query: its words' matches and the kernels' view of it."""

    text: str
    words: tuple[WordTerms, ...]
    dropped: tuple[str, ...]
    searcher: TextSearcher

    @functools.cached_property
    def tx(self) -> tuple:
        s = self.searcher
        idx = s.index
        seg_off = np.zeros(len(self.words) + 1, dtype=np.int64)
        np.cumsum([len(w.seg_lo) for w in self.words], out=seg_off[1:])
        cat = lambda xs: np.concatenate(xs) if xs else np.empty(0)  # noqa: E731
        return kernel_args(
            idx.fwd_off, idx.fwd, idx.name_len, s.lnorm, seg_off,
            cat([w.seg_lo for w in self.words]), cat([w.seg_hi for w in self.words]),
            cat([w.seg_q for w in self.words]), cat([w.code_q for w in self.words]),
            s.n_codes, np.array([w.idf for w in self.words]),
            np.argsort([w.df for w in self.words], kind="stable"), s.codes,
            cat([w.seg_m for w in self.words]), idx.term_off,
        )  # fmt: skip

    @property
    def wmax(self) -> float:
        """An upper bound of every merchant's relevance (same float operations)."""
        total = norm = 0.0
        for w in self.words:
            total += w.idf * w.best
            norm += w.idf
        return total / norm

    @property
    def est(self) -> int:
        """Merchants the rarest word can reach (an upper bound of the matches)."""
        return min(w.df for w in self.words)

    @functools.cached_property
    def plan(self) -> tuple[NDArray[np.int64] | None, tuple[int, ...] | None]:
        """``(points, codes)``: the matches are among ``points`` (scored directly) and the
        merchants of category ``codes`` (walked); ``codes`` ``None``: walk every merchant
        (module doc)."""
        s = self.searcher
        limit = s.index.post_max
        if self.est <= limit:
            return s.candidates(min(self.words, key=lambda w: w.df)), ()
        split = [w for w in self.words if w.term_df <= limit]
        if not split:
            return None, None
        w = min(split, key=lambda w: (w.term_df, -w.df))
        codes = tuple(np.flatnonzero(w.code_q > 0).tolist())
        return s.candidates(w, categories=False), codes

    def filter(self, *, weigh: bool, walk: bool = False) -> TextFilter:
        """The kernels' :class:`~.ranked.TextFilter`: for the direct part of the
        :attr:`plan` (with its points), or for its walk (``walk``)."""
        points = None if walk else self.plan[0]
        return TextFilter(self.tx, weigh, self.wmax if weigh else 1.0, points)

    def without_last(self) -> TextQuery | None:
        """The query with its last word dropped (``None`` when one word is left)."""
        if len(self.words) < 2:
            return None
        return TextQuery(
            self.text, self.words[:-1], (self.words[-1].word, *self.dropped), self.searcher
        )

    def relevance(self, points: NDArray[np.int64]) -> NDArray[np.float64]:
        """Each point's relevance, as the kernels compute it (0: no match)."""
        return relevances(np.ascontiguousarray(points, dtype=np.int64), self.tx)

    def explain(self, p: int) -> TextExplanation:
        """Which field and term each word matched at point ``p``: typos, prefix, score."""
        s = self.searcher
        idx = s.index
        code = int(s.codes[p])
        ent = idx.fwd[int(idx.fwd_off[p]) : int(idx.fwd_off[p + 1])].tolist()
        norm = float(s.lnorm[int(idx.name_len[p])])
        parts = []
        for w in self.words:
            cat = float(w.code_q[code])
            fields = [0.0] * len(FIELDS)
            best, where = cat, None
            if cat > 0:  # which of the category's words gave it
                for t, weight in s.code_words(code):
                    if w.quality_of(t, idx.term_off) * weight == cat:
                        where = ("category", t)
                        break
            for e in ent:
                t, f = e >> 2, e & 3
                q = w.quality_of(t, idx.term_off)
                sc = q * float(FIELD_WEIGHTS[f])
                if f == FIELD_NAME:
                    sc = sc * norm
                if q > 0 and sc > fields[f]:
                    fields[f] = sc
                    tie = sc == best and where is not None and where[0] == "category"
                    if sc > best or tie:  # on a tie the merchant's own field tells more
                        best, where = sc, (FIELDS[f], t)
            if where is None:
                parts.append(WordMatch(w.word, None, None, 0, False, 0.0))
                continue
            j = w.segment_of(where[1])
            typos, prefix = int(w.seg_typos[j]), bool(w.seg_prefix[j])
            score = noisy_or(cat, *fields)
            parts.append(WordMatch(w.word, where[0], idx.term(where[1]), typos, prefix, score))
        rel = float(self.relevance(np.array([p]))[0])
        return TextExplanation(self.text, rel, tuple(parts), self.dropped)

    def categories(self) -> list[tuple[int, float]]:
        """``(code, score)`` of the categories whose words match every word, best first
        (score: the idf-weighted mean of the words' category scores; ties: more
        merchants, then path)."""
        s = self.searcher
        ok = np.ones(s.n_codes, dtype=bool)
        total = np.zeros(s.n_codes)
        norm = 0.0
        for w in self.words:
            ok &= w.code_q > 0
            total = total + w.idf * w.code_q
            norm += w.idf
        hit = np.flatnonzero(ok)
        score = total[hit] / norm
        order = sorted(
            range(len(hit)), key=lambda i: (-score[i], -s.code_count[hit[i]], s.vocab[hit[i]])
        )
        return [(int(hit[i]), float(score[i])) for i in order]

    def highlight(self, name: str, p: int) -> list[tuple[int, int]]:
        """``[start, end)`` spans of ``name`` (point ``p``'s) whose tokens match a word."""
        idx = self.searcher.index
        ent = idx.fwd[int(idx.fwd_off[p]) : int(idx.fwd_off[p + 1])].tolist()
        matched = {
            idx.term(e >> 2)
            for e in ent
            if e & 3 == FIELD_NAME and any(w.segment_of(e >> 2) >= 0 for w in self.words)
        }
        return _merge([(a, b) for tok, a, b in token_spans(name) if tok in matched])


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


class TextSearcher:
    """One snapshot's text search state. Build once, query many times (thread-safe).

    Parameters
    ----------
    index
        The snapshot's :class:`~.textindex.TextIndex`, built for the cell order
        ``positions`` (each point's table row, ``CellIndex.positions``).
    codes, vocab
        Each table row's category code and the category paths of the codes.
    """

    def __init__(
        self,
        index: TextIndex,
        positions: NDArray[np.integer],
        codes: NDArray[np.integer],
        vocab: list[str],
    ) -> None:
        if index.n_points != len(codes) or len(positions) != len(codes):
            raise ValueError(f"text index has {index.n_points} points, the table {len(codes)}")
        self.index = index
        self.codes = np.ascontiguousarray(np.asarray(codes)[positions], dtype=np.int32)
        self.codes.flags.writeable = False
        self.vocab = list(vocab)
        self.n_codes = len(self.vocab)
        self.n = index.n_points
        self.lnorm = length_norms(index.avg_name_len)
        self.code_count = np.bincount(self.codes, minlength=self.n_codes).astype(np.int64)
        self.cumdf = np.zeros(index.n_terms + 1, dtype=np.int64)
        np.cumsum(index.df, out=self.cumdf[1:])
        stored = {p: i for i, p in enumerate(index.categories)}
        code_of, term_of, weight_of = [], [], []
        for c, path in enumerate(self.vocab):
            i = stored.get(path)
            if i is None:
                continue
            a, b = int(index.cat_off[i]), int(index.cat_off[i + 1])
            code_of += [c] * (b - a)
            term_of += index.cat_term[a:b].tolist()
            weight_of += index.cat_weight[a:b].tolist()
        self._cw_code = np.array(code_of, dtype=np.int64)
        self._cw_term = np.array(term_of, dtype=np.int64)
        self._cw_weight = np.array(weight_of, dtype=np.float64)
        self._query = functools.lru_cache(maxsize=512)(self._build_query)

    # ----------------------------------------------------------------- queries
    def query(self, text: str) -> TextQuery:
        """The parsed query (cached); :class:`InvalidQueryError` for one without words."""
        return self._query(text)

    def _build_query(self, text: str) -> TextQuery:
        words = query_words(text)
        if not words:
            raise _refused(text, f"q={text!r} has no letter or digit to search for")
        if len(words) > MAX_WORDS:
            raise _refused(text, f"q has {len(words)} words; allowed: at most {MAX_WORDS}")
        last = len(words) - 1
        return TextQuery(
            text, tuple(self._word(w, prefix=i == last) for i, w in enumerate(words)), (), self
        )

    def _word(self, word: str, *, prefix: bool) -> WordTerms:
        idx = self.index
        w = codes(word)
        m = len(w)
        pbud = typo_budget(m) if prefix else -1
        out = np.empty((256, 4), dtype=np.int64)
        while (n := fuzzy_terms(idx.chars, idx.term_off, w, max(max_distance(m), pbud), pbud,
                                out)) < 0:  # fmt: skip
            out = np.empty((4 * len(out), 4), dtype=np.int64)
        lo, hi, q, seg_m, typos, is_prefix = _segments(out[:n], m, idx.term_off)
        code_q = np.zeros(self.n_codes, dtype=np.float64)
        if len(lo) and len(self._cw_term):
            j = np.maximum(np.searchsorted(lo, self._cw_term, side="right") - 1, 0)
            ok = (self._cw_term >= lo[j]) & (self._cw_term < hi[j])
            length = (idx.term_off[self._cw_term + 1].astype(np.int64)
                      - idx.term_off[self._cw_term].astype(np.int64))  # fmt: skip
            typed = np.minimum(seg_m[j], length)
            scale = np.where(seg_m[j] > 0, (typed + length) / (2.0 * length), 1.0)
            val = np.where(ok, np.where(seg_m[j] > 0, q[j] * scale, q[j]) * self._cw_weight, 0.0)
            np.maximum.at(code_q, self._cw_code, val)
        term_df = int((self.cumdf[hi] - self.cumdf[lo]).sum())
        df = term_df + int(self.code_count[code_q > 0].sum())
        code_q.flags.writeable = False
        return WordTerms(
            word, prefix, lo, hi, q, seg_m, typos, is_prefix, code_q, term_df, df, idf(self.n, df)
        )

    def candidates(self, w: WordTerms, *, categories: bool = True) -> NDArray[np.int64]:
        """Every point ``w`` can match (its terms' postings and, with ``categories``, its
        categories' points), ascending."""
        idx = self.index
        parts: list[NDArray[np.integer]] = [
            idx.postings[int(idx.post_off[a]) : int(idx.post_off[b])]
            for a, b in zip(w.seg_lo.tolist(), w.seg_hi.tolist(), strict=True)
        ]
        if categories:
            order, starts = self._points_by_code
            for c in np.flatnonzero(w.code_q > 0).tolist():
                parts.append(order[starts[c] : starts[c + 1]])
        if not parts:
            return np.empty(0, dtype=np.int64)
        pts = np.sort(np.concatenate(parts).astype(np.int64))  # a point may hold many terms
        if len(pts) > 1:
            pts = pts[np.concatenate(([True], pts[1:] != pts[:-1]))]
        pts.flags.writeable = False
        return pts

    @functools.cached_property
    def _points_by_code(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        order = np.argsort(self.codes, kind="stable").astype(np.int64)
        starts = np.zeros(self.n_codes + 1, dtype=np.int64)
        np.cumsum(self.code_count, out=starts[1:])
        return order, starts

    @functools.cached_property
    def labels(self) -> dict[str, str]:
        """The stored label of each category path."""
        return dict(zip(self.index.categories, self.index.labels, strict=True))

    def code_words(self, code: int) -> list[tuple[int, float]]:
        """``(term id, weight)`` of a category code's words."""
        sel = self._cw_code == code
        return list(zip(self._cw_term[sel].tolist(), self._cw_weight[sel].tolist(), strict=True))


def _segments(
    raw: NDArray[np.int64], m: int, term_off: NDArray
) -> tuple[NDArray, NDArray, NDArray, NDArray, NDArray, NDArray]:
    """Disjoint ``[lo, hi)`` term ranges with the best match of those covering them:
    ``(lo, hi, quality, typed, typos, prefix)``; ``typed > 0`` marks a range of prefix
    matches whose quality the completion of each term scales. A single term matched
    whole (with typos) and as a prefix keeps the better of the two, fixed."""
    if len(raw) == 0:
        e = np.empty(0, dtype=np.int64)
        return e, e, np.empty(0), e, e, np.empty(0, dtype=bool)
    bounds = np.unique(np.concatenate([raw[:, 0], raw[:, 1]]))
    whole = np.full(len(bounds) - 1, _NONE, dtype=np.int64)  # fewest typos, whole term
    pref = np.full(len(bounds) - 1, _NONE, dtype=np.int64)  # fewest typos, as a prefix
    i0 = np.searchsorted(bounds, raw[:, 0])
    i1 = np.searchsorted(bounds, raw[:, 1])
    for a, b, d, p in zip(i0.tolist(), i1.tolist(), raw[:, 2].tolist(), raw[:, 3].tolist(),
                          strict=True):  # fmt: skip
        kind = pref if p else whole
        np.minimum(kind[a:b], d, out=kind[a:b])
    rows = []
    for k in np.flatnonzero((whole < _NONE) | (pref < _NONE)).tolist():
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        dw, dp = int(whole[k]), int(pref[k])
        if dw == _NONE:
            rows.append((lo, hi, float(MATCH_QUALITY[1, dp]), m, dp, True))
            continue
        qw = float(MATCH_QUALITY[0, dw])  # a whole-term match is one term: hi == lo + 1
        if dp < _NONE:
            qp = float(MATCH_QUALITY[1, dp]) * completion(m, int(term_off[lo + 1] - term_off[lo]))
            if qp > qw:
                rows.append((lo, hi, qp, 0, dp, True))
                continue
        rows.append((lo, hi, qw, 0, dw, False))
    merged: list[tuple[int, int, float, int, int, bool]] = []
    for row in rows:  # neighbours with the same match join
        if merged and merged[-1][1] == row[0] and merged[-1][2:] == row[2:]:
            merged[-1] = (merged[-1][0], *row[1:])
        else:
            merged.append(row)
    cols = list(zip(*merged, strict=True))
    out = (
        np.array(cols[0], dtype=np.int64), np.array(cols[1], dtype=np.int64),
        np.array(cols[2], dtype=np.float64), np.array(cols[3], dtype=np.int64),
        np.array(cols[4], dtype=np.int64), np.array(cols[5], dtype=bool),
    )  # fmt: skip
    for a in out:
        a.flags.writeable = False
    return out


def _refused(text: str, message: str) -> InvalidQueryError:
    return InvalidQueryError(message, [{"parameter": "q", "value": text, "message": message}])
