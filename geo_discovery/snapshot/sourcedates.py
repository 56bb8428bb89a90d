"""Each source file's "today" for word of mouth, carried from snapshot to snapshot.

Word of mouth ages reviews from the newest date of each source file (a 2015 scrape
beside a 2023 one is scored as of its own date). Measured anew from the rows of each
snapshot, that date moved with every upsert: three unchanged rows sent again as a
small file had a "today" 2.5 years earlier than their original file's, and their
confidence doubled; rows removed from a file could lower its date and re-age the rest.

A file of an upsert therefore takes at least the date of the other files whose rows
it replaces (a *floor*), and keeps that floor while its rows stay in the snapshot
(``derived.reputation.as_of_floors``, carried by later upserts and deletes). Every other
file's date is measured from its rows as before, so a wrong date corrected by an upsert
or a delete stops counting (a floor for every file made one 2025 typo in a 2015 file
permanent). ``replace`` starts afresh. The floors go to the word-of-mouth deriver as
``source_dates.json`` in the snapshot (``{source_file: days since 1970}``).
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
) -> dict[str, float]:
    """The floors of each source file's "today" for the next snapshot (days since 1970).

    Examples
    --------
    >>> was = {"derived": {"reputation": {"as_of_by_file": {"dc.csv": 16710.0}}}}
    >>> old = pa.table({"merchant_id": ["a", "b"], "source_file": ["dc.csv"] * 2})
    >>> delta = pa.table({"merchant_id": ["a"], "source_file": ["dc_delta.csv"]})
    >>> carried_dates(was, "upsert", old, delta)
    {'dc_delta.csv': 16710.0}
    >>> carried_dates(was, "upsert", old, old)  # a file sent again: measured from its rows
    {}
    >>> carried_dates(was, "replace", old, delta)
    {}
    """
    if mode == "replace" or manifest is None:
        return {}
    reputation = (manifest.get("derived") or {}).get("reputation") or {}
    known = {str(k): float(v) for k, v in (reputation.get("as_of_by_file") or {}).items()}
    floors = {str(k): float(v) for k, v in (reputation.get("as_of_floors") or {}).items()}
    if mode == "upsert" and known and previous is not None and new is not None:
        cols = ["merchant_id", "source_file"]
        was = previous.select(cols).to_pandas()
        now = new.select(cols).to_pandas()
        both = now.merge(was, on="merchant_id", suffixes=("", "_was"))
        for file, files in both.groupby("source_file")["source_file_was"]:
            dates = [known[f] for f in set(files) if f in known and f != file]
            if dates:
                floors[str(file)] = max(dates)
    return floors


def write_source_dates(floors: Mapping[str, float], folder: Path) -> Path | None:
    """Write ``floors`` as :data:`SOURCE_DATES` in ``folder``; ``None`` when empty."""
    if not floors:
        return None
    path = folder / SOURCE_DATES
    path.write_text(json.dumps(dict(floors), sort_keys=True), encoding="utf-8")
    return path
