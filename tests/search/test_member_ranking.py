"""Member history lifts best_match, and the top-k stays exact (against brute force).

Random engines of every scenario (clusters, duplicates, the antimeridian, a pole, the
globe), random members (visits to a few merchants, some repeated, some ids unknown),
hand-set and learned rankings, filters and radii: every page equals the brute-force sort
of all merchants with the lift (:func:`ranking_oracle.Columns.member_log_lift`, written
independently of the planner's refine loop), and cursor walks visit every match once.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import ranking_oracle as ro
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from test_ranked_engine import PROPERTY, make_engine, random_query

from geo_discovery.engine import DiscoveryEngine
from geo_discovery.errors import InvalidQueryError
from geo_discovery.query import Member, NearbyQuery, Ranking
from geo_discovery.ranking.member import MemberBoost
from geo_discovery.ranking_profile import RankingProfile
from geo_discovery.search.personal import member_lift
from geo_discovery.settings import Settings

PROFILE = RankingProfile(
    weights=(("wom", 2.0), ("volume", 0.6), ("district", 0.5)),
    gamma=0.8,
    radii=(("", 600.0), ("food", 300.0), ("lodging", 5_000.0)),
    member_weights=(("own_visits", 1.7), ("own_category", 0.4)),
)
#: A calibrated profile's shape: the fit without member terms, and the joint one for
#: queries with a member (``personal``).
TWO_MODELS = RankingProfile(
    weights=(("volume", 0.2),), gamma=1.5, radii=(("", 2_000.0),), personal=PROFILE
)


def random_member(rng: np.random.Generator, engine: DiscoveryEngine) -> Member:
    ids = [str(x) for x in engine.merchants.column("merchant_id").to_pylist()]
    picks = rng.choice(ids, size=int(rng.integers(1, 8)))
    visits = [str(x) for x in picks for _ in range(int(rng.integers(1, 4)))]
    if rng.random() < 0.3:
        visits.append("no-such-merchant")
    return Member(visits=visits)


def assert_same(engine: DiscoveryEngine, cols: ro.Columns, q: NearbyQuery) -> None:
    res = engine.search(replace(q, explain=True))
    rows, prim, dist = ro.brute_force(cols, q, limit=q.k)
    assert res.positions.tolist() == rows.tolist(), q
    np.testing.assert_array_equal(res.distances_m, dist)
    assert res.scores is not None
    np.testing.assert_array_equal(res.scores, prim)
    assert res.explanations is not None
    assert [e.score for e in res.explanations] == prim.tolist()


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 300),
    kind=st.sampled_from(["city", "duplicates", "antimeridian", "north_pole", "global"]),
)
def test_member_pages_match_brute_force(seed: int, n: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    engine = make_engine(rng, n, kind)
    cols = ro.Columns(engine)
    for _ in range(4):
        q = random_query(rng, engine, "best_match")
        if rng.random() < 0.4:
            q = replace(q, ranking=Ranking(profile=PROFILE if rng.random() < 0.5 else TWO_MODELS))
        assert_same(engine, cols, replace(q, member=random_member(rng, engine)))


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 200), page=st.integers(1, 30))
def test_member_cursor_walks_visit_every_match_once_in_order(seed: int, n: int, page: int) -> None:
    rng = np.random.default_rng(seed)
    engine = make_engine(rng, n, str(rng.choice(["city", "duplicates", "global"])))
    cols = ro.Columns(engine)
    q = replace(random_query(rng, engine, "best_match"), member=random_member(rng, engine))
    rows, _, _ = ro.brute_force(cols, q)
    assert ro.walk(engine, q, page) == rows.tolist()


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300))
def test_members_asking_again_and_again_get_pages_equal_to_brute_force(seed: int, n: int) -> None:
    """A session: a few members, each asking many times (a pan, a new ranking), in turn. A
    member's lift is resolved once and reused (the snapshot's and planner's caches), and
    no member's page ever shows another's lift."""
    rng = np.random.default_rng(seed)
    engine = make_engine(rng, n, str(rng.choice(["city", "duplicates", "antimeridian"])))
    cols = ro.Columns(engine)
    members = [random_member(rng, engine) for _ in range(3)]
    for _ in range(9):
        i = int(rng.integers(3))
        member = Member(visits=list(members[i].visits))  # an equal object, built anew
        q = random_query(rng, engine, "best_match")
        if rng.random() < 0.5:
            q = replace(q, ranking=Ranking(profile=PROFILE if rng.random() < 0.5 else TWO_MODELS))
        assert_same(engine, cols, replace(q, member=member))


def test_one_member_object_kept_by_its_caller_under_every_ranking() -> None:
    """A caller keeps its Member and asks under several rankings in turn: the engine finds
    what it resolved for that object by identity, per ranking, and every page (the fast
    lane and the validated path) equals brute force under the ranking asked for."""
    rng = np.random.default_rng(29)
    engine = make_engine(rng, 250, "city")
    cols = ro.Columns(engine)
    members = [random_member(rng, engine) for _ in range(2)]
    rankings = [None, Ranking(profile=PROFILE), Ranking(profile=TWO_MODELS)]
    for _ in range(18):
        member, ranking = members[int(rng.integers(2))], rankings[int(rng.integers(3))]
        i = int(rng.integers(250))
        lat, lng = float(engine.snapshot.lat[i]), float(engine.snapshot.lng[i])
        q = ro.query(lat, lng, k=int(rng.integers(1, 15)), ranking=ranking, member=member)
        rows, prim, _ = ro.brute_force(cols, q, limit=q.k)
        got = engine.nearby(lat, lng, q.k, sort="best_match", ranking=ranking, member=member)
        assert got.positions.tolist() == rows.tolist()
        np.testing.assert_array_equal(got.scores, prim)
        assert_same(engine, cols, q)


def test_a_members_lift_is_resolved_once_per_member_and_weights() -> None:
    rng = np.random.default_rng(11)
    engine = make_engine(rng, 200, "city")
    ids = [str(x) for x in engine.merchants.column("merchant_id").to_pylist()]
    ann, bob = Member(visits=ids[:3]), Member(visits=ids[3:5])
    hand = Ranking()
    first = engine.member_boost(ann, hand)
    assert engine.member_boost(Member(visits=ids[:3]), hand) is first
    assert engine.member_boost(bob, hand) is not first
    assert engine.member_boost(ann, Ranking(profile=PROFILE)) is not first  # other weights
    assert first.rows.tolist() == sorted(engine.snapshot.row_of(m) for m in ids[:3])
    with pytest.raises(ValueError, match="read-only"):  # shared: nobody may change it
        first.visits[0] = 99


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), w_own=st.floats(-3, 3), w_cat=st.floats(-3, 3))
def test_the_visited_lift_equals_the_general_one_bit_for_bit(
    seed: int, w_own: float, w_cat: float
) -> None:
    """The lists and the walk lift visited merchants by ``lift_logs`` (no row lookup) and
    ``member_lift``'s ``exp`` of it (compiled, from a table of ``log1p``, or by NumPy past
    it); the refine loop, explain and brute force use ``log_boost``: the same bits. An
    unvisited merchant's lift by code too."""
    rng = np.random.default_rng(seed)
    n, n_codes = int(rng.integers(1, 500)), int(rng.integers(1, 40))
    codes = rng.integers(0, n_codes, n).astype(np.int32)
    most = 30 if rng.random() < 0.7 else 9_000  # past member_lift's log1p table too
    visits = {int(r): int(rng.integers(1, most)) for r in rng.integers(0, n, rng.integers(1, 12))}
    boost = MemberBoost.build(visits, codes, n_codes=n_codes, w_own=w_own, w_cat=w_cat)
    rows = boost.rows
    own_log, code_log = boost.lift_logs(codes[rows])
    assert (own_log == boost.log_boost(rows, codes[rows])).all()
    unvisited = np.setdiff1d(np.arange(n), rows)
    np.testing.assert_array_equal(
        np.exp(code_log)[codes[unvisited]], np.exp(boost.log_boost(unvisited, codes[unvisited]))
    )
    cell_of_row = rng.permutation(n).astype(np.int64)  # the lists' form, as the index orders
    points, own, _, code_lift, top = member_lift(boost, codes, cell_of_row, codes)
    assert points.tolist() == sorted(cell_of_row[rows].tolist())
    by_point = dict(zip(cell_of_row[rows].tolist(), np.exp(own_log).tolist(), strict=True))
    assert own.tolist() == [by_point[p] for p in points.tolist()]
    np.testing.assert_array_equal(code_lift, np.exp(code_log))
    assert top == code_lift.max()
    assert boost.code_visits.sum() == sum(visits.values())


