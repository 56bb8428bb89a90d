"""RowStore.columns: a few rows read value by value equal an Arrow take of them, for every
column type a merchant table holds and tables of many record batches."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_discovery.snapshot.rows import RowStore


def _table(rng: np.random.Generator, n: int, batches: int) -> pa.Table:
    def nullable(values: list, p: float = 0.3) -> list:
        return [None if rng.random() < p else v for v in values]

    t = pa.table(
        {
            "merchant_id": [f"m{i}" for i in range(n)],
            "name": nullable([f"Café {i} ★" for i in range(n)], 0.1),
            "rating": pa.array(nullable(rng.random(n).tolist()), pa.float64()),
            "review_count": pa.array(nullable(rng.integers(0, 99, n).tolist()), pa.int64()),
            "opened": pa.array(
                nullable([date(2020, 1, 1 + int(d)) for d in rng.integers(0, 28, n)]), pa.date32()
            ),
            "seen": pa.array(
                nullable(
                    [datetime(2024, 5, 1, int(h), tzinfo=UTC) for h in rng.integers(0, 24, n)]
                ),
                pa.timestamp("us", tz="UTC"),
            ),
            "category": pa.array(rng.choice(["food/cafe", "shop"], n).tolist()).dictionary_encode(),
        }
    )
    cuts = np.sort(rng.integers(0, n + 1, batches - 1)).tolist()
    parts = [t.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    return pa.concat_tables(parts)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 120), batches=st.integers(1, 5))
def test_few_rows_equal_an_arrow_take(seed: int, n: int, batches: int) -> None:
    rng = np.random.default_rng(seed)
    table = _table(rng, n, batches)
    store = RowStore(table)
    fields = ["merchant_id", "name", "rating", "review_count", "opened", "seen", "category", "nope"]
    for size in (0, 1, 5, 32, 33, 80):
        pos = rng.integers(0, n, size).astype(np.int64)
        got = store.columns(pos, fields)
        sub = table.take(pa.array(pos, type=pa.int64()))
        want = {
            f: [v.isoformat() if isinstance(v, date | datetime) else v
                for v in sub.column(f).to_pylist()]
            for f in fields if f in table.column_names
        }  # fmt: skip
        assert got == want
