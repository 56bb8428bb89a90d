"""A member's leaf lists (search.memberlists): a leaf's short list under one member's lift.

A member who asks again in the same leaf gets a list made for that leaf and lift; a page
scored from it must equal the brute-force sort of all merchants with the member's lift,
bit for bit, near poles and the antimeridian too, for pages of every length (those over
``LEAF_K`` use the whole list), and while other threads ask and make lists.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import ranking_oracle as ro
from hypothesis import given, settings
from hypothesis import strategies as st
from test_member_ranking import PROFILE, random_member
from test_member_shortlist import assert_page
from test_ranked_engine import PROPERTY, make_engine

from geo_discovery.query import Ranking
from geo_discovery.search import memberlists, shortlist
from geo_discovery.search.memberlists import LEAF_K, LeafLists
from geo_discovery.search.shortlist import MEMBER_K, Shortlists


def lists_for(engine: object, ranking: Ranking) -> Shortlists:
    lists = engine.planner.shortlists(ranking, MEMBER_K)  # type: ignore[attr-defined]
    assert isinstance(lists, Shortlists)
    lists.build_all()
    return lists


def made_leaves(lists: Shortlists) -> int:
    """Leaf lists made so far, over every member and root the lists keep."""
    return sum(leaves.held for leaves in lists.leaf_lists)


@settings(PROPERTY, max_examples=30)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    kind=st.sampled_from(["city", "duplicates", "antimeridian", "north_pole", "global"]),
)
def test_pages_asked_again_nearby_equal_brute_force(seed: int, n: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    engine = make_engine(rng, n, kind)
    cols = ro.Columns(engine)
    ranking = Ranking(profile=PROFILE) if rng.random() < 0.5 else engine.ranking
    lists = lists_for(engine, ranking)
    lat = engine.merchants.column("lat").to_numpy()
    lng = engine.merchants.column("lng").to_numpy()
    for _ in range(3):
        member = random_member(rng, engine)
        lift = engine.planner.lift_of.lists(engine.member_boost(member, ranking))
        i = int(rng.integers(n))
        for _ in range(6):  # the same place, a few metres on, or a step away
            spread = float(rng.choice([0.0, 1e-5, 3e-4]))
            a = float(np.clip(lat[i] + rng.normal(0, spread), -90, 90))
            b = float(np.clip(lng[i] + rng.normal(0, spread), -180, 180))
            k = int(rng.integers(1, LEAF_K + 1)) if rng.random() < 0.85 else 2 * LEAF_K
            got = lists.top_k(a, b, k, lift=lift)
            if got is None:
                continue  # the walk answers: test_member_ranking checks that path
            q = ro.query(a, b, k=k, ranking=ranking, member=member)
            assert_page(got, ro.brute_force(cols, q, limit=k))


@pytest.mark.parametrize(("ranking", "n", "spread"), [
    ("hand-set", 400, 0.03), ("profile", 400, 0.03), ("hand-set", 6000, 0.15),
    ("profile", 6000, 0.15),
])  # fmt: skip
def test_a_member_asking_again_is_answered_from_leaf_lists(
    ranking: str, n: int, spread: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member's first page of at most LEAF_K in a leaf makes its list (a spy counts
    the lists kept); pages asked there again come from it without making another, through
    the engine's fast lane and its validated path, each equal to brute force. With 6,000
    merchants the leaves are small and their lists under a lift keep a few of the leaf's
    hundreds."""
    rng = np.random.default_rng(41)
    engine = make_engine(rng, n, "city", spread_deg=spread)
    cols = ro.Columns(engine)
    chosen = engine.ranking if ranking == "hand-set" else Ranking(profile=PROFILE)
    lists = lists_for(engine, chosen)
    made = []
    keep_leaf = Shortlists._keep_leaf

    def spy(self: Shortlists, lift: tuple, key: int, at: int, rows: np.ndarray) -> None:
        made.append(at)
        keep_leaf(self, lift, key, at, rows)

    monkeypatch.setattr(Shortlists, "_keep_leaf", spy)
    lat = engine.merchants.column("lat").to_numpy()
    lng = engine.merchants.column("lng").to_numpy()
    listed = 0
    for _ in range(25):
        member = random_member(rng, engine)
        i = int(rng.integers(n))
        for step in range(5):
            a, b = float(lat[i] + rng.normal(0, 2e-5)), float(lng[i] + rng.normal(0, 2e-5))
            k = int(rng.integers(1, LEAF_K + 1))
            q = ro.query(a, b, k=k, ranking=chosen, member=member)
            before = len(made)
            if step % 2:
                page = engine.search(q)
            else:
                page = engine.nearby(a, b, k, sort="best_match", ranking=chosen, member=member)
            rows, prim, dist = ro.brute_force(cols, q, limit=k)
            assert page.positions.tolist() == rows.tolist()
            np.testing.assert_array_equal(page.scores, prim)
            np.testing.assert_array_equal(page.distances_m, dist)
            listed += step >= 1 and len(made) == before
    assert made_leaves(lists) >= 20
    if n > 1000:  # the lists prune: most rows of a leaf are behind the LEAF_K-th bound
        rows = [leaves.used for leaves in lists.leaf_lists]
        assert sum(rows) < 0.5 * made_leaves(lists) * MEMBER_K, rows
    assert listed >= 0.6 * 25 * 4, f"{listed} of {25 * 4} pages asked again came from leaf lists"


