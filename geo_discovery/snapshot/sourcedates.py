"""Each source file's "today" for word of mouth, carried from snapshot to snapshot.

Word of mouth ages reviews from the newest date of each source file (a 2015 scrape
beside a 2023 one is scored as of its own date). Measured anew from the rows of each
snapshot, that date moved with every upsert: three unchanged rows sent again as a
small file had a "today" 2.5 years earlier than their original file's, and their
confidence doubled; rows removed from a file could lower its date and re-age the rest.

A file of an upsert therefore counts as at least as recent as the other files whose
rows it replaces (its *parents*), as their remaining rows date them in each snapshot:
the relation is kept while the file's rows stay (``derived.reputation.as_of_parents``,
carried by later upserts and deletes), never a date. So a wrong date corrected by an
upsert or a delete stops counting, for the correcting file too (a date carried as a
floor kept one 2025 typo for good, and passed it to a corrected file sent whole under
another name). ``replace`` starts afresh. The relation goes to the word-of-mouth
deriver as ``source_dates.json`` in the snapshot (``{file: [parent files]}``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

__all__ = ["SOURCE_DATES", "carried_dates", "write_source_dates"]

SOURCE_DATES = "source_dates.json"


def carried_dates(
    manifest: Mapping[str, Any] | None, mode: str,
    previous: pa.Table | None = None, new: pa.Table | None = None,
) -> dict[str, list[str]]:
    """Each upsert file's parents for the next snapshot: the other source files whose rows
    it replaced, this time or before (kept while its rows stay).

    Examples
    --------
    >>> old = pa.table({"merchant_id": ["a", "b"], "source_file": ["dc.csv"] * 2})
    >>> delta = pa.table({"merchant_id": ["a"], "source_file": ["dc_delta.csv"]})
    >>> carried_dates({}, "upsert", old, delta)
    {'dc_delta.csv': ['dc.csv']}
    >>> carried_dates({}, "upsert", old, old)  # a file sent again: dated by its own rows
    {}
    >>> carried_dates({}, "replace", old, delta)
    {}
    """
    if mode == "replace" or manifest is None:
        return {}
    reputation = (manifest.get("derived") or {}).get("reputation") or {}
    parents = {str(k): [str(p) for p in v]
               for k, v in (reputation.get("as_of_parents") or {}).items()}  # fmt: skip
    if mode == "upsert" and previous is not None and new is not None:
        cols = ["merchant_id", "source_file"]
        was = previous.select(cols).to_pandas()
        now = new.select(cols).to_pandas()
        both = now.merge(was, on="merchant_id", suffixes=("", "_was"))
        for file, files in both.groupby("source_file")["source_file_was"]:
            found = {str(f) for f in files} - {str(file)}
            if found:
                parents[str(file)] = sorted(found | set(parents.get(str(file), [])))
    return parents


def write_source_dates(parents: Mapping[str, list[str]], folder: Path) -> Path | None:
    """Write ``parents`` as :data:`SOURCE_DATES` in ``folder``; ``None`` when empty."""
    if not parents:
        return None
    path = folder / SOURCE_DATES
    path.write_text(json.dumps(dict(parents), sort_keys=True), encoding="utf-8")
    return path
