"""Declarative column mappings: any table → the canonical columns, from JSON or TOML.

A mapping names, for each canonical column, the source column that holds it::

    {
      "source": "city_permits",            # value of the canonical `source` column
      "columns": {"merchant_id": "permit_no", "name": "business",
                  "lat": "y", "lng": "x", "category": "kind", "phone": "tel"},
      "id_prefix": "permits",              # merchant_id = "permits:<permit_no>"
      "rating_scale": 5,                   # optional: the top of the rating scale
      "expected_bbox": [-74.26, 40.48, -73.70, 40.92]   # optional: west,south,east,north
    }

The same in TOML::

    source = "city_permits"
    id_prefix = "permits"
    [columns]
    merchant_id = "permit_no"
    name = "business"
    lat = "y"
    lng = "x"

Rules: ``columns.name`` is required; ``lat`` and ``lng`` come together, or are both left
out for geometry formats. Without ``merchant_id`` the id is a hash of the normalised
row. ``id_prefix`` defaults to the slugified ``source`` (``""`` uses the ids as they
are). ``category`` values are free text split on ``/`` or ``>`` and slugified. Without
``rating_scale`` (key or column) the scale is inferred per file from clear evidence
(:mod:`geo_discovery.ingest.ratings`). Unknown keys, unknown canonical columns and wrong
types raise :class:`~geo_discovery.errors.ProfileError`, with the closest allowed name
(``did you mean 'name'?``); a source column the file does not have fails naming the
closest header names.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidQueryError, ProfileError
from ..models import BBox
from .generic import PASSTHROUGH, stage_columns
from .names import did_you_mean
from .profiles import Profile
from .raw import RawTable
from .staging import Staged
from .taxonomy import slugify

__all__ = ["MAPPABLE_COLUMNS", "load_mapping", "profile_from_mapping"]

#: Canonical columns a mapping may fill from a source column.
MAPPABLE_COLUMNS: tuple[str, ...] = ("merchant_id", "name", "lat", "lng", "category", *PASSTHROUGH)
_KEYS = {"source", "columns", "id_prefix", "rating_scale", "expected_bbox", "description"}


def load_mapping(mapping: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Read a mapping from a ``.json`` / ``.toml`` file (or take a dict) and check it."""
    where = "mapping"
    if isinstance(mapping, (str, Path)):
        path = Path(mapping)
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProfileError(f"{path}: cannot read mapping file ({exc})") from None
        suffix = path.suffix.lower()
        try:
            if suffix == ".json":
                data: Any = json.loads(text)
            elif suffix == ".toml":
                data = tomllib.loads(text)
            else:
                raise ProfileError(f"{path}: mapping file must end in .json or .toml")
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ProfileError(f"{path}: malformed mapping ({exc})") from None
    elif isinstance(mapping, Mapping):
        data = dict(mapping)
    else:
        raise TypeError(f"mapping must be a path or a mapping, got {type(mapping).__name__}")
    _check(where, data)
    return dict(data)


def _check(where: str, data: Any) -> None:
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: a mapping must be an object/table at the top level")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        hints = "".join(did_you_mean(k, _KEYS) for k in unknown)
        raise ProfileError(
            f"{where}: unknown mapping keys {unknown}{hints}; allowed: {sorted(_KEYS)}"
        )
    columns = data.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise ProfileError(f"{where}: 'columns' must map canonical names to source columns")
    bad = sorted(k for k in columns if k not in MAPPABLE_COLUMNS)
    if bad:
        hints = "".join(did_you_mean(k, MAPPABLE_COLUMNS) for k in bad)
        raise ProfileError(
            f"{where}: unknown canonical columns {bad}{hints}; allowed: {list(MAPPABLE_COLUMNS)}"
        )
    not_text = sorted(k for k, v in columns.items() if not isinstance(v, str) or not v.strip())
    if not_text:
        raise ProfileError(f"{where}: columns {not_text} must name a source column (a string)")
    if "name" not in columns:
        raise ProfileError(f"{where}: 'columns' must map 'name'")
    if ("lat" in columns) != ("lng" in columns):
        raise ProfileError(f"{where}: map both 'lat' and 'lng', or neither (geometry files)")
    for key in ("source", "id_prefix", "description"):
        if key in data and not isinstance(data[key], str):
            raise ProfileError(f"{where}: {key!r} must be a string, got {data[key]!r}")
    scale = data.get("rating_scale")
    if scale is not None and (
        isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0
    ):
        raise ProfileError(f"{where}: 'rating_scale' must be a number > 0, got {scale!r}")
    if "expected_bbox" in data:
        data["expected_bbox"] = _bbox(where, data["expected_bbox"])


def _bbox(where: str, value: Any) -> BBox:
    try:
        if isinstance(value, dict):
            return BBox(**{k: float(value[k]) for k in ("south", "west", "north", "east")})
        if isinstance(value, (list, tuple)) and len(value) == 4:
            west, south, east, north = (float(v) for v in value)
            return BBox(south=south, west=west, north=north, east=east)
        if isinstance(value, BBox):
            return value
    except (KeyError, TypeError, ValueError, InvalidQueryError) as exc:
        raise ProfileError(f"{where}: bad 'expected_bbox' {value!r} ({exc})") from None
    raise ProfileError(
        f"{where}: 'expected_bbox' must be [west, south, east, north] or an object with "
        f"south/west/north/east, got {value!r}"
    )


def profile_from_mapping(mapping: str | Path | Mapping[str, Any]) -> Profile:
    """A :class:`~geo_discovery.ingest.profiles.Profile` built from a mapping.

    Examples
    --------
    >>> p = profile_from_mapping({"source": "City Permits",
    ...                           "columns": {"name": "biz", "lat": "y", "lng": "x"}})
    >>> p.name, p.id_prefix, p.source_name
    ('mapping', 'city_permits', 'City Permits')
    """
    data = load_mapping(mapping)
    columns: dict[str, str] = {k: v.strip() for k, v in data["columns"].items()}
    source = data.get("source") or "mapping"
    id_prefix = data.get("id_prefix", slugify(source) or "mapping")
    scale = data.get("rating_scale")

    def build(raw: RawTable) -> Staged:
        return stage_columns(raw, columns, None if scale is None else float(scale), id_prefix)

    signature = tuple(dict.fromkeys(v for k, v in columns.items() if k not in {"lat", "lng"}))
    return Profile(
        name="mapping",
        description=data.get("description", f"declarative column mapping for {source}"),
        id_prefix=id_prefix,
        signature=signature,
        lat_column=columns.get("lat", ""),
        lng_column=columns.get("lng", ""),
        build=build,
        expected_bbox=data.get("expected_bbox"),
        source=source,
    )
