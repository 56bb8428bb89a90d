"""Row validation: collect every problem of every row, vectorised, then decide once.

Nothing here raises for a bad row. Each check adds a message to a :class:`Problems`
collector; a row with at least one message is rejected, and its reason is all of its
messages joined with ``"; "`` in the order the checks ran. Messages name the field,
the offending value and, for ranges, what is allowed.

Reason kinds (:func:`reason_kinds`, for summary tables), with example messages:

=====================  ====================================================================
kind                   message
=====================  ====================================================================
bad encoding           ``bad encoding: undecodable bytes in row``
wrong field count      ``expected 16 fields, got 5``
csv syntax             ``csv syntax error: …`` / ``unterminated quoted field at end of file``
bad geometry           ``geometry is missing`` / ``geometry is empty`` / ``geometry is a
                       Polygon, expected a Point``
missing coordinates    ``lat is missing`` / ``lng is missing``
bad coordinates        ``lat 'abc' is not a number`` / ``lat 91.5 is out of range; allowed
                       -90 <= lat <= 90``
null island            ``null island: lat=0, lng=0``
lat/lng swap           ``probable lat/lng swap: …``
outside bbox           ``outside expected bbox south=…: lat=…, lng=…``
missing id             ``empty source id``
duplicate id           ``duplicate merchant_id X, first at file.csv:12``
empty name             ``empty name``
bad number             ``review_count 'abc' is not an integer`` / ``price_level 7 is out of
                       range; allowed 1 <= price_level <= 4``
bad date               ``last_review '2019-13-45' is not a date``
=====================  ====================================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..models import BBox

__all__ = [
    "MISSING_TOKENS",
    "REASON_KINDS",
    "Problems",
    "check_coordinates",
    "check_range",
    "duplicate_problems",
    "missing_mask",
    "parse_date",
    "parse_float",
    "parse_int",
    "reason_kinds",
    "show",
]

#: Cell values read as "no value" (compared case-insensitively after stripping).
MISSING_TOKENS = frozenset({"", "nan", "na", "n/a", "null", "none"})

#: ``(kind, regex)`` in match order; a reason can hold several kinds.
REASON_KINDS: tuple[tuple[str, str], ...] = (
    ("bad encoding", r"bad encoding"),
    ("wrong field count", r"expected \d+ fields, got \d+"),
    ("csv syntax", r"csv syntax error|unterminated quoted field"),
    ("bad geometry", r"geometry is "),
    ("missing coordinates", r"\b(?:lat|lng) is missing"),
    (
        "bad coordinates",
        r"\b(?:lat|lng) (?:'.*?'|\".*?\"|\S+) is (?:not a number|not a finite number|out of range)",
    ),
    ("null island", r"null island"),
    ("lat/lng swap", r"probable lat/lng swap"),
    ("outside bbox", r"outside expected bbox"),
    ("missing id", r"empty source id"),
    ("duplicate id", r"duplicate merchant_id"),
    ("empty name", r"empty name"),
    (
        "bad number",
        r"(?<!lat )(?<!lng )(?:'.*?'|\".*?\") is not (?:a number|an integer|a finite number)"
        r"|(?<!\S)(?<!lat )(?<!lng )\S+ is out of range",
    ),
    ("bad date", r"is not a date"),
)
_KIND_PATTERNS = tuple((kind, re.compile(rx)) for kind, rx in REASON_KINDS)

MessageSource = str | Callable[[np.ndarray], Sequence[str]]


class Problems:
    """Collects messages per row; vectorised: messages are built for bad rows only.

    Examples
    --------
    >>> p = Problems(3)
    >>> p.add(np.array([True, False, True]), "empty name")
    >>> p.add(np.array([True, False, False]), lambda idx: [f"row {i}" for i in idx])
    >>> p.reasons().tolist()
    ['empty name; row 0', None, 'empty name']
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self._items: list[tuple[np.ndarray, MessageSource]] = []

    def add(self, mask: Any, message: MessageSource) -> None:
        """Add ``message`` to every row where ``mask``; a callable gets the row positions."""
        mask_arr = np.asarray(mask, dtype=bool)
        if mask_arr.shape != (self.n,):
            raise ValueError(f"mask has shape {mask_arr.shape}, expected ({self.n},)")
        if mask_arr.any():
            self._items.append((mask_arr, message))

    def extend(self, other: Problems) -> None:
        """Append all messages of ``other`` (same length) after this one's."""
        if other.n != self.n:
            raise ValueError(f"cannot merge problems of {other.n} rows into {self.n}")
        self._items.extend(other._items)

    def any(self) -> np.ndarray:
        """Boolean mask of rows with at least one problem."""
        out = np.zeros(self.n, dtype=bool)
        for mask, _ in self._items:
            out |= mask
        return out

    def reasons(self) -> np.ndarray:
        """Object array: ``"; "``-joined messages, or ``None`` for rows without problems."""
        parts: list[list[str] | None] = [None] * self.n
        for mask, message in self._items:
            idx = np.flatnonzero(mask)
            texts = [message] * len(idx) if isinstance(message, str) else list(message(idx))
            for i, text in zip(idx.tolist(), texts, strict=True):
                bucket = parts[i]
                if bucket is None:
                    parts[i] = [text]
                else:
                    bucket.append(text)
        out = np.empty(self.n, dtype=object)
        out[:] = [None if p is None else "; ".join(p) for p in parts]
        return out


