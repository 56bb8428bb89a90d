"""DiscoveryEngine: the facade the CLI, the API and notebooks call.

``DiscoveryEngine.from_snapshot(path)`` opens one immutable snapshot: the merchant table
(memory-mapped Parquet) and the CellIndex (memory-mapped ``.npy``). Queries validate their
input once, here, and return :class:`Results`: positions and exact distances, turned into
:class:`~geo_discovery.models.Hit` objects, records, GeoJSON or a DataFrame on demand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely
from numpy.typing import NDArray

from .errors import InvalidQueryError, SnapshotError
from .models import BBox, Hit, validate_lat, validate_lng
from .ranking.scoring import Weights, consumption_radii
from .search.index import CellIndex
from .search.planner import Filters, Ranker
from .settings import Settings, get_settings
from .snapshot.store import SnapshotInfo, read_manifest, resolve_snapshot_dir

__all__ = ["HIT_FIELDS", "DiscoveryEngine", "MerchantNotFoundError", "Results"]

_CATEGORY_RE = re.compile(r"^[a-z0-9_]+(/[a-z0-9_]+)*$")
# Columns carried on every Hit besides the core ones (the raw source row stays out).
_HIT_EXTRA = (
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
# Every field of a result, in the order of Hit.to_dict().
HIT_FIELDS: tuple[str, ...] = (
    "merchant_id",
    "name",
    "lat",
    "lng",
    "distance_m",
    "category",
    *_HIT_EXTRA,
)


class MerchantNotFoundError(SnapshotError, LookupError):
    """No merchant with that id in the snapshot."""


@dataclass(frozen=True, eq=False)
class Results:
    """A query answer: table rows and exact distances, nearest first.

    Iterating yields :class:`~geo_discovery.models.Hit`; :meth:`to_geojson` gives a
    FeatureCollection for maps; :meth:`to_frame` a DataFrame for notebooks.
    """

    positions: NDArray[np.int64]
    distances_m: NDArray[np.float64]
    table: pa.Table
    snapshot_version: str
    scores: NDArray[np.float64] | None = None  # best_match scores, when sorted by them
    explain: list[dict[str, Any]] | None = None  # per-hit score parts (explain=True)
    cursor_fn: Callable[[], str | None] | None = field(default=None, repr=False)

    @property
    def next_cursor(self) -> str | None:
        """Opaque cursor for the next page (``nearby``); ``None`` when there is no more."""
        return self.cursor_fn() if self.cursor_fn is not None else None

    def __len__(self) -> int:
        return len(self.positions)

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    @property
    def merchant_ids(self) -> list[str]:
        return [str(x) for x in self.table.column("merchant_id").take(self.positions).to_pylist()]

    @property
    def hits(self) -> list[Hit]:
        rows = self.table.take(pa.array(self.positions)).to_pylist()
        out = []
        for i, (pos, dist, row) in enumerate(
            zip(self.positions.tolist(), self.distances_m.tolist(), rows, strict=True)
        ):
            extra = {k: _jsonable(row.get(k)) for k in _HIT_EXTRA}
            if self.scores is not None:
                extra["score"] = float(self.scores[i])
            if self.explain is not None:
                extra["explain"] = self.explain[i]
            out.append(
                Hit(
                    merchant_id=row["merchant_id"],
                    name=row["name"],
                    lat=row["lat"],
                    lng=row["lng"],
                    distance_m=dist,
                    category=row["category"],
                    position=pos,
                    attributes=extra,
                )
            )
        return out

    def to_records(self) -> list[dict[str, Any]]:
        return [h.to_dict() for h in self.hits]

    def to_geojson(self) -> dict[str, Any]:
        return {
            "type": "FeatureCollection",
            "features": [h.to_geojson_feature() for h in self.hits],
        }

    def to_frame(self) -> pd.DataFrame:
        frame = self.table.take(pa.array(self.positions)).to_pandas()
        frame.insert(4, "distance_m", self.distances_m)
        if self.scores is not None:
            frame.insert(5, "score", self.scores)
        return frame.drop(columns=["attributes"], errors="ignore")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class DiscoveryEngine:
    """Exact nearby / radius / box / polygon search over one snapshot.

    Examples
    --------
    >>> engine = DiscoveryEngine.from_snapshot("path/to/data-dir")  # doctest: +SKIP
    >>> [h.name for h in engine.nearby(40.7580, -73.9855, k=3)]  # doctest: +SKIP
    ['…', '…', '…']
    """

    def __init__(
        self,
        merchants: pa.Table,
        index: CellIndex,
        *,
        snapshot: SnapshotInfo | None = None,
        settings: Settings | None = None,
        wom: tuple[Any, Any] | None = None,
        districts: tuple[Any, Any] | None = None,
    ) -> None:
        """``wom`` = ``(wom_score, wom_confidence)`` and ``districts`` = ``(district_id,
        district_term)``, arrays aligned to ``merchants``, override what the snapshot
        holds (neutral when neither has them)."""
        if len(index) != merchants.num_rows:
            raise SnapshotError(
                f"index has {len(index)} points but the merchant table {merchants.num_rows} rows"
            )
        self.merchants = merchants
        self.index = index
        self.snapshot = snapshot
        self.settings = settings or get_settings()
        cat = pc.dictionary_encode(merchants.column("category")).combine_chunks()
        self._category_codes = np.asarray(
            cat.indices.to_numpy(zero_copy_only=False), dtype=np.int32
        )
        self._category_vocab: list[str] = [str(x) for x in cat.dictionary.to_pylist()]
        self._id_to_row: dict[str, int] | None = None
        self._mask_cache = lru_cache(maxsize=256)(self._build_category_mask)
        self._wom = wom
        self._districts = districts
        self._ranker: Ranker | None = None
        self._default_weights: Weights | None = None

    # ------------------------------------------------------------------ opening
    @classmethod
    def from_snapshot(
        cls, path: str | Path | None = None, *, settings: Settings | None = None
    ) -> DiscoveryEngine:
        """Open a snapshot: ``path`` is a data dir (its current snapshot) or a snapshot dir.

        ``None`` uses ``settings.data_dir`` (``GEO_DISCOVERY_DATA_DIR``).
        """
        settings = settings or get_settings()
        snap_dir = resolve_snapshot_dir(path if path is not None else settings.data_dir)
        manifest = read_manifest(snap_dir)
        try:
            table = pq.read_table(snap_dir / "merchants.parquet", memory_map=True)
        except (OSError, pa.ArrowException) as exc:
            raise SnapshotError(f"merchant table of {snap_dir} is unreadable: {exc}") from exc
        if "geometry" in table.column_names:
            table = table.drop_columns(["geometry"])
        index = CellIndex.from_directory(snap_dir / "index")
        info = SnapshotInfo(int(manifest["snapshot_id"]), snap_dir, manifest)
        return cls(table, index, snapshot=info, settings=settings)

    @property
    def version(self) -> str:
        return self.snapshot.version if self.snapshot else "unversioned"

    def __len__(self) -> int:
        return self.merchants.num_rows

    # ------------------------------------------------------------------ queries
    def nearby(
        self,
        lat: float,
        lng: float,
        k: int = 20,
        *,
        radius_m: float | None = None,
        categories: Sequence[str] | str | None = None,
        exclude_categories: Sequence[str] | str | None = None,
        sort: str = "distance",
        explain: bool = False,
        min_price: int | None = None,
        max_price: int | None = None,
        min_rating: float | None = None,
        min_reviews: int | None = None,
        open_now: bool = False,
        open_at: datetime | str | None = None,
        exclude_brands: Sequence[str] | str | None = None,
        exclude_chains: bool = False,
        district_id: Sequence[str] | str | int | None = None,
        weights: Weights | Mapping[str, float] | None = None,
        consumption_radii_m: Mapping[str, float] | None = None,
        cursor: str | None = None,
    ) -> Results:
        """Up to ``k`` merchants near ``(lat, lng)`` (one page), optionally within ``radius_m``.

        ``sort`` is ``distance`` (nearest first: plain exact kNN), ``best_match`` (the
        blended score of docs/ranking.md: distance decay by category consumption radius ×
        word of mouth × district strength), ``rating``, ``review_count`` or ``price``
        (cheap first). Every sort breaks ties by distance, then ``merchant_id``, and is
        exact: the page equals sorting every match by brute force.

        Filters: ``categories`` / ``exclude_categories`` (prefixes at ``/``), ``min_price``
        / ``max_price`` (price_level 1–4), ``min_rating`` (stars 0–5, any source scale),
        ``min_reviews``, ``exclude_brands`` (case-insensitive) or ``exclude_chains`` (any
        branded merchant), ``district_id``, and ``open_now`` / ``open_at`` (known opening
        hours, open at that instant in the merchant's own time zone; a naive ``open_at``
        is a local wall-clock time). Merchants missing a filtered value are left out.

        ``weights`` (:class:`~geo_discovery.ranking.scoring.Weights` or a mapping with ``wom``,
        ``district``, ``distance_scale``) and ``consumption_radii_m`` (metres per category
        prefix) tune ``best_match`` for this request over the settings. ``explain`` adds
        each hit's score parts. ``Results.next_cursor`` is set when the page is full;
        pass it back as ``cursor`` with the same query for the next page (a cursor from
        another snapshot or query raises :class:`~geo_discovery.search.cursor.InvalidCursorError`).
        """
        lat, lng = validate_lat(lat), validate_lng(lng)
        k = self._validate_k(k)
        if radius_m is not None:
            radius_m = self._validate_radius(radius_m)
        filters = Filters(
            categories=_normalise_categories(categories, "categories"),
            exclude_categories=_normalise_categories(exclude_categories, "exclude_categories"),
            min_price=_opt_int(min_price, "min_price", 1, 4),
            max_price=_opt_int(max_price, "max_price", 1, 4),
            min_rating=_opt_float(min_rating, "min_rating", 0.0, 5.0),
            min_reviews=_opt_int(min_reviews, "min_reviews", 0, 2**62),
            exclude_brands=tuple(
                sorted({b.strip().lower() for b in _strings(exclude_brands, "exclude_brands")})
            ),
            exclude_chains=bool(exclude_chains),
            district_ids=tuple(sorted({str(d) for d in _strings(district_id, "district_id")})),
        )
        if filters.min_price and filters.max_price and filters.min_price > filters.max_price:
            raise InvalidQueryError(
                f"min_price={filters.min_price} is above max_price={filters.max_price}"
            )
        page = self.ranker.search(
            lat,
            lng,
            k,
            radius_m=radius_m,
            sort=sort,
            filters=filters,
            weights=self._weights(weights),
            radii=consumption_radii(consumption_radii_m) if consumption_radii_m else None,
            open_at=_to_datetime(open_at),
            open_now=bool(open_now),
            explain=bool(explain),
            cursor=cursor,
        )
        return Results(
            page.positions,
            page.distances_m,
            self.merchants,
            self.version,
            scores=page.scores,
            explain=page.explain,
            cursor_fn=page.next_cursor,
        )

    @property
    def ranker(self) -> Ranker:
        """Ranking state (score parts, hours, bounds), built on first use."""
        if self._ranker is None:
            self._ranker = self._build_ranker()
        return self._ranker

    def _build_ranker(self) -> Ranker:
        from .ranking.hours import HoursTable, load_hours
        from .ranking.reputation import load_reputation

        snap = self.snapshot.path if self.snapshot else None
        wom = self._wom
        if wom is None and snap is not None and (snap / "derived" / "reputation").is_dir():
            wom = load_reputation(snap)
        districts = self._districts
        if districts is None and snap is not None and (snap / "derived" / "districts").is_dir():
            districts = _snapshot_districts(snap)
        hours: Any = None
        if snap is not None and (snap / "derived" / "hours").is_dir():
            hours = lambda: load_hours(snap, self.merchants)  # noqa: E731
        else:
            hours = lambda: HoursTable.from_table(self.merchants)  # noqa: E731
        s = self.settings
        secret = s.cursor_secret.get_secret_value() if s.cursor_secret else None
        return Ranker(
            self.merchants,
            self.index,
            category_codes=self._category_codes,
            category_vocab=self._category_vocab,
            category_mask=lambda inc, exc: self._mask_cache(inc, exc) if inc or exc else None,
            radii_table=consumption_radii(s.ranking_consumption_radii),
            wom_score=None if wom is None else wom[0],
            wom_confidence=None if wom is None else wom[1],
            district_id=None if districts is None else districts[0],
            district_term=None if districts is None else districts[1],
            hours=hours,
            cursor_secret=secret,
            version=self.version,
        )

    def _weights(self, weights: Weights | Mapping[str, float] | None) -> Weights:
        if weights is None and self._default_weights is not None:
            return self._default_weights
        s = self.settings
        base = {
            "wom": s.ranking_wom_weight,
            "district": s.ranking_district_weight,
            "distance_scale": s.ranking_distance_scale,
        }
        if weights is None:
            self._default_weights = Weights(**base)
            return self._default_weights
        if isinstance(weights, Weights):
            return weights
        if not isinstance(weights, Mapping):
            raise TypeError(f"weights must be a Weights or a mapping, got {type(weights).__name__}")
        unknown = sorted(set(weights) - set(base))
        if unknown:
            raise InvalidQueryError(
                f"weights {unknown} are not known; allowed: wom, district, distance_scale"
            )
        return Weights(**{**base, **weights})

    def within_radius(
        self,
        lat: float,
        lng: float,
        radius_m: float,
        *,
        categories: Sequence[str] | str | None = None,
        exclude_categories: Sequence[str] | str | None = None,
        limit: int | None = None,
    ) -> Results:
        """Every merchant within ``radius_m`` metres (inclusive), nearest first."""
        lat, lng = validate_lat(lat), validate_lng(lng)
        radius_m = self._validate_radius(radius_m)
        mask = self._mask(categories, exclude_categories)
        pos, dist = self.index.within_radius(lat, lng, radius_m, mask=mask)
        return self._results(pos, dist, limit)

    def within_bbox(
        self,
        bbox: BBox | str | Sequence[float],
        *,
        origin: tuple[float, float] | None = None,
        categories: Sequence[str] | str | None = None,
        exclude_categories: Sequence[str] | str | None = None,
        limit: int | None = None,
    ) -> Results:
        """Every merchant inside a box, nearest to ``origin`` (default: box centre) first.

        ``bbox`` is a :class:`BBox`, a ``"west,south,east,north"`` string or a
        ``(west, south, east, north)`` sequence; ``west > east`` crosses the antimeridian.
        """
        box = _to_bbox(bbox)
        origin = self._validate_origin(origin)
        mask = self._mask(categories, exclude_categories)
        pos, dist = self.index.within_bbox(box, origin=origin, mask=mask)
        return self._results(pos, dist, limit)

    def within_polygon(
        self,
        polygon: Any,
        *,
        origin: tuple[float, float] | None = None,
        categories: Sequence[str] | str | None = None,
        exclude_categories: Sequence[str] | str | None = None,
        limit: int | None = None,
    ) -> Results:
        """Every merchant inside a polygon (boundary included), nearest to ``origin`` first.

        ``polygon`` is a shapely (Multi)Polygon, a GeoJSON geometry/Feature mapping, or its
        JSON text, in ``(lng, lat)`` order. Containment is planar in lng/lat, as GeoJSON
        and shapely define it. ``origin`` defaults to the polygon's representative point.
        """
        geom = self._validate_polygon(polygon)
        if origin is None:
            rp = geom.representative_point()
            origin = (rp.y, rp.x)
        origin = self._validate_origin(origin)
        west, south, east, north = geom.bounds
        box = BBox(south=south, west=west, north=north, east=east)
        shapely.prepare(geom)

        def inside(lat: NDArray, lng: NDArray) -> NDArray[np.bool_]:
            return np.asarray(shapely.intersects_xy(geom, lng, lat), dtype=bool)

        mask = self._mask(categories, exclude_categories)
        assert origin is not None
        pos, dist = self.index.within_bounds_and(box, inside, origin=origin, mask=mask)
        return self._results(pos, dist, limit)

    def get(self, merchant_id: str) -> dict[str, Any]:
        """One merchant's full record (with its source attributes), or MerchantNotFoundError."""
        if self._id_to_row is None:
            ids = self.merchants.column("merchant_id").to_pylist()
            self._id_to_row = {str(m): i for i, m in enumerate(ids)}
        row = self._id_to_row.get(str(merchant_id))
        if row is None:
            raise MerchantNotFoundError(
                f"merchant_id={merchant_id!r} is not in snapshot {self.version}"
            )
        rec = {k: _jsonable(v) for k, v in self.merchants.slice(row, 1).to_pylist()[0].items()}
        rec["attributes"] = json.loads(rec["attributes"]) if rec.get("attributes") else {}
        return rec

    def stats(self) -> dict[str, Any]:
        """Counts per source and top-level category, bounds and index facts."""
        t = self.merchants
        lat = t.column("lat").to_numpy()
        lng = t.column("lng").to_numpy()
        top = pd.Series(self._category_vocab).str.split("/").str[0]
        per_code = np.bincount(self._category_codes, minlength=len(self._category_vocab))
        by_top = pd.Series(per_code).groupby(top.to_numpy()).sum().sort_values(ascending=False)
        sources = pd.Series(t.column("source").to_pylist()).value_counts()
        return {
            "snapshot": self.version,
            "merchants": t.num_rows,
            "sources": {str(k): int(v) for k, v in sources.items()},
            "top_categories": {str(k): int(v) for k, v in by_top.items()},
            "categories": len(self._category_vocab),
            "bounds": None
            if t.num_rows == 0
            else {
                "south": float(lat.min()),
                "west": float(lng.min()),
                "north": float(lat.max()),
                "east": float(lng.max()),
            },
            "index": {
                "resolution": self.index.resolution,
                "cells": len(self.index.cells),
                "bytes_per_merchant": self.index.nbytes / max(len(self.index), 1),
            },
        }

    # --------------------------------------------------------------- validation
    def _validate_k(self, k: Any, name: str = "k") -> int:
        if isinstance(k, bool) or not isinstance(k, int | np.integer):
            raise TypeError(f"{name} must be an integer, got {type(k).__name__} {k!r}")
        if not 1 <= k <= self.settings.max_k:
            raise InvalidQueryError(
                f"{name}={k} is out of range; allowed: 1 <= {name} <= {self.settings.max_k} "
                "(max_k setting)"
            )
        return int(k)

    def _validate_radius(self, radius_m: Any) -> float:
        if isinstance(radius_m, bool) or not isinstance(radius_m, int | float | np.number):
            raise TypeError(f"radius_m must be a number, got {type(radius_m).__name__}")
        r = float(radius_m)
        if not (r >= 0 and r <= self.settings.max_radius_m):  # also catches NaN
            raise InvalidQueryError(
                f"radius_m={r!r} is out of range; allowed: 0 <= radius_m <= "
                f"{self.settings.max_radius_m:g} (max_radius_m setting)"
            )
        return r

    @staticmethod
    def _validate_origin(origin: tuple[float, float] | None) -> tuple[float, float] | None:
        if origin is None:
            return None
        if len(origin) != 2:
            raise InvalidQueryError(f"origin={origin!r} must be a (lat, lng) pair")
        return validate_lat(origin[0], "origin lat"), validate_lng(origin[1], "origin lng")

    def _validate_polygon(self, polygon: Any) -> Any:
        if isinstance(polygon, str):
            try:
                polygon = json.loads(polygon)
            except ValueError as exc:
                raise InvalidQueryError(f"polygon is not valid JSON: {exc}") from None
        if isinstance(polygon, Mapping):
            gj: Any = polygon.get("geometry") if polygon.get("type") == "Feature" else polygon
            if not isinstance(gj, Mapping) or gj.get("type") not in ("Polygon", "MultiPolygon"):
                got = gj.get("type") if isinstance(gj, Mapping) else type(gj).__name__
                raise InvalidQueryError(
                    f"polygon type {got!r} is not allowed; allowed: Polygon, MultiPolygon"
                )
            try:
                polygon = shapely.geometry.shape(gj)
            except Exception as exc:  # shapely raises several types on malformed rings
                raise InvalidQueryError(f"polygon coordinates are malformed: {exc}") from None
        if not isinstance(polygon, shapely.Polygon | shapely.MultiPolygon):
            raise InvalidQueryError(
                f"polygon of type {type(polygon).__name__} is not allowed; "
                "allowed: shapely Polygon/MultiPolygon or a GeoJSON Polygon/MultiPolygon"
            )
        n = shapely.get_num_coordinates(polygon)
        if n > self.settings.max_polygon_vertices:
            raise InvalidQueryError(
                f"polygon has {n} vertices; allowed: at most {self.settings.max_polygon_vertices} "
                "(max_polygon_vertices setting)"
            )
        if polygon.is_empty:
            raise InvalidQueryError("polygon is empty; allowed: a polygon with area")
        coords = shapely.get_coordinates(polygon)
        if not np.isfinite(coords).all():
            raise InvalidQueryError("polygon has non-finite coordinates")
        bad_lng = coords[(coords[:, 0] < -180) | (coords[:, 0] > 180), 0]
        bad_lat = coords[(coords[:, 1] < -90) | (coords[:, 1] > 90), 1]
        if len(bad_lng) or len(bad_lat):
            raise InvalidQueryError(
                f"polygon vertex out of range (lng {bad_lng[:1].tolist()}, lat "
                f"{bad_lat[:1].tolist()}); allowed: -180 <= lng <= 180, -90 <= lat <= 90, "
                "in GeoJSON (lng, lat) order"
            )
        if not polygon.is_valid:
            raise InvalidQueryError(
                f"polygon is invalid: {shapely.is_valid_reason(polygon)}; allowed: a valid "
                "OGC polygon (no self-intersections)"
            )
        return polygon

    def _mask(
        self,
        categories: Sequence[str] | str | None,
        exclude_categories: Sequence[str] | str | None,
    ) -> NDArray[np.bool_] | None:
        inc = _normalise_categories(categories, "categories")
        exc = _normalise_categories(exclude_categories, "exclude_categories")
        if not inc and not exc:
            return None
        return self._mask_cache(inc, exc)

    def _build_category_mask(self, inc: tuple[str, ...], exc: tuple[str, ...]) -> NDArray[np.bool_]:
        def matches(cat: str, prefixes: tuple[str, ...]) -> bool:
            return any(cat == p or cat.startswith(p + "/") for p in prefixes)

        allowed = np.array(
            [(not inc or matches(c, inc)) and not matches(c, exc) for c in self._category_vocab],
            dtype=bool,
        )
        mask = allowed[self._category_codes] if len(allowed) else np.zeros(0, dtype=bool)
        mask.flags.writeable = False
        return mask

    def _results(
        self, pos: NDArray[np.int64], dist: NDArray[np.float64], limit: int | None = None
    ) -> Results:
        if limit is not None:
            limit = self._validate_k(limit, "limit")
            pos, dist = pos[:limit], dist[:limit]
        return Results(pos, dist, self.merchants, self.version)


