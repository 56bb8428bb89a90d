"""The compiled ranked top-k over the index trie (geo_discovery.search.ranked) against brute force.

The reference scores every point with numpy: squared chords from the index's own unit
vectors by the index's formula ``((xyz - q) ** 2).sum(axis=1)`` (checked to equal the
kernel's ``point_c2`` bit for bit), ``best_match_score`` for the score, ``chord2_to_m``
for metres; then it filters by mask, radius and cursor key, orders with
``np.lexsort((rank, metres, -score))`` and cuts at ``k``. Every kernel answer must equal
it exactly: rows, metres and scores, in order (``np.array_equal``, no tolerance).

Points and queries come from test_index's generators: spread round the globe, city
clusters, at both poles (exact pole coordinates with different longitudes: squared
chords an ulp apart, equal metres), across the antimeridian, many duplicates. Sorts:
best_match (tied qualities, category radii), distance (everything 0), static (ratings
or -price, -inf for missing). Masks (all-false included), radii, k beyond the count,
cursor keys; cursor walks; per-node bounds; pruning (a walk that scores few points).
"""

from __future__ import annotations

import math

import numpy as np
import oracle
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from test_index import Scenario, index_of, queries_for, scenarios

from geo_discovery.distance import chord2_to_m, latlng_to_xyz, m_to_chord2, xyz_1
from geo_discovery.ranking.scoring import (
    DEFAULT_CONSUMPTION_RADII_M,
    best_match_score,
    decay_factor,
)
from geo_discovery.search import ranked
from geo_discovery.search.index import CellIndex, build_cell_index
from geo_discovery.search.kernels import point_c2
from geo_discovery.search.sparsebounds import trie_links

SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=SUPPRESS)
RADII = sorted(set(DEFAULT_CONSUMPTION_RADII_M.values()))
Key = tuple[float, float, int]


