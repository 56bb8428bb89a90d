"""Engine answers → JSON-ready dicts and GeoJSON, with an optional field selection.

Rows are taken from the memory-mapped merchant table column by column, only for the
columns asked for, so a ``limit=20`` answer converts 20 rows of a few columns and never
touches the (large) raw source ``attributes``. The dicts match
:meth:`geo_discovery.models.Hit.to_dict` (a test checks it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from geo_discovery.engine import HIT_FIELDS, Results
from geo_discovery.errors import InvalidQueryError

__all__ = ["HIT_FIELDS", "hit_features", "hit_records", "parse_fields", "record_to_feature"]

_ALWAYS = ("merchant_id",)
# Selectable, but present only when the query produced it (sort=best_match).
_COMPUTED = ("score",)


def parse_fields(text: str | None, allowed: Sequence[str] = HIT_FIELDS) -> tuple[str, ...]:
    """Parse ``fields=name,category``: the selected fields in canonical order.

    ``merchant_id`` is always included; ``None`` or empty selects every field.
    ``score`` can be selected too; it is present only for ``sort=best_match``.
    """
    everything = (*allowed, *_COMPUTED)
    if text is None or not text.strip():
        return everything
    asked = {f.strip() for f in text.split(",") if f.strip()}
    unknown = sorted(asked - set(everything))
    if unknown:
        raise InvalidQueryError(
            f"fields={text!r} names unknown field(s) {', '.join(unknown)}; allowed: "
            f"{', '.join(everything)}"
        )
    asked.update(_ALWAYS)
    return tuple(f for f in everything if f in asked)


def hit_records(results: Results, fields: Sequence[str] = HIT_FIELDS) -> list[dict[str, Any]]:
    """One dict per result with the selected ``fields`` (``distance_m`` from the engine).

    Dates stay :class:`~datetime.datetime` objects; orjson writes them in ISO 8601,
    as ``Hit.to_dict`` does.
    """
    if len(results) == 0:
        return []
    columns = [f for f in fields if f not in ("distance_m", *_COMPUTED)]
    sub = results.table.select(columns).take(pa.array(results.positions))
    data = {name: sub.column(name).to_pylist() for name in columns}
    if "distance_m" in fields:
        data["distance_m"] = results.distances_m.tolist()
    ordered = [f for f in fields if f in data]
    # Present only when the query produced them (sort=best_match, explain=true).
    if results.scores is not None and "score" in fields:
        data["score"] = results.scores.tolist()
        ordered.append("score")
    if results.explain is not None:
        data["explain"] = list(results.explain)
        ordered.append("explain")
    cols = [data[f] for f in ordered]
    return [dict(zip(ordered, row, strict=True)) for row in zip(*cols, strict=True)]


def record_to_feature(record: dict[str, Any], lat: float, lng: float) -> dict[str, Any]:
    """A GeoJSON Point Feature; properties are the record without ``lat``/``lng``."""
    props = {k: v for k, v in record.items() if k not in ("lat", "lng")}
    return {
        "type": "Feature",
        "id": record["merchant_id"],
        "geometry": {"type": "Point", "coordinates": [lng, lat]},
        "properties": props,
    }


def hit_features(results: Results, fields: Sequence[str] = HIT_FIELDS) -> list[dict[str, Any]]:
    """GeoJSON Features for the results; coordinates always come along, in (lng, lat)."""
    wanted = set(fields) | {"lat", "lng"}
    records = hit_records(results, [f for f in (*HIT_FIELDS, *_COMPUTED) if f in wanted])
    return [record_to_feature(rec, rec["lat"], rec["lng"]) for rec in records]
