"""A merchant table given in memory (:meth:`Snapshot.from_table`), checked and completed.

The loader writes every canonical column (:data:`~geo_discovery.schema.ARROW_SCHEMA`); a
table built by hand often holds only ``merchant_id``, ``lat`` and ``lng``. Every query
reads ``category`` and the rest, so the missing canonical columns are added here with
what the loader writes for a source that says nothing (``category`` ``unknown``, status
``unknown``, no rating …), and the given ones are cast to their canonical types. A value
that cannot be is an :class:`~geo_discovery.errors.IngestError` naming the column, the
merchant and what is allowed, not a pyarrow error deep inside a query. Ratings are read
as a load reads them: without ``rating_scale`` their scale is inferred from them, and a
rating outside its scale is left empty, each said with a
:class:`~geo_discovery.errors.DataWarning`.

Examples
--------
>>> import pyarrow as pa
>>> t = canonical_table(pa.table({"merchant_id": ["a"], "lat": [60], "lng": [24.9]}))
>>> t.column("category").to_pylist(), t.column("lat").type, t.column("rating").to_pylist()
(['unknown'], DataType(double), [None])
>>> try:
...     canonical_table(pa.table({"merchant_id": ["a"], "lat": [95.0], "lng": [24.9]}))
... except IngestError as exc:
...     print(exc)
merchants: lat 95.0 of merchant 'a' is missing or out of range (1 row); allowed: -90 <= lat <= 90
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ..errors import DataWarning, IngestError
from ..ingest.ratings import infer_rating_scale
from ..schema import ARROW_SCHEMA, STATUS_VALUES

__all__ = ["aligned_pair", "canonical_table", "checked_resolution"]

_FILL: dict[str, Any] = {  # what a load writes when the source says nothing
    "name": "",
    "category": "unknown",
    "status": "unknown",
    "source": "table",
    "source_file": "",
    "attributes": "{}",
}
_RANGES = {"lat": (-90.0, 90.0), "lng": (-180.0, 180.0)}


def canonical_table(merchants: Any) -> pa.Table:
    """``merchants`` with every canonical column in its canonical type (module doc); other
    columns are kept after them. Raises :class:`IngestError` for what cannot be."""
    if not isinstance(merchants, pa.Table):
        raise IngestError(
            f"merchants must be a pyarrow Table, got {type(merchants).__name__} (a pandas "
            "frame: pyarrow.Table.from_pandas(frame, preserve_index=False))"
        )
    missing = [c for c in ("merchant_id", "lat", "lng") if c not in merchants.column_names]
    if missing:
        raise IngestError(f"merchants has no column {', '.join(missing)}; allowed: a canonical "
                          f"merchant table (columns {merchants.column_names})")  # fmt: skip
    n = merchants.num_rows
    columns: dict[str, pa.ChunkedArray | pa.Array] = {}
    for field in ARROW_SCHEMA:
        if field.name in merchants.column_names:
            columns[field.name] = _cast(merchants, field)
        elif field.name == "source_line":  # the row's place in the table, from 1
            columns[field.name] = pa.array(np.arange(1, n + 1, dtype=np.int64))
        else:
            columns[field.name] = pa.nulls(n, field.type)
        fill = _FILL.get(field.name)
        if fill is not None and columns[field.name].null_count:
            columns[field.name] = pc.fill_null(columns[field.name], fill)
    ids = columns["merchant_id"]
    if ids.null_count:
        raise IngestError(f"merchants: merchant_id is empty in {ids.null_count} row(s) "
                          "(the first: row {}); allowed: a text id in every row".format(
                              _first(pc.is_null(ids)) + 1))  # fmt: skip
    if pc.count_distinct(ids).as_py() != n:
        raise IngestError("merchants has a merchant_id more than once; allowed: unique "
                          "ids (results would hold the same merchant twice)")  # fmt: skip
    for name, (lo, hi) in _RANGES.items():
        values = columns[name]
        bad = pc.invert(pc.fill_null(pc.and_(pc.greater_equal(values, lo),
                                             pc.less_equal(values, hi)), False))  # fmt: skip
        what = f"{name} {{value}} of merchant {{id!r}} is missing or out of range"
        _refuse(bad, ids, values, what, f"{lo:g} <= {name} <= {hi:g}")
    status = columns["status"]
    bad = pc.invert(pc.is_in(status, value_set=pa.array(STATUS_VALUES)))
    _refuse(bad, ids, status, "status {value!r} of merchant {id!r} is not known",
            ", ".join(STATUS_VALUES))  # fmt: skip
    columns["rating"], columns["rating_scale"] = _ratings(columns["rating"],
                                                          columns["rating_scale"], ids)
    category = columns["category"]  # filters match whole lower-case segments ("food/")
    bad = pc.invert(pc.match_substring_regex(category, r"^[a-z0-9_]+(/[a-z0-9_]+)*$"))
    _refuse(bad, ids, category, "category {value!r} of merchant {id!r} is not a category path",
            "lower-case segments of a-z, 0-9 and _ joined by '/', such as food/restaurant "
            "(geo_discovery.ingest.taxonomy.path_from_text makes one from text)")  # fmt: skip
    extra = [c for c in merchants.column_names if c not in columns]
    names = [*columns, *extra]
    return pa.table([*columns.values(), *(merchants.column(c) for c in extra)], names=names)


def aligned_pair(pair: Any, n: int, what: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two finite float arrays of ``n`` values each (``what``: the parameter's name)."""
    if not isinstance(pair, tuple | list) or len(pair) != 2:
        raise IngestError(f"{what} must be a pair of arrays, got {type(pair).__name__}; allowed: "
                          f"({what}_score, {what}_confidence), {n} values each")  # fmt: skip
    out = []
    for a in pair:
        try:
            arr = np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise IngestError(f"{what} holds {a!r:.60}, not numbers ({exc}); allowed: "
                              f"{n} finite numbers per array") from None  # fmt: skip
        if arr.shape != (n,):
            raise IngestError(f"{what} arrays have shape {arr.shape}; expected ({n},), "
                              "aligned to the table")  # fmt: skip
        if not np.isfinite(arr).all():
            i = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise IngestError(f"{what} holds {arr[i]} at row {i}; allowed: finite numbers")
        out.append(arr)
    return out[0], out[1]


