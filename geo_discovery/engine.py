"""DiscoveryEngine: the one door the API, the CLI and notebooks use.

An engine answers from one :class:`~geo_discovery.snapshot.snapshot.Snapshot` (opened
once, memory-mapped): nearby search with every sort and filter, radius, box, polygon,
merchants by id, districts, catchments and H3 aggregates. Queries are value objects
(:mod:`geo_discovery.query`) checked once; answers are :class:`~geo_discovery.results.Results`.

Examples
--------
>>> res = engine.nearby(60.1699, 24.9384, k=3)                  # the 3 nearest
>>> [round(h.distance_m) for h in res] == sorted(round(h.distance_m) for h in res)
True
>>> best = engine.nearby(60.1699, 24.9384, k=3, sort="best_match",
...                      where=Filters(categories="food"), explain=True)
>>> all(h.category.startswith("food") for h in best), best[0].explanation is not None
(True, True)
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from . import cells
from .batch import batch_query
from .catchment import DistrictCatchment, district_catchment
from .catchment.demand import DemandSources
from .catchment.district import DEMAND_CHOICES, CatchmentParams
from .errors import InvalidQueryError
from .ingest.taxonomy import category_label
from .models import BBox, CategoryCount, Suggestions
from .query import LIBRARY_SORT, NO_FILTERS, Filters, Limits, Member, NearbyQuery, Ranking
from .ranking.busy import ranking_at
from .ranking.derived import ByIdentity, member_ranking
from .ranking.member import MemberBoost
from .ranking_profile import RankingProfile, profile_file
from .results import BatchResults, Results
from .search.areapage import AreaPager
from .search.planner import Planner
from .search.shapes import swapped_bbox_hint, swapped_hint, to_bbox, to_origin, to_polygon
from .search.suggest import category_tree, suggestions
from .settings import Settings, get_settings
from .snapshot.snapshot import Snapshot
from .tiles import TileMaker, VectorTile

if TYPE_CHECKING:
    import geopandas as gpd
    import pyarrow as pa

    from .search.index import CellIndex

__all__ = ["DiscoveryEngine"]

_EMPTY_I = np.empty(0, dtype=np.int64)
_UNRANKED = Ranking()  # what a page that never reads a ranking is given (search)


def _plain_point(lat: object, lng: object) -> bool:
    """Python floats NearbyQuery would accept as they are: the fast paths' test."""
    return (type(lat) is float and type(lng) is float
            and -90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0)  # fmt: skip


