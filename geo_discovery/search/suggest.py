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
from .textmatch import TextSearcher

__all__ = ["category_tree", "suggestions"]

Label = Callable[[str], str]


def suggestions(
    planner: Planner,
    text: str,
    positions: NDArray[np.int64],
    distances_m: NDArray[np.float64],
    columns: Mapping[str, Sequence[str]],
    *,
    limit: int,
    label: Label,
) -> Suggestions:
    """A text query's page (``positions``, ``distances_m``; ``columns``: their
    ``merchant_id`` and ``name``) as suggestions, with up to ``limit`` matching
    categories (best score first, then more merchants, then path)."""
    tq = planner.text_query(text)
    searcher = planner.text
    vocab = searcher.vocab
    names = columns["name"]
    points = planner.points_of(positions)
    spans = tq.highlights(names, points)
    merchants = tuple(
        Suggestion(mid, name, vocab[c], d, tuple(hl))
        for mid, name, c, d, hl in zip(
            columns["merchant_id"], names, searcher.codes[points].tolist(),
            distances_m.tolist(), spans, strict=True,
        )
    )  # fmt: skip
    under = _subtree_counts(searcher)  # a category filter matches everything under it
    cats = tuple(
        CategoryCount(vocab[c], searcher.labels.get(vocab[c]) or label(vocab[c]),
                      under[vocab[c]])
        for c, _score in tq.categories()[:limit]
    )  # fmt: skip
    return Suggestions(text, merchants, cats)


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
