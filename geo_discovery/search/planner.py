"""The planner: turns one validated :class:`~geo_discovery.query.NearbyQuery` into a walk.

It holds, per snapshot, what ranking needs besides the index: the score parts aligned to
the index's points (word of mouth, district term, consumption-radius factors), the
filter columns, and caches of filter masks and per-node score bounds. Every query runs
on the one search tree, the index's trie:

==============  ==========================================  =============================
query           walk                                        primary key (ties: metres,
                                                            then merchant_id)
==============  ==========================================  =============================
sort=distance   kNN (:meth:`CellIndex.knn`)                 none: nearest first
best_match      best-first top-k (:mod:`.ranked`)           blended score, high first
rating          best-first top-k, ``factor = 0``            stars on 0–5, unrated last
review_count    best-first top-k, ``factor = 0``            review_count, unknown last
price           best-first top-k, ``factor = 0``            price_level, cheap first
==============  ==========================================  =============================

A cursor (the previous page's last key) and ``sort=distance`` with a cursor run the
ranked walk with the key bound inside the kernel. A text query (``where.text``) runs the
same walk, or scores its few matches directly (:mod:`.textmatch`): under ``best_match``
the relevance multiplies the score, under every other sort it only filters. When no
merchant matches every word, the last word is dropped and the page tried again (the
cursor remembers how many words its pages use). Opening hours are a per-instant
predicate: the planner asks the walk for the top ``k'`` (``k' = k, 4k, 16k…``) among
merchants with known hours and keeps the open ones; any open merchant outside the top
``k'`` ranks after all of them, so once ``k`` open ones are found (or every candidate
was seen) the page is exact.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ..distance import chord2_to_m, latlng_to_xyz, m2c2_1
from ..errors import DistrictNotFoundError, InvalidQueryError, TextIndexMissingError
from ..models import Explanation
from ..query import Filters, NearbyQuery, Ranking, plain_text
from ..ranking.hours import HoursTable
from ..ranking.member import MemberBoost
from ..ranking.profile import (
    merchant_features,
    profile_factors,
    profile_parts,
    profile_quality,
)
from ..ranking.scoring import (
    NEUTRAL_DISTRICT_TERM,
    NEUTRAL_WOM_CONFIDENCE,
    NEUTRAL_WOM_SCORE,
    best_match_score,
    consumption_radii,
    decay_factor,
    explanations,
    quality,
    radii_for_categories,
)
from ..ranking_profile import RankingProfile
from . import cursor as cur
from .columns import aligned_unit, float_column
from .filterkey import mask_key
from .index import CellIndex
from .personal import MemberLifts, member_top_k
from .ranked import NodeBounds, ranked_top_k
from .shortlist import LIMIT, MEMBER_K, K, Shortlists
from .sparsebounds import trie_links
from .textindex import TextIndex
from .textmatch import TextQuery, TextSearcher

__all__ = ["Page", "Planner"]


class Page(NamedTuple):
    """One page: table rows, metres, the sort's primary values, lazy extras, and the words
    of its text the fallback left out (no merchant matched them all)."""

    positions: NDArray[np.int64]
    distances_m: NDArray[np.float64]
    scores: NDArray[np.float64] | None
    explain: Callable[[], list[Explanation]] | None
    next_cursor: Callable[[], str | None]
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class _Spec:
    """A sort's per-point primary as ``quality / (1 + c2 · factor)``, cell order, + bounds."""

    quality: NDArray[np.float64]
    factor: NDArray[np.float64]
    bounds: NodeBounds
    liftable: bool = False  # every quality >= 0 (or -inf): a member lift keeps bounds