def reason_kinds(reason: str) -> list[str]:
    """The kinds (see module docstring) found in one reject reason, in table order.

    Examples
    --------
    >>> reason_kinds("lat 'x' is not a number; empty name; review_count 'y' is not an integer")
    ['bad coordinates', 'empty name', 'bad number']
    """
    found = [kind for kind, rx in _KIND_PATTERNS if rx.search(reason)]
    return found or ["other"]


def show(value: Any, limit: int = 60) -> str:
    """``repr`` of a cell value for a message, shortened to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "…" + text[-3:]


def _as_str(series: pd.Series) -> pd.Series:
    if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
        return series.astype("str").fillna("")
    return series.astype("str").where(series.notna(), "")


def missing_mask(series: pd.Series) -> np.ndarray:
    """True where a text cell is empty or a missing token (``nan``, ``NULL``, ``N/A`` …)."""
    text = _as_str(series).str.strip().str.lower()
    return np.asarray(text.isin(MISSING_TOKENS), dtype=bool)


def parse_float(
    series: pd.Series,
    field: str,
    problems: Problems,
    *,
    required: bool = False,
    skip: np.ndarray | None = None,
    clean: Callable[[pd.Series], pd.Series] | None = None,
) -> np.ndarray:
    """Parse text cells as float64; report unparseable ones, NaN for missing cells.

    ``required`` also reports missing cells (``"<field> is missing"``); ``skip`` rows get
    no messages; ``clean`` pre-processes the stripped text (e.g. removes ``$`` and ``,``).

    Examples
    --------
    >>> p = Problems(3)
    >>> parse_float(pd.Series(["1.5", "", "abc"]), "rating", p).tolist()
    [1.5, nan, nan]
    >>> p.reasons().tolist()
    [None, None, "rating 'abc' is not a number"]
    """
    if series.dtype.kind in "fiu":
        values = series.to_numpy(dtype=np.float64, na_value=np.nan).copy()
        keep = _keep(skip, len(values))
        if required:
            problems.add(np.isnan(values) & keep, f"{field} is missing")
        inf = np.isinf(values) & keep
        problems.add(
            inf, lambda idx: [f"{field} {values[i]!r} is not a finite number" for i in idx]
        )
        values[np.isinf(values)] = np.nan
        return values
    text = _as_str(series).str.strip()
    missing = np.asarray(text.str.lower().isin(MISSING_TOKENS), dtype=bool)
    cleaned = clean(text) if clean is not None else text
    parsed = pd.Series(pd.to_numeric(cleaned.where(~missing, ""), errors="coerce"))
    out = parsed.to_numpy(dtype=np.float64, na_value=np.nan).copy()
    keep = _keep(skip, len(out))
    bad = np.isnan(out) & ~missing & keep
    problems.add(bad, _quoted(text, field, "is not a number"))
    if required:
        problems.add(missing & keep, f"{field} is missing")
    # inf, -inf, Infinity… parse as numbers but are no value a merchant can have: report
    # them like any other bad value (required or not) and never let them through.
    problems.add(np.isinf(out) & keep, _quoted(text, field, "is not a finite number"))
    out[np.isinf(out)] = np.nan
    return out


def parse_int(
    series: pd.Series, field: str, problems: Problems, *, skip: np.ndarray | None = None
) -> pd.Series:
    """Parse text cells as nullable ``Int64``; ``"5.0"`` is fine, ``"5.5"`` is reported.

    Examples
    --------
    >>> p = Problems(3)
    >>> parse_int(pd.Series(["3", "4.0", "x"]), "review_count", p).tolist()
    [3, 4, <NA>]
    >>> p.reasons()[2]
    "review_count 'x' is not an integer"
    """
    inner = Problems(len(series))
    values = parse_float(series, field, inner, skip=skip)
    keep = _keep(skip, len(values))
    bad = np.zeros(len(values), dtype=bool)
    bad[inner.any()] = True
    with np.errstate(invalid="ignore"):
        fractional = np.isfinite(values) & (np.floor(values) != values)
        too_big = np.isfinite(values) & (np.abs(values) > 2.0**62)
    bad |= (fractional | too_big) & keep
    problems.add(bad, _quoted(_as_str(series).str.strip(), field, "is not an integer"))
    values = np.where(bad | ~np.isfinite(values), np.nan, values)
    return pd.Series(values, index=series.index).astype("Int64")


def parse_date(
    series: pd.Series, field: str, problems: Problems, *, skip: np.ndarray | None = None
) -> pd.Series:
    """Parse text cells as ``datetime64[s]`` (ISO 8601 first, then other common formats).

    Examples
    --------
    >>> p = Problems(2)
    >>> parse_date(pd.Series(["2019-05-21", "soon"]), "last_review", p).dt.year.tolist()
    [2019.0, nan]
    >>> p.reasons()[1]
    "last_review 'soon' is not a date"
    """
    if series.dtype.kind == "M":
        return series.astype("datetime64[s]")
    text = _as_str(series).str.strip()
    missing = np.asarray(text.str.lower().isin(MISSING_TOKENS), dtype=bool)
    candidates = text.where(~missing, "")
    parsed = pd.to_datetime(candidates.where(~missing), errors="coerce", format="ISO8601")
    retry = np.asarray(parsed.isna(), dtype=bool) & ~missing
    if retry.any():
        again = pd.to_datetime(candidates[retry], errors="coerce", format="mixed")
        parsed = parsed.astype(object)
        parsed[retry] = again
        parsed = pd.to_datetime(parsed, errors="coerce", utc=False)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    bad = np.asarray(parsed.isna(), dtype=bool) & ~missing & _keep(skip, len(text))
    problems.add(bad, _quoted(text, field, "is not a date"))
    return pd.Series(parsed, index=series.index).astype("datetime64[s]")


def _quoted(text: pd.Series, field: str, what: str) -> Callable[[np.ndarray], list[str]]:
    """Message builder that looks cell values up only for the rows it is asked about."""

    def build(idx: np.ndarray) -> list[str]:
        values = text.iloc[idx].tolist()
        return [f"{field} {show(v)} {what}" for v in values]

    return build


def _keep(skip: np.ndarray | None, n: int) -> np.ndarray:
    return np.ones(n, dtype=bool) if skip is None else ~skip


def _fmt(x: float) -> str:
    return f"{x:.10g}"


def check_range(
    values: Any,
    field: str,
    problems: Problems,
    low: float | None = None,
    high: float | np.ndarray | None = None,
    *,
    skip: np.ndarray | None = None,
) -> np.ndarray:
    """Report finite values outside ``[low, high]``; returns the bad mask.

    ``high`` may be an array (a per-row bound, e.g. the rating scale).
    """
    arr = np.asarray(pd.Series(values).astype("Float64").to_numpy(np.float64, na_value=np.nan))
    bad = np.zeros(len(arr), dtype=bool)
    with np.errstate(invalid="ignore"):
        if low is not None:
            bad |= arr < low
        if high is not None:
            bad |= arr > high
    bad &= np.isfinite(arr) & _keep(skip, len(arr))
    hi_arr = None if high is None else np.broadcast_to(np.asarray(high, dtype=float), arr.shape)

    def message(idx: np.ndarray) -> list[str]:
        out = []
        for i in idx:
            lo_txt = "" if low is None else f"{_fmt(low)} <= "
            hi_txt = "" if hi_arr is None else f" <= {_fmt(float(hi_arr[i]))}"
            out.append(
                f"{field} {_fmt(arr[i])} is out of range; allowed {lo_txt}{field}{hi_txt}"
            )
        return out

    problems.add(bad, message)
    return bad


def _in_bbox(lat: np.ndarray, lng: np.ndarray, bbox: BBox) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        lat_ok = (lat >= bbox.south) & (lat <= bbox.north)
        if bbox.crosses_antimeridian:
            lng_ok = (lng >= bbox.west) | (lng <= bbox.east)
        else:
            lng_ok = (lng >= bbox.west) & (lng <= bbox.east)
    return np.asarray(lat_ok & lng_ok, dtype=bool)


def check_coordinates(
    lat: np.ndarray,
    lng: np.ndarray,
    problems: Problems,
    bbox: BBox | None = None,
    *,
    skip: np.ndarray | None = None,
) -> None:
    """Range, null island, probable swap and expected-bbox checks on parsed coordinates.

    Rows with a NaN coordinate were reported by the parser and are not checked again.

    Examples
    --------
    >>> p = Problems(2)
    >>> check_coordinates(np.array([-173.98, 0.0]), np.array([40.75, 0.0]), p)
    >>> p.reasons().tolist()  # doctest: +NORMALIZE_WHITESPACE
    ['lat -173.98 is out of range; allowed -90 <= lat <= 90; probable lat/lng swap:
      (lat=40.75, lng=-173.98) would be valid', 'null island: lat=0, lng=0']
    """
    keep = _keep(skip, len(lat)) & np.isfinite(lat) & np.isfinite(lng)
    with np.errstate(invalid="ignore"):
        lat_ok = (lat >= -90) & (lat <= 90)
        lng_ok = (lng >= -180) & (lng <= 180)
        swap_ok = (lng >= -90) & (lng <= 90) & (lat >= -180) & (lat <= 180)
    check_range(lat, "lat", problems, -90, 90, skip=~keep)
    check_range(lng, "lng", problems, -180, 180, skip=~keep)
    valid = keep & lat_ok & lng_ok

    def swap_message(idx: np.ndarray) -> list[str]:
        return [
            f"probable lat/lng swap: (lat={_fmt(lng[i])}, lng={_fmt(lat[i])}) would be valid"
            for i in idx
        ]

    problems.add(keep & ~lat_ok & swap_ok, swap_message)
    problems.add(valid & (lat == 0) & (lng == 0), "null island: lat=0, lng=0")
    if bbox is None:
        return
    outside = valid & ~_in_bbox(lat, lng, bbox)
    box = f"south={bbox.south:g}, west={bbox.west:g}, north={bbox.north:g}, east={bbox.east:g}"
    problems.add(
        outside,
        lambda idx: [
            f"outside expected bbox {box}: lat={_fmt(lat[i])}, lng={_fmt(lng[i])}" for i in idx
        ],
    )
    swapped_inside = outside & _in_bbox(lng, lat, bbox)

    def inside_message(idx: np.ndarray) -> list[str]:
        return [
            f"probable lat/lng swap: (lat={_fmt(lng[i])}, lng={_fmt(lat[i])}) is inside the "
            "expected bbox"
            for i in idx
        ]

    problems.add(swapped_inside, inside_message)


def duplicate_problems(
    merchant_id: pd.Series,
    source_file: pd.Series,
    source_line: pd.Series,
    otherwise_ok: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Mask and messages for duplicate ids; the first occurrence is kept.

    The reference row of an id is its first row that has no other problem (or, when
    every row of that id is bad, its first row). Every later row with that id is a
    duplicate; earlier rows were rejected for their own reasons and are not.
    Null ids are never duplicates (they are reported as missing).

    Returns ``(mask, messages)`` where ``messages`` holds text where ``mask``.
    """
    n = len(merchant_id)
    ids = merchant_id.reset_index(drop=True)
    pos = np.arange(n)
    present = np.asarray(ids.notna(), dtype=bool)
    repeated = np.asarray(ids.duplicated(keep=False), dtype=bool) & present
    messages = np.full(n, None, dtype=object)
    if not repeated.any():
        return np.zeros(n, dtype=bool), messages
    present = repeated  # only ids that occur more than once can be duplicates
    frame = pd.DataFrame({"id": ids, "pos": pos})[present]
    first_any = frame.drop_duplicates("id").set_index("id")["pos"]
    first_ok = frame[otherwise_ok[present]].drop_duplicates("id").set_index("id")["pos"]
    sub = ids[present]
    ref = sub.map(first_ok).fillna(sub.map(first_any))
    ref_arr = np.full(n, np.inf)
    ref_arr[present] = ref.to_numpy(dtype=np.float64, na_value=np.inf)
    mask = present & (pos > ref_arr)
    for i in np.flatnonzero(mask):
        r = int(ref_arr[i])
        messages[i] = (
            f"duplicate merchant_id {ids.iat[int(i)]}, first at {source_file.iat[r]}:"
            f"{source_line.iat[r]}"
        )
    return mask, messages
