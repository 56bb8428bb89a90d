"""Mapbox Vector Tile 2.1 encoding: the protobuf written directly, features in one pass.

Why not the ``mapbox-vector-tile`` package: it builds one Python object per feature and
value (shapely geometry, protobuf message), about 150× slower on a z14 tile of Midtown
Manhattan (``benchmarks/bench_tiles.py`` times both on the same features). Here:

* every property is a :class:`ValueColumn`, dictionary-encoded once per snapshot: a code
  per row and each distinct value's ``Value`` message, already framed as a layer field;
  a tile collects the distinct codes of its rows (compiled, in one pass), so its value
  table holds each distinct value once, as the specification asks, and copies their
  framed messages, without a Python loop over features;
* :func:`_write_features` (compiled) writes every feature's ``id``, ``tags``, ``type`` and
  ``geometry`` into one buffer;
* geometry is given as command integers (:func:`point_geometry`, :func:`polygon_geometry`)
  in tile coordinates, zig-zag encoded, cursor-relative per feature (specification §4.3).

The tests decode every tile with ``mapbox_vector_tile.decode`` (an independent
implementation) and compare with the table.

Examples
--------
>>> import mapbox_vector_tile
>>> names = ValueColumn.of_strings(["a", None, "a"])
>>> geom, offsets = point_geometry(np.array([0, 10, 4096]), np.array([0, 20, 4096]))
>>> layer = encode_layer("demo", point_ids=np.arange(3), geometry=geom,
...                      offsets=offsets, geom_type=POINT, columns=[("name", names, None)])
>>> decoded = mapbox_vector_tile.decode(encode_tile([layer]),
...                                     default_options={"y_coord_down": True})
>>> [(f["id"], f["geometry"]["coordinates"], f["properties"]) for f in decoded["demo"]["features"]]
[(0, [0, 0], {'name': 'a'}), (1, [10, 20], {}), (2, [4096, 4096], {'name': 'a'})]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from numba import njit
from numpy.typing import NDArray

from .grid import EXTENT

__all__ = [
    "POINT",
    "POLYGON",
    "ValueColumn",
    "encode_layer",
    "encode_tile",
    "point_geometry",
    "polygon_geometry",
]

POINT = 1
POLYGON = 3
_MOVE_TO = 1
_EMPTY_U8 = np.empty(0, dtype=np.uint8)


# ------------------------------------------------------------------- primitives
def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field: tag byte, length, payload."""
    return bytes((tag,)) + _varint(len(payload)) + payload


def _zigzag(v: NDArray[np.int64]) -> NDArray[np.uint64]:
    v = np.asarray(v, dtype=np.int64)
    return ((v << 1) ^ (v >> 63)).astype(np.uint64)


def _command(command: int, count: int) -> int:
    return (command & 0x7) | (count << 3)


@njit(cache=True, nogil=True, inline="always")
def _varint_len(v: np.uint64) -> int:  # pragma: no cover - compiled
    n = 1
    while v >= 0x80:
        v >>= np.uint64(7)
        n += 1
    return n


@njit(cache=True, nogil=True, inline="always")
def _put_varint(buf: NDArray, pos: int, v: np.uint64) -> int:  # pragma: no cover - compiled
    while v >= 0x80:
        buf[pos] = np.uint8((v & np.uint64(0x7F)) | np.uint64(0x80))
        v >>= np.uint64(7)
        pos += 1
    buf[pos] = np.uint8(v)
    return pos + 1