def _normalise_categories(value: Sequence[str] | str | None, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{name} must be strings, got {type(item).__name__}")
        c = item.strip().strip("/").lower()
        if not c:
            continue
        if not _CATEGORY_RE.match(c):
            raise InvalidQueryError(
                f"{name} value {item!r} is not a category path; allowed: lower-case segments "
                "of [a-z0-9_] joined by '/', e.g. food/grocery"
            )
        out.append(c)
    return tuple(sorted(set(out)))


def _to_bbox(bbox: BBox | str | Sequence[float]) -> BBox:
    if isinstance(bbox, BBox):
        return bbox
    if isinstance(bbox, str):
        return BBox.from_string(bbox)
    values = list(bbox)
    if len(values) != 4:
        raise InvalidQueryError(f"bbox={bbox!r} must have 4 numbers: west, south, east, north")
    west, south, east, north = values
    return BBox(south=south, west=west, north=north, east=east)


def _opt_int(value: Any, name: str, lo: int, hi: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if not lo <= int(value) <= hi:
        raise InvalidQueryError(f"{name}={value} is out of range; allowed: {lo} <= {name} <= {hi}")
    return int(value)


def _opt_float(value: Any, name: str, lo: float, hi: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not lo <= v <= hi:  # also catches NaN
        raise InvalidQueryError(
            f"{name}={v!r} is out of range; allowed: {lo:g} <= {name} <= {hi:g}"
        )
    return v


def _strings(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, int):
        items = [value]
    else:
        items = list(value)
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise TypeError(f"{name} values must be strings, got {type(item).__name__}")
        text = str(item).strip()
        if text:
            out.append(text)
    return out


def _to_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise TypeError(f"open_at must be a datetime or ISO 8601 text, got {type(value).__name__}")
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidQueryError(
            f"open_at={value!r} is not an ISO 8601 date-time (e.g. 2024-07-15T18:30:00+02:00)"
        ) from None


def _snapshot_districts(snap: Path) -> tuple[Any, Any] | None:
    """``(district_id, district_term)`` per merchant from ``derived/districts``.

    The term is the district's ``strength`` column where the snapshot has one (merchants
    outside any district get 0), else neutral (1.0) until district strength is derived.
    """
    from .districts.detect import load_districts

    try:
        found = load_districts(snap)
    except (SnapshotError, LookupError, OSError, ValueError):
        return None
    row = np.asarray(found.merchant_district, dtype=np.int64)
    ids = np.asarray([*found.ids, None], dtype=object)[row]
    if "strength" in found.frame.columns:
        strength = np.asarray(found.frame["strength"], dtype=np.float64)
        term = np.append(strength, 0.0)[row]
    else:
        term = None
    return ids, term
