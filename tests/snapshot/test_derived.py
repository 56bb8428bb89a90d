"""The derive hook runs the derivers in their declared order, each seeing the earlier ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

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


def test_the_declared_order_puts_reputation_before_districts() -> None:
    names = [name for name, _ in derived.derivers()]
    assert names.index("reputation") < names.index("districts")
    assert set(names) == {"reputation", "hours", "districts", "text"}
