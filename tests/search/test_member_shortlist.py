"""A member's pages scored from cell shortlists (shortlist.member_shortlist_top_k).

Lists of the ``depth`` best under a ranking answer a member's page when its ``k``-th
lifted score is above every unlisted point's bound; otherwise they say "walk". Every
page they do answer must equal the brute-force sort of all merchants with the member's
lift, bit for bit (rows, metres, scores). Shallow lists (depth 4) make the "walk"
answer common, so the bound is exercised both ways; lists of :data:`MEMBER_K` must
answer most pages at merchants, through the engine too.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import ranking_oracle as ro
from hypothesis import given, settings
from hypothesis import strategies as st
from test_member_ranking import PROFILE, TWO_MODELS, random_member
from test_ranked_engine import PROPERTY, make_engine

from geo_discovery.query import Ranking
from geo_discovery.ranking.derived import member_ranking
from geo_discovery.search import personal
from geo_discovery.search.shortlist import MEMBER_K, Shortlists

nodes = personal.lift_nodes


def assert_page(got: tuple, want: tuple) -> None:
    rows, metres, scores = got
    w_rows, w_prim, w_dist = want
    assert rows.tolist() == w_rows.tolist()
    np.testing.assert_array_equal(scores, w_prim)
    np.testing.assert_array_equal(metres, w_dist)


@settings(PROPERTY, max_examples=40)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    kind=st.sampled_from(["city", "duplicates", "antimeridian", "north_pole", "global"]),
    depth=st.sampled_from([4, 20, MEMBER_K]),
)
def test_member_pages_from_lists_equal_brute_force(
    seed: int, n: int, kind: str, depth: int
) -> None:
    rng = np.random.default_rng(seed)
    engine = make_engine(rng, n, kind)
    cols = ro.Columns(engine)
    lat = engine.merchants.column("lat").to_numpy()
    lng = engine.merchants.column("lng").to_numpy()
    ranking = Ranking(profile=PROFILE) if rng.random() < 0.5 else engine.ranking
    lists = engine.planner.shortlists(ranking, depth)
    assert isinstance(lists, Shortlists)
    lists.build_all()
    for _ in range(6):
        member = random_member(rng, engine)
        i = int(rng.integers(n))
        a, b = float(lat[i]), float(lng[i])
        if rng.random() < 0.5:  # near a merchant, not at it
            a = float(np.clip(a + rng.normal(0, 0.001), -90, 90))
        k = int(rng.integers(1, depth + 1))
        lift = engine.planner.lift_of.lists(engine.member_boost(member, ranking))
        got = lists.top_k(a, b, k, lift=lift)
        if got is None:
            continue  # the walk answers: test_member_ranking checks that path
        q = ro.query(a, b, k=k, ranking=ranking, member=member)
        assert_page(got, ro.brute_force(cols, q, limit=k))


@pytest.mark.parametrize("ranking", ["hand-set", "two models"])
def test_engine_answers_most_member_pages_from_lists_and_each_equals_brute_force(
    ranking: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the engine (the validated path and the fast lane), with the member lists
    built: pages come from the lists (a spy counts them), equal brute force, the two paths
    give the same cursor, and a cursor walk after them visits every match."""
    rng = np.random.default_rng(17)
    n = 400
    engine = make_engine(rng, n, "city")
    cols = ro.Columns(engine)
    chosen = engine.ranking if ranking == "hand-set" else Ranking(profile=TWO_MODELS)
    lists = engine.planner.shortlists(member_ranking(chosen), MEMBER_K)
    assert lists is not None
    lists.build_all()
    answered = []
    top_k = Shortlists.top_k

    def spy(self: Shortlists, *args: object, **kw: object) -> object:
        got = top_k(self, *args, **kw)  # type: ignore[arg-type]
        if kw.get("lift", args[4] if len(args) > 4 else None) is not None:
            answered.append(got is not None)
        return got

    monkeypatch.setattr(Shortlists, "top_k", spy)
    walk_lifts = []  # the walk's form of a lift (its trie nodes) is built only for a walk
    monkeypatch.setattr(personal, "lift_nodes", lambda *a: walk_lifts.append(1) or nodes(*a))
    lat = engine.merchants.column("lat").to_numpy()
    lng = engine.merchants.column("lng").to_numpy()
    for _ in range(40):
        i = int(rng.integers(n))
        q = ro.query(float(lat[i]), float(lng[i]), k=int(rng.integers(1, 21)), ranking=chosen,
                     member=random_member(rng, engine))  # fmt: skip
        res = engine.search(q)
        rows, prim, dist = ro.brute_force(cols, q, limit=q.k)
        assert res.positions.tolist() == rows.tolist()
        np.testing.assert_array_equal(res.scores, prim)
        np.testing.assert_array_equal(res.distances_m, dist)
        fast = engine.nearby(q.lat, q.lng, q.k, sort="best_match", ranking=chosen, member=q.member)
        assert fast.positions.tolist() == rows.tolist()  # the engine's fast lane
        np.testing.assert_array_equal(fast.scores, prim)
        assert fast.next_cursor == res.next_cursor
    assert len(answered) >= 80  # each page twice: the validated path and the fast lane
    assert sum(answered) >= 0.75 * len(answered), f"{sum(answered)} of {len(answered)} listed"
    assert len(walk_lifts) <= answered.count(False)
    q = replace(q, k=7)
    assert ro.walk(engine, q, 7) == ro.brute_force(cols, q)[0].tolist()


