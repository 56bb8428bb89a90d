"""Staging: what a profile hands to validation, and helpers shared by every profile."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..errors import IngestError
from .raw import RawTable
from .validate import Problems

__all__ = [
    "WHITESPACE_RUN",
    "Staged",
    "collapse",
    "column",
    "join_text",
]

#: Runs of whitespace, spelled out: pandas runs ``\s`` through Python's ``re`` one cell
#: at a time, an explicit class stays in pyarrow (vectorised).
WHITESPACE_RUN = "[ \t\r\n\f\v\xa0]+"
_NEEDS_COLLAPSE = "[\t\r\n\f\v\xa0]|  "


@dataclass
class Staged:
    """A profile's output: source ids and canonical fields, aligned with the raw rows.

    ``source_id`` is ``None`` for sources without ids: the id is then a stable hash of
    the normalised row. ``values`` maps canonical column names to Series (text that the
    common validation parses, or values already typed by the profile). ``lat``/``lng``
    are text columns (or ``None`` for geometry formats). ``problems`` holds problems the
    profile found in source-specific fields (price, square footage, date_closed …).
    ``id_prefix`` overrides the profile's (``""``: the ids are merchant ids already).
    """

    source_id: pd.Series | None
    lat: pd.Series | None
    lng: pd.Series | None
    values: dict[str, pd.Series]
    problems: Problems
    id_prefix: str | None = None


def column(raw: RawTable, name: str) -> pd.Series:
    """The stripped text of column ``name``, or empty strings when the file lacks it.

    A name the header gives twice cannot be read: which one holds the value is unknown.
    """
    positions = raw.duplicates.get(name.strip().lower())
    if positions and name in raw.frame.columns:
        raise IngestError(
            f"{raw.path}: the header names column {name!r} {len(positions)} times (columns "
            f"{', '.join(map(str, positions))}); which one holds the value cannot be known: "
            "rename or remove the others"
        )
    if name in raw.frame.columns:
        return raw.frame[name].str.strip()
    return pd.Series("", index=raw.frame.index, dtype="str")


def collapse(series: pd.Series) -> pd.Series:
    stripped = series.str.strip()
    # Replacing is slow even in pyarrow; most cells need nothing, so find those first.
    needs = stripped.str.contains(_NEEDS_COLLAPSE, regex=True).fillna(False).astype(bool)
    if not needs.any():
        return stripped
    fixed = stripped[needs].str.replace(WHITESPACE_RUN, " ", regex=True)
    return stripped.mask(needs, fixed)


def join_text(parts: list[pd.Series], sep: str) -> pd.Series:
    """Join text Series element-wise with ``sep``, skipping empty parts.

    Examples
    --------
    >>> join_text([pd.Series(["1", ""]), pd.Series(["Main St", "Elm St"])], " ").tolist()
    ['1 Main St', 'Elm St']
    """
    out = collapse(parts[0].fillna(""))
    for part in parts[1:]:
        part = collapse(part.fillna(""))
        both = (out != "") & (part != "")
        out = (out + sep + part).where(both, out + part)
    return out