@njit(cache=True, nogil=True)
def _write_features(
    ids: NDArray[np.uint64],
    with_ids: bool,
    geom_type: int,
    tags: NDArray[np.int64],
    geometry: NDArray[np.uint64],
    offsets: NDArray[np.int64],
) -> NDArray[np.uint8]:  # pragma: no cover - compiled
    """Every feature as a layer field 2 (``Feature`` message), concatenated.

    ``tags[i]`` holds (key, value) index pairs, a pair with value ``-1`` is absent;
    ``geometry[offsets[i]:offsets[i+1]]`` are feature ``i``'s command integers.
    """
    n = len(offsets) - 1
    inner = np.empty(n, dtype=np.int64)
    tag_bytes = np.empty(n, dtype=np.int64)
    geom_bytes = np.empty(n, dtype=np.int64)
    total = 0
    for i in range(n):
        t = 0
        for j in range(0, tags.shape[1], 2):
            if tags[i, j + 1] >= 0:
                t += _varint_len(np.uint64(tags[i, j])) + _varint_len(np.uint64(tags[i, j + 1]))
        g = 0
        for k in range(offsets[i], offsets[i + 1]):
            g += _varint_len(geometry[k])
        size = 2 + 1 + _varint_len(np.uint64(g)) + g  # type + geometry
        if with_ids:
            size += 1 + _varint_len(ids[i])
        if t > 0:
            size += 1 + _varint_len(np.uint64(t)) + t
        inner[i], tag_bytes[i], geom_bytes[i] = size, t, g
        total += 1 + _varint_len(np.uint64(size)) + size
    buf = np.empty(total, dtype=np.uint8)
    pos = 0
    for i in range(n):
        buf[pos] = 0x12  # Layer.features
        pos = _put_varint(buf, pos + 1, np.uint64(inner[i]))
        if with_ids:
            buf[pos] = 0x08  # Feature.id
            pos = _put_varint(buf, pos + 1, ids[i])
        if tag_bytes[i] > 0:
            buf[pos] = 0x12  # Feature.tags (packed)
            pos = _put_varint(buf, pos + 1, np.uint64(tag_bytes[i]))
            for j in range(0, tags.shape[1], 2):
                if tags[i, j + 1] >= 0:
                    pos = _put_varint(buf, pos, np.uint64(tags[i, j]))
                    pos = _put_varint(buf, pos, np.uint64(tags[i, j + 1]))
        buf[pos] = 0x18  # Feature.type
        buf[pos + 1] = geom_type
        buf[pos + 2] = 0x22  # Feature.geometry (packed)
        pos = _put_varint(buf, pos + 3, np.uint64(geom_bytes[i]))
        for k in range(offsets[i], offsets[i + 1]):
            pos = _put_varint(buf, pos, geometry[k])
    return buf


@njit(cache=True, nogil=True)
def _first_seen(
    codes: NDArray[np.int32], n_values: int, tags: NDArray[np.int64], column: int, base: int
) -> NDArray[np.int64]:  # pragma: no cover - compiled
    """Distinct non-negative ``codes`` in order of first appearance (``np.unique``
    without the sort); writes each feature's value index (``base`` + its rank among them,
    ``-1`` when absent) into ``tags[:, column]``."""
    slot = np.full(n_values, -1, dtype=np.int64)
    order = np.empty(len(codes), dtype=np.int64)
    k = 0
    for i in range(len(codes)):
        c = codes[i]
        if c < 0:
            tags[i, column] = -1
            continue
        if slot[c] < 0:
            slot[c] = k
            order[k] = c
            k += 1
        tags[i, column] = base + slot[c]
    return order[:k]


@njit(cache=True, nogil=True)
def _gather(
    blob: NDArray[np.uint8], offsets: NDArray[np.int64], which: NDArray
) -> NDArray:  # pragma: no cover
    """``blob[offsets[i]:offsets[i+1]]`` for each ``i`` in ``which``, concatenated."""
    total = 0
    for i in which:
        total += offsets[i + 1] - offsets[i]
    out = np.empty(total, dtype=np.uint8)
    pos = 0
    for i in which:
        n = offsets[i + 1] - offsets[i]
        out[pos : pos + n] = blob[offsets[i] : offsets[i + 1]]
        pos += n
    return out


