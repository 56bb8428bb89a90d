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
    idf,
    kernel_args,
    length_norms,
    relevances,
)
from .textvocab import codes, fuzzy_terms, max_distance, typo_budget

__all__ = ["TextQuery", "TextSearcher", "WordTerms"]

# (quality → (typos, prefix)): the six qualities are distinct.
_KIND = {float(MATCH_QUALITY[p, d]): (d, bool(p)) for p in (0, 1) for d in range(3)}


@dataclass(frozen=True, eq=False)
class WordTerms:
    """One query word's matches: disjoint term-id segments ``[lo, hi)`` with their match
    quality, each category code's score, and the merchants reached (``df``)."""

    word: str
    prefix: bool
    seg_lo: NDArray[np.int64]
    seg_hi: NDArray[np.int64]
    seg_q: NDArray[np.float64]
    code_q: NDArray[np.float64]
    term_df: int
    df: int
    idf: float

    @property
    def best(self) -> float:
        """The most this word can score in any field (field weights and norms are ≤ 1)."""
        top = float(self.seg_q.max()) if len(self.seg_q) else 0.0
        return max(top, float(self.code_q.max()) if len(self.code_q) else 0.0)

    def quality_of(self, t: int) -> float:
        """The match quality of term ``t`` (0: no match)."""
        j = int(np.searchsorted(self.seg_lo, t, side="right")) - 1
        return float(self.seg_q[j]) if j >= 0 and t < self.seg_hi[j] else 0.0


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
            best, where = float(w.code_q[code]), None
            if best > 0:  # which of the category's words gave it
                for t, weight in s.code_words(code):
                    if w.quality_of(t) * weight == best:
                        where = ("category", t)
                        break
            for e in ent:
                t, f = e >> 2, e & 3
                q = w.quality_of(t)
                sc = q * float(FIELD_WEIGHTS[f])
                if f == FIELD_NAME:
                    sc = sc * norm
                if q > 0 and sc > best:
                    best, where = sc, (FIELDS[f], t)
            if where is None:
                parts.append(WordMatch(w.word, None, None, 0, False, 0.0))
                continue
            typos, prefix = _KIND[w.quality_of(where[1])]
            parts.append(WordMatch(w.word, where[0], idx.term(where[1]), typos, prefix, best))
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
            if e & 3 == FIELD_NAME and any(w.quality_of(e >> 2) > 0 for w in self.words)
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
            raise InvalidQueryError(
                f"q={text!r} has no letter or digit to search for", [_problem(text, "no words")]
            )
        if len(words) > MAX_WORDS:
            raise InvalidQueryError(
                f"q has {len(words)} words; allowed: at most {MAX_WORDS}",
                [_problem(text, "too many words")],
            )
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
        lo, hi, q = _segments(out[:n])
        code_q = np.zeros(self.n_codes, dtype=np.float64)
        if len(lo) and len(self._cw_term):
            j = np.searchsorted(lo, self._cw_term, side="right") - 1
            ok = (j >= 0) & (self._cw_term < hi[np.maximum(j, 0)])
            val = np.where(ok, q[np.maximum(j, 0)] * self._cw_weight, 0.0)
            np.maximum.at(code_q, self._cw_code, val)
        term_df = int((self.cumdf[hi] - self.cumdf[lo]).sum())
        df = term_df + int(self.code_count[code_q > 0].sum())
        code_q.flags.writeable = False
        return WordTerms(word, prefix, lo, hi, q, code_q, term_df, df, idf(self.n, df))

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
        pts = np.sort(np.concatenate(parts).astype(np.int64))
        if len(parts) > 1 and len(pts) > 1:
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


def _segments(raw: NDArray[np.int64]) -> tuple[NDArray, NDArray, NDArray]:
    """Disjoint ``[lo, hi)`` term ranges with the best quality of the matches covering them."""
    if len(raw) == 0:
        e = np.empty(0, dtype=np.int64)
        return e, e.copy(), np.empty(0, dtype=np.float64)
    q = MATCH_QUALITY[raw[:, 3], raw[:, 2]]
    bounds = np.unique(np.concatenate([raw[:, 0], raw[:, 1]]))
    best = np.zeros(len(bounds) - 1, dtype=np.float64)
    i0 = np.searchsorted(bounds, raw[:, 0])
    i1 = np.searchsorted(bounds, raw[:, 1])
    for a, b, v in zip(i0.tolist(), i1.tolist(), q.tolist(), strict=True):
        np.maximum(best[a:b], v, out=best[a:b])
    keep = best > 0
    lo, hi, val = bounds[:-1][keep], bounds[1:][keep], best[keep]
    # merge neighbours of equal quality
    start = np.ones(len(lo), dtype=bool)
    start[1:] = (lo[1:] != hi[:-1]) | (val[1:] != val[:-1])
    first = np.flatnonzero(start)
    last = np.append(first[1:], len(lo)) - 1
    out = (lo[first].astype(np.int64), hi[last].astype(np.int64), val[first].astype(np.float64))
    for a in out:
        a.flags.writeable = False
    return out


def _problem(text: str, what: str) -> dict[str, object]:
    return {"parameter": "q", "value": text, "message": f"q {what}"}
