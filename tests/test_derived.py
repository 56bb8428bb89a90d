"""The derive hook runs derivers in DERIVER_MODULES order, not import order."""

from __future__ import annotations

import importlib
from pathlib import Path

import pyarrow as pa
import pytest

from geo_discovery.settings import Settings
from geo_discovery.snapshot import derived


def test_derivers_run_in_declared_order_whatever_the_import_order(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[str] = []

    def make(name: str, module: str) -> derived.Deriver:
        def fn(table: pa.Table, out: Path, settings: Settings, upstream: object) -> dict[str, str]:
            calls.append(name)
            return {"upstream": ",".join(sorted(upstream))}  # type: ignore[arg-type]

        fn.__module__ = module
        return fn

    monkeypatch.setattr(derived, "DERIVER_MODULES", ("mod_a", "mod_b"))
    monkeypatch.setattr(derived, "_REGISTRY", {})
    monkeypatch.setattr(importlib, "import_module", lambda name: None)
    # Registered (imported) in the reverse of the declared order.
    derived.register("second")(make("second", "mod_b"))
    derived.register("first")(make("first", "mod_a"))
    info = derived.derive_all(pa.table({"x": [1]}), tmp_path, Settings())
    assert calls == ["first", "second"]
    assert info["second"] == {"upstream": "first"}
    assert (tmp_path / "first").is_dir() and (tmp_path / "second").is_dir()


def test_a_deriver_outside_the_declared_modules_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(derived, "DERIVER_MODULES", ("mod_a",))
    monkeypatch.setattr(derived, "_REGISTRY", {})

    def fn(*args: object) -> dict[str, str]:
        return {}

    fn.__module__ = "elsewhere"
    with pytest.raises(RuntimeError, match="DERIVER_MODULES"):
        derived.register("rogue")(fn)  # type: ignore[arg-type]
