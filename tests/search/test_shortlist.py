"""Cell shortlists (geo_discovery.search.shortlist) against the walk and brute force.

A shortlist answer must equal the trie walk's (:func:`ranked.ranked_top_k`) and the
brute-force reference bit for bit: rows, metres, scores, in order. Points and queries are
test_index's scenarios (round the globe, city clusters, both poles, the antimeridian,
duplicates); a small list limit splits cells deep so children are listed from their
parents, as in a city. A query at a data point always has a shortlist (so the property is
not passed by falling back), and a crowd at one address does not split forever.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import ranking_oracle as ro
from hypothesis import given, settings
from hypothesis import strategies as st
from test_index import Scenario, queries_for
from test_ranked_engine import make_engine
from test_ranked_kernel import SUPPRESS, assert_same, brute, draw_case, sized, sort_arrays

from geo_discovery.query import Ranking
from geo_discovery.search import planner as planner_module
from geo_discovery.search import ranked
from geo_discovery.search.index import build_cell_index
from geo_discovery.search.quadcells import DEEPEST, ROOT
from geo_discovery.search.shortlist import CELLS_PER_POINT, K, Shortlists


def lists_of(sc: Scenario, sort: str, limit: int) -> tuple[Shortlists, np.ndarray, np.ndarray]:
    index, rng = draw_case(sc)
    quality, factor = sort_arrays(sort, len(index), rng)
    bounds = ranked.NodeBounds.build(index, quality, factor)
    return Shortlists(index, quality, factor, bounds, limit=limit), quality, factor


@settings(max_examples=80, deadline=None, suppress_health_check=SUPPRESS)
@given(
    sc=sized(30, 400),
    sort=st.sampled_from(["best_match", "best_match", "distance"]),
    limit=st.sampled_from([2, 8, 96]),
    k=st.integers(1, K),
)
def test_shortlist_answers_equal_the_walk_and_brute_force(
    sc: Scenario, sort: str, limit: int, k: int
) -> None:
    lists, quality, factor = lists_of(sc, sort, limit)
    index = lists.index
    pts = sc.points
    at_points = [(float(a), float(b)) for a, b in zip(pts.lat[:6], pts.lng[:6], strict=True)]
    for lat, lng in queries_for(sc) + at_points:
        got = lists.top_k(lat, lng, k)
        if (lat, lng) in at_points:
            assert got is not None, "a query at a data point has a shortlist"
        if got is None:
            continue
        want = brute(index, lat, lng, k, quality, factor)
        assert_same(got, want)
        walk = ranked.ranked_top_k(index, lat, lng, k, quality, factor, lists.bounds)
        assert_same(got, walk)
    if len(pts):
        assert lists.cells >= 1


def test_deep_splits_in_a_city_stay_exact() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    lat = 40.7 + rng.normal(0, 0.02, n)
    lng = -74.0 + rng.normal(0, 0.03, n)
    index = build_cell_index(lat, lng, [f"m{i}" for i in range(n)])
    quality = rng.uniform(0.2, 1.0, n)
    factor = np.full(n, 4.0e6)  # ~500 m decay radius
    bounds = ranked.NodeBounds.build(index, quality, factor)
    lists = Shortlists(index, quality, factor, bounds, limit=32)
    total = lists.build_all()
    assert lists.cells > 64, "the city is split into many leaves"
    assert total / lists.cells < 4 * 32, "leaves hold short lists"
    for a, b in zip(40.7 + rng.normal(0, 0.02, 200), -74.0 + rng.normal(0, 0.03, 200), strict=True):
        got = lists.top_k(float(a), float(b), K)
        assert got is not None
        assert_same(got, brute(index, float(a), float(b), K, quality, factor))


@pytest.mark.parametrize("rest", [0, 3, 200])
def test_a_crowd_at_one_address_stops_splitting_and_stays_exact(rest: int) -> None:
    rng = np.random.default_rng(9)
    crowd = 400
    lat = np.r_[np.full(crowd, 48.8566), 48.85 + rng.uniform(-0.05, 0.05, rest)]
    lng = np.r_[np.full(crowd, 2.3522), 2.35 + rng.uniform(-0.05, 0.05, rest)]
    n = crowd + rest
    index = build_cell_index(lat, lng, [f"m{i}" for i in range(n)])
    quality = np.r_[np.ones(crowd), rng.uniform(0, 0.5, rest)]
    factor = np.full(n, 4.0e6)
    lists = Shortlists(index, quality, factor, ranked.NodeBounds.build(index, quality, factor),
                       limit=8)  # fmt: skip
    lists.build_all()
    assert lists.cells <= CELLS_PER_POINT * n + 64  # the budget
    if rest <= 3:  # no split shrinks the crowd's lists: a chain of cells down to it, a
        assert lists.cells < (DEEPEST - ROOT) * 40  # few per level, not the whole budget
    for a, b in [(48.8566, 2.3522), (48.86, 2.36), (48.80, 2.30)]:
        got = lists.top_k(a, b, K)
        assert got is not None
        assert_same(got, brute(index, a, b, K, quality, factor))


def test_no_shortlist_where_the_walk_must_answer() -> None:
    lat, lng = np.array([10.0, 10.001]), np.array([20.0, 20.001])
    index = build_cell_index(lat, lng, ["a", "b"])
    q, f = np.array([0.5, 0.7]), np.full(2, 1e6)
    lists = Shortlists(index, q, f, ranked.NodeBounds.build(index, q, f))
    assert lists.top_k(-30.0, 150.0, 5) is None  # no point in that root cell
    assert lists.top_k(10.0, 20.0, K + 1) is None  # longer than a shortlist holds
    assert lists.top_k(10.0, 20.0, 2) is not None
    assert not Shortlists.usable(np.array([-1.0, 0.5]), f)  # the bounds need quality >= 0
    assert ROOT < 12


@settings(max_examples=30, deadline=None, suppress_health_check=SUPPRESS)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    kind=st.sampled_from(["city", "duplicates", "antimeridian", "north_pole", "global"]),
)
def test_engine_pages_from_shortlists_equal_brute_force(seed: int, n: int, kind: str) -> None:
    """Through the engine (the fast lane and the validated path, hand-set and custom
    rankings) with the lists built: every page, its scores and the cursor walk after it
    equal the oracle, and the query points at merchants are answered from the lists."""
    rng = np.random.default_rng(seed)
    engine = make_engine(rng, n, kind)
    cols = ro.Columns(engine)
    lat = engine.merchants.column("lat").to_numpy()
    lng = engine.merchants.column("lng").to_numpy()
    custom = Ranking(wom=0.5, district=0.0, distance_scale=float(rng.choice([0.3, 4.0])))
    for ranking in (engine.ranking, custom):
        lists = engine.planner.shortlists(ranking)
        assert lists is not None
        lists.build_all()
        for _ in range(4):
            i = int(rng.integers(n))
            a, b = float(lat[i]), float(lng[i])
            k = int(rng.integers(1, K + 1))
            assert lists.top_k(a, b, k) is not None
            q = ro.query(a, b, k=k, ranking=None if ranking is engine.ranking else ranking)
            rows, prim, dist = ro.brute_force(cols, q, limit=k)
            res = engine.search(q)
            assert res.positions.tolist() == rows.tolist()
            np.testing.assert_array_equal(res.scores, prim)
            np.testing.assert_array_equal(res.distances_m, dist)
            fast = engine.nearby(a, b, k, sort="best_match", ranking=q.ranking)  # fast lane
            assert fast.positions.tolist() == rows.tolist()
            np.testing.assert_array_equal(fast.scores, prim)
            assert fast.next_cursor == res.next_cursor
            assert ro.walk(engine, q, k) == ro.brute_force(cols, q)[0].tolist()


def test_background_lists_start_after_patience_and_the_walk_answers_meanwhile() -> None:
    rng = np.random.default_rng(3)
    n = 500
    lat, lng = 52.52 + rng.normal(0, 0.01, n), 13.40 + rng.normal(0, 0.015, n)
    index = build_cell_index(lat, lng, [f"m{i}" for i in range(n)])
    q, f = rng.uniform(0.1, 1.0, n), np.full(n, 4.0e6)
    lists = Shortlists(index, q, f, ranked.NodeBounds.build(index, q, f), background=True)
    a, b = float(lat[0]), float(lng[0])
    assert lists.top_k(a, b, 10, patience=3) is None
    assert lists.top_k(a, b, 10, patience=3) is None
    time.sleep(0.2)
    assert lists.cells == 0, "a ranking asked for twice builds nothing"
    assert lists.top_k(a, b, 10, patience=3) is None  # the third starts the build
    for _ in range(600):  # the thread publishes the root whole
        if lists.cells:
            break
        time.sleep(0.05)
    got = lists.top_k(a, b, 10, patience=3)
    assert got is not None and lists.error is None
    assert_same(got, brute(index, a, b, 10, q, f))


def test_a_ranking_that_is_not_one_is_refused_on_the_fast_lane_too() -> None:
    engine = make_engine(np.random.default_rng(1), 30, "city")
    with pytest.raises(ValueError, match="ranking must be a Ranking, got dict"):
        engine.nearby(40.75, -73.98, 5, sort="best_match", ranking={"wom": 1.0})  # type: ignore[arg-type]


@pytest.mark.parametrize("scale", [1e-42, 1e-30, 1.0, 1e30])
def test_bounds_stored_in_float32_still_bound_tiny_and_huge_scores(scale: float) -> None:
    """Each list's bounds are float32 rounded up: scores far below float32's normal range
    (or far above 1) still stop the scan only where no later point can win."""
    rng = np.random.default_rng(11)
    n = 800
    lat, lng = -33.87 + rng.normal(0, 0.01, n), 151.21 + rng.normal(0, 0.015, n)
    index = build_cell_index(lat, lng, [f"m{i}" for i in range(n)])
    q = rng.uniform(0.5, 1.0, n) * scale
    f = np.full(n, 1.0e7)
    lists = Shortlists(index, q, f, ranked.NodeBounds.build(index, q, f), limit=16)
    for a, b in zip(lat[:60].tolist(), lng[:60].tolist(), strict=True):
        got = lists.top_k(a, b, K)
        assert got is not None
        assert_same(got, brute(index, a, b, K, q, f))


@pytest.mark.parametrize("quality", [0.7, 1e-42 * 0.7])
def test_equal_scores_at_one_address_break_by_rank_past_the_kth(quality: float) -> None:
    """40 merchants at one address with one quality: at that address every score equals its
    bound, so the scan must not stop at the 20th (the bound rounded down would) and the
    page keeps the 20 first by merchant_id rank, as the walk does."""
    rng = np.random.default_rng(4)
    crowd, rest = 40, 300
    lat = np.r_[np.full(crowd, 35.6895), 35.69 + rng.normal(0, 0.01, rest)]
    lng = np.r_[np.full(crowd, 139.6917), 139.69 + rng.normal(0, 0.01, rest)]
    n = crowd + rest
    index = build_cell_index(lat, lng, [f"m{(i * 7919) % n:04d}" for i in range(n)])
    q = np.r_[np.full(crowd, quality), rng.uniform(0.0, 0.5, rest) * quality]
    f = np.full(n, 4.0e6)
    lists = Shortlists(index, q, f, ranked.NodeBounds.build(index, q, f), limit=16)
    got = lists.top_k(35.6895, 139.6917, K)
    assert got is not None
    assert_same(got, brute(index, 35.6895, 139.6917, K, q, f))


def test_lists_asked_for_with_or_without_their_depth_are_the_ones_the_engine_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``planner.shortlists(r)`` and ``planner.shortlists(r, K)`` are one set of lists (a
    warm-up or a benchmark that builds them by either call builds what queries read): with
    them built, a bare best_match page never asks the walk and equals brute force."""
    rng = np.random.default_rng(5)
    engine = make_engine(rng, 300, "city")
    built = engine.planner.shortlists(engine.ranking, K)
    assert built is not None and engine.planner.shortlists(engine.ranking) is built
    built.build_all()

    def no_walk(*args: object, **kwargs: object) -> None:
        raise AssertionError("the walk was asked: the lists built were not the ones read")

    monkeypatch.setattr(planner_module, "ranked_top_k", no_walk)
    cols = ro.Columns(engine)
    lat, lng = engine.merchants.column("lat").to_numpy(), engine.merchants.column("lng").to_numpy()
    for i in rng.integers(300, size=5).tolist():
        page = engine.nearby(float(lat[i]), float(lng[i]), 10, sort="best_match")
        rows, prim, _ = ro.brute_force(cols, ro.query(float(lat[i]), float(lng[i]), k=10), limit=10)
        assert page.positions.tolist() == rows.tolist()
        np.testing.assert_array_equal(page.scores, prim)
