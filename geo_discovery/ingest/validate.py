"""Row validation: collect every problem of every row, vectorised, then decide once.

Nothing here raises for a bad row. Each check adds a message to a :class:`Problems`
collector, as an *error* (the row is rejected) or a *warning* (the row is loaded with
that field left empty, like Elasticsearch's ``ignore_malformed``; ``strict`` turns
warnings into errors). A row's reason is all of its messages joined with ``"; "``:
errors first, then warnings, each in the order the checks ran. Messages name the
field, the offending value and, for ranges, what is allowed.

Errors concern what a merchant cannot exist without (a readable row, an id, a name,
coordinates); warnings concern every optional field (numbers, dates, ratings, the
profile's own fields such as price or floor area).

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
off-scale rating       ``rating 7 is above the file's 0–5 rating scale …``
bad date               ``last_review '2019-13-45' is not a date``
future date            ``last_review '2032-12-06T00:00:00' is in the future; allowed:
                       last_review <= 2026-12-08T12:34:56 (the load's clock, UTC, + 1 day)``
reversed dates         ``first_review '2020-03-01' is after last_review '2019-05-21'; …``
=====================  ====================================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .values import MISSING_TOKENS, read_dates, read_numbers

__all__ = [
    "MISSING_TOKENS",
    "REASON_KINDS",
    "Problems",
    "check_range",
    "duplicate_problems",
    "fmt_number",
    "keep_mask",
    "missing_mask",
    "parse_date",
    "parse_float",
    "parse_int",
    "reason_kinds",
    "show",
]

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
    ("off-scale rating", r"rating scale"),
    ("bad date", r"is not a date"),
    ("future date", r"_review '.*?' is in the future"),
    ("reversed dates", r"first_review '.*?' is after last_review"),
    ("bad visit", r"visit (?:(?:lat|lng|time)\b.*? is (?:missing|not)|(?:user|venue) is empty)"),
    ("unknown id", r"not in the current snapshot"),
    ("not a merchant", r"venue is not a merchant"),
    ("after --until", r"at or after --until"),
    ("future visit", r"visit time .* is in the future"),
    ("duplicate visit", r"visit repeats line \d+"),
)
_KIND_PATTERNS = tuple((kind, re.compile(rx)) for kind, rx in REASON_KINDS)

MessageSource = str | Callable[[np.ndarray], Sequence[str]]


class Problems:
    """Collects messages per row; vectorised: messages are built for bad rows only.

    Besides row messages, ``notes`` holds sentences about the whole file (a column read
    with a decimal comma, an ambiguous date order…) and ``info`` short facts shown in
    the summary table (``info["rating scale"] = "0–5 (inferred)"``).

    Examples
    --------
    >>> p = Problems(3)
    >>> p.add(np.array([True, False, True]), "empty name")
    >>> p.add(np.array([True, False, False]), lambda idx: [f"row {i}" for i in idx])
    >>> p.add(np.array([False, True, True]), "price 'x' is not a number", warning=True)
    >>> p.reasons().tolist()
    ['empty name; row 0', "price 'x' is not a number", "empty name; price 'x' is not a number"]
    >>> p.any().tolist(), p.any_warning().tolist()
    ([True, False, True], [False, True, True])
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self._items: list[tuple[np.ndarray, MessageSource, bool]] = []
        self.notes: list[str] = []
        self.info: dict[str, str] = {}

    def add(self, mask: Any, message: MessageSource, *, warning: bool = False) -> None:
        """Add ``message`` to every row where ``mask``; a callable gets the row positions.

        ``warning=True``: the row keeps loading (its field is left empty by the caller).
        """
        mask_arr = np.asarray(mask, dtype=bool)
        if mask_arr.shape != (self.n,):
            raise ValueError(f"mask has shape {mask_arr.shape}, expected ({self.n},)")
        if mask_arr.any():
            self._items.append((mask_arr, message, warning))

    def note(self, text: str | None) -> None:
        """Record a sentence about the whole file (ignored when ``None``)."""
        if text and text not in self.notes:
            self.notes.append(text)

    def extend(self, other: Problems) -> None:
        """Append all messages, notes and facts of ``other`` (same length) after this one's."""
        if other.n != self.n:
            raise ValueError(f"cannot merge problems of {other.n} rows into {self.n}")
        self._items.extend(other._items)
        for text in other.notes:
            self.note(text)
        self.info.update(other.info)

    def escalate(self) -> None:
        """Make every warning an error (``strict``: a field that cannot be read rejects),
        and say so in the notes (they said such values were "left empty")."""
        self._items = [(mask, message, False) for mask, message, _ in self._items]
        self.notes = [n.replace("left empty", "rejected with their rows (--strict)")
                      for n in self.notes]  # fmt: skip

    def _mask(self, warning: bool) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for mask, _, is_warning in self._items:
            if is_warning == warning:
                out |= mask
        return out

    def any(self) -> np.ndarray:
        """Boolean mask of rows with at least one error (rows to reject)."""
        return self._mask(False)

    def any_warning(self) -> np.ndarray:
        """Boolean mask of rows with at least one warning."""
        return self._mask(True)

    def details(self) -> np.ndarray:
        """Object array: ``(errors, warnings)`` lists of messages, ``None`` for clean rows."""
        parts: list[tuple[list[str], list[str]] | None] = [None] * self.n
        for mask, message, warning in self._items:
            idx = np.flatnonzero(mask)
            texts = [message] * len(idx) if isinstance(message, str) else list(message(idx))
            for i, text in zip(idx.tolist(), texts, strict=True):
                bucket = parts[i]
                if bucket is None:
                    bucket = parts[i] = ([], [])
                bucket[1 if warning else 0].append(text)
        out = np.empty(self.n, dtype=object)
        out[:] = parts
        return out

    def reasons(self) -> np.ndarray:
        """Object array: ``"; "``-joined messages (errors first), ``None`` for clean rows."""
        out = np.empty(self.n, dtype=object)
        out[:] = [None if d is None else "; ".join(d[0] + d[1]) for d in self.details()]
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
    decimal: str | None = None,
    thousands: bool = True,
    fallback_decimal: str | None = None,
) -> np.ndarray:
    """Parse text cells as float64; report unreadable ones, NaN for missing cells.

    Common forms are read (:func:`~geo_discovery.ingest.values.read_numbers`:
    ``1,234``, ``4,5``, ``$12``, ``95%``); ``decimal`` fixes the decimal mark,
    ``thousands=False`` (coordinates) reads every comma as a decimal mark and refuses
    currency signs and percentages; ``fallback_decimal`` is the file's own decimal mark,
    for columns that show none. ``required`` fields report missing cells
    (``"<field> is missing"``) and their problems are errors; the problems of optional
    fields are warnings. ``skip`` rows get no messages.

    Examples
    --------
    >>> p = Problems(4)
    >>> parse_float(pd.Series(["1.5", "", "abc", "1,234"]), "rating", p).tolist()
    [1.5, nan, nan, 1234.0]
    >>> p.reasons().tolist(), p.any_warning().tolist()
    ([None, None, "rating 'abc' is not a number", None], [False, False, True, False])
    """
    warning = not required
    if series.dtype.kind in "fiu":
        values = series.to_numpy(dtype=np.float64, na_value=np.nan).copy()
        keep = keep_mask(skip, len(values))
        if required:
            problems.add(np.isnan(values) & keep, f"{field} is missing")
        inf = np.isinf(values) & keep
        problems.add(
            inf, lambda idx: [f"{field} {values[i]!r} is not a finite number" for i in idx],
            warning=warning,
        )
        values[np.isinf(values)] = np.nan
        return values
    text = _as_str(series).str.strip()
    missing = np.asarray(text.str.lower().isin(MISSING_TOKENS), dtype=bool)
    reading = read_numbers(text, missing, field=field, decimal=decimal, thousands=thousands,
                           decorations=thousands, fallback=fallback_decimal,
                           axis=field if required and not thousands else None)
    out = reading.values
    keep = keep_mask(skip, len(out))
    problems.add(reading.bad & keep, _quoted(text, field, "is not a number"), warning=warning)
    if required:
        problems.add(missing & keep, f"{field} is missing")
    # inf, -inf, Infinity… parse as numbers but are no value a merchant can have: report
    # them like any other bad value (required or not) and never let them through.
    problems.add(np.isinf(out) & keep, _quoted(text, field, "is not a finite number"),
                 warning=warning)
    out[np.isinf(out)] = np.nan
    if (keep & ~missing).any():
        problems.note(reading.note)
    return out