def test_a_member_lifts_the_place_they_return_to_and_explain_says_why() -> None:
    rng = np.random.default_rng(3)
    engine = make_engine(rng, 300, "city")
    plain = engine.nearby(40.75, -73.98, k=10, sort="best_match")
    far = engine.nearby(40.75, -73.98, k=30, sort="best_match")[-1]  # ranked 30th
    member = Member(visits=[far.merchant_id] * 20)
    lifted = engine.nearby(40.75, -73.98, k=10, sort="best_match", member=member, explain=True)
    assert far.merchant_id not in plain.merchant_ids
    assert far.merchant_id in lifted.merchant_ids
    hit = next(h for h in lifted if h.merchant_id == far.merchant_id)
    assert hit.explanation is not None
    parts = hit.explanation.to_dict()
    assert parts["member"]["visits"] == 20
    assert parts["member"]["boost"] > 20  # (1 + 20)^1 × (1 + 20)^0.25 with the defaults
    assert parts["score"] == pytest.approx(
        parts["decay"] * parts["wom_term"] * parts["district_factor"] * parts["member"]["boost"]
    )
    # the lift's own weights (exponents) and cap explain its value
    m = parts["member"]
    assert (m["own_visits"], m["own_category"], m["max_lift"]) == (1.0, 0.25, 10_000.0)
    assert m["boost"] == pytest.approx(
        min((1 + m["visits"]) ** m["own_visits"] * (1 + m["category_visits"]) ** m["own_category"],
            m["max_lift"]))  # fmt: skip
    assert "(1 + 20)^1 × (1 + " in hit.explanation.describe()
    assert "20 visits here" in hit.explanation.describe()


