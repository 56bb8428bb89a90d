"""geo-discovery: discover local merchants.

Exact H3-indexed nearby search, word-of-mouth ranking, business districts and
catchments over versioned snapshots, loaded from messy open data without losing a row.

The curated names: open an engine on a snapshot, build queries from value objects, get
:class:`Results`.

Examples
--------
>>> import geo_discovery as gd
>>> engine = gd.DiscoveryEngine.from_snapshot(sample_data_dir)
>>> hits = engine.nearby(60.1699, 24.9384, k=5, where=gd.Filters(categories="food"))
>>> all(h.category.startswith("food") for h in hits)
True
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .catchment.district import CatchmentParams
    from .engine import DiscoveryEngine
    from .errors import (
        GeoDiscoveryError,
        IngestError,
        InvalidQueryError,
        LoadRefusedError,
        NotFoundError,
        SnapshotError,
    )
    from .models import BBox, Explanation, Hit, LatLng
    from .query import Filters, Member, NearbyQuery, Ranking
    from .ranking_profile import RankingProfile
    from .results import Results
    from .settings import Settings, get_settings
    from .snapshot.pipeline import load
    from .snapshot.snapshot import Snapshot
    from .snapshot.store import SnapshotStore

try:
    __version__ = version("geo-discovery")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

# Each curated name's module, imported on first use (PEP 562): `import geo_discovery`
# stays light, so the command line answers --help (and Ctrl-C) before NumPy, pyarrow and
# numba are loaded by the command that needs them.
_WHERE = {
    "CatchmentParams": "catchment.district",
    "DiscoveryEngine": "engine",
    **dict.fromkeys(("GeoDiscoveryError", "IngestError", "InvalidQueryError",
                     "LoadRefusedError", "NotFoundError", "SnapshotError"), "errors"),
    **dict.fromkeys(("BBox", "Explanation", "Hit", "LatLng"), "models"),
    **dict.fromkeys(("Filters", "Member", "NearbyQuery", "Ranking"), "query"),
    "RankingProfile": "ranking_profile",
    "Results": "results",
    "Settings": "settings",
    "get_settings": "settings",
    "load": "snapshot.pipeline",
    "Snapshot": "snapshot.snapshot",
    "SnapshotStore": "snapshot.store",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'geo_discovery' has no attribute {name!r}")
    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value  # once: later reads skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "BBox",
    "CatchmentParams",
    "DiscoveryEngine",
    "Explanation",
    "Filters",
    "GeoDiscoveryError",
    "Hit",
    "IngestError",
    "InvalidQueryError",
    "LatLng",
    "LoadRefusedError",
    "Member",
    "NearbyQuery",
    "NotFoundError",
    "Ranking",
    "RankingProfile",
    "Results",
    "Settings",
    "Snapshot",
    "SnapshotError",
    "SnapshotStore",
    "__version__",
    "get_settings",
    "load",
]
