"""The ``generic`` profile: recognise id/name/lat/lng-like columns in any table.

Also :func:`stage_columns`, which stages a file from a ``canonical → source column``
mapping; the declarative mappings (:mod:`geo_discovery.ingest.mapping`) use it too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..errors import IngestError
from .names import did_you_mean
from .ratings import rating_columns
from .raw import RawTable
from .staging import Staged, column
from .taxonomy import map_unique, path_from_text, slugify
from .validate import Problems
from .values import is_missing_token

__all__ = [
    "CATEGORY_ALIASES",
    "ID_ALIASES",
    "LAT_ALIASES",
    "LNG_ALIASES",
    "NAME_ALIASES",
    "PASSTHROUGH",
    "build_generic",
    "column_key",
    "find_column",
    "generic_mapping",
    "stage_columns",
]

ID_ALIASES = ("merchant_id", "id", "place_id", "poi_id", "business_id", "uid", "uuid", "fid")
NAME_ALIASES = ("name", "title", "business_name", "dba_name", "display_name")
LAT_ALIASES = ("lat", "latitude", "y")
LNG_ALIASES = ("lng", "lon", "long", "longitude", "x")
CATEGORY_ALIASES = ("category", "categories", "type", "kind")
#: Canonical columns a generic file may carry under their own names.
PASSTHROUGH = (
    "address", "phone", "website", "price_level", "opening_hours", "status", "rating",
    "rating_scale", "review_count", "reviews_per_month", "first_review", "last_review",
    "quality_grade", "inspection_score", "attractiveness", "brand",
)


_SEPARATORS = re.compile(r"[\s_\-]+")


def column_key(name: str) -> str:
    """A header name as the generic profile compares it: case, spaces, hyphens and
    underscores alike (``Opening Hours``, ``opening-hours``, `` OPENING_HOURS `` →
    ``opening_hours``).

    Examples
    --------
    >>> [column_key(c) for c in ("Opening Hours", "opening-hours", " Review  Count ", "ID")]
    ['opening_hours', 'opening_hours', 'review_count', 'id']
    """
    return _SEPARATORS.sub("_", name.strip().lower()).strip("_")


def find_column(
    columns: Iterable[str], aliases: Iterable[str], problems: Problems | None = None
) -> str | None:
    """The first header column named like one of ``aliases`` (:func:`column_key`).

    When several columns are named like the first alias found, the one written exactly
    so (case aside) wins, else the first; ``problems`` gets a note naming the others.

    Examples
    --------
    >>> find_column(["ID", "Opening Hours"], ["opening_hours"])
    'Opening Hours'
    >>> p = Problems(0)
    >>> find_column(["Opening Hours", "opening_hours"], ["opening_hours"], p), p.notes
    ('opening_hours', ["opening_hours read from column 'opening_hours'; column(s) \
['Opening Hours'] are named like it too and are kept only in attributes"])
    """
    cols = list(columns)
    for alias in aliases:
        key = column_key(alias)
        hits = [c for c in cols if column_key(c) == key]
        if not hits:
            continue
        exact = [c for c in hits if c.strip().lower() == alias]
        chosen = (exact or hits)[0]
        if len(hits) > 1 and problems is not None:
            others = [c for c in hits if c != chosen]
            problems.note(f"{alias} read from column {chosen!r}; column(s) {others} are "
                          "named like it too and are kept only in attributes")
        return chosen
    return None


def stage_columns(
    raw: RawTable,
    mapping: dict[str, str],
    rating_scale: float | None,
    id_prefix: str | None = None,
) -> Staged:
    """Stage a file from a ``canonical name → source column`` mapping (generic, mapping)."""
    problems = Problems(len(raw))
    values: dict[str, pd.Series] = {}
    for canon, source in mapping.items():
        if canon in {"merchant_id", "lat", "lng"}:
            continue
        values[canon] = column(raw, source)
    if "category" in values:
        text = values["category"].astype("str").fillna("")
        # The list form :func:`~geo_discovery.ingest.taxonomy.is_list_text` recognises.
        lists = np.asarray(text.str.startswith("[") & text.str.endswith("]")
                           & text.str.contains(", ", regex=False), dtype=bool) & ~raw.structural
        if lists.any():
            first = values["category"][lists].iloc[0]
            problems.note(f"category: {int(lists.sum()):,} value(s) are lists such as "
                          f"{first!r}; the first item is the category")
        values["category"] = map_unique(values["category"], path_from_text)
    if "status" in values:
        values["status"] = map_unique(values["status"], _status_word)
    if "rating" in mapping and "rating_scale" not in mapping:
        given = raw.options.rating_scale if raw.options.rating_scale is not None else rating_scale
        values.update(rating_columns(values.pop("rating"), "rating", problems, scale=given,
                                     skip=raw.rejected, **raw.decimals))
    elif "rating" in mapping:
        problems.info["rating scale"] = f"per row ({mapping['rating_scale']} column)"
    id_col = mapping.get("merchant_id")
    return Staged(
        source_id=None if id_col is None else column(raw, id_col),
        lat=column(raw, mapping["lat"]) if "lat" in mapping else None,
        lng=column(raw, mapping["lng"]) if "lng" in mapping else None,
        values=values,
        problems=problems,
        id_prefix=id_prefix,
    )


_STATUS_WORDS = {
    "open": "open", "opened": "open", "active": "open", "operational": "open",
    "true": "open", "yes": "open", "1": "open",
    "closed": "closed", "inactive": "closed", "permanently_closed": "closed",
    "false": "closed", "no": "closed", "0": "closed",
}


def _status_word(text: str) -> str:
    return _STATUS_WORDS.get(slugify(text), "unknown")


_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
#: Words that name a column's role inside longer names (``Store Name``, ``LAT_DD``,
#: ``geoLongitude``), used when no column is named exactly like an alias.
ROLE_WORDS = {
    "name": frozenset({"name", "title"}),
    "lat": frozenset({"lat", "latitude"}),
    "lng": frozenset({"lng", "lon", "long", "longitude"}),
}


def _words(name: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(name)}


def _mostly_numbers(series: pd.Series) -> bool:
    cells = series.head(1000).str.strip()
    cells = cells[cells != ""]
    if cells.empty:
        return False
    parsed = pd.to_numeric(cells.str.replace(",", ".", regex=False), errors="coerce")
    return bool(parsed.notna().mean() >= 0.5)


def _by_words(raw: RawTable, canon: str, taken: Iterable[str]) -> str | None:
    """The one column whose name holds a word for ``canon`` (and, for coordinates, whose
    cells are mostly numbers); ``None`` when there is none; an error when several."""
    used = set(taken)
    hits = [c for c in raw.columns if c not in used and _words(c) & ROLE_WORDS[canon]]
    if canon in ("lat", "lng"):
        hits = [c for c in hits if _mostly_numbers(raw.frame[c])]
    if len(hits) > 1:
        raise IngestError(
            f"{raw.path}: several columns could hold the {canon}: {hits}; use a mapping file "
            "(--mapping) to say which"
        )
    if hits:
        raw.problems.note(f"{canon} read from column {hits[0]!r} (its name says so)")
    return hits[0] if hits else None


#: Words that name an id column inside longer names (``Store ID``, ``store_id``,
#: ``storeId``): such a column is named in the note on hashed ids, never taken by itself
#: (a store loaded with hashed ids would get new ids from its next upsert: every merchant
#: twice; and a column that is not unique in one delivery would flip back to hashes).
ID_WORDS = frozenset({"id", "identifier", "uuid", "guid"})


def _note_hashed_ids(raw: RawTable, found: dict[str, str]) -> None:
    """Say that a file without an id column named like :data:`ID_ALIASES` gets ids that
    are hashes of its rows, what that means for upserts, and which columns look like ids
    (``Store ID`` was ignored without a word: 5 upserted stores existed twice)."""
    taken = set(found.values())
    named = [c for c in raw.columns if c not in taken and _words(c) & ID_WORDS]
    columns = {"merchant_id": named[0], **found} if named else {}
    looks = (f"; {named} look like ids: name one in a mapping file (--mapping FILE, the "
             f"file e.g. {json.dumps({'columns': columns}, ensure_ascii=False)})"
             if named else "")  # fmt: skip
    raw.problems.note(
        f"no id column (expected one of {list(ID_ALIASES)}): each merchant's id is a hash of "
        f"its row, so an upsert of a changed row adds it again{looks}"
    )


def generic_mapping(raw: RawTable) -> dict[str, str]:
    """Auto-detected ``canonical → source column`` mapping for the generic profile."""
    cols = raw.columns
    found: dict[str, str] = {}
    for canon, aliases in (("merchant_id", ID_ALIASES), ("name", NAME_ALIASES),
                           ("lat", LAT_ALIASES), ("lng", LNG_ALIASES),
                           ("category", CATEGORY_ALIASES)):
        hit = find_column(cols, aliases, raw.problems)
        if hit is None and canon in ROLE_WORDS and (canon == "name" or raw.lat is None):
            hit = _by_words(raw, canon, found.values())
        if hit is not None:
            found[canon] = hit
    if "merchant_id" not in found:
        _note_hashed_ids(raw, found)
    for canon in PASSTHROUGH:
        hit = find_column(cols, [canon], raw.problems)
        if hit is not None:
            found[canon] = hit
    if raw.lat is None and not {"lat", "lng"} <= found.keys() and point_column(raw) is None:
        shapes = shape_column(raw)
        if shapes is not None:
            name, kinds = shapes
            raise IngestError(
                f"{raw.path}: column {name!r} holds geometries but no points ("
                f"{', '.join(kinds)}); allowed: POINT (a merchant is a point: give its "
                "location, e.g. the shape's centroid, or lat/lng columns)"
            )
        raise IngestError(
            f"{raw.path}: missing lat/lng columns; expected one of {list(LAT_ALIASES)} and "
            f"one of {list(LNG_ALIASES)}, a column of points (POINT (-73.9 40.7) or "
            f"(40.7, -73.9)), or a point geometry; header is {cols[:20]}"
        )
    if "name" not in found and (len(raw.frame) or cols):  # an empty FeatureCollection has
        # neither: it holds no data row, as a header-only CSV (the load says so, exit 4)
        hint = next(filter(None, (did_you_mean(c, NAME_ALIASES) for c in cols)), "")
        raise IngestError(
            f"{raw.path}: no name column; expected one of {list(NAME_ALIASES)}{hint} "
            f"(or use a mapping file); header is {cols[:20]}"
        )
    return found


_NUM = "([-+]?[0-9]*[.]?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_WKT_POINT = rf"(?i)^[ ]*(?:SRID=[0-9]+;[ ]*)?POINT[ ]*(?:ZM|Z|M)?[ ]*\([ ]*{_NUM}[ ,]+{_NUM}"
_PAIR = rf"^[ ]*[(\[]?[ ]*{_NUM}[ ]*[,;][ ]*{_NUM}[ ]*[)\]]?[ ]*$"
#: Any WKT geometry (its type in group 1): a point column's other rows are named by it.
_WKT_ANY = (r"(?i)^[ ]*(?:SRID=[0-9]+;[ ]*)?(POINT|MULTIPOINT|LINESTRING|MULTILINESTRING|"
            r"POLYGON|MULTIPOLYGON|GEOMETRYCOLLECTION|CIRCULARSTRING|COMPOUNDCURVE|"
            r"CURVEPOLYGON|MULTICURVE|MULTISURFACE|POLYHEDRALSURFACE|TRIANGLE|TIN)[ ]*"
            r"(?:ZM|Z|M)?[ ]*(?:\(|EMPTY)")


def point_column(raw: RawTable) -> tuple[str, str] | None:
    """``(column, "wkt" | "pair")`` of the first column holding points as text, if any.

    A column qualifies when at least half of its first 1,000 non-empty cells are WKT
    points (``POINT (-73.9 40.7)``) or coordinate pairs (``(40.7, -73.9)``).
    """
    for name in raw.columns:
        cells = raw.frame[name].head(1000).str.strip()
        cells = cells[cells != ""]
        if cells.empty:
            continue
        points = cells.str.extract(_WKT_POINT)[0].notna()
        # a column of WKT geometries with points among them (its other rows are rejected
        # naming their type)
        if points.any() and (points | cells.str.match(_WKT_ANY)).mean() >= 0.5:
            return name, "wkt"
        if cells.str.extract(_PAIR)[0].notna().mean() >= 0.5:
            return name, "pair"
    return None


def shape_column(raw: RawTable) -> tuple[str, list[str]] | None:
    """``(column, its geometry types)`` of the first column holding WKT geometries (at
    least half of its first 1,000 non-empty cells), for a file without points."""
    for name in raw.columns:
        cells = raw.frame[name].head(1000).str.strip()
        cells = cells[cells != ""]
        kinds = cells.str.extract(_WKT_ANY)[0].dropna()
        if not cells.empty and len(kinds) * 2 >= len(cells):
            return name, sorted(set(kinds.str.upper()))
    return None


def split_points(raw: RawTable) -> tuple[pd.Series, pd.Series]:
    """Text ``lat``/``lng`` from the file's point column (:func:`point_column`).

    WKT is x y (lng lat). A pair is read lat, lng, unless its first numbers go beyond
    ±90 where the second never does (then lng, lat); a note says which.
    """
    found = point_column(raw)
    assert found is not None
    name, kind = found
    parts = raw.frame[name].str.extract(_WKT_POINT if kind == "wkt" else _PAIR)
    first, second = parts[0].fillna(""), parts[1].fillna("")
    lng_first = kind == "wkt"
    if kind == "wkt":  # other geometries are rejected naming their type
        kinds = raw.frame[name].str.extract(_WKT_ANY)[0].str.upper()
        other = (kinds.notna() & (kinds != "POINT") & (first == "")).to_numpy(dtype=bool)
        raw.problems.add(other & ~raw.structural, lambda idx: [
            f"geometry is a {kinds.iloc[i]}, not a point; allowed: POINT" for i in idx])
    if kind == "pair":
        a = pd.to_numeric(first, errors="coerce").abs()
        b = pd.to_numeric(second, errors="coerce").abs()
        lng_first = bool((a > 90).any() and not (b > 90).any())
    order = "lng, lat" if lng_first else "lat, lng"
    example = raw.frame[name][first != ""].head(1).tolist()
    raw.problems.note(f"lat and lng read from column {name!r} ({order}), e.g. "
                      f"{example[0] if example else ''!r}")
    return (second, first) if lng_first else (first, second)


def build_generic(raw: RawTable) -> Staged:
    """Anything with recognisable columns (the fallback when no signature matches).

    Columns are found by name with case, spaces, hyphens and underscores alike
    (:func:`column_key`: ``Opening Hours`` is ``opening_hours``): id from
    ``merchant_id, id, place_id, poi_id, business_id, uid, uuid, fid``; name from
    ``name, title, business_name, dba_name, display_name``; coordinates from
    ``lat/latitude/y`` and ``lng/lon/long/longitude/x`` (or a point geometry); failing
    those, from the one column whose name holds such a word (``Store Name``, ``LAT_DD``,
    ``geoLongitude``: coordinates only when its cells are mostly numbers; several
    candidates fail naming them); category from ``category, categories, type, kind``
    (free text split on ``/`` or ``>``); and any column named like a canonical one
    (``address``, ``rating``, ``review_count`` …).
    Id: ``generic:<id>``; values of a ``merchant_id`` column that already look like
    ``<source>:<id>`` are kept as they are (a re-load of exported merchants keeps its
    ids); without an id column, the id is a hash of the normalised row.
    ``rating_scale``, when not a column, is inferred per file from clear evidence
    (:mod:`geo_discovery.ingest.ratings`).
    """
    mapping = generic_mapping(raw)
    staged = stage_columns(raw, mapping, None)
    if raw.lat is None and staged.lat is None:
        staged.lat, staged.lng = split_points(raw)
    if staged.source_id is not None and column_key(mapping["merchant_id"]) == "merchant_id":
        ids = staged.source_id
        # Null spellings stay as they are: the id is missing, not "generic:NULL".
        qualified = ids.str.contains(":", regex=False) | (ids == "") | is_missing_token(ids)
        staged.source_id = ids.where(qualified, "generic:" + ids)
        staged.id_prefix = ""
    return staged
