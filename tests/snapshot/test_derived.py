"""The derive hook runs the derivers in their declared order, each seeing the earlier ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pytest

from geo_discovery import parallel
from geo_discovery.settings import Settings
from geo_discovery.snapshot import derived


def test_derivers_run_in_order_and_see_upstream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def make(name: str) -> Any:
        def fn(table: pa.Table, out: Path, settings: Settings, upstream: dict) -> dict:
            calls.append(name)
            (out / "done").write_text(name)
            return {"upstream": sorted(upstream)}

        return fn

    monkeypatch.setattr(derived, "derivers", lambda: (("first", make("first")),
                                                      ("second", make("second"))))
    info = derived.derive_all(pa.table({"x": [1]}), tmp_path, Settings())
    assert calls == ["first", "second"]
    assert info == {"first": {"upstream": []}, "second": {"upstream": ["first"]}}
    assert (tmp_path / "first" / "done").read_text() == "first"


def test_each_step_hands_memory_back_here_and_on_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After each deriver over enough data, freed memory is released in this process and,
    through the executor, on every worker (a cluster worker would keep it otherwise)."""
    events: list[str] = []

    class Workers:
        def imap(self, fn: Any, args: Any) -> Any:
            return (fn(*a) for a in args)

        def share(self, obj: Any) -> Any:
            return obj

        def start(self, fn: Any, *args: Any) -> Any:
            return lambda: fn(*args)

        def release_memory(self) -> None:
            events.append("workers")

    def step(name: str) -> Any:
        def fn(table: pa.Table, out: Path, settings: Settings, upstream: dict) -> dict:
            events.append(name)
            return {}

        return fn

    monkeypatch.setattr(derived, "derivers", lambda: (("a", step("a")), ("b", step("b"))))
    monkeypatch.setattr(parallel, "release_memory", lambda: events.append("here"))
    table = pa.table({"x": list(range(1000))})  # 8,000 bytes
    with parallel.executing_on(Workers()):
        derived.derive_all(table, tmp_path, Settings())
    assert events == ["a", "b"], "a small table is not worth a collection per step"
    events.clear()
    monkeypatch.setattr(parallel, "RELEASE_MIN_BYTES", 8_000)
    with parallel.executing_on(Workers()):
        derived.derive_all(table, tmp_path, Settings())
    assert events == ["a", "here", "workers", "b", "here", "workers"]
    events.clear()
    derived.derive_all(table, tmp_path, Settings())  # no executor: here only
    assert events == ["a", "here", "b", "here"]


def test_the_declared_order_puts_reputation_before_districts() -> None:
    names = [name for name, _ in derived.derivers()]
    assert names.index("reputation") < names.index("districts")
    assert set(names) == {"reputation", "hours", "districts", "text"}


def test_derive_all_builds_the_text_index_the_text_deriver_builds(tmp_path: Path) -> None:
    """derive_all hands the text index only the text columns and each row's cuisine (so a
    cluster worker gets little); the index is the one the deriver makes from the whole
    table, attributes JSON included."""
    import numpy as np

    from geo_discovery.search.textindex import TextIndex

    n = 300
    rng = np.random.default_rng(1)
    cuisines = ['{"cuisine": "Pizza;Burger"}', '{"cuisine": "Caf\\u00e9/Coffee/Tea"}',
                '{"opening_hours": "Mo-Fr 08:00-18:00"}', "{}", None]
    table = pa.table({
        "merchant_id": [f"m{i}" for i in range(n)],
        "name": [f"Joe's {w} {i}" for i, w in enumerate(rng.choice(["Deli", "Café", "寿司"], n))],
        "brand": rng.choice(["", "Starbucks", None], n).tolist(),
        "address": [f"{i} Main St" for i in range(n)],
        "category": rng.choice(["food/restaurant/pizza", "food/cafe", "shop/clothes"], n).tolist(),
        "attributes": rng.choice(np.asarray(cuisines, dtype=object), n).tolist(),
    })
    order = rng.permutation(n)
    (tmp_path / "index").mkdir()
    np.save(tmp_path / "index" / "positions.npy", order)
    derived.derive_text(table, tmp_path / "alone", Settings(), {"index": tmp_path / "index"})
    alone = TextIndex.from_directory(tmp_path / "alone")

    class Eager:  # an executor that notes what it is asked to start
        started: ClassVar[list[tuple[int, ...]]] = []

        def start(self, fn: Any, *args: Any) -> Any:
            self.started.append(tuple(len(a) for a in args))
            result = fn(*args)
            return lambda: result

    for executor in (None, Eager()):
        with parallel.executing_on(executor):  # type: ignore[arg-type]
            text = derived._start_text(table, {"index": tmp_path / "index"})
        assert text is not None
        via_all = text()
        assert via_all.meta == alone.meta and via_all.labels == alone.labels
        for name in ("chars", "term_off", "df", "post_off", "postings", "fwd_off", "fwd",
                     "name_len", "cat_off", "cat_term", "cat_weight"):
            a, b = getattr(via_all, name), getattr(alone, name)
            assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert Eager.started == [(n, n)]  # the table's text columns and the order, once
    assert {"burger", "tea"} <= {via_all.term(t) for t in range(via_all.n_terms)}  # cuisines


def test_progress_counts_each_deriver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A load's ``derive`` bar moves per deriver (it stood at 0 % through all of them)."""
    seen: list[tuple[int, int]] = []

    def step(table: pa.Table, out: Path, settings: Settings, upstream: dict) -> dict:
        seen.append((-1, -1))  # where the deriver ran, between the counts
        return {}

    monkeypatch.setattr(derived, "derivers", lambda: (("a", step), ("b", step), ("c", step)))
    derived.derive_all(pa.table({"x": [1]}), tmp_path, Settings(),
                       progress=lambda done, total: seen.append((done, total)))  # fmt: skip
    assert seen == [(0, 3), (-1, -1), (1, 3), (-1, -1), (2, 3), (-1, -1), (3, 3)]


def test_a_load_reports_every_deriver_done(tmp_path: Path) -> None:
    from geo_discovery.snapshot.pipeline import load

    csv = tmp_path / "shops.csv"
    csv.write_text("id,name,lat,lng\n1,A,60.17,24.94\n2,B,60.18,24.95\n")
    seen: list[tuple[int, int]] = []
    load([csv], data_dir=tmp_path / "store", settings=Settings(data_dir=tmp_path / "store"),
         progress=lambda stage, done, total: stage == "derive" and seen.append((done, total)))
    steps = len(derived.derivers())
    assert steps > 1 and seen == [(i, steps) for i in range(steps + 1)]
