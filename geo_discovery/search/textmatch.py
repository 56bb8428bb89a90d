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
the query, so the per-node bounds of the walk cannot be precomputed. Each word reaches
``df`` merchants (its terms' postings and its categories: an upper bound of its
matches); the plan is chosen from those counts:

* **score the few directly** when the rarest word reaches few merchants, or when the
  words together are rare (``df_min × df_min · Π others' df/N <= 80 N``: scoring them
  costs less than a walk would spend finding ``k`` among so few): the rarest word's
  postings (and its categories' points) are a superset of the matches; every one is
  scored (:func:`~.ranked.candidates_top_k`), O(``df_min``), exact by construction (the
  same score, heap and key order as the walk);
* **walk the trie** otherwise (:func:`~.ranked.topk_one`), with node bounds multiplied by
  ``wmax``, an upper bound of the relevance over all merchants (the idf-weighted mean of
  each word's best possible score). A node's bound still bounds every matching point
  below it (relevance ≤ ``wmax``, rounding is monotone), so the walk's pruning argument
  (:mod:`.ranked`) holds unchanged; a point that does not match is skipped like a masked
  one. Frequent words mean dense matches, so the walk meets ``k`` of them early. When a
  frequent word owes its count to categories ("grocery": thousands of stores) while its
  own terms are few, the matches split in two: the term matches are scored directly,
  and the walk runs over that word's categories only, with node bounds built from their
  points alone (O(points × depth): :meth:`~.ranked.NodeBounds.over_points`), so a node
  full of better-rated merchants of other kinds no longer holds the walk up. Every match
  is in one part or both; the bounds hold for every category point, so the walk's top-k
  among them is exact (it may also meet term matches, which are real matches with their
  true scores); the direct part's top-k is exact; so the merged top-k is too.

Either way the answer is the exact top-k of brute force (``tests/search/test_text*``).
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidCursorError, InvalidQueryError, TextIndexMissingError
from ..models import TextExplanation, WordMatch
from .index import CellIndex
from .ranked import TextFilter
from .textdirect import reached_by_all, text_direct_top_k
from .textindex import TEXT_FORMAT, TextIndex
from .textnorm import is_cjk, query_words, token_spans, typed_words
from .textscore import (
    FIELD_NAME,
    FIELD_WEIGHTS,
    FIELDS,
    MATCH_QUALITY,
    MAX_WORDS,
    category_order,
    completion,
    exactness,
    idf,
    kernel_args,
    length_norms,
    name_matches,
    noisy_or,
    relevances,
    static_args,
)
from .textvocab import codes, gather_points, match_words

__all__ = ["MAX_CJK_CHARS", "TextQuery", "TextSearcher", "WordTerms"]

#: At most this many Chinese, Japanese and Korean characters in a query (the rest are
#: refused). A run of them counts as one word against
#: :data:`~.textscore.MAX_WORDS` (it has no spaces) but is searched as its pairs of
#: neighbouring characters, each a word that must match: this bounds those.
MAX_CJK_CHARS = 64
_DIRECT = 4096  # a word reaching at most this many merchants: score them directly
# The fast lane keeps only the rarest word's points another word reaches too when there
# are more than this many and that word reaches at most this many times as many.
_ALSO_MIN, _ALSO_RATIO = 64, 32


def _packed_view(i: int) -> functools.cached_property[NDArray]:
    """A :class:`WordTerms` property: its view of packed array ``i``, made once."""
    return functools.cached_property(lambda self: self._view(i))


@dataclass(frozen=True, eq=False)  # not slots: cached properties
class WordTerms:
    """One query word's matches: disjoint term-id segments ``[lo, hi)`` with their match
    quality (``seg_m > 0``: a prefix match, scaled by the completion of a term by
    ``seg_m`` typed characters), typos and kind, each category code's score, and the
    merchants reached (``df``).

    The segment arrays are read-only views of the query's packed arrays (``packed``:
    ``lo, hi, quality, typed, typos, prefix, code_q``, this word's segments at
    ``[a, b)`` and its category scores at ``[c0, c1)``), made when first read: the
    search box's fast lane reads only the packed arrays."""

    word: str
    prefix: bool
    packed: tuple = field(repr=False)
    a: int
    b: int
    c0: int
    c1: int
    term_df: int
    df: int
    idf: float
    best: float  # the most this word can score (textvocab.match_word)

    def _view(self, i: int) -> NDArray:
        arr = self.packed[i][self.c0 : self.c1] if i == 6 else self.packed[i][self.a : self.b]
        arr.flags.writeable = False  # the packed arrays stay writable (the kernels read them)
        return arr

    seg_lo = _packed_view(0)
    seg_hi = _packed_view(1)
    seg_q = _packed_view(2)
    seg_m = _packed_view(3)
    seg_typos = _packed_view(4)
    seg_prefix = _packed_view(5)
    code_q = _packed_view(6)

    @functools.cached_property
    def _bounds(self) -> tuple[list[int], list[int]]:
        return self.seg_lo.tolist(), self.seg_hi.tolist()

    def segment_of(self, t: int) -> int:
        """The segment holding term ``t``, or -1."""
        lo, hi = self._bounds
        j = bisect.bisect_right(lo, t) - 1
        return j if j >= 0 and t < hi[j] else -1

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
    #: The words' segments and category scores as the kernels read them (``seg_off,
    #: seg_lo, seg_hi, seg_q, code_q, seg_m``), when parsed together; else joined here.
    packed: tuple | None = field(default=None, repr=False, compare=False)
    _filters: dict[tuple[bool, bool], TextFilter] = field(
        default_factory=dict, repr=False, compare=False
    )

    @functools.cached_property
    def tx(self) -> tuple:
        words = self.words
        packed = self.packed
        if packed is None:
            seg_off = np.zeros(len(words) + 1, dtype=np.int64)
            np.cumsum([len(w.seg_lo) for w in words], out=seg_off[1:])
            packed = (
                seg_off, np.concatenate([w.seg_lo for w in words]),
                np.concatenate([w.seg_hi for w in words]),
                np.concatenate([w.seg_q for w in words]),
                np.concatenate([w.code_q for w in words]),
                np.concatenate([w.seg_m for w in words]),
            )  # fmt: skip
        seg_off, seg_lo, seg_hi, seg_q, code_q, seg_m = packed
        return kernel_args(
            self.searcher.static, seg_off, seg_lo, seg_hi, seg_q, code_q, self.searcher.n_codes,
            np.array([w.idf for w in words]), np.array(self._by_df, dtype=np.int64), seg_m,
        )  # fmt: skip

    @functools.cached_property
    def _by_df(self) -> list[int]:
        """The words, rarest first (a stable sort: ties keep their order)."""
        dfs = [w.df for w in self.words]
        return sorted(range(len(dfs)), key=dfs.__getitem__)

    @functools.cached_property
    def wmax(self) -> float:
        """An upper bound of every merchant's relevance (its float operations, with each
        word at its best and full coverage: every step is monotone)."""
        total = norm = 0.0
        for w in self.words:
            total += w.idf * w.best
            norm += w.idf
        if norm == 0.0:  # every weight 0: no merchant to match (an empty snapshot)
            return 0.0
        mean = total / norm
        return mean * mean * 1.0

    @property
    def est(self) -> int:
        """Merchants the rarest word can reach (an upper bound of the matches)."""
        return min(w.df for w in self.words)

    @functools.cached_property
    def _choice(self) -> tuple[int | None, bool]:
        """``(word, direct)`` of the :attr:`plan`: score the points of word ``word``
        directly (``direct``), or split on it (its terms directly, its categories
        walked); ``(None, False)``: walk every merchant."""
        s = self.searcher
        limit = s.index.post_max  # terms reaching more keep no postings
        dfs = [w.df for w in self.words]
        rarest = dfs.index(min(dfs))
        together = float(dfs[rarest])  # how many match every word, if words were independent
        for i, df in enumerate(dfs):
            if i != rarest:
                together *= df / max(s.n, 1)
        if dfs[rarest] <= limit and (dfs[rarest] <= _DIRECT or dfs[rarest] * together <= 80 * s.n):
            return rarest, True
        split = [i for i, w in enumerate(self.words) if w.term_df <= limit]
        if not split:
            return None, False
        return min(split, key=lambda i: (self.words[i].term_df, -dfs[i])), False

    @functools.cached_property
    def plan(self) -> tuple[NDArray[np.int64] | None, tuple[int, ...] | None]:
        """``(points, codes)``: the matches are among ``points`` (scored directly) and the
        merchants of category ``codes`` (walked); ``codes`` ``None``: walk every merchant
        (module doc)."""
        i, direct = self._choice
        if i is None:
            return None, None
        w, s = self.words[i], self.searcher
        if direct:
            by_code, starts = s.points_by_code
            points = reached_by_all(s.candidates(w).copy(), self.tx, self._also, s.index.post_off,
                                    s.index.postings, by_code, starts, s.n)  # fmt: skip
            points.flags.writeable = False
            return points, ()
        codes = tuple(np.flatnonzero(w.code_q > 0).tolist())
        return s.candidates(w, categories=False), codes

    def direct_top_k(
        self, index: CellIndex, lat: float, lng: float, k: int, quality: NDArray, factor: NDArray
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]] | None:
        """The best_match page (rows, metres, scores) of a direct :attr:`plan` without
        mask, radius or cursor, in one kernel call (:mod:`.textdirect`); ``None`` when
        the plan walks."""
        i, direct = self._choice
        if not direct or i is None:
            return None
        s = self.searcher
        by_code, starts = s.points_by_code
        _caps, _tree, xyz, rank, positions = index.search_arrays
        return text_direct_top_k(
            self.tx, self._direct_order, i, self._also, s.index.post_off,
            s.index.postings, by_code, starts, float(lat), float(lng), int(k), xyz, rank,
            positions, quality, factor, float(self.wmax),
        )  # fmt: skip

    @functools.cached_property
    def _also(self) -> NDArray[np.int64]:
        """The other words whose reach the rarest word's points are cut to in a direct
        :attr:`plan` (:func:`~.textdirect.reached_by_all`): those whose terms all keep
        postings and that reach at most :data:`_ALSO_RATIO` times as many merchants."""
        i, s = self._choice[0], self.searcher
        few = -1 if i is None else self.words[i].df
        return np.array([j for j, w in enumerate(self.words)
                         if j != i and few > _ALSO_MIN and w.term_df <= s.index.post_max
                         and w.df <= _ALSO_RATIO * few], dtype=np.int64)  # fmt: skip

    def filter(self, *, weigh: bool, walk: bool = False) -> TextFilter:
        """The kernels' :class:`~.ranked.TextFilter`: for the direct part of the
        :attr:`plan` (with its points), or for its walk (``walk``); cached."""
        got = self._filters.get((weigh, walk))
        if got is None:
            points = None if walk else self.plan[0]
            tx = self.tx if walk else self._tx_direct
            got = TextFilter(tx, weigh, self.wmax if weigh else 1.0, points)
            self._filters[weigh, walk] = got
        return got

    @functools.cached_property
    def _direct_order(self) -> NDArray[np.int64]:
        """The order words are tried in when scoring the rarest word's points: that word
        last (it matches them all), the others rarest first."""
        rarest = self._by_df[0]  # the first of the rarest
        return np.array([i for i in self._by_df if i != rarest] + [rarest], dtype=np.int64)

    @functools.cached_property
    def _tx_direct(self) -> tuple:
        """:attr:`tx` with the words tried in :attr:`_direct_order`."""
        tx = list(self.tx)
        tx[12] = self._direct_order
        return tuple(tx)

    def first_found(
        self, page: Callable[[TextQuery], tuple[NDArray, ...]]
    ) -> tuple[TextQuery, tuple[NDArray, ...]]:
        """``page(self)`` — or, while it finds nothing (no merchant matches every word) and
        more than one word is left, ``page`` of the query without its last word; with the
        query that answered. When dropping words finds nothing either, the whole query
        answers (empty): no word is said to be dropped that did not help."""
        tq, got = self, page(self)
        first = got
        while len(got[0]) == 0 and (shorter := tq.without_last()) is not None:
            tq, got = shorter, page(shorter)
        return (tq, got) if len(got[0]) else (self, first)

    def without_last(self) -> TextQuery | None:
        """The query with its last word dropped (``None`` when one word is left)."""
        if len(self.words) < 2:
            return None
        return TextQuery(
            self.text, self.words[:-1], (self.words[-1].word, *self.dropped), self.searcher
        )

    def keep_words(self, kept: Any) -> TextQuery:
        """The query a cursor's pages use: all words (``kept`` ``None``), or the first
        ``kept`` (the fallback dropped the rest)."""
        if kept is None:
            return self
        if not isinstance(kept, int) or not 1 <= kept <= len(self.words):
            raise InvalidCursorError("cursor is not valid: its word count does not fit the query")
        tq = self
        while len(tq.words) > kept:
            nxt = tq.without_last()
            assert nxt is not None
            tq = nxt
        return tq

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
        named = [e >> 2 for e in ent if e & 3 == FIELD_NAME]  # the name's terms, as relevance
        covered = sum(any(w.segment_of(t) >= 0 for w in self.words) for t in named)
        exact = float(exactness(covered, len(named)))
        return TextExplanation(self.text, rel, tuple(parts), self.dropped, exact)

    def categories(self) -> list[tuple[int, float]]:
        """``(code, score)`` of the categories whose words match every word, best first
        (score: the idf-weighted mean of the words' category scores; ties: more
        merchants, then path)."""
        s, tx = self.searcher, self.tx
        hit, score = category_order(tx[9], s.n_codes, tx[11], s.path_rank, s.code_count)
        return list(zip(hit.tolist(), score.tolist(), strict=True))

    def highlight(self, name: str, p: int) -> list[tuple[int, int]]:
        """``[start, end)`` spans of ``name`` (point ``p``'s) whose tokens match a word."""
        return self.highlights([name], np.array([p], dtype=np.int64))[0]

    def highlights(
        self, names: Sequence[str], points: NDArray[np.int64]
    ) -> list[list[tuple[int, int]]]:
        """:meth:`highlight` of each ``(name, point)``: one kernel call finds the name terms
        the words match (:func:`~.textscore.name_matches`); only a name with one is split
        into tokens (a match by category, brand, cuisine or street highlights nothing)."""
        which, terms = name_matches(np.ascontiguousarray(points, dtype=np.int64), self.tx)
        matched: list[set[str]] = [set() for _ in names]
        term = self.searcher.term
        for i, t in zip(which.tolist(), terms.tolist(), strict=True):
            matched[i].add(term(t))
        return [
            _merge([(a, b) for tok, a, b in _spans_of(name) if tok in m]) if m else []
            for name, m in zip(names, matched, strict=True)
        ]


@functools.lru_cache(maxsize=16384)
def _spans_of(name: str) -> tuple[tuple[str, int, int], ...]:
    """:func:`~.textnorm.token_spans` of a name, kept (chains and neighbours share names)."""
    return tuple(token_spans(name))


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

    An index of an older format (:attr:`~.textindex.TextIndex.outdated`: its terms were
    tokenised another way than queries now are) is refused with
    :class:`~geo_discovery.errors.TextIndexMissingError`: load the data again.
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
        if index.outdated:  # its terms were made another way than the queries' words
            raise TextIndexMissingError(
                "text search is not available: the snapshot's text index was built by an "
                f"older version of geo-discovery (text index format {index.format}, this "
                f"version searches format {TEXT_FORMAT}: names are normalised differently); "
                "load the data again (geo-discovery load …) to search with q",
                [{"parameter": "q", "value": None, "message": "outdated text index; reload"}],
            )
        self.index = index
        self.codes = np.ascontiguousarray(np.asarray(codes)[positions], dtype=np.int32)
        self.codes.flags.writeable = False
        self.vocab = list(vocab)
        self.n_codes = len(self.vocab)
        self.n = index.n_points
        self.lnorm = length_norms(index.avg_name_len)
        self.static = static_args(index.fwd_off, index.fwd, index.name_len, self.lnorm,
                                  self.codes, index.term_off)  # fmt: skip
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
        by_term = np.argsort(np.array(term_of, dtype=np.int64), kind="stable")
        cw_term = np.array(term_of, dtype=np.int64)[by_term]
        self._cw = (  # every category code's words, sorted by term id, with term lengths
            cw_term,
            np.array(code_of, dtype=np.int64)[by_term],
            np.array(weight_of, dtype=np.float64)[by_term],
            (index.term_off[cw_term + 1].astype(np.int64) - index.term_off[cw_term]).astype(
                np.int64
            ),
        )
        self._terms: dict[int, str] = {}
        self._query = functools.lru_cache(maxsize=512)(self._build_query)

    # ----------------------------------------------------------------- queries
    def query(self, text: str) -> TextQuery:
        """The parsed query (cached); :class:`InvalidQueryError` for one without words, with
        more than :data:`~.textscore.MAX_WORDS` words as typed (a CJK run is one) or more
        than :data:`MAX_CJK_CHARS` CJK characters."""
        return self._query(text)

    def forget(self) -> None:
        """Drop the parsed queries kept so far (a benchmark times texts not yet seen)."""
        self._query.cache_clear()

    def _build_query(self, text: str) -> TextQuery:
        typed = typed_words(text)  # a CJK run is one word here, its pairs in query_words
        if not typed:
            raise _refused(text, f"q={text!r} has no letter or digit to search for")
        if len(typed) > MAX_WORDS:
            raise _refused(text, f"q has {len(typed)} words; allowed: at most {MAX_WORDS}")
        cjk = sum(len(w) for w in typed if is_cjk(w[0]))
        if cjk > MAX_CJK_CHARS:
            raise _refused(text, f"q has {cjk} Chinese, Japanese or Korean characters; "
                                 f"allowed: at most {MAX_CJK_CHARS}")  # fmt: skip
        return self._packed_query(text, query_words(text))

    def _packed_query(self, text: str, words: list[str]) -> TextQuery:
        """The query of ``words``: every word's matches in one kernel call
        (:func:`~.textvocab.match_words`; the last word also as a prefix), packed as
        :attr:`TextQuery.tx` reads them."""
        idx = self.index
        ends = list(itertools.accumulate(len(w) for w in words))  # code points: one in UTF-32
        w_off = np.array([0, *ends], dtype=np.int64)
        got = match_words(
            idx.chars, idx.term_off, self.cumdf, codes("".join(words)), w_off, True,
            MATCH_QUALITY, *self._cw, self.code_count,
        )  # fmt: skip
        seg_off, lo, hi, q, seg_m, typos, is_prefix, code_q, term_df, code_df, best = got
        nc = self.n_codes
        last = len(words) - 1
        bounds = seg_off.tolist()
        arrays = (lo, hi, q, seg_m, typos, is_prefix, code_q)
        n = self.n
        out = [
            WordTerms(w, i == last, arrays, bounds[i], bounds[i + 1], i * nc, (i + 1) * nc,
                      tdf, tdf + cdf, idf(n, tdf + cdf), top)
            for i, (w, tdf, cdf, top) in enumerate(
                zip(words, term_df.tolist(), code_df.tolist(), best.tolist(), strict=True))
        ]  # fmt: skip
        return TextQuery(text, tuple(out), (), self, (seg_off, lo, hi, q, code_q, seg_m))

    def candidates(self, w: WordTerms, *, categories: bool = True) -> NDArray[np.int64]:
        """Every point ``w`` can match (its terms' postings and, with ``categories``, its
        categories' points), ascending."""
        idx = self.index
        order, starts = self.points_by_code
        cats = np.flatnonzero(w.code_q > 0) if categories else np.empty(0, dtype=np.int64)
        pts = gather_points(idx.post_off, idx.postings, w.seg_lo, w.seg_hi, order, starts, cats)
        pts.flags.writeable = False
        return pts

    def points_of_codes(self, codes: tuple[int, ...]) -> NDArray[np.int64]:
        """The points of the merchants of category ``codes``."""
        order, starts = self.points_by_code
        return np.concatenate([order[starts[c] : starts[c + 1]] for c in codes])

    @functools.cached_property
    def points_by_code(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Every point grouped by category code, and where each code's group starts."""
        order = np.argsort(self.codes, kind="stable").astype(np.int64)
        starts = np.zeros(self.n_codes + 1, dtype=np.int64)
        np.cumsum(self.code_count, out=starts[1:])
        return order, starts

    @functools.cached_property
    def labels(self) -> dict[str, str]:
        """The stored label of each category path."""
        return dict(zip(self.index.categories, self.index.labels, strict=True))

    @functools.cached_property
    def path_rank(self) -> NDArray[np.int64]:
        """Each category code's place among the paths sorted (ties of equal scores)."""
        rank = np.empty(self.n_codes, dtype=np.int64)
        rank[sorted(range(self.n_codes), key=self.vocab.__getitem__)] = np.arange(self.n_codes)
        return rank

    def term(self, t: int) -> str:
        """Term ``t`` as a string (decoded once per searcher)."""
        got = self._terms.get(t)
        if got is None:
            got = self._terms[t] = self.index.term(t)
        return got

    def code_words(self, code: int) -> list[tuple[int, float]]:
        """``(term id, weight)`` of a category code's words."""
        cw_term, cw_code, cw_weight, _ = self._cw
        sel = cw_code == code
        return list(zip(cw_term[sel].tolist(), cw_weight[sel].tolist(), strict=True))


def _refused(text: str, message: str) -> InvalidQueryError:
    return InvalidQueryError(message, [{"parameter": "q", "value": text, "message": message}])
