"""Numbers and dates as people write them, read by one rule per column.

Numbers
-------
Cells that pandas reads as they are (``4.5``, ``-73.9``, ``1e3``) are taken as they
are. The others are read by form, after dropping a currency sign (``$ € £ ¥ ₹``), a
trailing ``%`` and spaces or apostrophes between digit groups (``12 000``, ``1'234``):

=========================  ===================================  ========================
form                       examples                             reading
=========================  ===================================  ========================
comma groups, dot decimal  ``1,234.5``  ``1,234,567``           ``.`` is the decimal
dot groups, comma decimal  ``1.234,5``  ``1.234.567``           ``,`` is the decimal
comma decimal              ``4,5``  ``1234,56``  ``40,712345``  ``,`` is the decimal
one comma, three digits    ``1,234``                            the column's convention
one dot, three digits      ``1.234`` (only in a comma column)   the column's convention
=========================  ===================================  ========================

The column's convention is the ``decimal`` option when given, else the decimal mark
that more of the column's unambiguous cells use, else (a column of ``1.234``-like cells
only) the mark that most unambiguous numbers of the whole file use
(:func:`file_decimal_mark`), else ``.``. A column read with a decimal comma, or whose
``1,234`` cells were read as thousands, gets a note saying so.
Coordinates (``thousands=False``) never have thousands separators: ``40,712`` is 40.712.

Dates
-----
ISO 8601 cells are read first (unambiguous). Cells such as ``03/04/2019``
(``.``/``-`` too) are read with one day/month order for the whole column: the
``date_format`` option when given, else the order that cells such as ``13/04/2019``
(day first) or ``04/13/2019`` (month first) prove; with both kinds the majority wins
and the others are not dates; with no proof at all the column is *ambiguous*: it is
read month first and a note says so. Other cells (``Apr 3, 2019``, ``3 April 2019``)
are read by dateutil with the column's order.

Cells
-----
:data:`MISSING_TOKENS` are the spellings of "no value" every field shares (a cell that
is exactly one of them, case aside, is empty: ``NULL``, ``N/A``, ``None``, ``nan``,
``-``; ``None Such`` is a name). :func:`cell_text` turns a value of a typed format
(Parquet, GeoJSON) into the text a CSV export of it holds: a list is its items in the
CSV's list form ``[a, b]``, never numpy's ``['a' 'b']``.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "MISSING_TOKENS",
    "DateReading",
    "NumberReading",
    "cell_text",
    "file_decimal_mark",
    "is_missing_token",
    "read_dates",
    "read_numbers",
]

#: Cell values read as "no value" (compared case-insensitively after stripping), by
#: every field: numbers, dates, ids, names and text alike.
MISSING_TOKENS = frozenset({"", "nan", "na", "n/a", "#n/a", "<na>", "null", "none", "-"})


def is_missing_token(text: pd.Series) -> np.ndarray:
    """True where a text cell is exactly a null spelling (:data:`MISSING_TOKENS`) but not
    empty: the cells a load reads as "no value" although they hold characters.

    Examples
    --------
    >>> is_missing_token(pd.Series(["NULL", " n/a ", "None Such", "-", "", "N/A Bar"])).tolist()
    [True, True, False, True, False, False]
    """
    lower = text.astype("str").fillna("").str.strip().str.lower()
    return np.asarray(lower.isin(MISSING_TOKENS) & (lower != ""), dtype=bool)


def cell_text(value: Any) -> str:
    """The text of one cell of a typed format, as a CSV export of it would hold it.

    Missing values are ``""``; a list (Parquet ``list<…>``, GeoJSON array) is its items
    in the list form CSV exports write (``[a, b]``, read by the same rules as such a CSV
    cell), an empty list ``""``; an object is JSON; anything else ``str(value)``.

    Examples
    --------
    >>> import numpy as np
    >>> cell_text(np.array(["Retail > Fireworks Store", "Retail > Miscellaneous Store"]))
    '[Retail > Fireworks Store, Retail > Miscellaneous Store]'
    >>> cell_text([1, None, 2.5]), cell_text(np.array([])), cell_text(None), cell_text(7)
    ('[1, , 2.5]', '', '', '7')
    >>> cell_text({"mo": "9-5"}), cell_text(float("nan"))
    ('{"mo": "9-5"}', '')
    """
    if isinstance(value, str):
        return value
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (list, tuple, np.ndarray)):
        items = [cell_text(v) for v in value]
        return "[" + ", ".join(items) + "]" if items else ""
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=cell_text)
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)

_CURRENCY = re.compile(r"^([-+]?)\s*(?:[$€£¥₹]|US\$|USD|EUR|GBP)\s*|\s*(?:[$€£¥₹]|USD|EUR|GBP)$")
_GROUP_SPACE = re.compile(r"(?<=\d)[ \u00a0\u202f'’](?=\d{3}(?!\d))")
_PLAIN = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_FORMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("dot", re.compile(r"[-+]?\d{1,3}(?:,\d{3})+\.\d+")),  # 1,234.5
    ("dot", re.compile(r"[-+]?\d{1,3}(?:,\d{3}){2,}")),  # 1,234,567
    ("comma", re.compile(r"[-+]?\d{1,3}(?:\.\d{3})+,\d+")),  # 1.234,5
    ("comma", re.compile(r"[-+]?\d{1,3}(?:\.\d{3}){2,}")),  # 1.234.567
    ("either-comma", re.compile(r"[-+]?\d{1,3},\d{3}")),  # 1,234
    ("either-dot", re.compile(r"[-+]?\d{1,3}\.\d{3}")),  # 1.234 (after a currency sign)
    ("comma", re.compile(r"[-+]?\d*,\d+")),  # 4,5
    ("plain", _PLAIN),
)
# RE2-compatible (pyarrow): a plain decimal that cannot be a thousands group.
_DOT_DECIMAL = r"^[-+]?[0-9]*\.[0-9]+$"
_DOT_GROUP = r"^[-+]?[0-9]{1,3}\.[0-9]{3}$"
_COMMA_DECIMAL = r"^[-+]?[0-9]*,[0-9]+$"
_COMMA_GROUP = r"^[-+]?[0-9]{1,3},[0-9]{3}$"


@dataclass
class NumberReading:
    """What :func:`read_numbers` found: values (NaN when missing or unreadable), the
    cells that are not numbers, the cells written as percentages, and a note."""

    values: np.ndarray
    bad: np.ndarray
    percent: np.ndarray
    note: str | None = None


_MINUS = re.compile("^[\u2212\ufe63\uff0d]")  # minus signs of typeset text (web copies)


def _strip_decorations(cell: str, decorations: bool, groups: bool) -> tuple[str, bool]:
    text = cell
    is_percent = False
    if decorations and text.endswith("%"):
        text, is_percent = text[:-1].rstrip(), True
    if decorations:
        text = _CURRENCY.sub(lambda m: m.group(1) or "", text)
    return (_GROUP_SPACE.sub("", text) if groups else text), is_percent


def _form(text: str, thousands: bool) -> str | None:
    for kind, rx in _FORMS:
        if rx.fullmatch(text):
            if not thousands and (kind in ("dot", "either-dot") or "." in text):
                return None
            return "comma" if not thousands and kind == "either-comma" else kind
    return None


def _value(text: str, kind: str, comma: bool) -> float:
    if kind == "plain":
        return float(text)
    if kind == "dot" or (kind == "either-comma" and not comma):
        return float(text.replace(",", ""))
    if kind == "either-dot" and not comma:
        return float(text)
    return float(text.replace(".", "").replace(",", "."))  # comma decimal, dot groups


def read_numbers(
    text: pd.Series,
    missing: np.ndarray,
    *,
    field: str,
    decimal: str | None = None,
    thousands: bool = True,
    decorations: bool = True,
    fallback: str | None = None,
    axis: str | None = None,
) -> NumberReading:
    """Read stripped text cells as float64 (see the module docstring for the forms).

    ``thousands=False`` (coordinates) reads every comma as a decimal mark;
    ``decorations=False`` refuses currency signs and percentages; ``fallback`` is the
    decimal mark of the whole file (:func:`file_decimal_mark`), used when the column
    itself shows none; ``axis`` (``"lat"``/``"lng"``) also reads degrees written with
    minutes, seconds or a hemisphere letter (``40°42'46"N``, ``73.9 W``).

    Examples
    --------
    >>> cells = pd.Series(["1,234", "4.5", "$12", "95%", "x", ""])
    >>> r = read_numbers(cells, (cells == "").to_numpy(), field="n")
    >>> r.values.tolist()[:4], r.bad.tolist(), r.percent.tolist()[3]
    ([1234.0, 4.5, 12.0, 95.0], [False, False, False, False, True, False], True)
    >>> r = read_numbers(pd.Series(["4,5", "3", "1,250"]), np.zeros(3, bool), field="stars")
    >>> r.values.tolist(), r.note
    ([4.5, 3.0, 1.25], "stars: read with a decimal comma (e.g. '4,5' = 4.5)")
    >>> read_numbers(pd.Series(["1.234", "12"]), np.zeros(2, bool), field="n",
    ...              fallback=",").values.tolist()
    [1234.0, 12.0]
    """
    n = len(text)
    plain = pd.to_numeric(text.where(~missing, ""), errors="coerce")
    values = np.asarray(plain, dtype=np.float64).copy()
    values[missing] = np.nan
    failed = np.flatnonzero(np.isnan(values) & ~missing)
    minus = text.iloc[failed].str.contains(_MINUS)
    if minus.any():  # '−60.17' (U+2212, typeset text copied from the web) is -60.17
        text = text.copy()
        text.iloc[failed[minus.to_numpy()]] = text.iloc[failed[minus.to_numpy()]].str.replace(
            _MINUS, "-", regex=True)  # fmt: skip
        again = pd.to_numeric(text.iloc[failed], errors="coerce").to_numpy(dtype=np.float64)
        values[failed] = again
        failed = failed[np.isnan(again)]
    bad = np.zeros(n, dtype=bool)
    percent = np.zeros(n, dtype=bool)
    comma_possible = thousands and (decimal == "," or (decimal is None and fallback == ","))
    if not len(failed) and not comma_possible:
        return NumberReading(values, bad, percent)
    cells = text.iloc[failed].tolist()
    kinds: list[str | None] = []
    cleaned: list[str] = []
    for i, cell in zip(failed.tolist(), cells, strict=True):
        stripped, is_percent = _strip_decorations(cell, decorations, thousands)
        percent[i] = is_percent
        cleaned.append(stripped)
        kinds.append(_form(stripped, thousands))
    comma_votes = sum(k == "comma" for k in kinds)
    source = "column"
    if decimal is not None:
        comma, source = decimal == ",", "given"
    else:
        dot_votes = sum(k == "dot" for k in kinds)
        if comma_votes or fallback == ",":
            dot_votes += int((text.str.contains(_DOT_DECIMAL)
                              & ~text.str.contains(_DOT_GROUP)).sum())
        if comma_votes or dot_votes:
            comma = comma_votes > dot_votes
        else:
            comma, source = fallback == ",", "file"
    degrees: list[str] = []
    for i, stripped, kind in zip(failed.tolist(), cleaned, kinds, strict=True):
        if kind is None:
            value = _degrees(stripped, axis) if axis else None
            if value is None:
                bad[i] = True
                percent[i] = False
            else:
                values[i] = value
                degrees.append(stripped)
            continue
        values[i] = _value(stripped, kind, comma)
    regrouped: list[str] = []
    if comma and thousands:
        # "1.234" parsed as 1.234 above; in a decimal-comma column it is 1234.
        group = np.asarray(text.str.contains(_DOT_GROUP), dtype=bool) & ~missing
        group[failed] = False
        regrouped = text[group].head(1).tolist()
        values[group] = pd.to_numeric(text[group].str.replace(".", "", regex=False)).to_numpy()
    note = _number_note(field, kinds, cells, comma, source, regrouped)
    if degrees:
        note = (f"{field}: {len(degrees):,} value(s) written in degrees, minutes, seconds or "
                f"with a hemisphere letter, such as {degrees[0]!r} = "
                f"{_degrees(degrees[0], axis):.6g}")
    return NumberReading(values, bad, percent, note)


_DEGREE_TEXT = re.compile(r"[-+]?[\d\s.,°º'′’\"″:]+")
_HEMISPHERES = {"lat": {"N": 1.0, "S": -1.0}, "lng": {"E": 1.0, "W": -1.0}}


def _degrees(cell: str, axis: str | None) -> float | None:
    """``40°42'46"N`` → 40.7128; ``73.9 W`` → -73.9; ``None`` when it is not that form.

    Examples
    --------
    >>> _degrees("40°42′46″N", "lat"), _degrees("73.9 W", "lng"), _degrees("40 N", "lng")
    (40.71277777777778, -73.9, None)
    """
    text = cell.strip()
    letters = _HEMISPHERES.get(axis or "", {})
    sign = 1.0
    if text[-1:].upper() in letters and not text[-2:-1].isalpha():
        sign, text = letters[text[-1].upper()], text[:-1]
    elif text[:1].upper() in letters and not text[1:2].isalpha():
        sign, text = letters[text[0].upper()], text[1:]
    elif not any(mark in text for mark in "°º'′’\"″"):
        return None
    text = text.strip()
    if not _DEGREE_TEXT.fullmatch(text) or (sign < 0 and text.startswith("-")):
        return None
    parts = [float(p.replace(",", ".")) for p in re.findall(r"\d+(?:[.,]\d+)?", text)]
    if not 1 <= len(parts) <= 3 or any(p >= 60 for p in parts[1:]):
        return None
    value = sum(p / 60**k for k, p in enumerate(parts))
    return -sign * value if text.startswith("-") else sign * value


def _number_note(
    field: str, kinds: list[str | None], cells: list[str], comma: bool, source: str,
    regrouped: list[str],
) -> str | None:
    if source == "given":
        return None
    if comma:
        if source == "file":
            example = (regrouped or [c for c, k in zip(cells, kinds, strict=True)
                                     if k == "either-comma"] or [""])[0]
            if not example:
                return None
            value = _show_comma(example) if "," in example else example.replace(".", "")
            return (f"{field}: read like the rest of the file, whose decimal mark is a comma "
                    f"(e.g. {example!r} = {value}); pass --decimal . if not")
        example = next(c for c, k in zip(cells, kinds, strict=True) if k == "comma")
        return f"{field}: read with a decimal comma (e.g. {example!r} = {_show_comma(example)})"
    thousands = [c for c, k in zip(cells, kinds, strict=True) if k == "either-comma"]
    if thousands:
        return (
            f"{field}: {len(thousands)} value(s) such as {thousands[0]!r} read with ',' as a "
            f"thousands separator (= {thousands[0].replace(',', '')}); pass --decimal , if "
            "the comma is a decimal mark"
        )
    return None


def file_decimal_mark(frame: pd.DataFrame, sample_cells: int = 200_000) -> str | None:
    """The decimal mark most of a file's unambiguous numbers use (``None``: no evidence).

    Counted over up to ``sample_cells`` cells of the text columns (the first rows, as many
    as fit): ``4,5`` votes for a comma, ``4.5`` for a dot (``1,234`` and ``1.234`` vote
    for neither). One pass of the regexes over all columns at once.

    Examples
    --------
    >>> file_decimal_mark(pd.DataFrame({"lat": ["40,71", "40,72"], "n": ["1.234", "5"]}))
    ','
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    names = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c])]
    if not names or not len(frame):
        return None
    head = frame[names].head(max(50, sample_cells // len(names)))
    cells = pa.chunked_array(
        [pa.array(head[c].astype("str").fillna(""), type=pa.large_string()) for c in names]
    )
    cells = pc.utf8_trim_whitespace(cells)

    def count(yes: str, no: str) -> int:
        hits = pc.and_(pc.match_substring_regex(cells, yes),
                       pc.invert(pc.match_substring_regex(cells, no)))
        return int(pc.sum(hits).as_py() or 0)

    comma = count(_COMMA_DECIMAL, _COMMA_GROUP)
    dot = count(_DOT_DECIMAL, _DOT_GROUP)
    if comma == dot:
        return None
    return "," if comma > dot else "."


def _show_comma(cell: str) -> str:
    stripped, _ = _strip_decorations(cell, True, True)
    return f"{_value(stripped, 'comma', True):g}"


# --------------------------------------------------------------------------- dates

_NUMERIC_DATE = r"^([0-9]{1,2})([/.\-])([0-9]{1,2})[/.\-]([0-9]{4}|[0-9]{2})((?:[ T].*)?)$"
_ORDER_NAMES = {"day-first": "DD/MM", "month-first": "MM/DD"}


@dataclass
class DateReading:
    """What :func:`read_dates` found: values (``datetime64[s]``, NaT when missing or
    unreadable), the cells that are not dates, why (appended to their message), a note."""

    values: pd.Series
    bad: np.ndarray
    why: str = ""
    note: str | None = None


def _coerce(values: pd.Series, **kw: object) -> pd.Series:
    """Dates as UTC-naive timestamps (offsets converted, mixed ones included)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = pd.to_datetime(values, errors="coerce", utc=True, **kw)  # type: ignore[call-overload]
    return pd.Series(out.dt.tz_localize(None), index=values.index)


def _assign(target: pd.Series, where: np.ndarray, values: pd.Series) -> pd.Series:
    out = target.astype(object)
    out[where] = values.to_numpy(dtype=object)
    return _coerce(out)


def read_dates(
    text: pd.Series, missing: np.ndarray, *, field: str, date_format: str | None = None
) -> DateReading:
    """Read stripped text cells as dates with one day/month order per column.

    Examples
    --------
    >>> cells = pd.Series(["03/04/2019", "13/04/2019", "2019-05-01"])
    >>> r = read_dates(cells, np.zeros(3, bool), field="d")
    >>> r.values.dt.strftime("%Y-%m-%d").tolist(), r.note
    (['2019-04-03', '2019-04-13', '2019-05-01'], "d: read day first (DD/MM), as '13/04/2019' shows")
    >>> read_dates(cells, np.zeros(3, bool), field="d", date_format="%m/%d/%Y").bad.tolist()
    [False, True, False]
    """
    n = len(text)
    index = text.index
    candidates = text.where(~missing)
    if date_format is not None and date_format not in _ORDER_NAMES:
        parsed = _coerce(candidates, format=date_format)
        retry = np.asarray(parsed.isna(), dtype=bool) & ~missing
        if retry.any():
            parsed = _assign(parsed, retry, _coerce(candidates[retry], format="ISO8601"))
        bad = np.asarray(parsed.isna(), dtype=bool) & ~missing
        return DateReading(parsed.astype("datetime64[s]"), bad, f" in the format {date_format}")
    parsed = _coerce(candidates, format="ISO8601")
    retry = np.asarray(parsed.isna(), dtype=bool) & ~missing
    order, why, note = date_format, "", None
    if retry.any():
        parts = candidates[retry].str.extract(_NUMERIC_DATE)
        numeric = np.asarray(parts[0].notna(), dtype=bool)
        order, note = _day_month_order(field, parts[numeric], candidates[retry][numeric],
                                       date_format)
        retry_idx = np.flatnonzero(retry)
        if numeric.any():
            sub = parts[numeric]
            day, month = (sub[0], sub[2]) if order == "day-first" else (sub[2], sub[0])
            year = sub[3].astype(int)
            year = year.where(sub[3].str.len() == 4, np.where(year <= 68, 2000 + year, 1900 + year))
            iso = (year.astype(str).str.zfill(4) + "-" + month.str.zfill(2) + "-"
                   + day.str.zfill(2) + sub[4].fillna(""))
            where = np.zeros(n, dtype=bool)
            where[retry_idx[numeric]] = True
            parsed = _assign(parsed, where, _coerce(iso, format="ISO8601"))
            why = f" (the column is read {_ORDER_NAMES[order]}, {order.replace('-', ' ')})"
        others = np.zeros(n, dtype=bool)
        others[retry_idx[~numeric]] = True
        if others.any():
            parsed = _assign(parsed, others, _coerce(candidates[others], format="mixed",
                                                     dayfirst=order == "day-first"))
    bad = np.asarray(parsed.isna(), dtype=bool) & ~missing
    return DateReading(pd.Series(parsed, index=index).astype("datetime64[s]"), bad, why, note)


def _day_month_order(
    field: str, parts: pd.DataFrame, cells: pd.Series, forced: str | None
) -> tuple[str, str | None]:
    """The column's day/month order and a note explaining it."""
    if forced is not None:
        return forced, None
    if parts.empty:
        return "month-first", None
    first = parts[0].astype(int).to_numpy()
    second = parts[2].astype(int).to_numpy()
    day_first = (first > 12) & (second <= 12)
    month_first = (second > 12) & (first <= 12)
    n_day, n_month = int(day_first.sum()), int(month_first.sum())
    example: Callable[[np.ndarray], str] = lambda mask: repr(cells[mask].iloc[0])  # noqa: E731
    if n_day and not n_month:
        return "day-first", f"{field}: read day first (DD/MM), as {example(day_first)} shows"
    if n_month and not n_day:
        return "month-first", f"{field}: read month first (MM/DD), as {example(month_first)} shows"
    if n_day and n_month:
        order = "day-first" if n_day > n_month else "month-first"
        minority = min(n_day, n_month) if n_day != n_month else n_day
        return order, (
            f"{field}: mixed date orders: {n_day} dates are day first (e.g. "
            f"{example(day_first)}) and {n_month} month first (e.g. {example(month_first)}); "
            f"read {_ORDER_NAMES[order]} (the majority), the other {minority} are not dates; "
            "pass --date-format to choose"
        )
    return "month-first", (
        f"{field}: ambiguous dates: no value such as '13/04/2019' tells day-first from "
        f"month-first, so {cells.iloc[0]!r} was read month first (MM/DD); pass "
        "--date-format day-first (or a pattern such as %d/%m/%Y) if they are day first"
    )
