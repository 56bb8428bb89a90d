"""Exact ranked search on the real NYC merchants (food stores, DOHMH restaurants, Airbnb
2019), loaded through the real pipeline: real categories, real word-of-mouth scores and
their ties. Every answer equals brute-force scoring of every merchant, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import ranking_oracle as ro

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.query import SORTS, Ranking

QUERY_POINTS = 40

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def nyc(nyc_engine: DiscoveryEngine) -> tuple[DiscoveryEngine, ro.Columns]:
    assert len(nyc_engine) > 60_000
    return nyc_engine, ro.Columns(nyc_engine)


def _points(engine: DiscoveryEngine, rng: np.random.Generator) -> list[tuple[float, float]]:
    lat = engine.merchants.column("lat").to_numpy()
    lng = engine.merchants.column("lng").to_numpy()
    at = rng.choice(len(lat), QUERY_POINTS * 3 // 4, replace=False)
    out = [(float(lat[i] + rng.normal(0, 2e-4)), float(lng[i] + rng.normal(0, 2e-4))) for i in at]
    lo_lat, hi_lat = np.quantile(lat, [0.01, 0.99])
    lo_lng, hi_lng = np.quantile(lng, [0.01, 0.99])
    while len(out) < QUERY_POINTS:
        out.append((float(rng.uniform(lo_lat, hi_lat)), float(rng.uniform(lo_lng, hi_lng))))
    return out


def test_real_wom_is_in_use(nyc: tuple[DiscoveryEngine, ro.Columns]) -> None:
    engine, _ = nyc
    wom = engine.planner.wom_score
    assert float(wom.std()) > 0.005 and not np.allclose(wom, 0.5)
    res = engine.nearby(40.758, -73.9855, 5, sort="best_match", explain=True)
    assert res.explanations is not None and res.explanations[0].wom_confidence >= 0


def test_real_district_strength_is_in_use(nyc: tuple[DiscoveryEngine, ro.Columns]) -> None:
    """The district term is the merchant's district strength (0.5 + 0.5 vitality), 0 outside."""
    engine, _ = nyc
    found = engine.snapshot.require_districts()
    strength = found.frame["strength"].to_numpy(dtype=float)
    assert np.allclose(strength, 0.5 + 0.5 * found.frame["vitality"].to_numpy(dtype=float))
    assert strength.min() >= 0.5 and strength.max() <= 1.0 and strength.std() > 0.01
    row = np.asarray(found.merchant_district, dtype=np.int64)
    expected = np.append(strength, 0.0)[row]
    term = engine.planner.district_term
    assert np.array_equal(term, expected)
    inside = row >= 0  # -1: outside every district (the appended 0.0)
    assert 0 < inside.sum() < len(row), "some merchants sit in districts, some outside"
    assert (term[~inside] == 0.0).all() and (term[inside] >= 0.5).all()
    res = engine.nearby(40.758, -73.9855, 5, sort="best_match", explain=True)
    for hit in res:
        assert hit.explanation is not None
        assert hit.explanation.district_term == pytest.approx(expected[hit.position])


@pytest.mark.parametrize("sort", SORTS)
def test_every_sort_matches_brute_force_on_nyc(
    nyc: tuple[DiscoveryEngine, ro.Columns], sort: str
) -> None:
    engine, cols = nyc
    rng = np.random.default_rng(sum(map(ord, sort)))
    checks = 0
    for i, (lat, lng) in enumerate(_points(engine, rng)):
        variants = [
            ro.query(lat, lng, k=20, sort=sort),
            ro.query(
                lat,
                lng,
                k=int(rng.choice([1, 5, 100])),
                sort=sort,
                radius_m=float(10 ** rng.uniform(2, 3.7)),
            ),
        ]
        if i % 4 == 0:
            variants.append(
                ro.query(
                    lat,
                    lng,
                    k=20,
                    sort=sort,
                    categories=("food",),
                    min_rating=None if sort == "price" else 2.0,
                )
            )
        if i % 4 == 1:
            variants.append(
                ro.query(lat, lng, k=20, sort=sort, exclude_categories=("lodging",), min_reviews=3)
            )
        if i % 4 == 2:
            variants.append(
                ro.query(
                    lat,
                    lng,
                    k=50,
                    sort=sort,
                    min_price=2,
                    max_price=3,
                    ranking=Ranking(wom=0.5, distance_scale=3.0),
                )
            )
        if i % 4 == 3:
            variants.append(
                ro.query(
                    lat,
                    lng,
                    k=10,
                    sort=sort,
                    ranking=Ranking(radii={"lodging": 200.0, "food/grocery": 5000.0}),
                )
            )
        for q in variants:
            res = engine.search(q)
            rows, prim, dist = ro.brute_force(cols, q, limit=q.k)
            assert res.positions.tolist() == rows.tolist(), q
            np.testing.assert_array_equal(res.distances_m, dist)
            if sort == "best_match":
                np.testing.assert_array_equal(res.scores, prim)
            checks += 1
    assert checks >= 2 * QUERY_POINTS


