"""The search box's other answers: suggestions while typing, and the category tree.

:func:`suggestions` turns one ``best_match`` page of a text query into what an
autocomplete list shows (each merchant with the spans of its name to highlight) plus the
categories whose words match every typed word; :func:`category_tree` lists every
category path and its parents with a label and a merchant count, for filter chips.
Labels come from the text index (the source's own wording, e.g. DOHMH cuisines), else
from ``label`` (the taxonomy's rule, passed in by the engine).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from ..models import CategoryCount, Suggestion, Suggestions
from .planner import Planner

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
    ``merchant_id``, ``name`` and ``category``) as suggestions, with up to ``limit``
    matching categories (best score first, then more merchants, then path)."""
    tq = planner.text_query(text)
    searcher = planner.text
    points = planner.points_of(positions).tolist()
    merchants = tuple(
        Suggestion(mid, name, cat, d, tuple(tq.highlight(name, p)))
        for mid, name, cat, d, p in zip(
            columns["merchant_id"], columns["name"], columns["category"],
            distances_m.tolist(), points, strict=True,
        )
    )  # fmt: skip
    vocab = searcher.vocab
    cats = tuple(
        CategoryCount(vocab[c], searcher.labels.get(vocab[c]) or label(vocab[c]),
                      int(searcher.code_count[c]))
        for c, _score in tq.categories()[:limit]
    )  # fmt: skip
    return Suggestions(text, merchants, cats)


def category_tree(
    codes: NDArray[np.integer], vocab: Sequence[str], labels: Mapping[str, str], label: Label
) -> list[CategoryCount]:
    """Every category path and each of its parents with its label and merchant count (a
    parent counts everything under it), sorted by path."""
    per = np.bincount(codes, minlength=len(vocab)).tolist()
    counts: dict[str, int] = {}
    for path, n in zip(vocab, per, strict=True):
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            key = "/".join(parts[:depth])
            counts[key] = counts.get(key, 0) + n
    return [CategoryCount(p, labels.get(p) or label(p), n) for p, n in sorted(counts.items())]
