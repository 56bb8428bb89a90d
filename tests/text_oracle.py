"""Brute-force oracle for text search: every merchant's relevance from first principles.

Independent of the text index, the vocabulary walk and the kernels: each merchant's
fields are tokenised row by row (``textnorm``'s tokens are the definition of a token and
are tested on their own), every distinct term is compared with every query word with
``rapidfuzz.distance.OSA`` under the published rules (typo budget by the longer word,
the first character kept, the last word also as a prefix), and the relevance is computed
with the published formula (``geo_discovery.search.textscore``'s docstring) in plain
Python floats, in the same order of operations, so it agrees bit for bit. The ranked
part comes from :mod:`ranking_oracle` (filters, radius, consumption radii, word of mouth).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import ranking_oracle as ro
from numpy.typing import NDArray
from rapidfuzz.distance import OSA

from geo_discovery.distance import chord2_to_m, latlng_to_xyz, m_to_chord2
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.ingest.taxonomy import category_synonyms
from geo_discovery.query import NearbyQuery
from geo_discovery.search.textindex import category_words
from geo_discovery.search.textnorm import address_tokens, query_words, token_spans, tokens

__all__ = ["TextColumns", "brute_text", "match_quality", "word_quality"]

WEIGHTS = {"name": 0.8, "brand": 0.7, "cuisine": 0.6, "address": 0.25}
FIELDS = ("name", "brand", "cuisine", "address")
K1, B = 1.2, 0.75


def budget(n: int) -> int:
    return 0 if n < 5 else 1 if n <= 8 else 2


def match_quality(typos: int, prefix: bool) -> float:
    q = 0.9 if prefix else 1.0
    for _ in range(typos):
        q = q * 0.5
    return q


TYPO_DF = 100


def word_quality(word: str, term: str, *, last: bool, typos: bool = True) -> float:
    """How well ``word`` matches ``term`` (0: not at all), by the published rules;
    ``typos``: whether typo matches count (the word's exact matches are rare)."""
    if not term or not word:
        return 0.0
    best = 0.0
    if term == word:
        return 1.0  # (also a prefix of itself, at most 0.9)
    if last and not typos and term.startswith(word):
        return match_quality(0, True) * ((len(word) + len(term)) / (2.0 * len(term)))
    if typos and term[0] == word[0]:
        d = OSA.distance(word, term)
        own = budget(len(word))
        if d <= (1 if own == 0 and budget(len(term)) > 0 else own):
            best = match_quality(d, False)
        if last:
            pb = budget(len(word))
            d = min(OSA.distance(word, term[:j]) for j in range(1, len(term) + 1))
            if d <= pb:
                done = (min(len(word), len(term)) + len(term)) / (2.0 * len(term))
                best = max(best, match_quality(d, True) * done)
    return best


def _cuisine(attrs: str | None) -> str | None:
    if not attrs:
        return None
    try:
        value = json.loads(attrs).get("cuisine")
    except ValueError:
        return None
    return value if isinstance(value, str) and value else None


class TextColumns:
    """Each row's field terms, name length and category words, read once."""

    def __init__(self, engine: DiscoveryEngine) -> None:
        t = engine.merchants
        self.cols = ro.Columns(engine)
        n = self.n = t.num_rows

        def col(name: str) -> list[Any]:
            return t.column(name).to_pylist() if name in t.column_names else [None] * n

        names, brands, addrs, attrs = col("name"), col("brand"), col("address"), col("attributes")
        syn = category_synonyms()
        cats = self.cols.cats
        self.cat_words = {c: category_words(c, syn) for c in set(cats)}
        self.fields: list[list[tuple[str, str]]] = []
        self.name_len: list[int] = []
        for i in range(n):
            name_toks = tokens(names[i])
            self.name_len.append(min(len(name_toks), 255))
            per: list[tuple[str, str]] = []
            known = {w for w, _ in self.cat_words[cats[i]]}  # the category's own words
            for field, toks in (
                ("name", name_toks),
                ("brand", tokens(brands[i])),
                ("cuisine", [t for t in tokens(_cuisine(attrs[i])) if t not in known]),
                ("address", address_tokens(addrs[i])),
            ):
                per += [(tok, field) for tok in dict.fromkeys(toks)]
            self.fields.append(per)
        lens = [x for x in self.name_len if x > 0]
        self.avgdl = sum(lens) / len(lens) if lens else 1.0
        self.cats = self.cols.cats
        self.cat_count: dict[str, int] = {}
        for c in self.cats:
            self.cat_count[c] = self.cat_count.get(c, 0) + 1
        self.df: dict[str, int] = {}
        for per in self.fields:
            for term in {tok for tok, _ in per}:
                self.df[term] = self.df.get(term, 0) + 1
        self.vocab = set(self.df) | {w for ws in self.cat_words.values() for w, _ in ws}
        self._cache: dict[tuple[tuple[str, ...], int], NDArray[np.float64]] = {}

    def norm(self, dl: int) -> float:
        return min(1.0, (1.0 + K1) / (1.0 + K1 * (1.0 - B + B * dl / self.avgdl)))

    def relevances(self, text: str) -> NDArray[np.float64]:
        """Every row's relevance to ``text`` (0: no match)."""
        words = query_words(text)
        return self.relevances_of(words, len(words))

    def relevances_of(self, words: Sequence[str], n_typed: int) -> NDArray[np.float64]:
        """Relevance with the first words of a query of ``n_typed`` (the last typed one
        alone matches as a prefix); cached per query."""
        key = (tuple(words), n_typed)
        if key not in self._cache:
            self._cache[key] = self._relevances(words, n_typed)
        return self._cache[key]

    def q_terms(self, words: Sequence[str], n_typed: int) -> list[dict[str, float]]:
        """Per word, every term it matches with the match's quality."""
        last = n_typed - 1
        q_terms = []
        for i, w in enumerate(words):
            own = sum(  # merchants holding the word itself, or a term it begins (last word)
                df for t, df in self.df.items() if t == w or (i == last and t.startswith(w))
            )
            q_terms.append(
                {
                    t: q
                    for t in self.vocab
                    if (q := word_quality(w, t, last=i == last, typos=own < TYPO_DF)) > 0
                }
            )
        return q_terms

    def cat_scores(
        self, q_terms: list[dict[str, float]]
    ) -> tuple[list[dict[str, float]], list[float]]:
        """Per word, each category's score (its best word's quality × weight), and the
        word's idf."""
        q_cats = [
            {
                c: max((qt.get(t, 0.0) * wt for t, wt in ws), default=0.0)
                for c, ws in self.cat_words.items()
            }
            for qt in q_terms
        ]
        idfs = []
        for qt, qc in zip(q_terms, q_cats, strict=True):
            df = sum(self.df.get(t, 0) for t in qt) + sum(
                self.cat_count[c] for c, v in qc.items() if v > 0
            )
            idfs.append(math.log(1.0 + self.n / (1.0 + df)))
        return q_cats, idfs

    def categories(self, text: str, kept: int | None = None) -> list[tuple[str, float]]:
        """``(path, score)`` of the categories every word matches, best first (ties:
        more merchants under the path, then path): the paths merchants carry, and their
        parents (scored by the parent's own words, without source synonyms). ``kept``:
        only the first words (the search box's fallback dropped the rest)."""
        words = query_words(text)
        q_terms = self.q_terms(words[:kept], len(words))
        q_cats, idfs = self.cat_scores(q_terms)
        under: dict[str, int] = {}
        for c, n in self.cat_count.items():
            parts = c.split("/")
            for depth in range(1, len(parts) + 1):
                key = "/".join(parts[:depth])
                under[key] = under.get(key, 0) + n
        scores = [{c: qc.get(c, 0.0) for c in self.cat_count} for qc in q_cats]
        for parent in set(under) - set(self.cat_count):
            for qt, sc in zip(q_terms, scores, strict=True):
                sc[parent] = max((qt.get(t, 0.0) * wt for t, wt in category_words(parent)),
                                 default=0.0)  # fmt: skip
        out = []
        for c in under:
            if all(sc[c] > 0 for sc in scores):
                total = norm = 0.0
                for sc, idf in zip(scores, idfs, strict=True):
                    total = total + idf * sc[c]
                    norm += idf
                out.append((c, total / norm))
        return sorted(out, key=lambda cs: (-cs[1], -under[cs[0]], cs[0]))

    def highlight(self, text: str, name: str) -> list[tuple[int, int]]:
        """The spans of ``name`` whose tokens some word of ``text`` matches, overlapping
        and touching spans joined."""
        words = query_words(text)
        q_terms = self.q_terms(words, len(words))
        out: list[tuple[int, int]] = []
        spans = sorted((a, b) for tok, a, b in token_spans(name)
                       if any(tok in qt for qt in q_terms))  # fmt: skip
        for a, b in spans:
            if out and a <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], b))
            else:
                out.append((a, b))
        return out

    def _relevances(self, words: Sequence[str], n_typed: int) -> NDArray[np.float64]:
        q_terms = self.q_terms(words, n_typed)
        q_cats, idfs = self.cat_scores(q_terms)
        out = np.zeros(self.n)
        for row in range(self.n):
            bests = []
            for qt, qc in zip(q_terms, q_cats, strict=True):
                per = dict.fromkeys(FIELDS, 0.0)
                for term, field in self.fields[row]:
                    q = qt.get(term, 0.0)
                    if q > 0:
                        s = q * WEIGHTS[field]
                        if field == "name":
                            s = s * self.norm(self.name_len[row])
                        per[field] = max(per[field], s)
                miss = 1.0 - qc[self.cats[row]]
                for field in FIELDS:
                    miss = miss * (1.0 - per[field])
                best = 1.0 - miss
                if best <= 0.0:
                    break
                bests.append(best)
            else:
                total = norm = 0.0
                for idf, b in zip(idfs, bests, strict=True):
                    total += idf * b
                    norm += idf
                mean = total / norm
                name = [t for t, f in self.fields[row] if f == "name"]
                covered = sum(1 for t in name if any(qt.get(t, 0.0) > 0 for qt in q_terms))
                exact = 0.75 if covered == 0 else 0.5 + 0.5 * covered / len(name)
                out[row] = mean * mean * exact
        return out


