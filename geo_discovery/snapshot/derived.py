"""Load-time derivations stored inside a snapshot (word of mouth, hours, districts…).

A *deriver* computes something from the finished merchant table and writes it into its
own folder ``SNAPSHOT/derived/<name>/``. Derivers run in the order of :func:`derivers`
during a load, inside the snapshot's temporary folder, so their output is published
atomically with the merchants; a later deriver may read an earlier one's folder through
``upstream``. Each returns a small JSON-able dict that goes into the manifest.

The domain modules define *what* is derived (:mod:`geo_discovery.ranking.reputation`,
:mod:`geo_discovery.ranking.hours`, :mod:`geo_discovery.districts.detect`); this module
only says in which order, so imports point one way: ``snapshot → ranking, districts``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..settings import Settings

__all__ = ["Deriver", "derive_all", "derivers"]

Deriver = Callable[[pa.Table, Path, Settings, Mapping[str, Path]], dict[str, Any]]
"""``deriver(merchants, out_dir, settings, upstream) -> manifest info``."""


def derivers() -> tuple[tuple[str, Deriver], ...]:
    """``(name, deriver)`` pairs in the order they run."""
    from ..districts.detect import derive_districts
    from ..ranking.hours import derive_hours
    from ..ranking.reputation import derive_reputation

    return (
        ("reputation", derive_reputation),
        ("hours", derive_hours),
        ("districts", derive_districts),
    )


def derive_all(merchants: pa.Table, out_dir: Path, settings: Settings) -> dict[str, Any]:
    """Run every deriver in order; return ``{name: manifest info}``."""
    upstream: dict[str, Path] = {}
    info: dict[str, Any] = {}
    for name, fn in derivers():
        target = out_dir / name
        target.mkdir(parents=True, exist_ok=True)
        info[name] = fn(merchants, target, settings, dict(upstream))
        upstream[name] = target
    return info