def checked_resolution(resolution: Any) -> int | None:
    """``None`` (chosen from the data) or an H3 resolution 0 … 15."""
    if resolution is None:
        return None
    if isinstance(resolution, bool) or not isinstance(resolution, int | np.integer):
        raise IngestError(f"resolution {resolution!r} is not a whole number; allowed: None "
                          "(chosen from the data's density) or 0 … 15")  # fmt: skip
    if not 0 <= resolution <= 15:
        raise IngestError(f"resolution={resolution} is out of range; allowed: 0 <= "
                          "resolution <= 15")  # fmt: skip
    return int(resolution)


def _cast(merchants: pa.Table, field: pa.Field) -> pa.ChunkedArray:
    col = merchants.column(field.name)
    if col.type == field.type:
        return col
    if pa.types.is_timestamp(col.type) and pa.types.is_timestamp(field.type):
        return col.cast(field.type, safe=False)  # to whole seconds (a load's precision)
    try:
        return col.cast(field.type)  # safe: no value is lost or wrapped
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise IngestError(
            f"merchants: column {field.name} holds {col.type} values that are not "
            f"{field.type} ({str(exc).splitlines()[0]}); allowed: {field.type}"
        ) from None


def _ratings(rating: Any, scale: Any, ids: Any) -> tuple[pa.Array, pa.Array]:
    """``(rating, rating_scale)`` as a load makes them: the given scale, else the one
    inferred from the ratings without one as a load infers a file's (0–5 unless most say
    0–10 or 0–100; a :class:`DataWarning` when the evidence is unclear); a rating outside
    its scale left empty with a :class:`DataWarning` naming it. Without a scale every
    rating was ignored (``sort=rating``, ``min_rating``, word of mouth), without a word."""
    r = np.asarray(pc.fill_null(rating, np.nan).to_numpy(zero_copy_only=False), dtype=float)
    top = np.asarray(pc.fill_null(scale, np.nan).to_numpy(zero_copy_only=False), dtype=float)
    unscaled = np.isfinite(r) & ~np.isfinite(top)
    floor = np.zeros(len(r))  # a 0–100 file's ratings of 10 or less are on another scale
    if unscaled.any():
        guess = infer_rating_scale(r[unscaled])
        if not guess.clear:
            warnings.warn(f"merchants: rating without rating_scale in {unscaled.sum():,} row(s); "
                          f"its scale is unclear ({guess.evidence}), read as 0–{guess.scale:g}: "
                          "give a rating_scale column (5, 10 or 100) to be sure",
                          DataWarning, stacklevel=5)  # fmt: skip
        top = np.where(unscaled, guess.scale, top)
        floor = np.where(unscaled, guess.floor, 0.0)
    top = np.where(np.isfinite(r), top, np.nan)  # no rating: no scale (the schema's)
    with np.errstate(invalid="ignore"):
        bad = np.isfinite(r) & ((r < 0) | (r > top) | ~(top > 0) | ((r > 0) & (r <= floor)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        warnings.warn(f"merchants: {bad.sum():,} rating(s) outside their scale left empty "
                      f"(first: rating {r[i]:g} of merchant {ids[i].as_py()!r}, scale "
                      f"0–{top[i]:g}); allowed: 0 <= rating <= rating_scale",
                      DataWarning, stacklevel=5)  # fmt: skip
        r, top = np.where(bad, np.nan, r), np.where(bad, np.nan, top)
    return (pa.array(r, pa.float64(), from_pandas=True),
            pa.array(top, pa.float64(), from_pandas=True))  # fmt: skip


def _refuse(bad: Any, ids: Any, values: Any, what: str, allowed: str) -> None:
    count = pc.sum(bad).as_py() or 0
    if count:
        i = _first(bad)
        message = what.format(value=values[i].as_py(), id=ids[i].as_py())
        raise IngestError(f"merchants: {message} ({count} row{'s' * (count > 1)}); "
                          f"allowed: {allowed}")  # fmt: skip


def _first(mask: Any) -> int:
    return int(pc.index(mask, True).as_py())