def _ranked(
    tc: TextColumns, q: NearbyQuery, rel: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    cols = tc.cols
    qv = latlng_to_xyz(q.lat, q.lng)
    c2 = ((cols.xyz - qv) ** 2).sum(axis=1)
    ok = cols.eligible(replace(q, where=replace(q.where, text=None))) & (rel > 0)
    if q.radius_m is not None:
        ok &= c2 <= float(m_to_chord2(q.radius_m))
    rows = np.flatnonzero(ok)
    # best_match: quality × relevance (a learned profile and a member's lift included)
    prim = cols.primary(q, c2, rel if q.sort == "best_match" else None)
    prim, dist = prim[rows], chord2_to_m(c2[rows])
    order = np.lexsort((cols.rank[rows], dist, -prim))
    return rows[order], prim[order], dist[order]


def brute_text(
    tc: TextColumns, q: NearbyQuery, *, limit: int | None = None
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], int]:
    """Rows, primaries, metres of the whole answer (cut at ``limit``), and how many words
    it kept (the last ones are dropped while nothing matches them all)."""
    assert q.where.text is not None
    words = query_words(q.where.text)
    kept = len(words)
    while True:
        rel = tc.relevances_of(words[:kept], len(words))
        rows, prim, dist = _ranked(tc, q, rel)
        if len(rows) or kept == 1:
            break
        kept -= 1
    if limit is not None:
        rows, prim, dist = rows[:limit], prim[:limit], dist[:limit]
    return rows, prim, dist, kept