def test_a_query_with_a_member_ranks_by_the_profiles_personal_model() -> None:
    """Under a profile with a ``personal`` model, a query with a member ranks (and
    explains) by that model, and one without by the profile's own: the pages differ."""
    rng = np.random.default_rng(7)
    engine = make_engine(rng, 300, "city")
    lat, lng = float(engine.snapshot.lat[0]), float(engine.snapshot.lng[0])
    member = random_member(rng, engine)
    two, personal = Ranking(profile=TWO_MODELS), Ranking(profile=PROFILE)
    with_member = engine.nearby(lat, lng, 15, sort="best_match", ranking=two, member=member)
    as_personal = engine.nearby(lat, lng, 15, sort="best_match", ranking=personal, member=member)
    assert with_member.positions.tolist() == as_personal.positions.tolist()
    np.testing.assert_array_equal(with_member.scores, as_personal.scores)
    without = engine.nearby(lat, lng, 15, sort="best_match", ranking=two, explain=True)
    plain = engine.nearby(lat, lng, 15, sort="best_match", ranking=personal)
    assert without.positions.tolist() != plain.positions.tolist()
    assert without.explanations is not None
    assert set(without.explanations[0].profile_parts) == {"volume"}


def test_member_needs_best_match_and_rejects_bad_values() -> None:
    with pytest.raises(InvalidQueryError, match="member ranks best_match only"):
        NearbyQuery(1.0, 2.0, member=Member(visits="a"))
    with pytest.raises(InvalidQueryError, match="visits entry 42 is not a merchant id"):
        Member(visits=[42])
    with pytest.raises(InvalidQueryError, match="visit time='yesterday'"):
        Member(visits="a@yesterday")
    # the time follows the last @: an id holding @ ends with it (the first @ split it)
    assert Member(visits="cafe@kamppi@").visits == (("cafe@kamppi", None),)
    assert Member(visits=["cafe@kamppi@2024-03-01T10:00Z"]).visits == (
        ("cafe@kamppi", "2024-03-01T10:00:00+00:00"),)
    with pytest.raises(InvalidQueryError, match="member_id has 201 characters"):
        Member(member_id="x" * 201)
    assert "secret" not in repr(Member(member_id="secret", visits=["a"]))