def test_plain_calls_match_brute_force_on_nyc(nyc: tuple[DiscoveryEngine, ro.Columns]) -> None:
    """``nearby(lat, lng, k, sort=...)`` with nothing else takes the engine's fast lanes
    (kNN, and best_match with the default ranking): their pages equal brute force too."""
    engine, cols = nyc
    for lat, lng in _points(engine, np.random.default_rng(7)):
        for sort, k in (("best_match", 20), ("best_match", 1), ("distance", 20)):
            res = engine.nearby(lat, lng, k, sort=sort)
            rows, prim, dist = ro.brute_force(cols, ro.query(lat, lng, k=k, sort=sort), limit=k)
            assert res.positions.tolist() == rows.tolist(), (lat, lng, sort, k)
            np.testing.assert_array_equal(res.distances_m, dist)
            if sort == "best_match":
                np.testing.assert_array_equal(res.scores, prim)


def test_shortlist_pages_match_brute_force_on_nyc(nyc: tuple[DiscoveryEngine, ro.Columns]) -> None:
    """With the cell shortlists built (search/shortlist.py: a server builds them on a
    thread), bare best_match pages under the default and a custom ranking come from them
    and equal brute force, page and cursor walk."""
    engine, cols = nyc
    custom = Ranking(wom=0.7, district=0.0, distance_scale=2.0)
    for ranking in (engine.ranking, custom):
        lists = engine.planner.shortlists(ranking)
        assert lists is not None
        lists.build_all()
        assert lists.cells > 1000, "a city is split into many small cells"
        listed = 0
        for lat, lng in _points(engine, np.random.default_rng(11)):
            k = 20 if listed % 2 else 7
            listed += lists.top_k(lat, lng, k) is not None
            q = ro.query(lat, lng, k=k, ranking=None if ranking is engine.ranking else ranking)
            res = engine.nearby(lat, lng, k, sort="best_match", ranking=q.ranking)
            rows, prim, dist = ro.brute_force(cols, q, limit=k)
            assert res.positions.tolist() == rows.tolist(), (lat, lng, k)
            np.testing.assert_array_equal(res.scores, prim)
            np.testing.assert_array_equal(res.distances_m, dist)
        assert listed >= QUERY_POINTS * 3 // 4, "the points near merchants have lists"
    lat, lng = _points(engine, np.random.default_rng(12))[0]
    first = engine.nearby(lat, lng, 20, sort="best_match")  # from a list; the next walks
    second = engine.nearby(lat, lng, 20, sort="best_match", cursor=first.next_cursor)
    got = first.positions.tolist() + second.positions.tolist()
    assert got == ro.brute_force(cols, ro.query(lat, lng, k=20), limit=40)[0].tolist()


@pytest.mark.parametrize("sort", SORTS)
def test_cursor_walks_cover_every_match_once_on_nyc(
    nyc: tuple[DiscoveryEngine, ro.Columns], sort: str
) -> None:
    engine, cols = nyc
    for lat, lng, radius, page in [(40.758, -73.9855, 400.0, 37), (40.68, -73.95, 900.0, 100)]:
        q = ro.query(lat, lng, sort=sort, radius_m=radius)
        want = ro.brute_force(cols, q)[0].tolist()
        assert len(want) > page
        got = ro.walk(engine, q, page)
        assert got == want
        assert len(set(got)) == len(got)
