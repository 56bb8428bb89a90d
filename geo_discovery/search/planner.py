"""Ranked, filtered, paged nearby search over one snapshot (what ``engine.nearby`` calls).

:class:`Ranker` holds the per-snapshot state the ranking needs besides the index: the
score parts aligned to the merchant table (word of mouth, district term), filter columns,
opening hours, a :class:`~geo_discovery.search.topk.CellTree`, and caches of filter masks and
per-node bounds. It turns a validated query into one page of
:func:`geo_discovery.search.topk.top_k` and a cursor for the next.

Sort keys (all sorts break ties by distance, then merchant_id):

==============  ===========================================  ==========================
sort            primary key                                   missing values
==============  ===========================================  ==========================
best_match      blended score, high first (docs/ranking.md)   —
distance        none: nearest first                           —
rating          stars on 0–5 (rating / rating_scale × 5)      unrated last
review_count    review_count, high first                      unknown last
price           price_level, cheap first                      unknown last
==============  ===========================================  ==========================
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ..distance import latlng_to_xyz, m_to_chord2
from ..errors import InvalidQueryError
from ..ranking.hours import HoursTable
from ..ranking.scoring import (
    NEUTRAL_DISTRICT_TERM,
    NEUTRAL_WOM_CONFIDENCE,
    NEUTRAL_WOM_SCORE,
    SORTS,
    Weights,
    best_match_score,
    decay_factor,
    explain_rows,
    quality,
    radii_for_categories,
)
from . import cursor as cur
from .index import CellIndex
from .topk import CellTree, NodeBounds, SortSpec, SpecArrays, build_bounds, top_k

__all__ = ["Filters", "Page", "Ranker"]


@dataclass(frozen=True)
class Filters:
    """Filters fixed for a whole query (they decide the eligible mask).

    Category prefixes are normalised by the engine; brands are compared case-insensitively.
    ``hours_known`` is set when ``open_at``/``open_now`` asks for opening hours.
    """

    categories: tuple[str, ...] = ()
    exclude_categories: tuple[str, ...] = ()
    min_price: int | None = None
    max_price: int | None = None
    min_rating: float | None = None
    min_reviews: int | None = None
    exclude_brands: tuple[str, ...] = ()
    exclude_chains: bool = False
    district_ids: tuple[str, ...] = ()
    hours_known: bool = False

    def is_empty(self) -> bool:
        return self == Filters()


@dataclass(frozen=True, eq=False)
class Page:
    """One page: table rows, metres, the sort's primary values, explanations, next cursor."""

    positions: NDArray[np.int64]
    distances_m: NDArray[np.float64]
    scores: NDArray[np.float64] | None
    explain: list[dict[str, Any]] | None
    next_cursor: Callable[[], str | None]  # built on demand: most callers never page
    sort: str


_NO_FILTERS = Filters()
_DEFAULT_WEIGHTS = Weights()


def _float_column(table: pa.Table, name: str) -> NDArray[np.float64]:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    col = pc.cast(table.column(name), pa.float64())
    return np.asarray(pc.fill_null(col, np.nan).to_numpy(zero_copy_only=False), dtype=np.float64)


def _aligned(values: Any, n: int, neutral: float, name: str) -> NDArray[np.float64]:
    if values is None:
        return np.full(n, neutral, dtype=np.float64)
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{name} has shape {arr.shape}; expected ({n},), aligned to the table")
    return np.where(np.isfinite(arr), np.clip(arr, 0.0, 1.0), neutral)