def parse_int(
    series: pd.Series,
    field: str,
    problems: Problems,
    *,
    skip: np.ndarray | None = None,
    decimal: str | None = None,
    fallback_decimal: str | None = None,
    high: int | None = None,
) -> pd.Series:
    """Parse text cells as nullable ``Int64`` (warnings); ``"5.0"`` and ``"1,234"`` are
    fine, ``"5.5"`` is reported, and so is an integer above ``high`` or beyond what Int64
    holds (±2**62): "out of range", naming the bound.

    Examples
    --------
    >>> p = Problems(4)
    >>> parse_int(pd.Series(["3", "1,204", "x", "1e20"]), "review_count", p,
    ...           high=10**8).tolist()
    [3, 1204, <NA>, <NA>]
    >>> for reason in p.reasons()[2:]:
    ...     print(reason)
    review_count 'x' is not an integer
    review_count '1e20' is out of range; allowed review_count <= 100000000
    """
    inner = Problems(len(series))
    values = parse_float(series, field, inner, skip=skip, decimal=decimal,
                         fallback_decimal=fallback_decimal)
    problems.notes.extend(n for n in inner.notes if n not in problems.notes)
    keep = keep_mask(skip, len(values))
    bad = inner.any() | inner.any_warning()
    with np.errstate(invalid="ignore"):
        fractional = np.isfinite(values) & (np.floor(values) != values)
        limit = 2**62 if high is None else min(high, 2**62)
        above, below = values > limit, values < -(2**62)
    too_big = np.isfinite(values) & (above | below) & ~fractional
    bad |= fractional & keep
    text = _as_str(series).str.strip()
    problems.add(bad, _quoted(text, field, "is not an integer"), warning=True)
    problems.add(too_big & keep & ~bad, lambda idx: [
        f"{field} {show(text.iat[i])} is out of range; allowed {field} "
        + (f"<= {limit}" if above[i] else f">= {-(2**62)}") for i in idx], warning=True)
    # Skipped rows (misaligned cells) get no message but no fraction either.
    values = np.where(bad | fractional | too_big | ~np.isfinite(values), np.nan, values)
    return pd.Series(values, index=series.index).astype("Int64")