class Planner:
    """Per-snapshot search state; build once, query many times (thread-safe reads).

    Parameters
    ----------
    merchants, index
        The snapshot's table and index.
    categories
        ``(codes, vocabulary)``: each merchant's category as a code.
    wom
        ``(wom_score, wom_confidence)`` aligned to the table, or ``None`` (neutral).
    districts
        ``(district_id, district_term)`` aligned to the table, or ``None`` (no filter).
    hours
        Builds the snapshot's :class:`HoursTable` on first use.
    text
        Reads the snapshot's :class:`~.textindex.TextIndex` on first use (``None``: none).
    """

    def __init__(
        self,
        merchants: pa.Table,
        index: CellIndex,
        *,
        categories: tuple[NDArray[np.int32], list[str]],
        wom: tuple[Any, Any] | None,
        districts: tuple[Any, Any] | None,
        hours: Callable[[], HoursTable],
        version: str,
        cursor_secret: str | None = None,
        text: Callable[[], TextIndex | None] | None = None,
    ) -> None:
        n = merchants.num_rows
        self.merchants = merchants
        self._merchant_id = merchants.column("merchant_id")
        self.index = index
        self.version = version
        self._codes, self._vocab = categories
        self.wom_score = aligned_unit(None if wom is None else wom[0], n, NEUTRAL_WOM_SCORE)
        self.wom_confidence = aligned_unit(
            None if wom is None else wom[1], n, NEUTRAL_WOM_CONFIDENCE
        )
        self.district_id = None if districts is None else np.asarray(districts[0], dtype=object)
        self.district_term = aligned_unit(
            None if districts is None else districts[1], n, NEUTRAL_DISTRICT_TERM
        )
        self._hours_factory = hours
        self._text_factory = text
        self.cursor_key = cur.cursor_key(cursor_secret)
        self._cell_positions = np.asarray(index.positions, dtype=np.int64)
        self.row_rank = np.empty(n, dtype=np.int64)
        self.row_rank[self._cell_positions] = np.asarray(index.rank)
        self.price = float_column(merchants, "price_level")
        rating, scale = float_column(merchants, "rating"), float_column(merchants, "rating_scale")
        with np.errstate(invalid="ignore", divide="ignore"):  # round: 94/100 == 4.7/5
            self.stars = np.where(scale > 0, (rating / scale * 5.0).round(9), np.nan)
        self.reviews = float_column(merchants, "review_count")
        self._mask = functools.lru_cache(maxsize=64)(self._build_mask)
        self._spec = functools.lru_cache(maxsize=32)(self._build_spec)
        self._factors = functools.lru_cache(maxsize=16)(self._build_factors)
        self._features = functools.lru_cache(maxsize=4)(self._build_features)
        self._profile_quality = functools.lru_cache(maxsize=4)(self._build_profile_quality)
        self._shortlists = functools.lru_cache(maxsize=4)(self._build_shortlists)
        self._recent_lists: tuple[tuple[Ranking, int, Shortlists | None], ...] = ()
        self.lift_of = MemberLifts(  # a member's lift, as the lists and the walk take it
            lambda: (self._codes, self._cell_of_row, self._cell_codes, self._trie_links)
        )

    # ------------------------------------------------------------------ state
    @functools.cached_property
    def hours(self) -> HoursTable:
        return self._hours_factory()

    @functools.cached_property
    def text(self) -> TextSearcher:
        """Text search state; :class:`TextIndexMissingError` when the snapshot has none."""
        index = None if self._text_factory is None else self._text_factory()
        if index is None or not index.fits(self._cell_positions):
            why, short = (
                ("has no text index (it was loaded before text search existed)", "no")
                if index is None
                else ("has a text index built for another order of its spatial index", "stale")
            )
            raise TextIndexMissingError(
                f"text search is not available: snapshot {self.version} {why}; load the data "
                "again (geo-discovery load …) to search with q",
                [{"parameter": "q", "value": None, "message": f"{short} text index; reload"}],
            )
        return TextSearcher(index, self._cell_positions, self._codes, self._vocab)

    def text_query(self, text: str) -> TextQuery:
        """The parsed text query (cached per text)."""
        return self.text.query(text)

    def points_of(self, rows: NDArray[np.int64]) -> NDArray[np.int64]:
        """The spatial index's points (cell order) of table ``rows``."""
        return self._cell_of_row[rows]

    def text_matches(self, text: str, rows: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Which table ``rows`` match a text query (box and polygon search)."""
        return self.text_query(text).relevance(self._cell_of_row[rows]) > 0

    @functools.cached_property
    def _brands(self) -> tuple[NDArray[np.int64], list[str]]:
        if "brand" not in self.merchants.column_names:
            return np.full(self.merchants.num_rows, -1, dtype=np.int64), []
        col = pc.utf8_lower(pc.utf8_trim_whitespace(self.merchants.column("brand")))
        brands = pc.dictionary_encode(col).combine_chunks()
        idx = pc.fill_null(brands.indices, -1).to_numpy(zero_copy_only=False)
        codes = np.asarray(idx, dtype=np.int64)
        return codes, [str(b) for b in brands.dictionary.to_pylist()]

    # ------------------------------------------------------------------ masks
    def category_mask(
        self, include: tuple[str, ...], exclude: tuple[str, ...]
    ) -> NDArray[np.bool_] | None:
        """Rows whose category is under one of ``include`` and none of ``exclude``."""
        if not include and not exclude:
            return None
        return self._mask(Filters(categories=include, exclude_categories=exclude))

    def mask(self, where: Filters) -> NDArray[np.bool_] | None:
        """The eligible rows of a filter set (``None``: every row); cached, read-only.

        Opening hours contribute "hours known" here; the instant is checked per page.
        """
        key = mask_key(where)
        return None if key is None else self._mask(key)

    def _build_mask(self, f: Filters) -> NDArray[np.bool_]:
        n = self.merchants.num_rows
        m = np.ones(n, dtype=bool)
        if f.categories or f.exclude_categories:

            def under(cat: str, prefixes: tuple[str, ...]) -> bool:
                return any(cat == p or cat.startswith(p + "/") for p in prefixes)

            allowed = np.array(
                [
                    (not f.categories or under(c, f.categories))
                    and not under(c, f.exclude_categories)
                    for c in self._vocab
                ],
                dtype=bool,
            )
            m &= allowed[self._codes] if len(allowed) else np.zeros(n, dtype=bool)
        if f.min_price is not None:
            m &= self.price >= f.min_price  # NaN (unknown price) compares false
        if f.max_price is not None:
            m &= self.price <= f.max_price
        if f.min_rating is not None:
            m &= self.stars >= f.min_rating
        if f.min_reviews is not None:
            m &= self.reviews >= f.min_reviews
        codes, vocab = self._brands
        if f.exclude_chains:
            m &= codes < 0
        elif f.exclude_brands:
            drop = np.array([b in f.exclude_brands for b in vocab] + [False])
            m &= ~drop[codes]  # code -1 picks the trailing False
        if f.district_ids:
            if self.district_id is None:
                raise InvalidQueryError(
                    "district_id filter is not available: this snapshot has no districts"
                )
            ids = [None if d is None else str(d) for d in self.district_id.tolist()]
            wanted = set(f.district_ids)
            if unknown := sorted(wanted.difference(ids)):
                raise DistrictNotFoundError(
                    f"district_id={','.join(unknown)!r} is not a known district"
                )
            m &= np.array([d in wanted for d in ids], dtype=bool)
        if f.open_now:
            m &= self.hours.known
        m.flags.writeable = False
        return m

    # ------------------------------------------------------------- sort specs
    def _build_factors(self, ranking: Ranking) -> NDArray[np.float64]:
        """Per-point decay factor K, cell order, for one ranking's radii and scale."""
        if ranking.profile is not None:
            per_code = profile_factors(ranking.profile, self._vocab, ranking.distance_scale)
        else:
            radii = radii_for_categories(self._vocab, consumption_radii(ranking))
            per_code = decay_factor(radii, ranking.distance_scale)
        return np.ascontiguousarray(per_code[self._codes[self._cell_positions]])

    def _cell(self, values: NDArray) -> NDArray[np.float64]:
        return np.ascontiguousarray(values[self._cell_positions], dtype=np.float64)

    def best_match_arrays(
        self, ranking: Ranking
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(quality, K)`` per merchant, table order: ``best_match`` is
        ``quality / (1 + chord2 · K)`` (hand-set, or the ranking's learned profile)."""
        qual = self._table_quality(ranking)
        factor = np.empty(len(qual))
        factor[self._cell_positions] = self._factors(ranking)
        return qual, factor

    def _table_quality(self, ranking: Ranking) -> NDArray[np.float64]:
        if ranking.profile is None:
            return np.asarray(quality(self.wom_score, self.district_term, ranking), np.float64)
        return self._profile_quality(ranking.profile)

    def _build_profile_quality(self, profile: RankingProfile) -> NDArray[np.float64]:
        return profile_quality(profile, self._features(profile.at_bin(None)))

    def _build_features(self, profile: RankingProfile) -> dict[str, NDArray[np.float64]]:
        return merchant_features(
            self.merchants, wom=self.wom_score, district_term=self.district_term,
            profile=profile,
        )  # fmt: skip

    def _build_spec(self, key: Filters | None, sort: str, ranking: Ranking | None) -> _Spec:
        if sort == "best_match":
            assert ranking is not None
            qual = self._cell(self._table_quality(ranking))
            factor = self._factors(ranking)
        else:
            if sort == "distance":
                values = np.zeros(len(self._cell_positions))
            else:
                raw = {"rating": self.stars, "review_count": self.reviews, "price": -self.price}
                values = np.where(np.isnan(raw[sort]), -np.inf, raw[sort])
            qual = self._cell(values)
            factor = np.zeros(len(qual))
        mask = None if key is None else self._mask(key)
        bounds = NodeBounds.build(self.index, qual, factor, mask)
        return _Spec(qual, factor, bounds, bool(np.all((qual >= 0) | (qual == -np.inf))))

    def shortlists(self, ranking: Ranking, depth: int = K) -> Shortlists | None:
        """Shortlists of the ``depth`` best of a bare ``best_match`` (:mod:`.shortlist`)."""
        return self._shortlists(ranking, depth)  # one per (ranking, depth), however asked

    def _build_shortlists(self, ranking: Ranking, depth: int) -> Shortlists | None:
        s = self._spec(None, "best_match", ranking)
        if not Shortlists.usable(s.quality, s.factor):
            return None
        return Shortlists(self.index, s.quality, s.factor, s.bounds, k_max=depth, background=True,
                          limit=LIMIT * depth // K, codes=self._cell_codes)  # fmt: skip

    def _listed(self, lat: float, lng: float, k: int, ranking: Ranking, wait: int,
                lift: tuple | None = None) -> Any:  # fmt: skip
        """A page from shortlists (a member's: ``lift``), or None: walk (wait: misses first)."""
        depth = K if lift is None else MEMBER_K
        recent = self._recent_lists  # by identity (hashing costs); one read (threads replace it)
        for r, d, lists in recent:  # noqa: B007 - lists is read after the break
            if r is ranking and d == depth:
                break
        else:
            lists = self._shortlists(ranking, depth)
            self._recent_lists = ((ranking, depth, lists), *recent[:2])
        return None if lists is None else lists.top_k(lat, lng, k, wait, lift)

    # ----------------------------------------------------------------- query
    def run(self, q: NearbyQuery, ranking: Ranking, boost: MemberBoost | None = None) -> Page:
        """One page of a validated query (``ranking``: the resolved ranking; ``boost``: the
        member's resolved lift, :mod:`.personal`)."""
        where, key = q.where, mask_key(q.where)
        mask = None if key is None else self._mask(key)
        ranked = q.sort == "best_match"
        spec_ranking = ranking if ranked else None
        boost = boost if ranked and boost else None
        member = None if boost is None else boost.fingerprint()

        def fingerprint() -> str:
            return cur.page_fingerprint(q, where, spec_ranking, member)

        after = None
        when = where.open_at
        tq = None if where.text is None else self.text_query(where.text)
        if q.cursor is not None:
            payload = cur.decode_cursor(
                self.cursor_key, q.cursor, version=self.version, fingerprint=fingerprint()
            )
            after = self.cursor_after_key(payload)
            if where.open_now:
                when = cur.parse_instant(payload.get("t"))
            if tq is not None:
                tq = tq.keep_words(payload.get("w"))
        elif where.open_now:
            when = datetime.now(UTC)
        max_c2 = math.inf if q.radius_m is None else m2c2_1(float(q.radius_m))
        k1, more = q.k + 1, False  # one row more: does another page follow?
        if q.sort == "distance" and after is None and when is None and tq is None:
            pos, dist = self.index.knn(q.lat, q.lng, k1, radius_m=q.radius_m, mask=mask)
            prim: NDArray[np.float64] = np.zeros(len(pos))
        else:
            spec = self._spec(key, q.sort, spec_ranking)

            def page(tq: TextQuery | None) -> tuple[NDArray[np.int64], NDArray, NDArray]:
                if boost is not None:
                    return self._member_walk(q, k1, spec, mask, max_c2, after, when, boost, tq)
                return self._walk(q, k1, spec, mask, max_c2, after, when, tq)

            plain = ranked and key is None and after is None and tq is None and when is None
            if plain and q.radius_m is None and (boost is None or spec.liftable):
                lift = None if boost is None else self.lift_of.lists(boost)
                got = self._listed(q.lat, q.lng, q.k, ranking, 16, lift)  # ranking seen again
                (pos, dist, prim), more = (got, True) if got else (page(tq), False)  # k of all
            elif tq is None or after is not None:
                pos, dist, prim = page(tq)
            else:
                tq, (pos, dist, prim) = tq.first_found(page)

        instant, more = when if where.open_now else None, more or len(pos) > q.k
        pos, dist, prim = pos[: q.k], dist[: q.k], prim[: q.k]

        def next_cursor() -> str | None:
            words = None if tq is None or not tq.dropped else len(tq.words)
            args = (q, spec_ranking, pos, dist, prim, instant, member, words)
            return self.cursor_after(*args) if more else None

        def explain() -> list[Explanation]:
            return self.explain(q.lat, q.lng, pos, dist, ranking, boost, tq)

        dropped = () if tq is None else tq.dropped
        return Page(pos, dist, prim if ranked else None, explain if q.explain else None,
                    next_cursor, dropped)  # fmt: skip

    def best_page(self, lat: float, lng: float, k: int, ranking: Ranking, own: bool,
                  boost: MemberBoost | None = None) -> tuple | None:  # fmt: skip
        """:meth:`run`'s page of a bare ``best_match`` (no filter, radius, cursor, explain), the
        engine's fast lane (``own``: its ranking), as a plain tuple (rows, metres, scores, cursor
        maker: ~0.3 µs less than a Page); ``None``: a member's page for run's loop."""
        lift = None if boost is None else self.lift_of.lists(boost)
        got = self._listed(lat, lng, k, ranking, 1 if own else 16, lift)
        if got is None:  # one walk (a member's: lifted, as run's)
            s = self._spec(None, "best_match", ranking)
            if lift is not None and not s.liftable:
                return None
            got = ranked_top_k(self.index, lat, lng, k, s.quality, s.factor, s.bounds,
                               lift=None if boost is None else self.lift_of(boost))  # fmt: skip

        def next_cursor() -> str | None:
            q = NearbyQuery(lat, lng, k, sort="best_match")
            member = None if boost is None else boost.fingerprint()
            return self.cursor_after(q, ranking, got[0], got[1], got[2], None, member)

        return (*got, next_cursor)

    def text_page(
        self, lat: float, lng: float, k: int, text: str, ranking: Ranking
    ) -> tuple[TextQuery, NDArray[np.int64], NDArray[np.float64]] | None:
        """:meth:`run`'s best_match page (the text query that answered it, without the
        words the fallback dropped; rows; metres) of a query whose only filter is
        ``text`` (no radius, cursor, member): the search box's fast lane. ``None`` when
        :class:`~geo_discovery.query.Filters` would refuse the text."""
        said = plain_text(text)
        if said is None:
            return None
        q = NearbyQuery(lat, lng, k, sort="best_match")
        tq = self.text_query(said)
        spec = self._spec(None, q.sort, ranking)

        def page(tq: TextQuery) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray]:
            got = tq.direct_top_k(self.index, q.lat, q.lng, q.k, spec.quality, spec.factor)
            return self._walk(q, k, spec, None, math.inf, None, None, tq) if got is None else got

        used, (pos, dist, _) = tq.first_found(page)
        return used, pos, dist

    def cursor_after(
        self, q: NearbyQuery, ranking: Ranking | None, pos: NDArray[np.int64],
        dist: NDArray[np.float64], prim: NDArray[np.float64] | None,
        instant: datetime | None = None, member: str | None = None, words: int | None = None,
    ) -> str | None:  # fmt: skip
        """The cursor of the page after ``pos`` (``None`` when the page is not full or holds
        every row; :meth:`run` asks one row more to know whether another page follows).

        ``ranking`` is the one the page was ranked with (``None`` unless best_match);
        ``prim`` the sort's primary values (``None``: distance order, all zero);
        ``words`` how many of a text query's words the pages use (after the fallback).
        """
        if len(pos) < q.k or len(pos) in (0, len(self.index)):
            return None
        last = 0.0 if prim is None else float(prim[-1])
        payload: dict[str, Any] = {
            "v": self.version,
            "f": cur.page_fingerprint(q, q.where, ranking, member),
            "p": last if np.isfinite(last) else None,
            "d": float(dist[-1]),
            "id": str(self._merchant_id[int(pos[-1])].as_py()),
        }
        if instant is not None:
            payload["t"] = instant.isoformat()
        if words is not None:
            payload["w"] = words
        return cur.encode_cursor(self.cursor_key, payload)

    def _walk(
        self, q: NearbyQuery, k: int, spec: _Spec, mask: NDArray[np.bool_] | None,
        max_c2: float, after: tuple[float, float, int] | None, when: datetime | None,
        tq: TextQuery | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:  # fmt: skip
        # the top k of q's point and sort (k given: run asks one row more than q.k)
        if tq is None and when is None:  # the common case: one walk
            return ranked_top_k(
                self.index, q.lat, q.lng, k, spec.quality, spec.factor, spec.bounds,
                mask=mask, max_c2=max_c2, after=after,
            )  # fmt: skip
        weigh = q.sort == "best_match"
        # (bounds, mask, text filter) of each part of the plan (textmatch module doc)
        parts = [(spec.bounds, mask, None if tq is None else tq.filter(weigh=weigh))]
        if tq is not None:
            points, codes = tq.plan
            if points is None:
                parts = [(spec.bounds, mask, tq.filter(weigh=weigh, walk=True))]
            elif codes:
                bounds = self._code_bounds(spec, mask, tq, codes)
                parts.append((bounds, mask, tq.filter(weigh=weigh, walk=True)))

        def top(n: int) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
            found = [
                ranked_top_k(
                    self.index, q.lat, q.lng, n, spec.quality, spec.factor, bounds,
                    mask=m, max_c2=max_c2, after=after, text=text,
                )
                for bounds, m, text in parts
            ]  # fmt: skip
            return found[0] if len(found) == 1 else cur.merge_by_key(found, n, self.row_rank)

        if when is None:
            return top(k)
        want = k
        while True:
            pos, dist, prim = top(want)
            ok = self.hours.open_mask(pos, when)
            if int(ok.sum()) >= k or len(pos) < want:
                keep = np.flatnonzero(ok)[:k]
                return pos[keep], dist[keep], prim[keep]
            want *= 4

    def _member_walk(
        self, q: NearbyQuery, k: int,  # (k: as _walk's)
        spec: _Spec,
        mask: NDArray[np.bool_] | None,
        max_c2: float,
        after: tuple[float, float, int] | None,
        when: datetime | None,
        boost: MemberBoost,
        tq: TextQuery | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
        """The exact top-k under a member's lift (:mod:`.personal`); with ``tq`` every
        score carries its relevance and a visited merchant must match the words."""
        if tq is None and when is None and spec.liftable:  # one lifted walk
            args = (self.index, q.lat, q.lng, k, spec.quality, spec.factor, spec.bounds)
            lift = self.lift_of(boost)
            return ranked_top_k(*args, mask=mask, max_c2=max_c2, after=after, lift=lift)
        qxyz = latlng_to_xyz(q.lat, q.lng)

        def scores(rows: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
            cell = self._cell_of_row[rows]
            c2 = ((self.index.xyz[cell] - qxyz) ** 2).sum(axis=1)
            qual = spec.quality[cell] if tq is None else spec.quality[cell] * tq.relevance(cell)
            return best_match_score(c2, spec.factor[cell], qual), chord2_to_m(c2)

        visited = boost.rows if mask is None else boost.rows[mask[boost.rows]]
        cell = self._cell_of_row[visited]
        visited = visited[((self.index.xyz[cell] - qxyz) ** 2).sum(axis=1) <= max_c2]
        if tq is not None and len(visited):
            visited = visited[tq.relevance(self._cell_of_row[visited]) > 0]
        if when is not None and len(visited):
            visited = visited[self.hours.open_mask(visited, when)]

        def walk(n: int) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
            return self._walk(q, n, spec, mask, max_c2, None, when, tq)

        return member_top_k(k, walk, scores, visited, boost, self._codes, self.row_rank, after)

    def _code_bounds(
        self, spec: _Spec, mask: NDArray[np.bool_] | None, tq: TextQuery, codes: tuple[int, ...]
    ) -> NodeBounds:
        """Node bounds over the merchants of category ``codes`` only (the walk part of a
        text query's split plan), built from their points alone."""
        links = self._trie_links
        return NodeBounds.over_points(self.index, links, spec.quality, spec.factor,
                                      tq.searcher.points_of_codes(codes), mask)  # fmt: skip

    @functools.cached_property
    def _trie_links(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        return trie_links(self.index.tree, len(self.index))

    def explain(
        self, lat: float, lng: float, positions: NDArray[np.int64],
        distances_m: NDArray[np.float64], ranking: Ranking, boost: MemberBoost | None = None,
        text: TextQuery | None = None,
    ) -> list[Explanation]:  # fmt: skip
        """``best_match`` parts of each row, recomputed exactly as the search scored them
        (with ``text``: times its relevance, and which words matched what)."""
        cell = self._cell_of_row[positions]
        c2 = ((self.index.xyz[cell] - latlng_to_xyz(lat, lng)) ** 2).sum(axis=1)
        factor = self._factors(ranking)[cell]
        wom, term = self.wom_score[positions], self.district_term[positions]
        plain = self._table_quality(ranking)[positions]
        qual = plain if text is None else plain * text.relevance(cell)
        score = best_match_score(c2, factor, qual)
        parts = scale = member = None
        if ranking.profile is not None:  # (the relevance is a part of its own: not in scale)
            feats = self._features(ranking.profile.at_bin(None))
            parts, scale = profile_parts(ranking.profile, feats, positions, plain)
        if boost is not None:
            lift = np.exp(boost.log_boost(positions, self._codes[positions]))
            score = score * lift
            member = (lift, boost.own_visits(positions), boost.category_visits(
                self._codes[positions]), boost.exponents)  # fmt: skip
        out = explanations(
            distance_m=distances_m,
            chord2=c2,
            factor=factor,
            wom_score=wom,
            wom_confidence=self.wom_confidence[positions],
            district_term=term,
            district_id=None
            if self.district_id is None
            else [None if x is None else str(x) for x in self.district_id[positions]],
            ranking=ranking,
            score=score,
            profile_parts=parts,
            profile_scale=scale,
            member=member,
        )
        if text is None:
            return out
        return [replace(e, text=text.explain(int(p))) for e, p in zip(out, cell, strict=True)]

    # --------------------------------------------------------------- helpers
    @functools.cached_property
    def _cell_of_row(self) -> NDArray[np.int64]:
        out = np.empty(len(self._cell_positions), dtype=np.int64)
        out[self._cell_positions] = np.arange(len(self._cell_positions), dtype=np.int64)
        return out

    @functools.cached_property
    def _cell_codes(self) -> NDArray[np.int32]:
        return np.ascontiguousarray(self._codes[self._cell_positions])

    @functools.cached_property
    def _row_of_id(self) -> Mapping[str, int]:
        ids = self.merchants.column("merchant_id").to_pylist()
        return {str(m): i for i, m in enumerate(ids)}

    def cursor_after_key(self, payload: Mapping[str, Any]) -> tuple[float, float, int]:
        row = self._row_of_id.get(str(payload["id"]))
        return cur.key_after(payload, row, self.version, self.row_rank)