def test_leaf_lists_grow_and_stop_at_their_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table doubles at half full and the pool as rows come; every leaf keeps its
    extent and rows through both; new arrays leave the old ones as they were (a query
    still reading them must not find a leaf whose rows are not in its pool); a leaf kept
    keeps its first rows; a full pool takes no more and says so."""
    rng = np.random.default_rng(3)
    monkeypatch.setattr(memberlists, "LEAF_POOL", 1 << 20)
    leaves = LeafLists()
    kept: dict[int, np.ndarray] = {}
    grown = 0
    for at in rng.choice(10_000, size=60, replace=False).tolist():
        rows = rng.random((int(rng.integers(1, 40)), 8))
        table, before = leaves.table, leaves.table.copy()
        made_new = leaves.add(at, rows)
        if made_new:  # readers of the old arrays never see a leaf past the old pool
            np.testing.assert_array_equal(table, before)
            assert leaves.table is not table
        else:
            assert leaves.table is table
        grown += made_new
        kept[at] = rows
        assert not leaves.add(at, rows + 1)  # kept: its rows stay
    assert grown >= 4 and len(leaves.table) >= 128 and leaves.held == 60
    assert 2 * len(kept) <= len(leaves.table)
    for at, rows in kept.items():
        h = leaves.slot(at)
        _, first, n = leaves.table[h].tolist()
        np.testing.assert_array_equal(leaves.pool[first : first + n], rows)
    assert leaves.slot(10_001) == -1
    used = leaves.used
    monkeypatch.setattr(memberlists, "LEAF_POOL", used + 5)
    assert leaves.room
    assert leaves.add(20_000, rng.random((6, 8)))  # over the pool: no room from now on
    assert leaves.slot(20_000) == -1 and not leaves.room and leaves.used == used
    assert not leaves.add(20_001, rng.random((1, 8)))
    assert leaves.slot(20_001) == -1
    exact = LeafLists()  # a leaf that fills the pool to the row: kept, and no room after
    monkeypatch.setattr(memberlists, "LEAF_POOL", 7)
    assert exact.add(1, rng.random((3, 8))) and exact.room
    assert exact.add(2, rng.random((4, 8))), "no room now: the kernel's arguments must say so"
    assert exact.slot(2) >= 0 and exact.used == 7 and not exact.room


def test_threads_asking_for_one_member_get_exact_pages() -> None:
    """Four threads page one member's lift around the same few places at once (the
    kernels release the GIL; lists are made under a lock and replace arrays others read):
    every page equals brute force."""
    rng = np.random.default_rng(59)
    n = 400
    engine = make_engine(rng, n, "city")
    cols = ro.Columns(engine)
    ranking = Ranking(profile=PROFILE)
    lists = lists_for(engine, ranking)
    member = random_member(rng, engine)
    lift = engine.planner.lift_of.lists(engine.member_boost(member, ranking))
    lat = engine.merchants.column("lat").to_numpy()
    lng = engine.merchants.column("lng").to_numpy()
    centres = rng.integers(n, size=6)
    asks = []
    for _ in range(240):
        c = int(rng.choice(centres))
        a, b = float(lat[c] + rng.normal(0, 3e-5)), float(lng[c] + rng.normal(0, 3e-5))
        k = int(rng.integers(1, LEAF_K + 1))
        q = ro.query(a, b, k=k, ranking=ranking, member=member)
        asks.append((a, b, k, ro.brute_force(cols, q, limit=k)))
    failures: list[str] = []

    def work(part: int) -> None:
        for a, b, k, want in asks[part::4]:
            got = lists.top_k(a, b, k, lift=lift)
            if got is not None:
                try:
                    assert_page(got, want)
                except AssertionError as exc:
                    failures.append(f"{a}, {b}, k={k}: {exc}")

    threads = [threading.Thread(target=work, args=(p,)) for p in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    assert made_leaves(lists) >= 1


def test_all_members_lists_stay_within_their_budget_and_reopen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over all members the lists hold at most LEAF_BUDGET rows (give or take the rows
    made between two counts, an eighth of it, and one leaf's): once over, no member gets a
    new one (pages still exact, from the whole list); when evicted members' lists bring
    them under half of it, lists are made again."""
    monkeypatch.setattr(shortlist, "LEAF_BUDGET", 240)
    monkeypatch.setattr(shortlist, "MEMBER_ENTRIES", 16)  # members evicted as others come
    rng = np.random.default_rng(67)
    n = 6000
    engine = make_engine(rng, n, "city", spread_deg=0.15)
    cols = ro.Columns(engine)
    ranking = Ranking(profile=PROFILE)
    lists = lists_for(engine, ranking)
    lat = engine.merchants.column("lat").to_numpy()
    lng = engine.merchants.column("lng").to_numpy()
    peak, closed, reopened, longest = 0, 0, False, 0
    for step in range(400):
        member = random_member(rng, engine)
        lift = engine.planner.lift_of.lists(engine.member_boost(member, ranking))
        i = int(rng.integers(n))
        a, b = float(lat[i]), float(lng[i])
        was_full = lists._leaf_full
        got = lists.top_k(a, b, 10, lift=lift)
        if step % 10 == 0 and got is not None:
            q = ro.query(a, b, k=10, ranking=ranking, member=member)
            assert_page(got, ro.brute_force(cols, q, limit=10))
        peak = max(peak, lists.leaf_rows())
        closed += sum(leaves.closed for leaves in lists.leaf_lists)
        longest = max([longest] + [int(t.table[:, 2].max()) for t in lists.leaf_lists])
        reopened |= was_full and not lists._leaf_full
    assert closed > 0, "the budget was never reached"
    assert reopened, "lists were never made again once members were evicted"
    assert peak <= 240 + 240 // 8 + longest, (peak, longest)  # counted every 30 rows made