def parse_date(
    series: pd.Series,
    field: str,
    problems: Problems,
    *,
    skip: np.ndarray | None = None,
    date_format: str | None = None,
) -> pd.Series:
    """Parse text cells as ``datetime64[s]`` with one day/month order per column
    (:func:`~geo_discovery.ingest.values.read_dates`); unreadable dates are warnings.

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
    reading = read_dates(text, missing, field=field, date_format=date_format)
    keep = keep_mask(skip, len(text))
    problems.add(reading.bad & keep, _quoted(text, field, "is not a date" + reading.why),
                 warning=True)
    if (keep & ~missing).any():
        problems.note(reading.note)
    return pd.Series(reading.values.to_numpy(), index=series.index).astype("datetime64[s]")


def _quoted(text: pd.Series, field: str, what: str) -> Callable[[np.ndarray], list[str]]:
    """Message builder that looks cell values up only for the rows it is asked about."""

    def build(idx: np.ndarray) -> list[str]:
        values = text.iloc[idx].tolist()
        return [f"{field} {show(v)} {what}" for v in values]

    return build


def keep_mask(skip: np.ndarray | None, n: int) -> np.ndarray:
    """Rows to check: everything but ``skip``."""
    return np.ones(n, dtype=bool) if skip is None else ~skip


def fmt_number(x: float) -> str:
    """A number in a message: up to 10 significant digits, no trailing zeros."""
    return f"{x:.10g}"


def check_range(
    values: Any,
    field: str,
    problems: Problems,
    low: float | None = None,
    high: float | np.ndarray | None = None,
    *,
    skip: np.ndarray | None = None,
    warning: bool = False,
) -> np.ndarray:
    """Report finite values outside ``[low, high]``; returns the bad mask.

    ``high`` may be an array (a per-row bound, e.g. the rating scale); ``warning``
    reports them as warnings (optional fields).
    """
    arr = np.asarray(pd.Series(values).astype("Float64").to_numpy(np.float64, na_value=np.nan))
    bad = np.zeros(len(arr), dtype=bool)
    with np.errstate(invalid="ignore"):
        if low is not None:
            bad |= arr < low
        if high is not None:
            bad |= arr > high
    bad &= np.isfinite(arr) & keep_mask(skip, len(arr))
    hi_arr = None if high is None else np.broadcast_to(np.asarray(high, dtype=float), arr.shape)

    def message(idx: np.ndarray) -> list[str]:
        out = []
        for i in idx:
            lo_txt = "" if low is None else f"{fmt_number(low)} <= "
            hi_txt = "" if hi_arr is None else f" <= {fmt_number(float(hi_arr[i]))}"
            out.append(
                f"{field} {fmt_number(arr[i])} is out of range; allowed {lo_txt}{field}{hi_txt}"
            )
        return out

    problems.add(bad, message, warning=warning)
    return bad


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
