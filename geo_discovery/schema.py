"""The canonical merchant table: one schema for every source.

Every reader and profile produces a :class:`pandas.DataFrame` with exactly
:data:`CANONICAL_COLUMNS`, in that order and with those dtypes (:func:`empty_frame`
shows them). The store writes it to Parquet with :data:`ARROW_SCHEMA`.

Columns
-------
merchant_id        str      stable id, ``"<source>:<source id>"`` (unique in a snapshot)
name               str      display name, never empty
lat, lng           float64  WGS84 degrees
category           str      hierarchical path, lower-case, ``/``-separated (``food/grocery/bodega``)
address, phone, website   str|null
price_level        Int8     1 (cheap) … 4 (expensive), or null
opening_hours      str|null OpenStreetMap ``opening_hours`` syntax, untouched
status             str      ``open`` | ``closed`` | ``unknown``
rating             float    the source's rating value, on its own scale
rating_scale       float    the top of that scale (5 or 100); null when there is no rating
review_count       Int64    number of reviews (null for inspection-only sources such as DOHMH)
reviews_per_month  float    review velocity where the source gives it
first_review, last_review  datetime64 (UTC-naive dates) where known
quality_grade      str|null official letter grade (NYC DOHMH: A/B/C/…)
inspection_score   float    official inspection score, lower is better (NYC DOHMH)
attractiveness     float    size-like pull (e.g. floor area in sq ft), for Huff models
brand              str|null brand or chain name where the source has it
source             str      profile / source name
source_file        str      file name the row came from
source_line        Int64    1-based physical line (CSV) or feature number of the row
attributes         str      the untouched source row as a JSON object
"""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd
import pyarrow as pa

__all__ = [
    "ARROW_SCHEMA",
    "CANONICAL_COLUMNS",
    "SCHEMA_VERSION",
    "STATUS_VALUES",
    "attributes_of",
    "empty_frame",
    "from_arrow",
    "to_arrow",
]

SCHEMA_VERSION = 1
STATUS_VALUES = ("open", "closed", "unknown")

ARROW_SCHEMA = pa.schema(
    [
        pa.field("merchant_id", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("lat", pa.float64(), nullable=False),
        pa.field("lng", pa.float64(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("address", pa.string()),
        pa.field("phone", pa.string()),
        pa.field("website", pa.string()),
        pa.field("price_level", pa.int8()),
        pa.field("opening_hours", pa.string()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("rating", pa.float64()),
        pa.field("rating_scale", pa.float64()),
        pa.field("review_count", pa.int64()),
        pa.field("reviews_per_month", pa.float64()),
        pa.field("first_review", pa.timestamp("s")),
        pa.field("last_review", pa.timestamp("s")),
        pa.field("quality_grade", pa.string()),
        pa.field("inspection_score", pa.float64()),
        pa.field("attractiveness", pa.float64()),
        pa.field("brand", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("source_line", pa.int64(), nullable=False),
        pa.field("attributes", pa.string(), nullable=False),
    ]
)

CANONICAL_COLUMNS: tuple[str, ...] = tuple(ARROW_SCHEMA.names)

_PANDAS_DTYPES: dict[str, str] = {
    "merchant_id": "object",
    "name": "object",
    "lat": "float64",
    "lng": "float64",
    "category": "object",
    "address": "object",
    "phone": "object",
    "website": "object",
    "price_level": "Int8",
    "opening_hours": "object",
    "status": "object",
    "rating": "float64",
    "rating_scale": "float64",
    "review_count": "Int64",
    "reviews_per_month": "float64",
    "first_review": "datetime64[s]",
    "last_review": "datetime64[s]",
    "quality_grade": "object",
    "inspection_score": "float64",
    "attractiveness": "float64",
    "brand": "object",
    "source": "object",
    "source_file": "object",
    "source_line": "Int64",
    "attributes": "object",
}


def empty_frame() -> pd.DataFrame:
    """An empty canonical frame with the right columns and dtypes.

    Examples
    --------
    >>> list(empty_frame().columns) == list(CANONICAL_COLUMNS)
    True
    """
    return pd.DataFrame({c: pd.Series(dtype=_PANDAS_DTYPES[c]) for c in CANONICAL_COLUMNS})


def from_arrow(table: pa.Table) -> pd.DataFrame:
    """The canonical frame (the dtypes of :func:`empty_frame`) of a table with
    :data:`ARROW_SCHEMA`; the inverse of :func:`to_arrow`.

    Examples
    --------
    >>> f = from_arrow(to_arrow(empty_frame()))
    >>> f.dtypes.equals(empty_frame().dtypes)
    True
    """
    ints = {pa.int8(): pd.Int8Dtype(), pa.int64(): pd.Int64Dtype()}
    data = {}
    for name in CANONICAL_COLUMNS:
        col = table.column(name)
        if pa.types.is_string(col.type):  # object with None, not pandas' NaN strings
            data[name] = pd.Series(col.to_numpy(zero_copy_only=False), dtype=object)
        else:
            data[name] = col.to_pandas(types_mapper=ints.get)
    return pd.DataFrame(data).astype(_PANDAS_DTYPES)


def column_to_arrow(name: str, cells: pd.Series) -> pa.ChunkedArray:
    """One canonical column as :func:`to_arrow` converts it (for building a table one
    column at a time, without a copy of the whole frame)."""
    if name in ("first_review", "last_review"):
        cells = pd.to_datetime(cells).astype("datetime64[s]")
    field = ARROW_SCHEMA.field(name)
    if isinstance(cells.dtype, pd.StringDtype) and cells.dtype.storage == "pyarrow":
        text = pa.chunked_array(pa.array(cells.array)).cast(field.type)
        if not field.nullable and text.null_count:
            raise ValueError(f"Field {field} was non-nullable but pandas column had "
                             f"{text.null_count} null values")
        return text
    one = pd.DataFrame({name: cells.astype(_PANDAS_DTYPES[name])})  # type: ignore[call-overload]
    return pa.Table.from_pandas(one, schema=pa.schema([field]), preserve_index=False).column(0)


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """Convert a canonical frame to an Arrow table with :data:`ARROW_SCHEMA`.

    Raises ``ValueError`` if a canonical column is missing.
    """
    missing = [c for c in CANONICAL_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"canonical frame is missing columns {missing}")
    out = frame.loc[:, list(CANONICAL_COLUMNS)].copy()
    for col in ("first_review", "last_review"):
        out[col] = pd.to_datetime(out[col]).astype("datetime64[s]")
    return pa.Table.from_pandas(out, schema=ARROW_SCHEMA, preserve_index=False)


def attributes_of(text: Any) -> dict[str, Any]:
    """A merchant's ``attributes`` (JSON text of the source row's other fields) as a dict;
    ``{}`` for a null, text that is not JSON, or JSON that is not an object.

    >>> attributes_of('{"city": "Bangkok"}'), attributes_of("[1]"), attributes_of(None)
    ({'city': 'Bangkok'}, {}, {})
    """
    if not isinstance(text, str | bytes):
        return {}
    try:
        out = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return out if isinstance(out, dict) else {}
