"""Brute-force oracle for ranked nearby search: score every merchant, sort, cut.

Independent of :mod:`geo_discovery.search.ranked` and :mod:`geo_discovery.search.planner`:
filters are applied row by row from the table's Python values, consumption radii are looked
up per row, and every merchant is scored with the one published formula
(:func:`geo_discovery.ranking.scoring.best_match_score`). Squared chords are computed from the
index's own unit vectors with the index's formula, so scores and distances can be
compared bit for bit; "in range" is ``chord2 <= m_to_chord2(radius_m)``, the library's
definition (the index tests prove chords agree with haversine).

Order: ``(primary desc, distance_m asc, merchant_id asc)``; primaries per sort:
best_match score; rating in stars (rating / scale × 5); review_count; ``-price_level``;
nothing for distance. Missing values sort last (``-inf``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geo_discovery.distance import chord2_to_m, latlng_to_xyz, m_to_chord2
from geo_discovery.engine import DiscoveryEngine
from geo_discovery.query import Filters, Member, NearbyQuery, Ranking
from geo_discovery.ranking.profile import merchant_features, profile_factors, profile_quality
from geo_discovery.ranking.scoring import (
    best_match_score,
    consumption_radii,
    decay_factor,
    quality,
    radius_for,
)

__all__ = ["Columns", "brute_force", "query", "walk"]


def query(
    lat: float,
    lng: float,
    k: int = 20,
    radius_m: float | None = None,
    sort: str = "best_match",
    ranking: Ranking | None = None,
    member: Member | None = None,
    at: datetime | None = None,
    **filters: Any,
) -> NearbyQuery:
    """A :class:`NearbyQuery` with ``filters`` as :class:`Filters` fields."""
    return NearbyQuery(
        lat, lng, k, radius_m=radius_m, sort=sort, where=Filters(**filters), ranking=ranking,
        member=member, at=at,
    )  # fmt: skip


class Columns:
    """Per-row Python values of one engine's table and ranking inputs, read once."""

    def __init__(self, engine: DiscoveryEngine) -> None:
        t = engine.merchants
        self.engine = engine
        self.n = t.num_rows
        self.ids = [str(x) for x in t.column("merchant_id").to_pylist()]
        self.cats = [str(x) for x in t.column("category").to_pylist()]

        def col(name: str) -> list[Any]:
            return t.column(name).to_pylist() if name in t.column_names else [None] * self.n

        self.price, self.rating, self.scale = col("price_level"), col("rating"), col("rating_scale")
        self.reviews, self.brand = col("review_count"), col("brand")
        r = engine.planner
        self.wom, self.district = r.wom_score, r.district_term
        self.district_id = r.district_id
        index = engine.index
        self.xyz = np.empty((self.n, 3))
        self.xyz[np.asarray(index.positions)] = np.asarray(index.xyz)
        self.rank = np.empty(self.n, dtype=np.int64)
        self.rank[np.asarray(index.positions)] = np.asarray(index.rank)
        self._static: dict[str, NDArray[np.float64]] = {}
        self._radius: dict[tuple[tuple[str, float], ...], NDArray[np.float64]] = {}

    def stars(self, i: int) -> float | None:
        r, s = self.rating[i], self.scale[i]
        if r is None or s is None or not s > 0 or (isinstance(r, float) and math.isnan(r)):
            return None
        return r / s * 5.0

    def eligible(self, q: NearbyQuery) -> NDArray[np.bool_]:
        f = q.where
        if f == Filters():
            return np.ones(self.n, dtype=bool)

        def under(cat: str, prefixes: Sequence[str]) -> bool:
            return any(cat == p or cat.startswith(p + "/") for p in prefixes)

        hours = self.engine.planner.hours if f.open_at is not None else None
        out = np.zeros(self.n, dtype=bool)
        brands = {b.lower() for b in f.exclude_brands}
        for i in range(self.n):
            c = self.cats[i]
            if f.categories and not under(c, f.categories):
                continue
            if under(c, f.exclude_categories):
                continue
            p = self.price[i]
            if f.min_price is not None and (p is None or p < f.min_price):
                continue
            if f.max_price is not None and (p is None or p > f.max_price):
                continue
            st = self.stars(i)
            if f.min_rating is not None and (st is None or st < f.min_rating):
                continue
            rv = self.reviews[i]
            if f.min_reviews is not None and (rv is None or rv < f.min_reviews):
                continue
            b = self.brand[i]
            if f.exclude_chains and b is not None:
                continue
            if b is not None and b.strip().lower() in brands:
                continue
            if f.district_ids:
                assert self.district_id is not None
                if str(self.district_id[i]) not in f.district_ids:
                    continue
            if hours is not None:
                assert f.open_at is not None
                if not hours.open_mask(np.array([i]), f.open_at)[0]:
                    continue
            out[i] = True
        return out

    def primary(
        self, q: NearbyQuery, c2: NDArray[np.float64], rel: NDArray[np.float64] | None = None
    ) -> NDArray[np.float64]:
        """Every row's primary under ``q``'s sort (``rel``: a text relevance per row,
        multiplying best_match's quality)."""
        if q.sort == "best_match":
            w = q.ranking or self.engine.ranking
            member = q.member if q.member is not None and self.has_history(q.member) else None
            if member is not None and w.profile is not None:  # no history: as anyone
                w = w.replace(profile=w.profile.for_member())
            if q.at is not None and w.profile is not None and w.profile.weight("busy"):
                assert q.at.tzinfo is None  # local wall-clock time: weekday/weekend, 6 h blocks
                time_bin = 4 * (q.at.isoweekday() in (6, 7)) + q.at.hour // 6
                w = w.replace(profile=replace(w.profile, time_bin=time_bin))
            table = consumption_radii(w)
            key = tuple(sorted(table.items()))
            if key not in self._radius:
                self._radius[key] = np.array([radius_for(c, table) for c in self.cats])
            radius = self._radius[key]
            if w.profile is not None:
                feats = merchant_features(
                    self.engine.merchants, wom=self.wom, district_term=self.district,
                    profile=w.profile,
                )  # fmt: skip
                k = profile_factors(w.profile, self.cats, w.distance_scale)
                qual = profile_quality(w.profile, feats)
                score = best_match_score(c2, k, qual if rel is None else qual * rel)
            else:
                k = decay_factor(radius, w.distance_scale)
                qual = quality(self.wom, self.district, w)
                score = best_match_score(c2, k, qual if rel is None else qual * rel)
            if member is not None:
                score = score * np.exp(self.member_log_lift(member, w))
            return score
        if q.sort == "distance":
            return np.zeros(self.n)
        if q.sort not in self._static:
            self._static[q.sort] = self._static_primary(q.sort)
        return self._static[q.sort]

    def member_counts(self, member: Member) -> dict[str, int]:
        """The member's visits per merchant id of this snapshot: their id's history and
        the given visits."""
        counts: dict[str, int] = {}
        snap = self.engine.snapshot
        history = snap.members.visits(member.member_id) if member.member_id else {}
        for mid, n in [*history.items(), *member.counts().items()]:
            if mid in self.ids:
                counts[mid] = counts.get(mid, 0) + n
        return counts

    def has_history(self, member: Member) -> bool:
        return any(n > 0 for n in self.member_counts(member).values())

    def member_log_lift(self, member: Member, ranking: Ranking) -> NDArray[np.float64]:
        """Per row: min((w_own·log(1 + visits to it) + w_cat·log(1 + visits to its
        category))/γ, log member_max_lift), the member's visits counted from their id's
        history and the given visits."""
        engine = self.engine
        counts = self.member_counts(member)
        per_cat: dict[str, int] = {}
        for i, mid in enumerate(self.ids):
            if mid in counts:
                per_cat[self.cats[i]] = per_cat.get(self.cats[i], 0) + counts[mid]
        p = ranking.profile
        if p is not None and p.member_weights:
            w_own, w_cat, gamma = p.member_weight("own_visits"), p.member_weight(
                "own_category"), p.gamma  # fmt: skip
        else:
            weights = engine.settings.ranking_member_weights
            w_own, w_cat, gamma = weights["own_visits"], weights["own_category"], 1.0
        own = np.array([counts.get(mid, 0) for mid in self.ids], dtype=np.float64)
        cat = np.array([per_cat.get(c, 0) for c in self.cats], dtype=np.float64)
        b = (w_own / gamma) * np.log1p(own) + (w_cat / gamma) * np.log1p(cat)
        return np.minimum(b, math.log(engine.settings.member_max_lift))

    def _static_primary(self, sort: str) -> NDArray[np.float64]:
        vals = []
        for i in range(self.n):
            if sort == "rating":
                v = self.stars(i)
            elif sort == "review_count":
                v = self.reviews[i]
            else:
                v = None if self.price[i] is None else -float(self.price[i])
            vals.append(-math.inf if v is None else float(v))
        return np.array(vals, dtype=np.float64)


