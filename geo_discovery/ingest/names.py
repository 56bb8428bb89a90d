"""Column names: suggestions for misspellings, duplicates, shapefile-shortened names.

- :func:`did_you_mean` turns a name that is not there into a hint naming the closest
  ones (``did you mean 'business_name'?``), for mappings, profiles and options alike.
- :func:`duplicate_columns` finds header names given twice (compared stripped and
  case-insensitively); reading such a column fails naming both positions, since which
  one holds the value cannot be known (see :func:`~geo_discovery.ingest.staging.column`).
- :func:`restore_truncated` maps names cut to 10 characters by the shapefile's DBF
  format (``review_cou``) back to the one known name they start (``review_count``).
  When several names were cut to the same 10 characters, GDAL keeps the first 8 and
  numbers the others (``review_sco``, ``review_s_1``…, in the original column order,
  which is unknown): none of them is restored, a note names the candidates.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

__all__ = ["DBF_NAME_LENGTH", "did_you_mean", "duplicate_columns", "restore_truncated"]

#: Longest field name a shapefile's DBF table holds.
DBF_NAME_LENGTH = 10
#: GDAL's ending for a cut name that was already taken: the first 8 characters, then
#: ``_1`` … ``_9``, then ``10`` … ``99``.
_RENUMBERED = re.compile(r"_\d|\d\d")


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``options``, or ``""``.

    Examples
    --------
    >>> did_you_mean("busines_name", ["name", "business_name", "lat"])
    " (did you mean 'business_name'?)"
    >>> did_you_mean("Name", ["name", "lat"])
    " (did you mean 'name'?)"
    >>> did_you_mean("nys", ["osm_poi", "nys_retail_food"])
    " (did you mean 'nys_retail_food'?)"
    >>> did_you_mean("zzz", ["name"])
    ''
    """
    pool = list(dict.fromkeys(options))
    lower = {o.lower(): o for o in pool}
    if word.strip().lower() in lower and lower[word.strip().lower()] != word:
        close = [lower[word.strip().lower()]]
    else:
        close = difflib.get_close_matches(word, pool, n=2, cutoff=0.75)
        if not close:
            hits = difflib.get_close_matches(word.lower(), list(lower), n=2, cutoff=0.75)
            close = [lower[h] for h in hits]
        stem = word.strip().lower()
        if not close and len(stem) >= 2:  # the start of a longer name ("nys")
            close = [o for low, o in lower.items() if low.startswith(stem)][:2]
    if not close:
        return ""
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)"


def duplicate_columns(header: list[str]) -> dict[str, list[int]]:
    """Names (lower-case, stripped) given more than once → their 1-based positions.

    Examples
    --------
    >>> duplicate_columns(["id", "name", "lat", "Name ", "lng"])
    {'name': [2, 4]}
    """
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(header, 1):
        key = name.strip().lower()
        if key:
            seen.setdefault(key, []).append(i)
    return {k: v for k, v in seen.items() if len(v) > 1}


def restore_truncated(columns: list[str], known: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """``(renames, unresolved)`` for names that look cut to :data:`DBF_NAME_LENGTH`.

    A column of exactly 10 characters that is not itself a known name and starts exactly
    one known longer name is renamed to it; when several known names share that start,
    it is listed in ``unresolved`` (as ``"review_sco: review_scores_rating or …"``).
    Columns GDAL renumbered (``review_s_1``: several names were cut to the same 10
    characters) and the one they clashed with are never renamed: which is which cannot be
    known; they are listed in ``unresolved`` with the known names they may be.

    Examples
    --------
    >>> restore_truncated(["name", "review_cou", "reviews_pe"],
    ...                   ["review_count", "reviews_per_month", "name"])
    ({'review_cou': 'review_count', 'reviews_pe': 'reviews_per_month'}, [])
    >>> restore_truncated(["fsq_catego", "fsq_cate_1"],
    ...                   ["fsq_category_ids", "fsq_category_labels"])
    ({}, ['fsq_catego, fsq_cate_1 (cut to the same start; GDAL numbered the repeats): \
fsq_category_ids or fsq_category_labels'])
    """
    known_set = {k.lower(): k for k in known}
    present = {c.lower() for c in columns}
    clashed = {c[:8].lower() for c in columns
               if len(c) == DBF_NAME_LENGTH and _RENUMBERED.fullmatch(c[8:])}
    groups: dict[str, list[str]] = {}
    renames: dict[str, str] = {}
    unresolved: list[str] = []
    for col in columns:
        low = col.lower()
        if len(col) != DBF_NAME_LENGTH or low in known_set:
            continue
        if low[:8] in clashed:
            groups.setdefault(low[:8], []).append(col)
            continue
        matches = _longer_known(low, known_set, present)
        if len(matches) == 1:
            renames[col] = matches[0]
        elif matches:
            unresolved.append(f"{col}: {' or '.join(matches)}")
    for stem, cols in groups.items():
        # GDAL renumbers a name whose cut was taken: all start like the one not renumbered
        plain = [c.lower() for c in cols if not _RENUMBERED.fullmatch(c[8:])]
        matches = _longer_known(plain[0] if len(plain) == 1 else stem, known_set, present)
        if matches:
            unresolved.append(f"{', '.join(cols)} (cut to the same start; GDAL numbered the "
                              f"repeats): {' or '.join(matches)}")
    targets = list(renames.values())
    for col in [c for c in renames if targets.count(renames[c]) > 1]:
        unresolved.append(f"{col}: {renames.pop(col)}")
    return renames, unresolved


def _longer_known(start: str, known: dict[str, str], present: set[str]) -> list[str]:
    """Known names longer than a DBF name that begin with ``start`` and are not columns."""
    return sorted({k for lk, k in known.items()
                   if len(lk) > DBF_NAME_LENGTH and lk.startswith(start) and lk not in present})
