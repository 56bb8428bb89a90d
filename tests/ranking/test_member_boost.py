"""A member's lift from visited rows in any order (MemberBoost.from_rows): against a count
by hand."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_discovery.ranking.member import MemberBoost


@settings(max_examples=200, deadline=None)
@given(
    n_rows=st.integers(1, 30),
    n_codes=st.integers(1, 6),
    visits=st.lists(st.tuples(st.integers(-3, 29), st.integers(1, 5000)), max_size=60),
    seed=st.integers(0, 2**32 - 1),
)
def test_rows_in_any_order_sum_to_a_count_by_hand(
    n_rows: int, n_codes: int, visits: list[tuple[int, int]], seed: int
) -> None:
    codes = np.random.default_rng(seed).integers(0, n_codes, size=n_rows).astype(np.int32)
    given_ = [(r, n) for r, n in visits if r < n_rows]  # rows below 0: merchants gone
    rows = np.array([r for r, _ in given_], dtype=np.int64)
    counts = np.array([n for _, n in given_], dtype=np.int64)
    boost = MemberBoost.from_rows(rows, counts, codes, n_codes=n_codes, w_own=1.0, w_cat=0.5)
    want: Counter[int] = Counter()
    for r, n in given_:
        if r >= 0:
            want[r] += n
    assert boost.rows.tolist() == sorted(want)
    assert boost.visits.tolist() == [want[r] for r in sorted(want)]
    per_code = [sum(n for r, n in want.items() if codes[r] == c) for c in range(n_codes)]
    assert boost.code_visits.tolist() == per_code
    built = MemberBoost.build(dict(want), codes, n_codes=n_codes, w_own=1.0, w_cat=0.5)
    for name in ("rows", "visits", "code_visits"):
        assert getattr(built, name).tolist() == getattr(boost, name).tolist()


def test_a_row_past_the_table_is_refused_not_read() -> None:
    codes = np.zeros(3, dtype=np.int32)
    with pytest.raises(IndexError, match="past the table"):
        MemberBoost.from_rows(np.array([0, 3]), np.array([1, 1]), codes, n_codes=1, w_own=1,
                              w_cat=1)  # fmt: skip
