"""Load-time derivations stored inside a snapshot (word of mouth, districts…).

A *deriver* computes something from the finished merchant table and writes it into its
own folder ``SNAPSHOT/derived/<name>/``. Derivers run in registration order during a
load, inside the snapshot's temporary folder, so their output is published atomically
with the merchants. Each returns a small JSON-able dict that goes into the manifest.

A deriver module registers itself with :func:`register` and is listed in
:data:`DERIVER_MODULES`, which fixes the order in which derivers run, whatever order
their modules were imported in (a later deriver may read an earlier one's folder through
``upstream``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..settings import Settings

__all__ = ["DERIVER_MODULES", "Deriver", "derive_all", "register"]

Deriver = Callable[[pa.Table, Path, Settings, Mapping[str, Path]], dict[str, Any]]
"""``deriver(merchants, out_dir, settings, upstream) -> manifest info``."""

# Modules whose import registers a deriver, in the order they must run.
DERIVER_MODULES: tuple[str, ...] = (
    "geo_discovery.ranking.reputation",
    "geo_discovery.ranking.hours",
    "geo_discovery.districts.detect",
)

_REGISTRY: dict[str, Deriver] = {}


def register(name: str) -> Callable[[Deriver], Deriver]:
    """Decorator: register ``fn`` as the deriver writing ``derived/<name>/``."""

    def deco(fn: Deriver) -> Deriver:
        if fn.__module__ not in DERIVER_MODULES:
            raise RuntimeError(
                f"deriver {name!r} is defined in {fn.__module__}, which is not listed in "
                "geo_discovery.snapshot.derived.DERIVER_MODULES (that list fixes the run order)"
            )
        _REGISTRY[name] = fn
        return fn

    return deco


def derive_all(merchants: pa.Table, out_dir: Path, settings: Settings) -> dict[str, Any]:
    """Run every registered deriver in order; return ``{name: manifest info}``."""
    for module in DERIVER_MODULES:
        importlib.import_module(module)
    upstream: dict[str, Path] = {}
    info: dict[str, Any] = {}
    # Run in DERIVER_MODULES order, whatever order the modules happened to be imported in.
    ordered = sorted(_REGISTRY.items(), key=lambda kv: DERIVER_MODULES.index(kv[1].__module__))
    for name, fn in ordered:
        target = out_dir / name
        target.mkdir(parents=True, exist_ok=True)
        info[name] = fn(merchants, target, settings, dict(upstream))
        upstream[name] = target
    return info