def brute_force(
    cols: Columns, q: NearbyQuery, *, limit: int | None = None
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Rows, primaries and metres of the answer: every eligible merchant in range, sorted."""
    qv = latlng_to_xyz(q.lat, q.lng)
    c2 = ((cols.xyz - qv) ** 2).sum(axis=1)
    ok = cols.eligible(q)
    if q.radius_m is not None:
        ok &= c2 <= float(m_to_chord2(q.radius_m))
    rows = np.flatnonzero(ok)
    prim = cols.primary(q, c2)[rows]
    dist = chord2_to_m(c2[rows])
    order = np.lexsort((cols.rank[rows], dist, -prim))
    if limit is not None:
        order = order[:limit]
    return rows[order], prim[order], dist[order]


def walk(engine: DiscoveryEngine, q: NearbyQuery, page: int, max_pages: int = 100_000) -> list[int]:
    """Follow cursors from the first page to the end; every row met, in order. A cursor
    never leads to an empty page (a full last page has none, as a short one)."""
    rows: list[int] = []
    cursor = None
    for _ in range(max_pages):
        res = engine.search(replace(q, k=page, cursor=cursor))
        assert cursor is None or len(res) > 0, f"{q}: a next_cursor led to an empty page"
        rows.extend(res.positions.tolist())
        cursor = res.next_cursor
        if cursor is None:
            return rows
    raise AssertionError("cursor walk did not end")