def test_shallow_lists_answer_some_member_pages_and_send_the_rest_to_the_walk() -> None:
    """Lists of the 4 best: a lifted page is often beyond what they can prove, and then
    they must say "walk" rather than cut it short. Both outcomes occur here, every page
    they answer equals brute force, and so does the engine's page every time."""
    rng = np.random.default_rng(5)
    engine = make_engine(rng, 300, "city")
    cols = ro.Columns(engine)
    ranking = Ranking(profile=PROFILE)
    lists = engine.planner.shortlists(ranking, 4)
    assert lists is not None
    lists.build_all()
    outcomes = []
    for _ in range(60):
        member = random_member(rng, engine)
        j = int(rng.integers(300))
        lat, lng = float(engine.snapshot.lat[j]), float(engine.snapshot.lng[j])
        k = int(rng.integers(1, 5))
        got = lists.top_k(
            lat, lng, k, lift=engine.planner.lift_of.lists(engine.member_boost(member, ranking))
        )
        q = ro.query(lat, lng, k=k, ranking=ranking, member=member)
        want = ro.brute_force(cols, q, limit=k)
        if got is not None:
            assert_page(got, want)
        outcomes.append(got is not None)
        assert engine.search(q).positions.tolist() == want[0].tolist()
    assert 0 < sum(outcomes) < len(outcomes)


def test_lists_without_categories_leave_member_pages_to_the_walk() -> None:
    """A member's page needs each listed point's category (its lift): lists built
    without them say "walk" for every member page, and still answer bare pages."""
    rng = np.random.default_rng(23)
    engine = make_engine(rng, 300, "city")
    cols = ro.Columns(engine)
    ranking = Ranking(profile=PROFILE)
    built = engine.planner.shortlists(ranking, MEMBER_K)
    assert built is not None and built.codes is not None
    bare = Shortlists(built.index, built.quality, built.factor, built.bounds, k_max=MEMBER_K)
    member = random_member(rng, engine)
    lift = engine.planner.lift_of.lists(engine.member_boost(member, ranking))
    lat, lng = float(engine.snapshot.lat[0]), float(engine.snapshot.lng[0])
    assert bare.top_k(lat, lng, 5, lift=lift) is None
    got = bare.top_k(lat, lng, 5)
    assert got is not None
    assert_page(got, ro.brute_force(cols, ro.query(lat, lng, k=5, ranking=ranking), limit=5))


def test_a_lift_in_other_array_types_scores_as_the_one_made() -> None:
    """The lists call their kernel's compiled entry for the types of a root's first
    member page (numba's per-call typing skipped): a later lift whose arrays come as other
    dtypes or strides must still score the same (it is converted, never reread as the
    first one's types)."""
    rng = np.random.default_rng(31)
    engine = make_engine(rng, 300, "city")
    cols = ro.Columns(engine)
    ranking = Ranking(profile=PROFILE)
    lists = engine.planner.shortlists(ranking, MEMBER_K)
    assert lists is not None
    lists.build_all()
    checked = 0
    for _ in range(30):
        member = random_member(rng, engine)
        j = int(rng.integers(300))
        lat, lng = float(engine.snapshot.lat[j]), float(engine.snapshot.lng[j])
        made = engine.planner.lift_of.lists(engine.member_boost(member, ranking))
        points, own, codes, code_lift, unvisited = made
        wide = np.empty((len(own), 2))  # own as a strided column of a wider array
        wide[:, 0] = own
        other = (points.astype(np.int32), wide[:, 0], codes, np.repeat(code_lift, 2)[::2],
                 np.float64(unvisited))  # fmt: skip
        want = lists.top_k(lat, lng, 10, lift=made)
        got = lists.top_k(lat, lng, 10, lift=other)
        if want is None:
            assert got is None
            continue
        checked += 1
        assert got is not None
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
        assert_page(got, ro.brute_force(cols, ro.query(lat, lng, k=10, ranking=ranking,
                                                       member=member), limit=10))  # fmt: skip
    assert checked >= 10