class Ranker:
    """Per-snapshot ranking state; build once, query many times (thread-safe reads).

    Parameters
    ----------
    merchants, index
        The snapshot's table and CellIndex.
    category_mask
        ``(include, exclude) -> mask or None`` — the engine's cached category filter.
    wom_score, wom_confidence
        Word of mouth aligned to the table; ``None``: neutral (0.5, confidence 0).
    district_term, district_id
        District strength in ``[0, 1]`` and id per merchant; ``None``: neutral (1.0) and
        no district filter.
    hours
        A :class:`HoursTable`, or a zero-argument callable building one on first use.
    radii_table
        Consumption radius per category prefix (:func:`ranking.consumption_radii`).
    """

    def __init__(
        self,
        merchants: pa.Table,
        index: CellIndex,
        *,
        category_codes: NDArray[np.int32],
        category_vocab: list[str],
        category_mask: Callable[[tuple[str, ...], tuple[str, ...]], NDArray[np.bool_] | None],
        radii_table: Mapping[str, float],
        wom_score: Any = None,
        wom_confidence: Any = None,
        district_term: Any = None,
        district_id: Any = None,
        hours: HoursTable | Callable[[], HoursTable] | None = None,
        cursor_secret: str | None = None,
        version: str = "unversioned",
    ) -> None:
        n = merchants.num_rows
        self.merchants = merchants
        self.index = index
        self.version = version
        self._codes = category_codes
        self._vocab = category_vocab
        self._category_mask = category_mask
        self._radii_default = dict(radii_table)
        self._radii_default_key = tuple(sorted(self._radii_default.items()))
        self.wom_score = _aligned(wom_score, n, NEUTRAL_WOM_SCORE, "wom_score")
        self.wom_confidence = _aligned(wom_confidence, n, NEUTRAL_WOM_CONFIDENCE, "wom_confidence")
        self.district_term = _aligned(district_term, n, NEUTRAL_DISTRICT_TERM, "district_term")
        self.district_id = None if district_id is None else np.asarray(district_id, dtype=object)
        self._hours = hours
        self._key = cur.cursor_key(cursor_secret)
        self._tree: CellTree | None = None
        pos = np.asarray(index.positions)
        self._row_rank = np.empty(n, dtype=np.int64)
        self._row_rank[pos] = np.asarray(index.rank)
        # filter columns
        self.price = _float_column(merchants, "price_level")
        rating, scale = _float_column(merchants, "rating"), _float_column(merchants, "rating_scale")
        with np.errstate(invalid="ignore", divide="ignore"):
            self.stars = np.where(scale > 0, rating / scale * 5.0, np.nan)
        self.reviews = _float_column(merchants, "review_count")
        if "brand" in merchants.column_names:
            brands = pc.dictionary_encode(
                pc.utf8_lower(pc.utf8_trim_whitespace(merchants.column("brand")))
            ).combine_chunks()
            self._brand_codes = np.asarray(
                pc.fill_null(brands.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64
            )
            self._brand_vocab = [str(b) for b in brands.dictionary.to_pylist()]
        else:
            self._brand_codes = np.full(n, -1, dtype=np.int64)
            self._brand_vocab = []
        self._mask = functools.lru_cache(maxsize=64)(self._build_mask)
        self._bounds = functools.lru_cache(maxsize=32)(self._build_bounds)
        self._factors = functools.lru_cache(maxsize=16)(self._build_factors)
        self._spec = functools.lru_cache(maxsize=32)(self._build_spec)

    # ----------------------------------------------------------------- state
    @property
    def tree(self) -> CellTree:
        if self._tree is None:
            self._tree = CellTree.build(self.index)
        return self._tree

    @property
    def hours(self) -> HoursTable:
        if not isinstance(self._hours, HoursTable):
            if self._hours is None:
                self._hours = HoursTable.from_table(self.merchants)
            else:
                self._hours = self._hours()
        return self._hours

    @property
    def has_districts(self) -> bool:
        return self.district_id is not None

    def radii_key(self, overrides: Mapping[str, float] | None) -> tuple[tuple[str, float], ...]:
        if not overrides:
            return self._radii_default_key
        table = dict(self._radii_default)
        table.update(overrides or {})
        return tuple(sorted(table.items()))

    # ----------------------------------------------------------------- masks
    def _build_mask(self, f: Filters) -> NDArray[np.bool_] | None:
        mask = self._category_mask(f.categories, f.exclude_categories)
        m = np.ones(self.merchants.num_rows, dtype=bool) if mask is None else mask.copy()
        if f.min_price is not None:
            m &= self.price >= f.min_price  # NaN (unknown price) compares false
        if f.max_price is not None:
            m &= self.price <= f.max_price
        if f.min_rating is not None:
            m &= self.stars >= f.min_rating
        if f.min_reviews is not None:
            m &= self.reviews >= f.min_reviews
        if f.exclude_chains:
            m &= self._brand_codes < 0
        elif f.exclude_brands:
            drop = np.array([b in f.exclude_brands for b in self._brand_vocab] + [False])
            m &= ~drop[self._brand_codes]  # code -1 picks the trailing False
        if f.district_ids:
            if self.district_id is None:
                raise InvalidQueryError(
                    "district_id filter is not available: this snapshot has no districts"
                )
            wanted = set(f.district_ids)
            m &= np.array(
                [d is not None and str(d) in wanted for d in self.district_id.tolist()], dtype=bool
            )
        if f.hours_known:
            m &= self.hours.known
        if f.is_empty():
            return None
        m.flags.writeable = False
        return m

    def _eligible_cells(self, mask: NDArray[np.bool_] | None) -> NDArray[np.bool_] | None:
        return None if mask is None else mask[self.index.positions]

    # ---------------------------------------------------------------- bounds
    def _build_factors(
        self, radii_key: tuple[tuple[str, float], ...], scale: float
    ) -> NDArray[np.float64]:
        """Per-point decay factor K in cell order for one radius table and scale."""
        per_code = decay_factor(radii_for_categories(self._vocab, dict(radii_key)), scale)
        return per_code[self._codes[self.index.positions]]

    def _cell(self, values: NDArray) -> NDArray:
        return values[self.index.positions]

    def _static_primary(self, sort: str) -> NDArray[np.float64]:
        if sort == "rating":
            v = self.stars
        elif sort == "review_count":
            v = self.reviews
        elif sort == "price":
            v = -self.price
        else:  # pragma: no cover - guarded by the caller
            raise ValueError(sort)
        return self._cell(np.where(np.isnan(v), -np.inf, v))

    def _build_bounds(
        self,
        f: Filters,
        sort: str,
        radii_key: tuple[tuple[str, float], ...],
        weights: Weights | None,
    ) -> tuple[NodeBounds, tuple[NDArray, ...]]:
        eligible = self._eligible_cells(self._mask(f))
        if sort == "best_match":
            assert weights is not None
            arrays: tuple[NDArray, ...] = (
                self._cell(quality(self.wom_score, self.district_term, weights)),
                self._factors(radii_key, weights.distance_scale),
            )
            return build_bounds(self.tree, eligible, arrays[:1], arrays[1:]), arrays
        if sort == "distance":
            return build_bounds(self.tree, eligible), ()
        prim = self._static_primary(sort)
        return build_bounds(self.tree, eligible, (prim,)), (prim,)

    def _build_spec(
        self, f: Filters, sort: str, radii_key: tuple[tuple[str, float], ...], weights: Weights
    ) -> SortSpec:
        if sort == "best_match":
            bounds, arrays = self._bounds(f, sort, radii_key, weights)
            qual, factor = arrays

            def primary(idx: NDArray[np.int64], c2: NDArray[np.float64]) -> NDArray:
                return best_match_score(c2, factor[idx], qual[idx])

            def upper(level: int, nodes: NDArray, c2lb: NDArray, b: NodeBounds) -> NDArray:
                qmax, kmin = b.parts[0][level], b.parts[1][level]
                return best_match_score(c2lb, kmin[nodes], qmax[nodes])

            return SortSpec(primary, upper, bounds, SpecArrays(qual, factor))
        bounds, arrays = self._bounds(f, sort, radii_key, None)
        if sort == "distance":
            return SortSpec(
                lambda idx, c2: np.zeros(len(idx)),
                lambda level, nodes, c2lb, b: np.zeros(len(nodes)),
                bounds,
            )
        (prim,) = arrays
        return SortSpec(
            lambda idx, c2: prim[idx],
            lambda level, nodes, c2lb, b: b.parts[0][level][nodes],
            bounds,
            SpecArrays(prim, np.zeros(len(prim))),
        )

    # ----------------------------------------------------------------- query
    def search(
        self,
        lat: float,
        lng: float,
        k: int,
        *,
        radius_m: float | None = None,
        sort: str = "best_match",
        filters: Filters = _NO_FILTERS,
        weights: Weights = _DEFAULT_WEIGHTS,
        radii: Mapping[str, float] | None = None,
        open_at: datetime | None = None,
        open_now: bool = False,
        explain: bool = False,
        cursor: str | None = None,
    ) -> Page:
        """One page of a validated query; see ``DiscoveryEngine.nearby``."""
        if sort not in SORTS:
            raise InvalidQueryError(f"sort={sort!r} is not allowed; allowed: {', '.join(SORTS)}")
        if open_now and open_at is not None:
            raise InvalidQueryError("give open_now or open_at, not both")
        radii_key = self.radii_key(radii)
        wants_hours = open_now or open_at is not None
        if wants_hours:
            filters = Filters(**{**asdict(filters), "hours_known": True})

        def fingerprint() -> str:
            return query_fingerprint(
                lat,
                lng,
                radius_m,
                sort,
                filters,
                weights if sort == "best_match" else None,
                radii_key if sort == "best_match" else None,
                None if open_now or open_at is None else open_at.isoformat(),
                open_now,
            )

        after = None
        if cursor is not None:
            payload = cur.decode_cursor(
                self._key, cursor, version=self.version, fingerprint=fingerprint()
            )
            after = self._after_key(payload)
            if open_now:
                open_at = _parse_instant(payload.get("t"))
        elif open_now:
            open_at = datetime.now(UTC)
        mask = self._mask(filters)
        row_ok = None
        if open_at is not None:
            when, hours, positions = open_at, self.hours, self.index.positions

            def row_ok(idx: NDArray[np.int64]) -> NDArray[np.bool_]:
                return hours.open_mask(positions[idx], when)

        if sort == "distance" and after is None and row_ok is None:
            # Plain kNN: exactly what the index answers, the fast path.
            pos, dist = self.index.knn(lat, lng, k, radius_m=radius_m, mask=mask)
            prim = np.zeros(len(pos))
        else:
            spec = self._spec(filters, sort, radii_key, weights)
            found = top_k(
                self.tree,
                lat,
                lng,
                k,
                spec,
                max_c2=math.inf if radius_m is None else float(m_to_chord2(radius_m)),
                eligible=self._eligible_cells(mask),
                row_ok=row_ok,
                after=after,
            )
            pos = np.asarray(self.index.positions[found.idx], dtype=np.int64)
            dist, prim = found.distance_m, found.primary
        instant = open_at if open_now else None

        def next_cursor() -> str | None:
            if len(pos) < k:
                return None
            payload = {
                "v": self.version,
                "f": fingerprint(),
                "p": float(prim[-1]) if np.isfinite(prim[-1]) else None,
                "d": float(dist[-1]),
                "id": self._merchant_id(int(pos[-1])),
            }
            if instant is not None:
                payload["t"] = instant.isoformat()
            return cur.encode_cursor(self._key, payload)

        rows = None
        if explain:
            rows = self.explain(lat, lng, pos, dist, weights, radii_key)
        scores = prim if sort == "best_match" else None
        return Page(pos, dist, scores, rows, next_cursor, sort)

    def explain(
        self,
        lat: float,
        lng: float,
        positions: NDArray[np.int64],
        distances_m: NDArray[np.float64],
        weights: Weights,
        radii_key: tuple[tuple[str, float], ...],
    ) -> list[dict[str, Any]]:
        """``best_match`` parts of each row, recomputed exactly as the search scored them."""
        cell = self._row_cell_index(positions)
        q = latlng_to_xyz(lat, lng)
        c2 = ((self.index.xyz[cell] - q) ** 2).sum(axis=1)
        factor = self._factors(radii_key, weights.distance_scale)[cell]
        score = best_match_score(
            c2, factor, quality(self.wom_score[positions], self.district_term[positions], weights)
        )
        return explain_rows(
            distance_m=distances_m,
            chord2=c2,
            factor=factor,
            wom_score=self.wom_score[positions],
            wom_confidence=self.wom_confidence[positions],
            district_term=self.district_term[positions],
            district_id=None
            if self.district_id is None
            else [_plain(x) for x in self.district_id[positions]],
            weights=weights,
            score=score,
        )

    # --------------------------------------------------------------- helpers
    @functools.cached_property
    def _cell_of_row(self) -> NDArray[np.int64]:
        out = np.empty(len(self.index), dtype=np.int64)
        out[np.asarray(self.index.positions)] = np.arange(len(self.index), dtype=np.int64)
        return out

    def _row_cell_index(self, rows: NDArray[np.int64]) -> NDArray[np.int64]:
        return self._cell_of_row[rows]

    @functools.cached_property
    def _merchant_ids(self) -> pa.Array:
        return self.merchants.column("merchant_id").combine_chunks()

    def _merchant_id(self, row: int) -> str:
        return str(self._merchant_ids[row].as_py())

    def _after_key(self, payload: Mapping[str, Any]) -> tuple[float, float, int]:
        mid = payload["id"]
        row = pc.index(self.merchants.column("merchant_id"), pa.scalar(mid, pa.string())).as_py()
        if row is None or row < 0:
            raise cur.InvalidCursorError(
                f"cursor is not valid: merchant_id {mid!r} is not in snapshot {self.version}; "
                "start again without a cursor"
            )
        p = payload["p"]
        return (-math.inf if p is None else float(p), float(payload["d"]), int(self._row_rank[row]))


_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode
_FINGERPRINT = (
    '{"filters":%s,"lat":%s,"lng":%s,"open_at":%s,"open_now":%s,"radii":%s,"radius_m":%s,'
    '"sort":%s,"weights":%s}'
)


@functools.lru_cache(maxsize=256)
def _json_of(value: Any) -> str:
    """JSON of a hashable query part (dataclasses as dicts), cached."""
    return _JSON(asdict(value) if isinstance(value, Filters | Weights) else value)


def query_fingerprint(
    lat: float,
    lng: float,
    radius_m: float | None,
    sort: str,
    filters: Filters,
    weights: Weights | None,
    radii_key: tuple[tuple[str, float], ...] | None,
    open_at: str | None,
    open_now: bool,
) -> str:
    """:func:`geo_discovery.search.cursor.query_fingerprint` of the query's dict, without
    re-encoding its fixed parts on every call: the same JSON text (keys sorted, as
    ``json.dumps(sort_keys=True)`` writes a nested dict), the same hash."""
    text = _FINGERPRINT % (
        _json_of(filters),
        _JSON(lat),
        _JSON(lng),
        _JSON(open_at),
        _JSON(open_now),
        _json_of(radii_key),
        _JSON(radius_m),
        _JSON(sort),
        _json_of(weights),
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]  # as cursor.query_fingerprint


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _parse_instant(text: Any) -> datetime:
    try:
        when = datetime.fromisoformat(str(text))
    except ValueError:
        raise cur.InvalidCursorError(
            "cursor is not valid: its open_now instant is unreadable; start again without a cursor"
        ) from None
    return when
