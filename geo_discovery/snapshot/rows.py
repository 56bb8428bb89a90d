"""A snapshot's merchants as result records: the one definition of a result row.

Every face shows a result the same way: the library's ``Results.to_records()``, the CLI's
tables, the API's JSON and the API's fast lane all go through :class:`RowStore`. Rows are
taken from the memory-mapped table column by column, only for the fields asked for, so a
20-result page converts 20 rows of a few columns and never touches the large raw
``attributes``. The fast lane's full-field JSON is assembled from per-merchant fragments
cached on first use (:meth:`RowStore.json_rows`); a test checks it is byte-identical to
``orjson.dumps`` of :meth:`RowStore.records`.

On disk the rows also live in :data:`ROW_FILE` beside ``merchants.parquet``: the same table
(without geometry) as an uncompressed Arrow IPC file, which :func:`open_row_file` maps
without decoding anything (the parquet copy decodes every page: ~0.5 s at 1M merchants).
Snapshots written before it existed open from their parquet (:func:`read_rows`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from ..errors import InvalidQueryError, SnapshotError
from ..query import split_list

__all__ = [
    "COMPUTED_FIELDS",
    "HIT_FIELDS",
    "ROW_FILE",
    "RowStore",
    "open_row_file",
    "parse_fields",
    "read_rows",
    "write_row_file",
]

#: The merchant table as an uncompressed Arrow IPC file, memory-mapped by readers.
ROW_FILE = "merchants.arrow"
#: Rows per record batch in :data:`ROW_FILE` (keeps every string column's offsets 32-bit).
_BATCH_ROWS = 1 << 20

#: Fields of every result row, in order (``distance_m`` comes from the query).
HIT_FIELDS: tuple[str, ...] = (
    "merchant_id",
    "name",
    "lat",
    "lng",
    "distance_m",
    "category",
    "address",
    "phone",
    "website",
    "price_level",
    "opening_hours",
    "status",
    "rating",
    "rating_scale",
    "review_count",
    "reviews_per_month",
    "first_review",
    "last_review",
    "quality_grade",
    "inspection_score",
    "attractiveness",
    "brand",
    "source",
)
#: Selectable fields the query computes: present when it produced them.
COMPUTED_FIELDS: tuple[str, ...] = ("score", "explain")
_ALWAYS = ("merchant_id",)
_BEFORE = HIT_FIELDS[: HIT_FIELDS.index("distance_m")]
_AFTER = HIT_FIELDS[HIT_FIELDS.index("distance_m") + 1 :]
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def parse_fields(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """A field selection (``"name,category"`` or a list) in canonical order.

    ``merchant_id`` always comes; ``None`` or empty selects every field.

    Examples
    --------
    >>> parse_fields("category, name")
    ('merchant_id', 'name', 'category')
    """
    everything = (*HIT_FIELDS, *COMPUTED_FIELDS)
    listed = split_list(value, "fields")
    asked = set(listed)
    if not asked:
        return everything
    unknown = sorted(asked - set(everything))
    if unknown:
        shown = value if isinstance(value, str) else ",".join(listed)
        raise InvalidQueryError(
            f"fields={shown} names unknown field(s) {', '.join(unknown)}; allowed: "
            f"{', '.join(everything)}"
        )
    asked.update(_ALWAYS)
    return tuple(f for f in everything if f in asked)


def write_row_file(table: pa.Table, path: Path, *, like: Path | None = None) -> None:
    """Write ``table`` (no geometry) as an uncompressed Arrow IPC file for :func:`open_row_file`.

    ``like``: the snapshot's parquet, whose types the rows take (it reads timestamps back
    in milliseconds), so a table opened from either file is the same table.
    """
    if like is not None:
        schema = pq.read_schema(like)
        if "geometry" in schema.names:
            schema = schema.remove(schema.get_field_index("geometry"))
        table = table.cast(schema)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=_BATCH_ROWS)


def open_row_file(path: Path) -> pa.Table:
    """The table in a :data:`ROW_FILE`, memory-mapped: zero-copy, pages read when touched."""
    return pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()


def read_rows(snap_dir: Path) -> pa.Table:
    """A snapshot folder's merchant table without geometry: its :data:`ROW_FILE` when it has
    one, else (snapshots written before it) its ``merchants.parquet``."""
    try:
        if (snap_dir / ROW_FILE).is_file():
            return open_row_file(snap_dir / ROW_FILE)
        table = pq.read_table(snap_dir / "merchants.parquet", memory_map=True)
    except (OSError, pa.ArrowException) as exc:
        raise SnapshotError(f"merchant table of {snap_dir} is unreadable: {exc}") from exc
    return table.drop_columns(["geometry"]) if "geometry" in table.column_names else table


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


_FEW = 32  # rows read value by value rather than by an Arrow take

#: A string array's offsets (int32), data and validity bytes, and its own offset.
_StringView = tuple[memoryview, memoryview, memoryview | None, int]


def _string_view(arr: pa.Array) -> _StringView:
    validity, offsets, data = arr.buffers()
    raw = memoryview(offsets) if offsets is not None else memoryview(bytes(4))
    offs = raw[: len(raw) // 4 * 4].cast("B").cast("i")  # Python ints, no numpy scalars
    valid = memoryview(validity) if validity is not None and arr.null_count else None
    return offs, memoryview(data) if data is not None else memoryview(b""), valid, arr.offset


def _string_at(view: _StringView, j: int) -> str | None:
    """Value ``j`` of a string array (``None`` when null), from :func:`_string_view`."""
    offs, data, valid, shift = view
    k = j + shift
    if valid is not None and not (valid[k >> 3] >> (k & 7)) & 1:
        return None
    return str(data[offs[k] : offs[k + 1]], "utf-8")


class RowStore:
    """Result rows of one merchant table (thread-safe; fragments cached per merchant)."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        self._names = frozenset(table.column_names)  # Table.column_names builds a new list
        self._lock = threading.Lock()
        self._before: dict[int, bytes] = {}
        self._after: dict[int, bytes] = {}
        self._views: dict[str, list[_StringView] | None] = {}

    def columns(self, positions: NDArray[np.int64], fields: Sequence[str]) -> dict[str, list[Any]]:
        """Table columns ``fields`` (those the table has) at ``positions``, as lists."""
        names = [f for f in fields if f in self._names]
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) <= _FEW:
            return self._few(positions, names)
        sub = self._take(positions, names)
        out = {}
        for n in names:
            col = sub.column(n)
            values = col.to_pylist()
            out[n] = values if pa.types.is_string(col.type) else [_plain(v) for v in values]
        return out

    def _few(self, positions: NDArray[np.int64], names: list[str]) -> dict[str, list[Any]]:
        """:meth:`columns` of a few rows, value by value: an Arrow take costs more than
        a page of scalars (autocomplete's ten rows)."""
        batches, starts = self._batches
        which = np.searchsorted(starts, positions, side="right") - 1
        at = list(zip(which.tolist(), (positions - starts[which]).tolist(), strict=True))
        out = {}
        for n in names:
            views = self._string_views(n)
            if views is not None:
                out[n] = [_string_at(views[b], j) for b, j in at]
                continue
            cols = [b.column(n) for b in batches]
            out[n] = [_plain(cols[b][j].as_py()) for b, j in at]
        return out

    def _string_views(self, name: str) -> list[_StringView] | None:
        """Per batch, column ``name``'s buffers as :func:`_string_at` reads them (``None``
        unless it is a string column): a value costs a slice and a decode, not an Arrow
        scalar (a few µs each)."""
        if name not in self._views:
            views = None
            if pa.types.is_string(self._table.schema.field(name).type):
                views = [_string_view(b.column(name)) for b in self._batches[0]]
            self._views[name] = views
        return self._views[name]

    def _take(self, positions: NDArray[np.int64], names: list[str]) -> pa.Table:
        """Rows at ``positions``, taken batch by batch: Arrow's take on a chunked column
        concatenates its chunks first, milliseconds per call on a large table."""
        batches, starts = self._batches
        if len(batches) <= 1 or len(positions) == 0:
            return self._table.select(names).take(pa.array(positions, type=pa.int64()))
        which = np.searchsorted(starts, positions, side="right") - 1
        parts, order = [], []
        for b in np.unique(which).tolist():
            sel = np.flatnonzero(which == b)
            local = pa.array(positions[sel] - starts[b])
            parts.append(pa.Table.from_batches([batches[b].select(names).take(local)]))
            order.append(sel)
        taken = pa.concat_tables(parts)
        back = np.empty(len(positions), dtype=np.int64)
        back[np.concatenate(order)] = np.arange(len(positions))
        return taken.take(pa.array(back))

    @functools.cached_property
    def _batches(self) -> tuple[list[pa.RecordBatch], NDArray[np.int64]]:
        batches = [b for b in self._table.to_batches() if b.num_rows]
        starts = np.cumsum([0] + [b.num_rows for b in batches[:-1]]).astype(np.int64)
        return batches, starts

    def records(
        self,
        positions: NDArray[np.int64],
        distances_m: NDArray[np.float64],
        fields: Sequence[str] = HIT_FIELDS,
        *,
        scores: NDArray[np.float64] | None = None,
        explanations: Sequence[dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """One dict per position with the selected fields, in canonical order.

        ``score`` and ``explain`` appear only when given (and selected).
        """
        if len(positions) == 0:
            return []
        data = self.columns(positions, [f for f in fields if f != "distance_m"])
        if "distance_m" in fields:
            data["distance_m"] = np.asarray(distances_m, dtype=np.float64).tolist()
        if scores is not None and "score" in fields:
            data["score"] = np.asarray(scores, dtype=np.float64).tolist()
        if explanations is not None and "explain" in fields:
            data["explain"] = list(explanations)
        ordered = [f for f in (*HIT_FIELDS, *COMPUTED_FIELDS) if f in data]
        cols = [data[f] for f in ordered]
        return [dict(zip(ordered, row, strict=True)) for row in zip(*cols, strict=True)]

    def json_rows(
        self,
        positions: NDArray[np.int64],
        distances_m: NDArray[np.float64],
        scores: NDArray[np.float64] | None = None,
    ) -> list[bytes]:
        """``orjson.dumps`` of :meth:`records` with every field, from cached fragments."""
        pos = np.asarray(positions, dtype=np.int64).tolist()
        self._fill(pos)
        before, after, dumps = self._before, self._after, orjson.dumps
        dists = np.asarray(distances_m, dtype=np.float64).tolist()
        if scores is None:
            return [
                b'{%s,"distance_m":%s,%s}' % (before[p], dumps(d), after[p])
                for p, d in zip(pos, dists, strict=True)
            ]
        return [
            b'{%s,"distance_m":%s,%s,"score":%s}' % (before[p], dumps(d), after[p], dumps(s))
            for p, d, s in zip(pos, dists, np.asarray(scores).tolist(), strict=True)
        ]

    def _fill(self, positions: list[int]) -> None:
        missing = [p for p in dict.fromkeys(positions) if p not in self._after]
        if not missing:
            return
        cols = self.columns(np.asarray(missing, dtype=np.int64), (*_BEFORE, *_AFTER))
        with self._lock:
            for i, p in enumerate(missing):
                self._before[p] = orjson.dumps(
                    {k: cols[k][i] for k in _BEFORE if k in cols}, option=_OPTIONS
                )[1:-1]
                self._after[p] = orjson.dumps(
                    {k: cols[k][i] for k in _AFTER if k in cols}, option=_OPTIONS
                )[1:-1]