def test_a_learned_profile_explains_each_part_with_its_weight() -> None:
    rng = np.random.default_rng(5)
    engine = make_engine(rng, 200, "city")
    res = engine.nearby(
        40.75, -73.98, k=5, sort="best_match", ranking=Ranking(profile=PROFILE), explain=True
    )
    for hit in res:
        d = hit.explanation.to_dict() if hit.explanation else {}
        assert d["model"] == "profile"
        parts = d["profile"]["parts"]
        assert {p: v["weight"] for p, v in parts.items()} == dict(PROFILE.weights)
        product = d["decay"] * d["profile"]["scale"]
        for v in parts.values():
            assert v["factor"] == pytest.approx(np.exp(v["weight"] * v["value"] / PROFILE.gamma))
            product *= v["factor"]
        assert product == pytest.approx(d["score"])
        # the hand-set blend's factors are no part of this score: not shown beside it (they
        # were, contradicting it: decay × wom_term × district_factor far from the score)
        assert not {"wom_term", "district_factor", "weights"} & set(d)
        assert " -0 " not in hit.explanation.describe() and "(value -0," not in \
            hit.explanation.describe()


def test_the_member_cache_keeps_as_many_members_as_the_setting_says() -> None:
    """``member_cache`` bounds the resolved lifts kept: an equal member asked again within
    it gets the same lift object (its forms reused); past it, the lift is resolved again,
    to the same values. 0 is refused, naming what is allowed."""
    engine = make_engine(np.random.default_rng(2), 50, "city")
    ids = [str(x) for x in engine.merchants.column("merchant_id").to_pylist()]
    ranking = engine.ranking
    small = DiscoveryEngine(engine.snapshot, settings=Settings(member_cache=2))
    for eng, kept in ((engine, True), (small, False)):
        first = eng.member_boost(Member(visits=[ids[0]]), ranking)
        for other in ids[1:4]:
            eng.member_boost(Member(visits=[other]), ranking)
        again = eng.member_boost(Member(visits=[ids[0]]), ranking)
        assert (again is first) is kept
        assert again.rows.tolist() == first.rows.tolist()
        assert again.visits.tolist() == first.visits.tolist()
    with pytest.raises(ValidationError, match="member_cache"):
        Settings(member_cache=0)


def test_a_member_without_history_here_ranks_as_anyone() -> None:
    """An unknown id, a new member or visits only to ids the snapshot lacks were ranked by
    the member model (fitted jointly with the member terms: another γ, other weights),
    so the page changed though it held nothing personal. They now rank as anyone."""
    rng = np.random.default_rng(41)
    engine = make_engine(rng, 250, "city")
    lat, lng = float(engine.snapshot.lat[7]), float(engine.snapshot.lng[7])
    for ranking in (Ranking(profile=TWO_MODELS), None):
        anyone = engine.nearby(lat, lng, 15, sort="best_match", ranking=ranking, explain=True)
        for member in (Member(member_id="nobody-here"), Member(visits=["no-such", "gone"])):
            got = engine.nearby(lat, lng, 15, sort="best_match", ranking=ranking,
                                member=member, explain=True)  # fmt: skip
            assert got.positions.tolist() == anyone.positions.tolist()
            np.testing.assert_array_equal(got.scores, anyone.scores)
            assert got.explanations is not None
            assert all(e.to_dict().get("member") is None for e in got.explanations)
    # a member with a history here still ranks by the member model
    visited = str(engine.merchants.column("merchant_id")[3].as_py())
    mine = engine.nearby(lat, lng, 15, sort="best_match", ranking=Ranking(profile=TWO_MODELS),
                         member=Member(visits=[visited]))  # fmt: skip
    assert mine.scores is not None and anyone.scores is not None
    assert mine.scores.tolist() != anyone.scores.tolist()


