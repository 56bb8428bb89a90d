"""Staged profile output → canonical columns, with every row problem collected.

:func:`build_canonical` is the one place where ids are formed, names and coordinates
checked, and typed canonical fields parsed and range-checked, for every profile alike.
Checks run in this order, so a reason lists read problems first: read (field count,
encoding, CSV syntax, geometry) → id → name → coordinates → the profile's own fields
(price, square footage …) → typed canonical fields. Rows with a structural problem
(wrong field count, CSV syntax) get no content checks: their cells are misaligned.
Id, name and coordinates are errors (the row is rejected); every other field is a
warning (the row is loaded with that field left empty).

Coordinates that are not degrees in at least half the rows fail the whole file
(:func:`~geo_discovery.ingest.coordinates.coordinate_file_problem`: projected metres,
exchanged columns); ``crs`` reprojects coordinate columns first.

A cell that is exactly a null spelling (:data:`~geo_discovery.ingest.values.MISSING_TOKENS`:
``NULL``, ``N/A``, ``None``, ``nan``, ``-`` …, case aside) is no value in every field: an
id or name so written rejects the row (``empty name ('NULL' is read as no value)``), a
text field so written is left empty with a note; ``None Such`` is a name. Ids that are
*all* integers written as floats (``1425973.0``: pandas writes an integer column with
empty cells so) are read as the integers, with a note.

Range rules: ``price_level`` 1–4; ``rating`` 0 to its ``rating_scale``;
``rating_scale`` >= 1; ``review_count``, ``reviews_per_month`` and ``attractiveness``
>= 0; ``review_count`` at most :data:`MAX_REVIEW_COUNT`; ``first_review`` and
``last_review`` no later than the load's clock plus
:data:`~geo_discovery.ingest.checkins.FUTURE_SLACK` (a later date is a typo, and as the
file's newest date it would age every other row of the file). Unknown ``category`` is
``"unknown"``, unknown ``status`` is ``"unknown"``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import IngestError
from ..models import BBox
from ..schema import empty_frame
from .checkins import FUTURE_SLACK
from .coordinates import (
    check_cluster_swaps,
    check_coordinates,
    coordinate_file_problem,
    degrees_given_as_projected,
    reproject,
    swapped_columns_note,
)
from .profiles import Profile
from .raw import RawTable
from .staging import WHITESPACE_RUN, Staged, collapse
from .taxonomy import UNKNOWN_CATEGORY
from .validate import Problems, check_range, parse_date, parse_float, parse_int, show
from .values import is_missing_token

__all__ = ["MAX_REVIEW_COUNT", "attributes_arrow", "attributes_json", "build_canonical",
           "row_hash"]

#: The most reviews a merchant can have: no real place has 100 million (the most
#: reviewed places have a few hundred thousand); a larger count is a typo or an overflow.
MAX_REVIEW_COUNT = 100_000_000

_FLOAT_RANGES: dict[str, tuple[float | None, float | None]] = {
    "rating_scale": (1.0, None),
    "rating": (0.0, None),
    "reviews_per_month": (0.0, None),
    "inspection_score": (None, None),
    "attractiveness": (0.0, None),
}
_INT_RANGES: dict[str, tuple[int | None, int | None]] = {
    "price_level": (1, 4),
    "review_count": (0, None),
}
#: Upper bounds checked as the integers are read (a value beyond them: "out of range").
_INT_CEILINGS = {"review_count": MAX_REVIEW_COUNT}
_DATES = ("first_review", "last_review")
#: The canonical dtypes, text (``object`` there) as ``str`` (as :func:`_text` gives it),
#: ``attributes`` aside.
_DTYPES = {c: ("str" if pd.api.types.is_object_dtype(d) and c != "attributes" else d)
           for c, d in empty_frame().dtypes.items()}
_TEXTS = ("address", "phone", "website", "opening_hours", "quality_grade", "brand")


def row_hash(raw: RawTable) -> pd.Series:
    """Stable id for sources without one: SHA-1 (16 hex) of the normalised row.

    Normalised: columns in sorted order, cells stripped, lower-cased, whitespace
    collapsed, joined with ``\\x1f``; the geometry's WKT is included for geo formats.
    """
    frame = raw.frame
    parts = [
        frame[c].str.strip().str.lower().str.replace(WHITESPACE_RUN, " ", regex=True)
        for c in sorted(frame.columns)
    ]
    if raw.geometry_wkt is not None:
        parts.append(pd.Series(raw.geometry_wkt, index=frame.index).fillna("").astype("str"))
    if not parts:
        return pd.Series("", index=frame.index, dtype="str")
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + "\x1f" + part
    digests = [
        hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        for text in joined.tolist()
    ]
    return pd.Series(digests, index=frame.index, dtype="str")


def _text(series: pd.Series | None, n: int) -> pd.Series:
    if series is None:
        return pd.Series("", index=pd.RangeIndex(n), dtype="str")
    text = pd.Series(series).reset_index(drop=True).astype("str").fillna("")
    return collapse(text)


_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"  # zero-width spaces and joiners, BOM


def _nullable(text: pd.Series) -> pd.Series:
    return text.where((text != "") & text.notna())


_NAMES_NOT_NULL = ("Nan", "Na")


def _no_value(
    text: pd.Series, field: str, problems: Problems, skip: np.ndarray, message: str | None
) -> pd.Series:
    """``text`` with cells that are exactly a null spelling (``NULL``, ``N/A``, ``-`` …)
    emptied: required fields (``message``) get it with the cell as the row's reason,
    optional ones a note about the file."""
    token = is_missing_token(text)
    if not token.any():
        return text
    if field == "name":  # "Nan", "Na": names (a Thai restaurant), not pandas' NaN or NA
        token = token & ~text.str.strip().isin(_NAMES_NOT_NULL).to_numpy()
    if message is not None:
        cells = text.to_numpy(dtype=object)
        problems.add(token & ~skip, lambda idx: [f"{message} ({show(cells[i])} is read as no "
                                                 "value)" for i in idx])
    elif (token & ~skip).any():
        first = text[token & ~skip].iloc[0]
        problems.note(f"{field}: {int((token & ~skip).sum()):,} value(s) such as {first!r} "
                      "read as no value")
    return text.where(~token, "")


#: An integer as a float formatter writes it (``1425973.0``); RE2-compatible (no ``$``).
_FLOAT_INTEGER = "-?(?:0|[1-9][0-9]*)[.]0+"


def _integers_written_as_floats(
    ids: pd.Series, column: object, problems: Problems, skip: np.ndarray
) -> pd.Series:
    """Ids read as the integers they are when *every* id of the file is an integer written
    as a float (``1425973.0``: pandas writes an integer column with empty cells so), with a
    note; a column with any other id (``1.5``, ``A1``, ``007.0``) is left as written.

    >>> p, none = Problems(3), np.zeros(3, bool)
    >>> _integers_written_as_floats(pd.Series(["12.0", "", "-3.00"]), "id", p, none).tolist()
    ['12', '', '-3']
    >>> p.notes[0].split(" (")[0]
    "id: 2 id(s) such as '12.0' read as 12: integers written as floats"
    >>> _integers_written_as_floats(pd.Series(["1.0", "1.5", ""]), "id", p, none).tolist()
    ['1.0', '1.5', '']
    """
    present = (ids != "").to_numpy(dtype=bool) & ~skip
    if not present.any():
        return ids
    floats = ids.str.fullmatch(_FLOAT_INTEGER).to_numpy(dtype=bool, na_value=False)
    if not floats[present].all():
        return ids
    integers = ids.str.replace("[.]0+", "", regex=True).replace("-0", "0")
    first = ids[present].iloc[0]
    name = column if isinstance(column, str) else "id"
    problems.note(f"{name}: {int(present.sum()):,} id(s) such as {first!r} read as "
                  f"{integers[present].iloc[0]}: integers written as floats (every id of "
                  "the file is written so)")
    return ids.where(~floats, integers)


def build_canonical(
    raw: RawTable, staged: Staged, profile: Profile, bbox: BBox | None
) -> tuple[pd.DataFrame, Problems]:
    """All rows of one file in canonical columns (``attributes`` left empty) + problems.

    Values of rejected rows are best effort (NaN where unparseable); callers keep only
    rows without problems. Text columns stay Arrow-backed ``str`` (NaN when missing),
    not the canonical ``object``: a Python string per cell is ~60 bytes, gigabytes
    for a large file. :func:`~geo_discovery.schema.column_to_arrow` converts either.
    """
    n = len(raw)
    skip = raw.structural
    problems = Problems(n)
    problems.extend(raw.problems)
    out: dict[str, Any] = {}

    prefix = profile.id_prefix if staged.id_prefix is None else staged.id_prefix
    if staged.source_id is None:
        source_id = row_hash(raw).reset_index(drop=True)
    else:
        written = _text(staged.source_id, n)
        problems.add((written == "").to_numpy() & ~skip, "empty source id")
        source_id = _no_value(written, "merchant_id", problems, skip, "empty source id")
        source_id = _integers_written_as_floats(source_id, staged.source_id.name, problems,
                                                skip)
    merchant_id = (prefix + ":" + source_id) if prefix else source_id
    out["merchant_id"] = _nullable(merchant_id.where(source_id != "", ""))

    name = _text(staged.values.get("name"), n)
    # zero-width characters at the ends (not whitespace to Python): a name of only them
    # is empty, as one of spaces is
    name = name.str.strip(_ZERO_WIDTH).str.strip()
    problems.add((name == "").to_numpy() & ~skip, "empty name")
    name = _no_value(name, "name", problems, skip, "empty name")
    out["name"] = name

    options = raw.options
    if raw.lat is not None and raw.lng is not None:
        lat, lng = raw.lat.astype(np.float64), raw.lng.astype(np.float64)
    else:
        assert staged.lat is not None and staged.lng is not None
        lat = parse_float(staged.lat, "lat", problems, required=True, skip=skip,
                          decimal=options.decimal, thousands=False)
        lng = parse_float(staged.lng, "lng", problems, required=True, skip=skip,
                          decimal=options.decimal, thousands=False)
        if options.crs is not None:
            given = degrees_given_as_projected(np.where(skip, np.nan, lat),
                                               np.where(skip, np.nan, lng), options.crs)
            if given is not None:
                raise IngestError(f"{raw.path}: {given}")
            lat, lng = reproject(lat, lng, options.crs)
    read_lat, read_lng = np.where(skip, np.nan, lat), np.where(skip, np.nan, lng)  # (its rows)
    cause = coordinate_file_problem(read_lat, read_lng, geometry=raw.lat is not None)
    if cause is not None:
        raise IngestError(f"{raw.path}: {cause}")
    check_coordinates(lat, lng, problems, bbox, skip=skip)
    if bbox is None:
        check_cluster_swaps(lat, lng, problems, skip=skip | problems.any())
        south = swapped_columns_note(read_lat, read_lng)
        if south is not None and options.strict:  # --strict: a doubt refuses, as a bad field
            raise IngestError(f"{raw.path}: {south} (--strict refuses it; --bbox takes it)")
        problems.note(south)
    out["lat"], out["lng"] = lat, lng

    problems.extend(staged.problems)
    values = staged.values
    category = _text(values.get("category"), n)
    out["category"] = category.where(category != "", UNKNOWN_CATEGORY)
    for col in _TEXTS:
        out[col] = _nullable(_no_value(_text(values.get(col), n), col, problems, skip, None))
    status = _text(values.get("status"), n)
    out["status"] = status.where(status.isin(["open", "closed"]), "unknown")
    _typed(values, out, problems, skip, n, raw)
    out["source"] = profile.source_name
    out["source_file"] = raw.path.name
    out["source_line"] = pd.array(raw.source_line, dtype="Int64")
    out["attributes"] = None

    frame = pd.DataFrame(out, index=pd.RangeIndex(n))
    return frame.loc[:, list(_DTYPES)].astype(_DTYPES), problems


def _typed(
    values: dict[str, pd.Series],
    out: dict[str, Any],
    problems: Problems,
    skip: np.ndarray,
    n: int,
    raw: RawTable,
) -> None:
    """Optional typed fields: every problem is a warning and leaves the field empty."""
    decimals = raw.decimals
    for col, (low, high) in _FLOAT_RANGES.items():
        if col not in values:
            out[col] = np.full(n, np.nan)
            continue
        arr = parse_float(values[col].reset_index(drop=True), col, problems, skip=skip,
                          **decimals)
        upper: Any = high
        if col == "rating":
            upper = out["rating_scale"]
        bad = check_range(arr, col, problems, low, upper, skip=skip, warning=True)
        out[col] = np.where(bad, np.nan, arr)
    # A scale without a rating (emptied or absent) says nothing.
    out["rating_scale"] = np.where(np.isfinite(out["rating"]), out["rating_scale"], np.nan)
    for col, (lo, hi) in _INT_RANGES.items():
        if col not in values:
            out[col] = pd.array([pd.NA] * n, dtype="Int64")
            continue
        ints = parse_int(values[col].reset_index(drop=True), col, problems, skip=skip,
                         high=_INT_CEILINGS.get(col), **decimals)
        bad = check_range(ints, col, problems, lo, hi, skip=skip, warning=True)
        out[col] = ints.mask(bad).array
    for col in _DATES:
        if col not in values:
            out[col] = pd.Series(pd.NaT, index=pd.RangeIndex(n), dtype="datetime64[s]")
            continue
        dates = parse_date(values[col].reset_index(drop=True), col, problems, skip=skip,
                           date_format=raw.options.date_format)
        out[col] = dates.mask(_future(dates, col, problems, skip))
    if all(col in values for col in _DATES):
        out["first_review"] = out["first_review"].mask(
            _reversed(out["first_review"], out["last_review"], problems, skip)
        )


def _future(dates: pd.Series, field: str, problems: Problems, skip: np.ndarray) -> np.ndarray:
    """Dates later than now + :data:`FUTURE_SLACK` (a warning each; the caller empties them).

    >>> p = Problems(2)
    >>> _future(pd.Series(pd.to_datetime(["2019-05-21", "2099-01-01"])), "last_review", p,
    ...         np.zeros(2, bool)).tolist()
    [False, True]
    >>> p.reasons()[1].split(";")[0]
    "last_review '2099-01-01T00:00:00' is in the future"
    """
    latest = (pd.Timestamp.now(tz="UTC") + FUTURE_SLACK).tz_localize(None).floor("s")
    late = (dates > latest).to_numpy(dtype=bool) & ~skip
    text = dates.dt.strftime("%Y-%m-%dT%H:%M:%S")
    problems.add(late, lambda idx: [
        f"{field} {show(text.iat[i])} is in the future; allowed: {field} <= "
        f"{latest.isoformat()} (the load's clock, UTC, + {FUTURE_SLACK.days} day)"
        for i in idx], warning=True)  # fmt: skip
    return late


def _reversed(first: pd.Series, last: pd.Series, problems: Problems,
              skip: np.ndarray) -> np.ndarray:
    """A ``first_review`` later than the row's ``last_review`` (a warning each; the caller
    empties ``first_review``: the reviews' span is unknown, their last date stays).

    >>> p = Problems(2)
    >>> _reversed(pd.Series(pd.to_datetime(["2019-01-02", "2020-03-01"])),
    ...           pd.Series(pd.to_datetime(["2019-05-21", "2019-05-21"])), p,
    ...           np.zeros(2, bool)).tolist()
    [False, True]
    >>> p.reasons()[1].split(";")[0]
    "first_review '2020-03-01' is after last_review '2019-05-21'"
    """
    late = (first > last).to_numpy(dtype=bool) & ~skip
    a, b = (d.dt.strftime("%Y-%m-%d") for d in (first, last))
    problems.add(late, lambda idx: [
        f"first_review {show(a.iat[i])} is after last_review {show(b.iat[i])}; allowed: "
        "first_review <= last_review" for i in idx], warning=True)  # fmt: skip
    return late


_JSON_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))
_OTHER_CONTROL = "[\x00-\x08\x0b\x0c\x0e-\x1f]"


def _large(text: str) -> pa.Scalar:
    return pa.scalar(text, type=pa.large_string())


def attributes_json(raw: RawTable, positions: np.ndarray) -> list[str]:
    r"""The untouched source rows at ``positions`` as JSON objects of strings.

    Built column-wise with pyarrow string kernels (escaping ``\ " \n \r \t``); the
    rare rows holding other control characters are encoded by orjson instead.

    Examples
    --------
    >>> import json
    >>> from pathlib import Path
    >>> from geo_discovery.ingest.validate import Problems
    >>> cells = ['say "hi"', "back\\slash", "tab\there", "bell\x07"]
    >>> frame = pd.DataFrame({"a": pd.Series(cells, dtype="str")})
    >>> raw = RawTable(Path("t.csv"), "csv", frame, np.arange(4), Problems(4), np.zeros(4, bool))
    >>> [json.loads(j)["a"] for j in attributes_json(raw, np.arange(4))] == cells
    True
    """
    return attributes_arrow(raw, positions).to_pylist()


def attributes_arrow(raw: RawTable, positions: np.ndarray) -> pa.Array:
    """:func:`attributes_json` as an Arrow ``string`` array (no Python string per row);
    ``positions`` covering every row in order reads the columns without a copy."""
    names = [str(c) for c in raw.frame.columns]
    if not names:
        return pa.array(["{}"] * len(positions), type=pa.string())
    every = len(positions) == len(raw.frame) and bool(
        (positions == np.arange(len(positions))).all())
    parts: list[Any] = []
    odd = np.zeros(len(positions), dtype=bool)
    for k, name in enumerate(names):
        cells = raw.frame[name] if every else raw.frame[name].take(positions)
        column = pc.fill_null(pa.array(cells.astype("str").fillna(""),
                                       type=pa.large_string()), "")
        del cells
        odd |= np.asarray(pc.match_substring_regex(column, _OTHER_CONTROL), dtype=bool)
        for plain, escaped in _JSON_ESCAPES:
            column = pc.replace_substring(column, plain, escaped)
        key = orjson.dumps(name).decode()
        parts += [_large(("{" if k == 0 else ",") + key + ':"'), column, _large('"')]
    parts.append(_large("}"))
    joined = pc.binary_join_element_wise(*parts, _large(""))
    del parts
    if odd.any():
        rows = positions[odd]
        cols = {name: raw.frame[name].take(rows).tolist() for name in names}
        records = [orjson.dumps({name: cols[name][i] for name in names}).decode()
                   for i in range(len(rows))]
        joined = pc.replace_with_mask(joined, pa.array(odd),
                                      pa.array(records, type=pa.large_string()))
    return joined.cast(pa.string())