# --------------------------------------------------------------------- reference
def brute(
    index: CellIndex,
    lat: float,
    lng: float,
    k: int,
    quality: NDArray,
    factor: NDArray,
    *,
    mask: NDArray[np.bool_] | None = None,
    max_c2: float = math.inf,
    after: Key | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Score all points, filter, order by (score desc, metres asc, rank asc), cut at k."""
    c2 = ((index.xyz - latlng_to_xyz(lat, lng)) ** 2).sum(axis=1)
    score = best_match_score(c2, factor, quality)
    metres = chord2_to_m(c2)
    rank = np.asarray(index.rank)
    ok = c2 <= max_c2
    if mask is not None:
        ok &= mask[index.positions]
    if after is not None:
        a_s, a_m, a_r = after
        ok &= (score < a_s) | ((score == a_s) & ((metres > a_m) | ((metres == a_m) & (rank > a_r))))
    sel = np.flatnonzero(ok)
    sel = sel[np.lexsort((rank[sel], metres[sel], -score[sel]))][:k]
    return np.asarray(index.positions[sel], dtype=np.int64), metres[sel], score[sel]


def assert_same(got: tuple[NDArray, ...], want: tuple[NDArray, ...]) -> None:
    rows, metres, scores = got
    assert rows.dtype == np.int64 and metres.dtype == np.float64 and scores.dtype == np.float64
    for g, w, what in zip(got, want, ("rows", "metres", "scores"), strict=True):
        assert np.array_equal(g, w), f"{what} differ:\n got {g}\nwant {w}"


def row_rank(index: CellIndex) -> NDArray[np.int64]:
    out = np.empty(len(index), dtype=np.int64)
    out[index.positions] = index.rank
    return out


# --------------------------------------------------------------------- scenarios
# Points and queries: test_index's generators (every oracle scenario, exact pole and
# antimeridian coordinates, queries near the data, at a point, at its antipode, anywhere).
def sized(small: int, large: int) -> st.SearchStrategy[Scenario]:
    """Scenarios of up to ``small`` points, or ``small`` to ``large`` (more non-empty answers)."""
    return st.one_of(scenarios(max_n=small), scenarios(min_n=small, max_n=large))


def draw_case(sc: Scenario) -> tuple[CellIndex, np.random.Generator]:
    return index_of(sc), sc.rng(7)


def sort_arrays(sort: str, n: int, rng: np.random.Generator) -> tuple[NDArray, NDArray]:
    """Cell-ordered (quality, factor) of one sort, with ties."""
    if sort == "distance":
        return np.zeros(n), np.zeros(n)
    if sort == "rating":
        q = np.round(rng.uniform(1.0, 5.0, n) * 2) / 2
        return np.where(rng.random(n) < 0.3, -np.inf, q), np.zeros(n)
    if sort == "price":
        q = -rng.integers(1, 5, n).astype(np.float64)
        return np.where(rng.random(n) < 0.3, -np.inf, q), np.zeros(n)
    q = rng.uniform(0.0, 1.0, n)
    q = np.round(q, int(rng.choice([1, 2, 17])))  # 17: no ties
    q[rng.random(n) < 0.05] = 0.0
    radius = rng.choice(RADII[: int(rng.integers(1, len(RADII) + 1))], n)
    return q, decay_factor(radius, float(rng.choice([0.01, 0.5, 1.0, 3.0])))


def draw_mask(how: str, n: int, rng: np.random.Generator) -> NDArray[np.bool_] | None:
    if how == "none":
        return None
    if how == "all_false":
        return np.zeros(n, dtype=bool)
    if how == "all_true":
        return np.ones(n, dtype=bool)
    return rng.random(n) < float(how)


SORT = st.sampled_from(["best_match", "best_match", "distance", "rating", "price"])
MASK = st.sampled_from(["none", "none", "0.5", "0.1", "all_false", "all_true"])
RADIUS = st.one_of(
    st.none(),
    st.none(),
    st.just(0.0),
    st.floats(0.0, 6.5).map(lambda e: float(10**e)),  # 1 m to ~3,000 km
)


# -------------------------------------------------------------------------- tests
@PROPERTY
@given(
    sc=sized(30, 300),
    sort=SORT,
    mask_how=MASK,
    bounds_superset=st.booleans(),
    radius=RADIUS,
    k=st.one_of(st.integers(1, 50), st.integers(1, 400)),
    cursor=st.sampled_from(["none", "none", "point", "random"]),
)
def test_top_k_equals_brute_force(
    sc: Scenario,
    sort: str,
    mask_how: str,
    bounds_superset: bool,
    radius: float | None,
    k: int,
    cursor: str,
) -> None:
    index, rng = draw_case(sc)
    n = len(index)
    quality, factor = sort_arrays(sort, n, rng)
    mask = draw_mask(mask_how, n, rng)
    # Bounds over every row are valid for any narrower query mask.
    bounds = ranked.NodeBounds.build(index, quality, factor, None if bounds_superset else mask)
    max_c2 = math.inf if radius is None else float(m_to_chord2(radius))
    for lat, lng in queries_for(sc):
        after: Key | None = None
        if cursor == "point" and n:  # a real key of some point, as a cursor carries
            full = brute(index, lat, lng, n, quality, factor)
            i = int(rng.integers(n))
            after = (float(full[2][i]), float(full[1][i]), int(row_rank(index)[full[0][i]]))
        elif cursor == "random":
            after = (float(rng.choice([0.0, 0.3, 3.0, -2.0])), float(rng.uniform(0, 5e3)), 7)
        got = ranked.ranked_top_k(
            index, lat, lng, k, quality, factor, bounds, mask=mask, max_c2=max_c2, after=after
        )
        want = brute(index, lat, lng, k, quality, factor, mask=mask, max_c2=max_c2, after=after)
        assert_same(got, want)


@settings(max_examples=40, deadline=None, suppress_health_check=SUPPRESS)
@given(
    sc=sized(30, 200),
    sort=SORT,
    mask_how=st.sampled_from(["none", "0.5"]),
    page=st.integers(1, 40),
    radius=st.one_of(st.none(), st.floats(2.0, 6.5).map(lambda e: float(10**e))),
)
def test_cursor_pages_visit_every_eligible_point_once_in_order(
    sc: Scenario, sort: str, mask_how: str, page: int, radius: float | None
) -> None:
    index, rng = draw_case(sc)
    n = len(index)
    quality, factor = sort_arrays(sort, n, rng)
    mask = draw_mask(mask_how, n, rng)
    bounds = ranked.NodeBounds.build(index, quality, factor, mask)
    max_c2 = math.inf if radius is None else float(m_to_chord2(radius))
    lat, lng = queries_for(sc)[0]
    want = brute(index, lat, lng, n + 1, quality, factor, mask=mask, max_c2=max_c2)
    ranks = row_rank(index)
    pages: list[tuple[NDArray, ...]] = []
    after: Key | None = None
    while True:
        got = ranked.ranked_top_k(
            index, lat, lng, page, quality, factor, bounds, mask=mask, max_c2=max_c2, after=after
        )
        pages.append(got)
        if len(got[0]) < page:
            break
        rows, metres, scores = got
        after = (float(scores[-1]), float(metres[-1]), int(ranks[rows[-1]]))
        assert len(pages) <= n + 1
    walked = tuple(np.concatenate([p[j] for p in pages]) for j in range(3))
    assert_same(walked, want)
    assert len(set(walked[0].tolist())) == len(walked[0])


@settings(max_examples=30, deadline=None, suppress_health_check=SUPPRESS)
@given(sc=sized(30, 400), sort=SORT, mask_how=MASK)
def test_node_bounds_equal_brute_force_per_node(sc: Scenario, sort: str, mask_how: str) -> None:
    index, rng = draw_case(sc)
    n = len(index)
    quality, factor = sort_arrays(sort, n, rng)
    mask = draw_mask(mask_how, n, rng)
    b = ranked.NodeBounds.build(index, quality, factor, mask)
    nodes = index.tree_nodes
    assert len(b.q) == len(b.k) == len(b.has) == len(nodes)
    # Each node's point span, from its leaves (children follow their parent).
    span = np.empty((len(nodes), 2), dtype=np.int64)
    for j in range(len(nodes) - 1, -1, -1):
        lo, hi = nodes[j]
        span[j] = (-lo - 1, hi) if lo < 0 else (span[lo, 0], span[hi - 1, 1])
    if len(nodes):
        assert tuple(span[0]) == (0, n)
    elig = np.ones(n, dtype=bool) if mask is None else mask[index.positions]
    for j, (lo, hi) in enumerate(span):
        e = elig[lo:hi]
        assert b.has[j] == e.any()
        assert b.q[j] == (quality[lo:hi][e].max() if e.any() else -np.inf)
        assert b.k[j] == (factor[lo:hi][e].min() if e.any() else np.inf)


@pytest.mark.parametrize("kind", ["city", "north_pole", "antimeridian", "global"])
def test_point_c2_is_numpys_formula_bit_for_bit(kind: str) -> None:
    rng = np.random.default_rng(len(kind))
    lat, lng = oracle.random_points(kind, 500, rng, centre=(40.0, -74.0), spread_deg=0.5)
    index = build_cell_index(lat, lng, oracle.shuffled_ids(500, rng))
    for qlat, qlng in [(40.0, -74.0), (90.0, 12.0), (-0.5, 180.0), (-40.0, 106.0)]:
        q = latlng_to_xyz(qlat, qlng)
        qx, qy, qz = xyz_1(qlat, qlng)
        assert (qx, qy, qz) == tuple(q.tolist())
        want = ((index.xyz - q) ** 2).sum(axis=1)
        got = np.array([point_c2(index.xyz, p, qx, qy, qz) for p in range(len(index))])
        assert np.array_equal(got, want)


def test_pole_ties_in_metres_break_by_rank() -> None:
    """Points at the exact pole given with different longitudes: unit vectors (and so
    squared chords) differ in the last bits, some metres are equal, so rank decides."""
    rng = np.random.default_rng(3)
    n = 300
    lat = np.where(rng.random(n) < 0.7, 90.0, 89.9999)
    lng = rng.uniform(-180, 180, n)
    index = build_cell_index(lat, lng, oracle.shuffled_ids(n, rng))
    c2 = ((index.xyz - latlng_to_xyz(10.0, 20.0)) ** 2).sum(axis=1)
    at_pole = index.lat == 90.0
    distinct_c2 = len(np.unique(c2[at_pole]))
    assert distinct_c2 > 1 and len(np.unique(chord2_to_m(c2[at_pole]))) < distinct_c2
    for sort in ("distance", "best_match", "rating"):
        quality, factor = sort_arrays(sort, n, rng)
        bounds = ranked.NodeBounds.build(index, quality, factor)
        for k in (1, 7, 50, 250, 400):
            got = ranked.ranked_top_k(index, 10.0, 20.0, k, quality, factor, bounds)
            assert_same(got, brute(index, 10.0, 20.0, k, quality, factor))


def test_empty_index_all_false_mask_and_k_beyond_the_count() -> None:
    empty = build_cell_index(np.zeros(0), np.zeros(0), [])
    b0 = ranked.NodeBounds.build(empty, np.zeros(0), np.zeros(0))
    got = ranked.ranked_top_k(empty, 1.0, 2.0, 5, np.zeros(0), np.zeros(0), b0)
    assert [len(a) for a in got] == [0, 0, 0]
    rng = np.random.default_rng(5)
    lat, lng = oracle.random_points("city", 40, rng, centre=(60.0, 25.0))
    index = build_cell_index(lat, lng, oracle.shuffled_ids(40, rng))
    quality, factor = sort_arrays("best_match", 40, rng)
    none = np.zeros(40, dtype=bool)
    b = ranked.NodeBounds.build(index, quality, factor, none)
    assert not b.has.any()
    got = ranked.ranked_top_k(index, 60.0, 25.0, 5, quality, factor, b, mask=none)
    assert [len(a) for a in got] == [0, 0, 0]
    b = ranked.NodeBounds.build(index, quality, factor)
    got = ranked.ranked_top_k(index, 60.0, 25.0, 1000, quality, factor, b)
    assert len(got[0]) == 40
    assert_same(got, brute(index, 60.0, 25.0, 1000, quality, factor))
    got = ranked.ranked_top_k(index, 60.0, 25.0, 0, quality, factor, b)
    assert [len(a) for a in got] == [0, 0, 0]


def test_build_refuses_bounds_that_would_not_hold() -> None:
    index = build_cell_index(np.array([1.0, 2.0]), np.array([3.0, 4.0]), ["a", "b"])
    ok = np.array([0.5, 0.5])
    for quality, factor in [
        (np.array([np.nan, 0.5]), ok),
        (ok, np.array([1.0, -1.0])),
        (ok, np.array([1.0, np.inf])),
        (np.array([-0.5, 0.5]), np.array([1.0, 1.0])),  # negative quality, decaying
    ]:
        with pytest.raises(ValueError):
            ranked.NodeBounds.build(index, quality, factor)
    with pytest.raises(ValueError):
        ranked.NodeBounds.build(index, np.zeros(3), np.zeros(3))
    # A negative (or missing) value is fine where nothing decays: static sorts.
    ranked.NodeBounds.build(index, np.array([-2.0, -np.inf]), np.zeros(2))


def _city(n: int, seed: int) -> tuple[CellIndex, np.random.Generator]:
    rng = np.random.default_rng(seed)
    lat, lng = oracle.random_points("city", n, rng, centre=(40.75, -73.98), spread_deg=0.05)
    return build_cell_index(lat, lng, oracle.shuffled_ids(n, rng)), rng


def _walk(index: CellIndex, lat: float, lng: float, k: int, quality: NDArray, factor: NDArray,
          bounds: ranked.NodeBounds, room: tuple[int, int]) -> tuple[int, int]:  # fmt: skip
    """``(status, points scored)`` of one walk with ``room`` for nodes and candidates."""
    qx, qy, qz = xyz_1(lat, lng)
    caps, tree, xyz, rank, positions = index.search_arrays
    heap = (np.empty(room[0]), np.empty(room[0]), np.empty(room[0], dtype=np.int64))
    cands = (np.empty(room[1], dtype=np.int64), np.empty(room[1]), np.empty(room[1]))
    status, *_, scored = ranked.collect(
        qx, qy, qz, k, math.inf, caps, tree, xyz, rank, positions, np.zeros(0, dtype=bool),
        quality, factor, bounds.q, bounds.k, bounds.has, 0.0, 0.0, 0, False,
        None, False, 1.0, np.empty(1), *heap, *cands, None,
    )  # fmt: skip
    return int(status), int(scored)


def _scored(index: CellIndex, lat: float, lng: float, k: int, quality: NDArray, factor: NDArray,
            bounds: ranked.NodeBounds) -> int:  # fmt: skip
    """Points the walk scores (room for any walk)."""
    status, scored = _walk(
        index, lat, lng, k, quality, factor, bounds, (len(index.tree), len(index))
    )
    assert status == 0
    return scored


@pytest.mark.parametrize(
    ("sort", "share"), [("distance", 0.01), ("rating", 0.02), ("price", 0.02), ("best_match", 0.1)]
)
def test_walk_prunes_and_ties_walk_nearest_first(sort: str, share: float) -> None:
    """Tied bounds (distance; many points sharing the top rating or price) still prune:
    the node heap breaks ties by lower bound, so the walk is a nearest-first kNN walk.
    (Without that tie-break, distance and the static sorts score 4-10x more points here.)"""
    index, rng = _city(20_000, 11)
    quality, factor = sort_arrays(sort, len(index), rng)
    bounds = ranked.NodeBounds.build(index, quality, factor)
    for lat in np.linspace(40.70, 40.80, 5):
        scored = _scored(index, float(lat), -73.98, 20, quality, factor, bounds)
        assert scored < share * len(index), (sort, scored)


def test_brute_force_comparison_catches_a_wrong_bound() -> None:
    """The comparison can fail: bounds below the truth prune real answers."""
    index, rng = _city(3000, 12)
    quality, factor = sort_arrays("best_match", len(index), rng)
    bounds = ranked.NodeBounds.build(index, quality, factor)
    wrong = ranked.NodeBounds(np.nextafter(bounds.q, -np.inf) * 0.9, bounds.k, bounds.has)
    misses = 0
    for lat in np.linspace(40.70, 40.80, 10):
        want = brute(index, float(lat), -73.98, 20, quality, factor)
        right = ranked.ranked_top_k(index, float(lat), -73.98, 20, quality, factor, bounds)
        assert_same(right, want)
        got = ranked.ranked_top_k(index, float(lat), -73.98, 20, quality, factor, wrong)
        misses += not np.array_equal(got[0], want[0])
    assert misses > 0


def test_full_scratch_buffers_retry_with_more_room() -> None:
    """A walk that outgrows its first node heap (256) or candidate buffer (max(4k, 256))
    is retried with more room, and still answers exactly."""
    index, rng = _city(20_000, 13)
    quality, factor = sort_arrays("best_match", len(index), rng)
    bounds = ranked.NodeBounds.build(index, quality, factor)
    assert _walk(index, 40.75, -73.98, 3000, quality, factor, bounds, (256, 20_000))[0] == 1
    got = ranked.ranked_top_k(index, 40.75, -73.98, 3000, quality, factor, bounds)
    assert_same(got, brute(index, 40.75, -73.98, 3000, quality, factor))
    # 2,000 points at one spot with one quality: every one ties the k-th key.
    lat, lng = np.full(2000, 10.0), np.full(2000, 20.0)
    index = build_cell_index(lat, lng, oracle.shuffled_ids(2000, rng))
    quality, factor = np.full(2000, 0.5), np.full(2000, 3.0)
    bounds = ranked.NodeBounds.build(index, quality, factor)
    assert _walk(index, 10.1, 20.0, 5, quality, factor, bounds, (256, 256))[0] == 2
    for k in (5, 100, 1999):
        got = ranked.ranked_top_k(index, 10.1, 20.0, k, quality, factor, bounds)
        assert_same(got, brute(index, 10.1, 20.0, k, quality, factor))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bounds_over_points_equal_bounds_over_a_mask(seed: int) -> None:
    """NodeBounds.over_points (a text query's category walk) equals NodeBounds.build with
    the mask of those points, node by node, with and without a further filter mask."""
    index, rng = _city(3000, seed)
    n = len(index)
    quality = rng.random(n)
    factor = rng.random(n) * 10
    points = rng.choice(n, int(rng.integers(1, 400)), replace=False)
    links = trie_links(index.tree, n)
    for extra in (None, rng.random(n) < 0.5):
        only = np.zeros(n, dtype=bool)
        only[np.asarray(index.positions)[points]] = True
        want = ranked.NodeBounds.build(index, quality, factor, only if extra is None
                                       else only & extra)  # fmt: skip
        got = ranked.NodeBounds.over_points(index, links, quality, factor, points, extra)
        assert np.array_equal(got.has, want.has)
        assert np.array_equal(got.q[want.has], want.q[want.has])
        assert np.array_equal(got.k[want.has], want.k[want.has])