def test_the_lift_is_capped_at_member_max_lift() -> None:
    """A thousand visits to a merchant far away lifted it ×5,630 under the hand-set weights
    and put it above every merchant near the member; a lift is now at most
    ``member_max_lift`` (10,000 by default; 100 here), a visited merchant's too."""
    rng = np.random.default_rng(43)
    engine = make_engine(rng, 300, "city", spread_deg=0.3)
    lat, lng = float(engine.snapshot.lat[0]), float(engine.snapshot.lng[0])
    far = int(np.argmax(np.hypot(engine.snapshot.lat - lat, engine.snapshot.lng - lng)))
    far_id = str(engine.merchants.column("merchant_id")[far].as_py())
    member = Member(visits=[far_id] * 1_000)
    assert Settings().member_max_lift == 10_000.0
    engine = DiscoveryEngine(engine.snapshot, settings=Settings(member_max_lift=100.0))
    res = engine.nearby(lat, lng, 300, sort="best_match", member=member, explain=True)
    assert res.explanations is not None
    boosts = [e.to_dict()["member"]["boost"] for e in res.explanations]
    assert max(boosts) == pytest.approx(100.0) and all(b <= 100.0 + 1e-9 for b in boosts)
    uncapped = DiscoveryEngine(engine.snapshot, settings=Settings(member_max_lift=1e9))
    free = uncapped.nearby(lat, lng, 300, sort="best_match", member=member, explain=True)
    assert free.explanations is not None
    lifted = {int(p): e.to_dict()["member"]["boost"] for p, e in
              zip(free.positions, free.explanations, strict=True)}  # fmt: skip
    assert lifted[far] > 5_000  # (1 + 1,000)^1.25 × its category's lift
    rank = {int(p): i for i, p in enumerate(res.positions)}
    assert free.positions.tolist().index(far) < rank[far]  # the cap keeps it lower
    cols = ro.Columns(engine)  # and the capped pages still equal brute force
    assert_same(engine, cols, ro.query(lat, lng, k=20, member=member))


@pytest.mark.parametrize(("value", "said"), [
    ({"own_vists": 2.0}, "unknown feature 'own_vists'; allowed: own_visits, own_category"),
    ({"own_visits": -1.0}, "out of range; allowed: numbers 0 … 10"),
    ({"own_visits": float("inf")}, "out of range"),
])  # fmt: skip
def test_member_weights_settings_are_checked(value: dict[str, float], said: str) -> None:
    """A typo was ignored (the member context then did nothing), a negative weight made a
    lift a penalty, and an infinite one gave NaN scores: each is now refused by name."""
    with pytest.raises(ValidationError, match=said):
        Settings(ranking_member_weights=value)
    with pytest.raises(ValidationError, match="member_max_lift"):
        Settings(member_max_lift=0.5)


def test_a_member_weight_left_out_keeps_its_default() -> None:
    """``{"own_visits": 2}`` set own_category to 0 instead of its documented 0.25."""
    assert Settings(ranking_member_weights={"own_visits": 2.0}).ranking_member_weights == {
        "own_visits": 2.0, "own_category": 0.25}
    off = Settings(ranking_member_weights={"own_category": 0.0}).ranking_member_weights
    assert off == {"own_visits": 1.0, "own_category": 0.0}
