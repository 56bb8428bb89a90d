"""Member histories: one binary search finds a member's rows (members.MemberHistories), and
the snapshot maps them onto its merchants, ignoring merchants it no longer holds."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_discovery.query import Member, Ranking
from geo_discovery.snapshot.members import MemberHistories, write_members
from geo_discovery.snapshot.snapshot import Snapshot

PEOPLE = st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=30, unique=True)


@settings(max_examples=40, deadline=None)
@given(people=PEOPLE, seed=st.integers(0, 2**32 - 1))
def test_each_members_history_is_found_whole_and_no_one_elses(people: list[str], seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = []
    for person in people:  # some with one merchant, some with many
        for m in rng.choice(40, size=int(rng.integers(1, 25)), replace=False):
            rows.append((person, f"m{m}", int(rng.integers(1, 9))))
    visits = pd.DataFrame(rows, columns=["member", "merchant_id", "visits"])
    visits["last_visit"] = pd.Timestamp("2024-01-02", tz="UTC")
    folder = Path(tempfile.mkdtemp())
    write_members(visits, folder)
    held = MemberHistories(folder)
    for person, mine in visits.groupby("member"):
        want = dict(zip(mine["merchant_id"], mine["visits"], strict=True))
        assert held.visits(str(person)) == want
        lo, hi = held.span(str(person))
        assert hi - lo == len(mine)
    assert held.visits("nobody at all") == {} and held.span("nobody at all") == (0, 0)


def test_a_history_names_merchants_the_snapshot_no_longer_holds(tmp_path: Path) -> None:
    """After merchants leave (an upsert), their visits are ignored: the member's lift is
    what the merchants still here give, the same as those visits given by hand."""
    ids = ["a", "b", "c"]
    table = pa.table({"merchant_id": ids, "name": ids, "lat": [60.1, 60.2, 60.3],
                      "lng": [24.9, 24.9, 24.9], "category": ["food/cafe"] * 3})  # fmt: skip
    visits = pd.DataFrame({"member": ["ann"] * 3, "merchant_id": ["a", "gone", "c"],
                           "visits": [2, 5, 1]})  # fmt: skip
    visits["last_visit"] = pd.Timestamp("2024-01-02", tz="UTC")
    snap = Snapshot.from_table(table)
    write_members(visits, tmp_path)
    snap.members = MemberHistories(tmp_path)  # as a snapshot folder holding them
    boost = snap.member_boost(Member(member_id="ann"), Ranking(), {"own_visits": 1.0})
    assert boost.rows.tolist() == [0, 2] and boost.visits.tolist() == [2, 1]
    by_hand = snap.member_boost(Member(visits=["a", "a", "c"]), Ranking(), {"own_visits": 1.0})
    assert boost.rows.tolist() == by_hand.rows.tolist()
    assert boost.visits.tolist() == by_hand.visits.tolist()



def test_a_members_history_and_given_visits_add_up(tmp_path: Path) -> None:
    """An id's history and the visits given with it count together; a given id the
    snapshot does not hold, and a history merchant gone since, count for nothing."""
    ids = ["a", "b", "c", "d"]
    categories = ["food/cafe", "shop", "food/cafe", "shop"]
    table = pa.table({"merchant_id": ids, "name": ids, "lat": [60.1, 60.2, 60.3, 60.4],
                      "lng": [24.9] * 4, "category": categories})  # fmt: skip
    visits = pd.DataFrame({"member": ["ann"] * 3, "merchant_id": ["c", "gone", "a"],
                           "visits": [4, 5, 1]})  # fmt: skip
    visits["last_visit"] = pd.Timestamp("2024-01-02", tz="UTC")
    snap = Snapshot.from_table(table)
    write_members(visits, tmp_path)
    snap.members = MemberHistories(tmp_path)
    member = Member(member_id="ann", visits=["d", "a", "nowhere", "d"])
    boost = snap.member_boost(member, Ranking(), {"own_visits": 1.0})
    assert boost.rows.tolist() == [0, 2, 3] and boost.visits.tolist() == [2, 4, 2]
    codes, vocab = snap.categories
    per_code = np.zeros(len(vocab), dtype=np.int64)
    np.add.at(per_code, codes[[0, 2, 3]], [2, 4, 2])
    assert boost.code_visits.tolist() == per_code.tolist()
    assert not boost.rows.flags.writeable  # shared by the snapshot's cache