# ----------------------------------------------------------------------- values
@dataclass(frozen=True)
class ValueColumn:
    """One feature property, dictionary-encoded: ``codes[row]`` (``-1``: no value) into
    distinct values stored as framed ``Value`` messages (``blob[offsets[i]:offsets[i+1]]``
    is layer field 4 for value ``i``)."""

    codes: NDArray[np.int32]
    blob: NDArray[np.uint8]
    offsets: NDArray[np.int64]

    @classmethod
    def _of_messages(cls, codes: NDArray, messages: Sequence[bytes]) -> ValueColumn:
        framed = [_field(0x22, m) for m in messages]
        offsets = np.zeros(len(framed) + 1, dtype=np.int64)
        np.cumsum([len(f) for f in framed], out=offsets[1:])
        blob = np.frombuffer(b"".join(framed), dtype=np.uint8) if framed else _EMPTY_U8
        return cls(np.asarray(codes, dtype=np.int32), blob, offsets)

    @classmethod
    def of_strings(cls, values: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> ValueColumn:
        """Text values (``None``: absent)."""
        arr = (
            values
            if isinstance(values, pa.Array | pa.ChunkedArray)
            else pa.array(values, pa.string())
        )
        if pa.types.is_dictionary(arr.type):
            arr = arr.cast(arr.type.value_type)
        if len(arr) == 0:
            return cls._of_messages(np.empty(0, np.int32), [])
        enc = pc.dictionary_encode(arr)
        if isinstance(enc, pa.ChunkedArray):
            enc = enc.combine_chunks()
        codes = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
        vocab = enc.dictionary.to_pylist()
        return cls._of_messages(codes, [_field(0x0A, str(v).encode()) for v in vocab])

    @classmethod
    def of_numbers(
        cls,
        values: NDArray | Sequence[float],
        *,
        integer: bool = False,
        decimals: int | None = None,
    ) -> ValueColumn:
        """Numbers (NaN: absent): ``int_value`` (``sint_value`` below 0) when ``integer``,
        else ``double_value``, rounded to ``decimals`` if given."""
        vals = np.asarray(values, dtype=np.float64)
        present = np.isfinite(vals)
        if decimals is not None:
            vals = np.round(vals, decimals)
        uniq, inverse = np.unique(vals[present], return_inverse=True)
        codes = np.full(len(vals), -1, dtype=np.int32)
        codes[present] = inverse
        if integer:
            ints = [int(v) for v in uniq.tolist()]
            messages = [
                b"\x20" + _varint(v) if v >= 0 else b"\x30" + _varint((-v << 1) - 1) for v in ints
            ]
        else:
            raw = uniq.astype("<f8").tobytes()
            messages = [b"\x19" + raw[8 * i : 8 * i + 8] for i in range(len(uniq))]
        return cls._of_messages(codes, messages)


# ----------------------------------------------------------------------- geometry
def point_geometry(
    x: NDArray[np.int64], y: NDArray[np.int64]
) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
    """Command integers of one point per ``(x, y)`` (tile units): ``MoveTo(1) dx dy``."""
    n = len(x)
    geom = np.empty((n, 3), dtype=np.uint64)
    geom[:, 0] = _command(_MOVE_TO, 1)
    geom[:, 1] = _zigzag(np.asarray(x))
    geom[:, 2] = _zigzag(np.asarray(y))
    return geom.ravel(), np.arange(0, 3 * n + 1, 3, dtype=np.int64)


def polygon_geometry(
    polygons: Sequence[shapely.Polygon | shapely.MultiPolygon],
) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
    """Command integers of (multi)polygons whose coordinates are integer tile units,
    valid, with exterior rings of positive area in tile coordinates and holes negative
    (specification §4.3.4: what :func:`shapely.orient_polygons` gives with
    ``exterior_cw=False``, since tile y grows downwards)."""
    parts, feature = shapely.get_parts(np.asarray(polygons, dtype=object), return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    ring_start = np.searchsorted(coord_ring, np.arange(len(rings) + 1))
    return _ring_commands(
        np.rint(coords).astype(np.int64),
        ring_start.astype(np.int64),
        feature[ring_part].astype(np.int64),
        len(polygons),
    )


@njit(cache=True, nogil=True)
def _ring_commands(
    coords: NDArray[np.int64],
    ring_start: NDArray[np.int64],
    ring_feature: NDArray[np.int64],
    n_features: int,
) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:  # pragma: no cover - compiled
    """Per ring (closed, in feature order): ``MoveTo(1) LineTo(k-1) ClosePath``, with the
    cursor carried from ring to ring within a feature."""
    n_rings = len(ring_start) - 1
    total = 0
    for r in range(n_rings):
        total += 2 * (ring_start[r + 1] - ring_start[r] - 1) + 3
    out = np.empty(total, dtype=np.uint64)
    offsets = np.zeros(n_features + 1, dtype=np.int64)
    pos = 0
    cx = 0
    cy = 0
    feature = -1
    for r in range(n_rings):
        if ring_feature[r] != feature:
            feature = ring_feature[r]
            cx = 0
            cy = 0
        k = ring_start[r + 1] - ring_start[r] - 1  # the closing point is implied
        for i in range(k):
            x = coords[ring_start[r] + i, 0]
            y = coords[ring_start[r] + i, 1]
            if i == 0:
                out[pos] = np.uint64(9)  # MoveTo(1)
                pos += 1
            elif i == 1:
                out[pos] = np.uint64(2 | ((k - 1) << 3))  # LineTo(k - 1)
                pos += 1
            dx = x - cx
            dy = y - cy
            out[pos] = np.uint64((dx << 1) ^ (dx >> 63))
            out[pos + 1] = np.uint64((dy << 1) ^ (dy >> 63))
            pos += 2
            cx = x
            cy = y
        out[pos] = np.uint64(15)  # ClosePath(1)
        pos += 1
        offsets[feature + 1] = pos
    for f in range(1, n_features + 1):  # features without rings keep the previous end
        if offsets[f] < offsets[f - 1]:
            offsets[f] = offsets[f - 1]
    return out, offsets


# -------------------------------------------------------------------- layers, tile
def encode_layer(
    name: str,
    *,
    geometry: NDArray[np.uint64],
    offsets: NDArray[np.int64],
    geom_type: int,
    columns: Sequence[tuple[str, ValueColumn, NDArray[np.int64] | None]],
    point_ids: NDArray | None = None,
    extent: int = EXTENT,
) -> bytes:
    """One ``Layer`` message, or ``b""`` when it has no feature.

    ``columns`` are ``(key, column, rows)``: feature ``i`` takes the column's value of
    row ``rows[i]`` (``rows=None``: row ``i``). ``point_ids`` are the features' ids
    (unsigned integers; none when ``None``).
    """
    n = len(offsets) - 1
    if n <= 0:
        return b""
    tags = np.full((n, 2 * max(len(columns), 1)), -1, dtype=np.int64)
    keys: list[bytes] = []
    values: list[bytes] = []
    base = 0
    for key, column, rows in columns:
        local = column.codes if rows is None else column.codes[rows]
        j = 2 * len(keys)
        uniq = _first_seen(local, len(column.offsets) - 1, tags, j + 1, base)
        if len(uniq) == 0:
            continue
        tags[:, j] = len(keys)
        base += len(uniq)
        keys.append(_field(0x1A, key.encode()))
        values.append(_gather(column.blob, column.offsets, uniq).tobytes())
    ids = (
        np.zeros(n, dtype=np.uint64)
        if point_ids is None
        else np.ascontiguousarray(point_ids, dtype=np.uint64)
    )
    features = _write_features(
        ids,
        point_ids is not None,
        geom_type,
        tags,
        np.ascontiguousarray(geometry, dtype=np.uint64),
        np.ascontiguousarray(offsets, dtype=np.int64),
    )
    return b"".join(
        [
            _field(0x0A, name.encode()),
            features.tobytes(),
            *keys,
            *values,
            b"\x28" + _varint(extent),
            b"\x78\x02",  # version 2
        ]
    )


def encode_tile(layers: Sequence[bytes]) -> bytes:
    """A ``Tile`` message of the non-empty ``layers`` (``b""``: an empty tile)."""
    return b"".join(_field(0x1A, layer) for layer in layers if layer)
