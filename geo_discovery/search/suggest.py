"""The search box's other answers: suggestions while typing, and the category tree.

:func:`suggestions` turns one ``best_match`` page of a text query into what an
autocomplete list shows (each merchant with the spans of its name to highlight) plus the
categories whose words match every typed word; :func:`category_tree` lists every
category path and its parents with a label and a merchant count, for filter chips.
Labels come from the text index (the source's own wording, e.g. DOHMH cuisines), else
from ``label`` (the taxonomy's rule, passed in by the engine).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from ..models import CategoryCount, Suggestion, Suggestions
from .planner import Planner
from .textindex import category_words
from .textmatch import TextQuery, TextSearcher

__all__ = ["category_tree", "suggestions"]

Label = Callable[[str], str]


def suggestions(
    planner: Planner,
    tq: TextQuery,
    positions: NDArray[np.int64],
    distances_m: NDArray[np.float64],
    columns: Mapping[str, Sequence[str]],
    *,
    limit: int,
    label: Label,
) -> Suggestions:
    """A text query's page (``positions``, ``distances_m``; ``columns``: their
    ``merchant_id`` and ``name``) as suggestions, with up to ``limit`` categories
    matching the words ``tq`` kept (best score first, then more merchants, then path):
    ``tq`` is the query that answered, without the words the fallback dropped. The
    highlights are of every typed word (a dropped CJK pair may still match the name)."""
    searcher = planner.text
    vocab = searcher.vocab
    names = columns["name"]
    points = planner.points_of(positions)
    typed = planner.text_query(tq.text) if tq.dropped else tq
    spans = typed.highlights(names, points)
    merchants = tuple(
        Suggestion(mid, name, vocab[c], d, tuple(hl))
        for mid, name, c, d, hl in zip(
            columns["merchant_id"], names, searcher.codes[points].tolist(),
            distances_m.tolist(), spans, strict=True,
        )
    )  # fmt: skip
    under = _subtree_counts(searcher)  # a category filter matches everything under it
    found = [(score, vocab[c]) for c, score in tq.categories()]
    found += _parents_found(searcher, tq)  # `food`, though merchants carry `food/…` only
    found.sort(key=lambda f: (-f[0], -under[f[1]], f[1]))
    cats = tuple(
        CategoryCount(path, searcher.labels.get(path) or label(path), under[path])
        for _, path in found[:limit]
    )  # fmt: skip
    return Suggestions(tq.text, merchants, cats, tq.dropped)


def _parents_found(searcher: TextSearcher, tq: TextQuery) -> list[tuple[float, str]]:
    """``(score, path)`` of the parent categories (paths no merchant carries itself, such as
    ``food`` above ``food/cafe``) whose words match every word of ``tq``, scored as a
    category code is (:func:`~.textscore.category_order`: per word its best term's match
    quality × the term's weight, the path's own level
    :data:`~.textscore.CATEGORY_WEIGHT`, its parents' less; the idf-weighted mean)."""
    paths, terms, weights, starts, length = _parent_words(searcher)
    if not paths:
        return []
    total, norm = np.zeros(len(paths)), 0.0
    for w in tq.words:
        if not len(w.seg_lo):  # the word matches no term: no category has it
            return []
        j = np.searchsorted(w.seg_lo, terms, side="right") - 1
        ok = j >= 0
        ok[ok] = terms[ok] < w.seg_hi[j[ok]]
        jj = np.where(ok, j, 0)
        q = np.where(ok, w.seg_q[jj], 0.0)
        typed = w.seg_m[jj].astype(np.float64)
        done = (np.minimum(typed, length) + length) / (2.0 * length)  # completion()
        q = np.where(ok & (typed > 0), q * done, q) * weights
        best = np.maximum.reduceat(q, starts)
        total = np.where(best > 0, total + w.idf * best, -np.inf)
        norm += w.idf
    hit = np.flatnonzero(total > 0)
    return [(float(total[i] / norm), paths[i]) for i in hit.tolist()]


_PARENTS: weakref.WeakKeyDictionary[TextSearcher, tuple] = weakref.WeakKeyDictionary()


def _parent_words(
    searcher: TextSearcher,
) -> tuple[list[str], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray]:
    """The parent paths (sorted) and their words' term ids, weights and lengths
    (:func:`~.textindex.category_words` of each, the terms the vocabulary holds), one run
    per path from ``starts``; once per searcher."""
    got = _PARENTS.get(searcher)
    if got is None:
        carried = set(searcher.vocab)
        paths: list[str] = []
        terms: list[int] = []
        weights: list[float] = []
        starts: list[int] = []
        for path in sorted({q.rsplit("/", d)[0] for q in searcher.vocab
                            for d in range(1, q.count("/") + 1)} - carried):  # fmt: skip
            words = [(searcher.index.term_id(t), w) for t, w in category_words(path)]
            words = [(t, w) for t, w in words if t >= 0]
            if words:
                paths.append(path)
                starts.append(len(terms))
                terms += [t for t, _ in words]
                weights += [w for _, w in words]
        ids = np.array(terms, dtype=np.int64)
        off = searcher.index.term_off
        length = (off[ids + 1] - off[ids]).astype(np.float64)  # characters of each term
        got = _PARENTS[searcher] = (paths, ids, np.array(weights, dtype=np.float64),
                                    np.array(starts, dtype=np.int64), length)  # fmt: skip
    return got


def category_tree(
    codes: NDArray[np.integer], vocab: Sequence[str], labels: Mapping[str, str], label: Label
) -> list[CategoryCount]:
    """Every category path and each of its parents with its label and merchant count (a
    parent counts everything under it), sorted by path."""
    counts = _prefix_counts(vocab, np.bincount(codes, minlength=len(vocab)).tolist())
    return [CategoryCount(p, labels.get(p) or label(p), n) for p, n in sorted(counts.items())]


def _prefix_counts(vocab: Sequence[str], per: Sequence[int]) -> dict[str, int]:
    """Merchants per category path and per each of its parents (a parent counts
    everything under it)."""
    counts: dict[str, int] = {}
    for path, n in zip(vocab, per, strict=True):
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            key = "/".join(parts[:depth])
            counts[key] = counts.get(key, 0) + int(n)
    return counts


_SUBTREE: weakref.WeakKeyDictionary[TextSearcher, dict[str, int]] = weakref.WeakKeyDictionary()


def _subtree_counts(searcher: TextSearcher) -> dict[str, int]:
    """Per category path, the merchants under it; once per searcher (one per snapshot),
    forgotten with it."""
    got = _SUBTREE.get(searcher)
    if got is None:
        got = _SUBTREE[searcher] = _prefix_counts(searcher.vocab, searcher.code_count.tolist())
    return got