class DiscoveryEngine:
    """Exact nearby, radius, box and polygon search, districts and catchments.

    Build one with :meth:`from_snapshot` (a data dir or a snapshot folder) or
    :meth:`from_table` (an in-memory canonical merchant table).

    Examples
    --------
    >>> engine.version == engine.snapshot.version
    True
    """

    def __init__(self, snapshot: Snapshot, *, settings: Settings | None = None) -> None:
        self.snapshot = snapshot
        self.settings = settings or get_settings()
        self.limits = Limits.from_settings(self.settings)
        self._planner: Planner | None = None
        self._lock = threading.Lock()
        self._members: ByIdentity[tuple] = ByIdentity(self.settings.member_cache)  # by object

    # ------------------------------------------------------------------ opening
    @classmethod
    def from_snapshot(
        cls, path: str | Path | None = None, *, settings: Settings | None = None
    ) -> DiscoveryEngine:
        """Open a snapshot: ``path`` is a data dir (its current snapshot) or a snapshot dir;
        ``None`` uses ``settings.data_dir`` (``GEO_DISCOVERY_DATA_DIR``)."""
        settings = settings or get_settings()
        path = path if path is not None else settings.data_dir
        return cls(Snapshot.open(path), settings=settings)

    @classmethod
    def from_table(
        cls,
        merchants: pa.Table,
        *,
        settings: Settings | None = None,
        wom: tuple[Any, Any] | None = None,
        districts: Any = None,
        resolution: int | None = None,
    ) -> DiscoveryEngine:
        """An engine over an in-memory canonical merchant table (the index is built here).

        ``wom`` = ``(wom_score, wom_confidence)`` aligned to the table (neutral if absent);
        ``districts`` a :class:`~geo_discovery.districts.detect.Districts` or
        ``(district_id, district_term)`` per merchant.
        """
        snap = Snapshot.from_table(merchants, wom=wom, districts=districts, resolution=resolution)
        return cls(snap, settings=settings)

    # ------------------------------------------------------------------- basics
    @property
    def version(self) -> str:
        """The snapshot's version (cursors, ETags, ``/readyz``)."""
        return self.snapshot.version

    @property
    def merchants(self) -> pa.Table:
        return self.snapshot.merchants

    @property
    def index(self) -> CellIndex:
        return self.snapshot.index

    def __len__(self) -> int:
        return len(self.snapshot)

    def __repr__(self) -> str:
        return f"DiscoveryEngine({self.snapshot!r})"

    @functools.cached_property
    def ranking(self) -> Ranking:
        """The default ``best_match`` ranking: the ``ranking_*`` settings with the profile of
        :func:`~.ranking_profile.profile_file`, read once (bad: raises); a server sets it."""
        path = profile_file(self.settings.ranking_profile, self.snapshot.path)
        profile = None if path is None else RankingProfile.load(path)
        return Ranking.from_settings(self.settings).replace(profile=profile)

    def member_boost(self, member: Member, ranking: Ranking) -> MemberBoost:
        """A member's lift under ``ranking`` (:meth:`Snapshot.member_boost`)."""
        s = self.settings
        return self.snapshot.member_boost(member, ranking, s.ranking_member_weights,
                                          s.member_cache, s.member_max_lift)  # fmt: skip

    def _resolved(
        self, ranking: Ranking | None, member: Member | None, at: datetime | None = None,
        lat: float = 0.0, lng: float = 0.0,
    ) -> tuple[Ranking, bool, MemberBoost | None]:  # fmt: skip
        """What a query ranks by: the ranking (read at ``at``'s time of week; the profile's
        member model for a member with a history here, else as anyone's: that model has no
        term for a missing history), whether it is the engine's own, and the member's
        lift. A member object asked again (no time) is found by identity."""
        keep = member is not None and at is None  # a member's every page: no closure made
        hit = self._members.find(member, None, ranking) if keep else None
        if hit is not None:
            return hit
        base, boost = ranking or self.ranking, None
        if member is not None:
            mine = ranking_at(member_ranking(base), at, lat, lng)
            boost = self.member_boost(member, mine) or None
        r = mine if boost is not None else ranking_at(base, at, lat, lng)
        got = r, ranking is None, boost
        return self._members.put(member, None, got, ranking) if keep else got

    @property
    def planner(self) -> Planner:
        """Ranking and filter state, built on first use (see :meth:`warm`)."""
        planner = self._planner
        if planner is None:
            with self._lock:
                if self._planner is None:
                    self._planner = self._build_planner()
                planner = self._planner
        return planner

    def _build_planner(self) -> Planner:
        snap = self.snapshot
        secret = self.settings.cursor_secret
        return Planner(snap.merchants, snap.index, categories=snap.categories, wom=snap.wom,
                       districts=snap.district_columns, hours=lambda: snap.hours,
                       version=snap.version, text=lambda: snap.text,
                       cursor_secret=secret.get_secret_value() if secret else None)  # fmt: skip

    def warm(self) -> DiscoveryEngine:
        """Pay every lazy set-up cost now (compiled kernels, the search box's too: ~60 s on a
        cold cache; ranking state, bounds, districts, ids, text), so requests are fast."""
        if len(self) == 0:
            return self
        lat, lng = float(self.snapshot.lat[0]), float(self.snapshot.lng[0])
        self.snapshot.row_of(str(self.merchants.column("merchant_id")[0].as_py()))
        self.snapshot.districts  # noqa: B018 - reads and caches them
        self.nearby(lat, lng, 1)
        self.nearby(lat, lng, 1, sort="best_match")
        if (text := self.snapshot.text) is not None and not text.outdated:  # else no text
            self.nearby(lat, lng, 1, sort="best_match", where=Filters(text="a"))  # (serve's
            self.autocomplete("a", lat, lng, 1)  # warm-up made a 503 of an older index)
        return self

    # ------------------------------------------------------------------ nearby
    def nearby(
        self,
        lat: float,
        lng: float,
        k: int = 20,
        *,
        radius_m: float | None = None,
        sort: str | None = None,
        where: Filters | None = None,
        ranking: Ranking | None = None,
        explain: bool = False,
        cursor: str | None = None,
        member: Member | None = None,
        at: datetime | str | None = None,
    ) -> Results:
        """Up to ``k`` merchants near ``(lat, lng)`` (one page), in ``sort`` order.

        Parameters
        ----------
        lat, lng
            The query point, WGS84 degrees.
        k
            Page size, 1 … ``max_k``.
        radius_m
            Only merchants within this many metres (inclusive).
        sort
            ``distance`` (default here: the k nearest, like scikit-learn's
            ``kneighbors``), ``best_match`` (distance decay × word of mouth × district
            strength: docs/ranking.md), ``rating``, ``review_count`` or ``price``
            (cheap first). Every sort is exact and breaks ties by distance, then
            ``merchant_id``.
        where
            :class:`~geo_discovery.query.Filters`: categories, price, rating, reviews,
            brands, districts, opening hours, and ``text`` (the search box: it weighs
            ``best_match`` by its relevance and filters the other sorts).
        ranking
            :class:`~geo_discovery.query.Ranking` for ``best_match`` (default:
            :attr:`ranking`).
        explain
            Compute each hit's score parts (``Hit.explanation``).
        cursor
            ``Results.next_cursor`` of the previous page of the same query.
        member
            :class:`~geo_discovery.query.Member`: lift the merchants and categories this
            member returns to (``sort="best_match"`` only; docs/ranking.md).
        at
            When the visit would be (ISO 8601 or datetime; naive: the local time at the
            point): a learned profile's popular times score this time of week.

        Returns
        -------
        Results
            A sequence of :class:`~geo_discovery.models.Hit`; ``next_cursor`` is set
            when the page is full.

        Examples
        --------
        >>> page = engine.nearby(60.17, 24.94, k=2, sort="rating")
        >>> more = engine.nearby(60.17, 24.94, k=2, sort="rating", cursor=page.next_cursor)
        >>> set(page.merchant_ids).isdisjoint(more.merchant_ids)
        True
        """
        if (
            where is None and radius_m is None and cursor is None and not explain and at is None
            and (member is None or (sort == "best_match" and type(member) is Member))
            and (sort is None or sort == "distance"
                 or (sort == "best_match" and (ranking is None or type(ranking) is Ranking)))
            and _plain_point(lat, lng) and type(k) is int and 1 <= k <= self.limits.max_k
        ):  # fmt: skip
            if sort == "best_match":  # a ranking (a member), nothing else: a shortlist or walk
                page = self.planner.best_page(lat, lng, k, *self._resolved(ranking, member))
                if page is not None:  # None: a member's page for the refine loop
                    return Results(self.snapshot, *page[:3], next_cursor=page[3], member=member)
            else:  # The plain k nearest: exactly what the index answers (the values are the
                # same ones NearbyQuery accepts; anything else takes the validated path).
                snap = self.snapshot
                pos, dist = snap.index.nearest(lat, lng, k)
                cursor_fn = functools.partial(self._knn_cursor, lat, lng, k, pos, dist)
                return Results(snap, pos, dist, next_cursor=cursor_fn)
        query = NearbyQuery(lat, lng, k, radius_m=radius_m,
                            sort=LIBRARY_SORT if sort is None else sort,
                            where=NO_FILTERS if where is None else where, ranking=ranking,
                            explain=explain, cursor=cursor, member=member,
                            at=at)  # type: ignore[arg-type]  # NearbyQuery parses ISO text
        return self.search(query)

    def nearby_many(
        self,
        lats: Sequence[float] | NDArray,
        lngs: Sequence[float] | NDArray,
        k: int = 20,
        *,
        radius_m: float | None = None,
        where: Filters | None = None,
        sort: str = "distance",
    ) -> BatchResults:
        """The ``k`` nearest merchants to each of many points, in parallel (numba threads).

        Row ``i`` is exactly ``nearby(lats[i], lngs[i], k, radius_m=…, where=…)``'s
        answer. Only ``sort="distance"``; ``where`` without text or opening hours. Every
        bad row is named in one :class:`~geo_discovery.errors.InvalidQueryError`
        (examples: :class:`~geo_discovery.results.BatchResults`, :mod:`geo_discovery.batch`).
        """
        lat, lng, q = batch_query(
            lats, lngs, k, radius_m=radius_m, sort=sort, where=where, limits=self.limits
        )
        mask = None if q.where.is_empty() else self.planner.mask(q.where)
        pos, dist = self.index.knn_many(lat, lng, q.k, radius_m=q.radius_m, mask=mask)
        return BatchResults(self.snapshot, pos, dist)

    def _knn_cursor(
        self, lat: float, lng: float, k: int, pos: NDArray[np.int64], dist: NDArray[np.float64]
    ) -> str | None:
        """The next-page cursor of a plain kNN page (called only if asked for)."""
        return self.planner.cursor_after(NearbyQuery(lat, lng, k), None, pos, dist, None)

    def search(self, query: NearbyQuery) -> Results:
        """Run a :class:`~geo_discovery.query.NearbyQuery` (checked against the limits)."""
        if not isinstance(query, NearbyQuery):  # engine.search("pizza") reads as a text search
            raise InvalidQueryError(f"search takes a NearbyQuery, got {type(query).__name__} "
                                    f"{query!r:.60}; for text: nearby(…, where=Filters(text=…))")
        q = query.check(self.limits)  # no ranking read for a page that does not use one:
        ranks = q.ranking or (None if q.sort == "best_match" or q.explain else _UNRANKED)
        ranking, _, boost = self._resolved(ranks, q.member, q.at, q.lat, q.lng)
        page = self.planner.run(query, ranking, boost)
        return Results(self.snapshot, *page[:3], explain=page.explain, member=q.member,
                       next_cursor=page.next_cursor, dropped_words=page.dropped)  # fmt: skip

    # ------------------------------------------------------- radius, box, polygon
    def within_radius(
        self,
        lat: float,
        lng: float,
        radius_m: float,
        *,
        where: Filters | None = None,
        limit: int | None = None,
    ) -> Results:
        """Every merchant within ``radius_m`` metres (inclusive), nearest first."""
        if (
            where is None
            and limit is None
            and _plain_point(lat, lng)
            and type(radius_m) is float
            and 0.0 <= radius_m <= self.limits.max_radius_m
        ):  # values NearbyQuery accepts, no filter, no cut: what the index answers
            pos, dist = self.snapshot.index.within_radius(lat, lng, radius_m)
            return Results(self.snapshot, pos, dist, total=len(pos))
        q = NearbyQuery(lat, lng, 1, radius_m=radius_m).check(self.limits)
        if q.radius_m is None:  # (NearbyQuery takes None: no radius)
            raise InvalidQueryError("radius_m is required: the metres around the point")
        where = where or NO_FILTERS
        pos, dist = self.index.within_radius(
            q.lat, q.lng, q.radius_m, mask=self.planner.mask(where)
        )
        return self._area_results(pos, dist, where, limit)

    def within_bbox(
        self,
        bbox: BBox | str | Sequence[float],
        *,
        origin: tuple[float, float] | None = None,
        where: Filters | None = None,
        limit: int | None = None,
        sort: str = "distance",
        cursor: str | None = None,
    ) -> Results:
        """Every merchant inside a box (edges included), nearest to ``origin`` first.

        ``bbox`` is a :class:`BBox`, a ``"west,south,east,north"`` string or a
        ``(west, south, east, north)`` sequence; ``west > east`` crosses the antimeridian.
        ``origin`` defaults to the box centre. ``Results.total`` counts every match. Numbers
        that hold nothing but look like (lat, lng) are refused (a :class:`BBox` names them).
        ``sort``: ``distance`` (from ``origin``), ``rating``, ``review_count`` or
        ``price``; ``cursor``: ``Results.next_cursor`` of the previous page
        (:mod:`geo_discovery.search.areapage`).
        """
        box = to_bbox(bbox)
        origin = to_origin(origin)
        where = where or NO_FILTERS
        search = {"bbox": repr(box), "origin": origin, "where": repr(where)}
        pager = AreaPager(self.planner, sort, cursor, search)
        pos, dist = self.index.within_bbox(box, origin=origin, mask=self.planner.mask(where))
        if not (len(pos) or isinstance(bbox, BBox)) and (  # numbers in (lat, lng) order?
                hint := swapped_bbox_hint(box, (s := self.snapshot).lat, s.lng, s.extent)):
            raise InvalidQueryError(f"bbox={box.west:g},{box.south:g},{box.east:g},{box.north:g}"
                                    f" holds nothing: {hint}")  # fmt: skip
        return self._area_results(pos, dist, where, limit, pager)

    def within_polygon(
        self,
        polygon: Any,
        *,
        origin: tuple[float, float] | None = None,
        where: Filters | None = None,
        limit: int | None = None,
        sort: str = "distance",
        cursor: str | None = None,
    ) -> Results:
        """Every merchant inside a polygon (boundary included), nearest to ``origin`` first
        (``sort`` and ``cursor`` as in :meth:`within_bbox`).

        ``polygon``: a shapely (Multi)Polygon; a GeoJSON geometry, Feature or
        FeatureCollection (a mapping or its JSON text) in ``(lng, lat)`` order; or a
        GeoSeries / GeoDataFrame (reprojected to EPSG:4326; its shapes are unioned).
        Containment is planar in lng/lat, as GeoJSON and shapely define it. ``origin``
        defaults to a point inside the polygon.
        """
        geom = to_polygon(polygon, max_vertices=self.limits.max_polygon_vertices)
        if origin is None:
            rp = geom.representative_point()
            origin = (rp.y, rp.x)
        o = to_origin(origin)
        assert o is not None
        west, south, east, north = geom.bounds
        box = BBox(south=south, west=west, north=north, east=east)
        shapely.prepare(geom)

        def inside(lat: NDArray, lng: NDArray) -> NDArray[np.bool_]:
            return np.asarray(shapely.intersects_xy(geom, lng, lat), dtype=bool)

        where = where or NO_FILTERS
        search = {"polygon": shapely.to_wkb(geom, hex=True), "origin": o, "where": repr(where)}
        pager = AreaPager(self.planner, sort, cursor, search)
        mask = self.planner.mask(where)
        pos, dist = self.index.within_bounds_and(box, inside, origin=o, mask=mask)
        if not len(pos) and (hint := swapped_hint(geom, self.snapshot.lat, self.snapshot.lng)):
            raise InvalidQueryError(hint)  # nothing inside: given as (lat, lng) by mistake?
        return self._area_results(pos, dist, where, limit, pager)

    def _area_results(
        self,
        pos: NDArray[np.int64],
        dist: NDArray[np.float64],
        where: Filters,
        limit: int | None,
        pager: AreaPager | None = None,
    ) -> Results:
        when = None if pager is None else pager.instant()
        if where.needs_hours:
            when = where.open_at or when or datetime.now(UTC)
            ok = self.planner.hours.open_mask(pos, when)
            pos, dist = pos[ok], dist[ok]
        if where.text is not None:  # parsed even for no merchants: a bad q is refused alike
            ok = self.planner.text_matches(where.text, pos)
            pos, dist = pos[ok], dist[ok]
        n = None if limit is None else self.limits.count(limit, "limit")
        if pager is None:
            return Results(self.snapshot, pos[:n], dist[:n], total=len(pos))
        page = pager.page(pos, dist, n, when if where.open_now else None)
        cursor = page.next_cursor
        return Results(self.snapshot, page.positions, page.distances_m, total=len(pos),
                       next_cursor=lambda: cursor)  # fmt: skip

    # ------------------------------------------------------------------ lookups
    def get(self, merchant_id: str) -> dict[str, Any]:
        """One merchant's full record (with its source attributes); an unknown id raises
        :class:`~geo_discovery.errors.MerchantNotFoundError` (a ``LookupError``)."""
        return self.snapshot.record(merchant_id)

    def stats(self) -> dict[str, Any]:
        """Counts per source and top-level category, bounds, index (:meth:`Snapshot.stats`)."""
        return self.snapshot.stats()

    # ---------------------------------------------------------------- districts
    def districts(self, bbox: BBox | str | Sequence[float] | None = None) -> gpd.GeoDataFrame:
        """The business districts (those whose polygon touches ``bbox``, if given; either
        may cross the antimeridian) as a GeoDataFrame in EPSG:4326, indexed by
        ``district_id``, with every statistic; empty (the same columns) when detection
        found none (too few shops close together). Raises
        :class:`~geo_discovery.errors.DistrictNotFoundError` when the snapshot holds no
        district data at all (made before districts were detected at load time)."""
        found = self.snapshot.require_districts()
        if bbox is None:
            return found.frame.copy()
        return found.frame[found.touching(to_bbox(bbox))].copy()

    def district(self, district_id: str) -> dict[str, Any]:
        """One district's statistics and polygon as a GeoJSON Feature (RFC 7946)."""
        return self.snapshot.require_districts().feature(district_id)

    def district_at(self, lat: float, lng: float) -> dict[str, Any] | None:
        """The district containing ``(lat, lng)`` as a GeoJSON Feature, or ``None``
        (:class:`~geo_discovery.errors.DistrictNotFoundError` if the snapshot has none)."""
        q = NearbyQuery(lat, lng)
        found = self.snapshot.require_districts()
        district_id = found.at(q.lat, q.lng)
        return None if district_id is None else found.feature(district_id)

    def catchment(
        self,
        district_id: str,
        demand: str | pd.DataFrame = "auto",
        params: CatchmentParams | None = None,
    ) -> DistrictCatchment:
        """A district's Huff catchment against every other district.

        ``demand``: ``population`` (the ``catchment_demand_path`` CSV of population
        points), ``merchants`` (each merchant one unit, a footfall proxy), ``uniform``
        (each cell one unit), ``auto`` (population when configured, else merchants), or
        population points themselves (a frame with ``lat``, ``lng``, ``population``, as
        :func:`~.catchment.demand.read_demand` reads them). ``demand_source`` says which.
        """
        if not isinstance(demand, pd.DataFrame) and demand not in DEMAND_CHOICES:
            raise InvalidQueryError(f"demand={demand!r:.80} is not allowed; allowed: "
                                    f"{', '.join(DEMAND_CHOICES)} or points")  # fmt: skip
        params = CatchmentParams.of(params)
        districts = self.snapshot.require_districts()
        row = districts.get(district_id)
        centre = (float(row["centroid_lat"]), float(row["centroid_lng"]))
        frame, source = self._demand.get(demand, params.radius_m, params.resolution, centre)
        out = district_catchment(
            districts,
            district_id,
            frame,
            radius_m=params.radius_m,
            alpha=params.alpha,
            beta=params.beta,
            primary=params.primary,
            secondary=params.secondary,
            max_cells=self.settings.api_max_catchment_cells,
        )
        return replace(out, demand_source={**source, "resolution": params.resolution,
                                           "cells": len(out.cells)}, params=params)  # fmt: skip

    @functools.cached_property
    def _demand(self) -> DemandSources:
        snap, cfg = self.snapshot, self.settings
        return DemandSources(
            snap.lat, snap.lng, cfg.catchment_demand_path, cfg.api_max_catchment_cells
        )

    # ---------------------------------------------------------------- aggregate
    def aggregate(
        self,
        bbox: BBox | str | Sequence[float],
        resolution: int,
        *,
        where: Filters | None = None,
    ) -> pd.DataFrame:
        """Merchants inside ``bbox`` counted per H3 cell of ``resolution`` (heatmaps).

        One row per occupied cell (index: the cell's hex id, sorted): ``count``, the
        mean ``lat``/``lng`` of its merchants (where a map puts a cluster marker) and
        their mean word of mouth ``mean_wom`` (NaN without reputation).
        """
        if isinstance(resolution, bool) or not isinstance(resolution, int | np.integer):
            raise InvalidQueryError(f"resolution={resolution!r} is not an integer; allowed: 0 … 15")
        if not 0 <= int(resolution) <= 15:
            raise InvalidQueryError(f"resolution={resolution} is out of range; allowed: 0 … 15")
        positions = self.within_bbox(bbox, where=where).positions
        snap = self.snapshot
        lat, lng = snap.lat[positions], snap.lng[positions]
        ids = cells.latlngs_to_cells(lat, lng, int(resolution))
        uniq, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
        n = np.maximum(counts, 1)
        wom = snap.wom
        mean_wom = (
            np.bincount(inverse, weights=np.asarray(wom[0])[positions], minlength=len(uniq)) / n
            if wom is not None
            else np.full(len(uniq), np.nan)
        )
        return pd.DataFrame(
            {
                "count": counts.astype(np.int64),
                "lat": np.bincount(inverse, weights=lat, minlength=len(uniq)) / n,
                "lng": cells.group_mean_lng(lng, inverse, len(uniq)),  # across ±180 too
                "mean_wom": mean_wom,
            },
            index=pd.Index([cells.cell_to_str(int(c)) for c in uniq.tolist()], name="cell"),
        )

    # -------------------------------------------------------------------- tiles
    @functools.cached_property
    def tiles(self) -> TileMaker:
        """This snapshot's vector tiles: their per-snapshot columns and cache
        (:mod:`geo_discovery.tiles`), built on first use."""
        return TileMaker(self)

    def tile(self, z: int, x: int, y: int, *, where: Filters | None = None) -> VectorTile:
        """Web-mercator tile ``z/x/y`` as a Mapbox Vector Tile (``VectorTile.data``).

        Layer ``merchants``: every merchant inside the tile (edges included) passing
        ``where``, or, below zoom 16 when there are more than ``tiles_max_points``, their
        :meth:`aggregate` bins with ``count``; layer ``districts``: district polygons
        clipped to the tile. Details in :mod:`geo_discovery.tiles.maker`.

        Examples
        --------
        >>> t = engine.tile(14, 9326, 4742)                       # central Helsinki
        >>> t.merchants > 0, t.bins, t.districts > 0, len(t.data) > 0
        (True, 0, True, True)
        """
        return self.tiles.tile(z, x, y, where=where)

    # --------------------------------------------------------------------- text
    def autocomplete(self, text: str, lat: float, lng: float, limit: int = 10) -> Suggestions:
        """What the search box suggests for ``text`` typed at ``(lat, lng)``.

        Up to ``limit`` merchants by ``best_match`` (relevance × distance decay × word
        of mouth × district; the last word matches as a prefix, longer words with
        typos), each with the spans of its name to highlight, and up to ``limit``
        categories whose words match every word (parents too: ``food`` above ``food/cafe``),
        with labels and merchant counts.

        Examples
        --------
        >>> s = engine.autocomplete("kahv", 60.1699, 24.9384, limit=3)
        >>> [m.name[slice(*m.highlight[0])] for m in s.merchants]   # Finnish: coffee, café
        ['Kahvi', 'kahvila', 'kahvila']
        """
        k = self.limits.count(limit, "limit")
        page = self.planner.text_page(lat, lng, k, text, self.ranking)
        if page is None:  # a text the query refuses (it says why) or keeps none of
            NearbyQuery(lat, lng, k, sort="best_match", where=Filters(text=text))
            raise InvalidQueryError(f"q={text!r} is empty; allowed: text to search for")
        used, pos, dist = page
        cols = self.snapshot.rows.columns(pos, ("merchant_id", "name"))
        return suggestions(self.planner, used, pos, dist, cols, limit=k, label=category_label)

    def categories(self) -> list[CategoryCount]:
        """Every category path and each of its parents, with labels and merchant counts
        (a parent counts everything under it), sorted by path: the tree filter chips
        show.

        Examples
        --------
        >>> tree = engine.categories()
        >>> food = next(c for c in tree if c.path == "food")
        >>> food.count == sum(c.count for c in tree if c.path.count("/") == 1
        ...                   and c.path.startswith("food/"))
        True
        """
        text = self.snapshot.text
        labels = dict(zip(text.categories, text.labels, strict=True)) if text else {}
        return category_tree(*self.snapshot.categories, labels, category_label)
